"""Signing and verifying webhook deliveries, as API.md "Webhooks" describes.

A signed delivery carries `wriftai-webhook-signature: t=<unix>,v1=<hex>...`,
each `v1` being HMAC-SHA256(secret, f"{t}.".encode() + raw_body) in hex.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import math
import socket
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from predictions.errors import (
    WebhookHeaderError,
    WebhookSignatureMismatchError,
    WebhookSignatureMissingError,
    WebhookTimestampError,
    WebhookToleranceError,
    WebhookVerificationError,
)

SIGNATURE_HEADER = "wriftai-webhook-signature"
"""The header that carries a delivery's signatures."""

DEFAULT_TOLERANCE = 300
"""Seconds a delivery's timestamp may be off from now, either way."""

MAX_BODY_SIZE = 10 * 1024 * 1024
"""The largest body `WebhookReceiver` reads by default, in bytes (413 past it)."""

READ_TIMEOUT = 30.0
"""Seconds `WebhookReceiver` gives a client by default to send a whole request."""


def _digest(payload: bytes, secret: str, timestamp: int) -> str:
    message = f"{timestamp}.".encode() + payload
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _check(payload: bytes, secret: str) -> None:
    if isinstance(payload, str):
        raise TypeError(
            "payload must be the raw request body as bytes, not str: a decoded "
            "or re-serialised body no longer matches its signature"
        )
    if not isinstance(payload, (bytes, bytearray)):
        raise TypeError(f"payload must be bytes, not {type(payload).__name__}")
    if not isinstance(secret, str) or not secret:
        raise ValueError("secret must be a non-empty string")


def _check_number(name: str, value: Any, *, minimum: Optional[float] = None) -> None:
    """Refuse a value that is not a finite int or float (>= `minimum` if given).

    Raises:
        TypeError: It is not an int or a float (a bool is neither).
        ValueError: It is NaN, infinite or below `minimum`.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, not {value!r}")
    # An int is always finite (and math.isfinite(10**400) would overflow).
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be finite, not {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, not {value!r}")


def _shown(text: str, limit: int = 40) -> str:
    """`text` quoted for an error message, cut short: headers can be huge."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def sign(payload: bytes, secret: str, timestamp: Optional[int] = None) -> str:
    """Sign a webhook body; used by the local server and by users' tests.

    Args:
        payload: The raw body, as bytes.
        secret: The webhook's secret.
        timestamp: Unix seconds; now if None.

    Returns:
        The value of the `wriftai-webhook-signature` header.

    Raises:
        TypeError: If `payload` is not bytes.
        ValueError: If `secret` is empty.
    """
    _check(payload, secret)
    t = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={t},v1={_digest(bytes(payload), secret, t)}"


def _parse(signature: str, scheme: str) -> Tuple[str, List[str]]:
    """Split the header into its timestamp's digits and the scheme's signatures.

    Parts it does not know are skipped, as API.md "Webhooks" says:
    empty parts, parts without `=`, other schemes.
    """
    if not isinstance(signature, str) or not signature.strip():
        raise WebhookHeaderError("the signature header is empty")
    timestamps: List[str] = []
    signatures: List[str] = []
    for part in signature.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            timestamps.append(value)
        elif key == scheme and value:
            signatures.append(value)
    if not timestamps:
        raise WebhookTimestampError("the signature header has no timestamp (t=)")
    if len(set(timestamps)) > 1:
        # Which one was signed? Refuse rather than guess.
        raise WebhookHeaderError("the signature header has different timestamps")
    timestamp = timestamps[0]
    if not timestamp.isascii() or not timestamp.isdigit():
        raise WebhookTimestampError(
            f"the timestamp {_shown(timestamp)} is not an integer"
        )
    if not signatures:
        raise WebhookSignatureMissingError(
            f"the signature header has no {scheme} signature"
        )
    return timestamp, signatures


def verify(
    payload: bytes,
    signature: str,
    secret: str,
    tolerance: float = DEFAULT_TOLERANCE,
    scheme: str = "v1",
    *,
    now: Optional[float] = None,
) -> None:
    """Check that a webhook delivery is authentic and recent.

    Any matching signature of the scheme is accepted (several appear while a
    secret is rotated), in any order; parts of the header it does not know
    are skipped. Comparisons run in constant time. Whatever the header holds,
    only a `WebhookVerificationError` comes out for it.

    Args:
        payload: The raw request body, as bytes, exactly as received.
        signature: The `wriftai-webhook-signature` header's value.
        secret: The webhook's secret.
        tolerance: Seconds (int or float) the timestamp may be off from now,
            either way.
        scheme: The signature scheme to check.
        now: The current Unix time, for tests.

    Raises:
        TypeError: If `payload` is not bytes, or `tolerance` or `now` is not a
            number.
        ValueError: If `secret` is empty, or `tolerance` is negative, NaN or
            infinite, or `now` is NaN or infinite.
        WebhookVerificationError: If the header is malformed, the timestamp is
            outside the tolerance or no signature matches.
    """
    _check(payload, secret)
    _check_number("tolerance", tolerance, minimum=0)
    if now is not None:
        _check_number("now", now)
    digits, candidates = _parse(signature, scheme)
    current = time.time() if now is None else now
    try:
        timestamp = int(digits)  # ValueError past sys.get_int_max_str_digits()
        off = current - timestamp  # OverflowError past the largest float
    except (ValueError, OverflowError):
        raise WebhookToleranceError(
            f"the timestamp {_shown(digits)} is far outside the tolerance "
            f"of {tolerance} s"
        ) from None
    if abs(off) > tolerance:
        raise WebhookToleranceError(
            f"the timestamp is {int(off)} s from now, "
            f"outside the tolerance of {tolerance} s"
        )
    expected = _digest(bytes(payload), secret, timestamp).encode()
    matched = False
    for candidate in candidates:
        # As bytes: compare_digest refuses str with non-ASCII characters.
        given = candidate.encode("utf-8", "surrogatepass")
        matched |= hmac.compare_digest(expected, given)
    if not matched:
        raise WebhookSignatureMismatchError("no signature matches the body and secret")


class _Refusal(Exception):
    """A request the receiver answers with an error status, and why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _body_length(
    content_lengths: List[str], transfer_encoding: Optional[str], limit: int
) -> int:
    """The body's length from the request's headers, or `_Refusal` if unusable.

    Raises:
        _Refusal: 400 for a Transfer-Encoding (none is supported) or a missing,
            malformed, negative or ambiguous Content-Length; 413 past `limit`.
    """
    if transfer_encoding is not None:
        raise _Refusal(400, "Transfer-Encoding is not supported: send Content-Length")
    # RFC 9110 8.6: repeated or listed values are acceptable only if all equal.
    values = {value.strip() for line in content_lengths for value in line.split(",")}
    if not values:
        raise _Refusal(400, "Content-Length is required")
    if len(values) > 1:
        raise _Refusal(400, "Content-Length has several different values")
    (value,) = values
    if not value.isascii() or not value.isdigit():
        raise _Refusal(400, f"Content-Length {_shown(value)} is not a whole number")
    digits = value.lstrip("0") or "0"  # int() refuses over 4300 digits
    if len(digits) > len(str(limit)) or int(digits) > limit:
        raise _Refusal(413, f"the body is larger than {limit} bytes")
    return int(digits)


class _DeadlineReader(io.RawIOBase):
    """Reads a socket, every read bounded by what is left of one deadline.

    A per-read timeout alone lets a client that sends a byte now and then hold
    a thread forever; this bounds the whole request, headers and body.
    """

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("the request took too long to arrive")
        self._sock.settimeout(left)
        return self._sock.recv_into(buffer)


class WebhookReceiver:
    """A small HTTP server that takes signed webhook deliveries and verifies them.

    Standard library only (`http.server`), for scripts, demos and tests::

        with WebhookReceiver(secret) as receiver:
            client.predictions.create(
                {"input": ..., "webhook": {"url": receiver.url, "secret": secret}},
                "owner/model",
            )
            finished = receiver.wait_for(lambda p: p["status"] == "succeeded")

    A delivery whose signature verifies is answered 204, kept in `deliveries`
    and passed to `on_delivery`; any other is answered 400 with the reason,
    and its error kept in `refused`. So are requests the receiver does not
    read: without one valid Content-Length, or with a Transfer-Encoding
    (400); with a body larger than `max_body_size` (413); slower than
    `read_timeout` to arrive (408, or the connection is closed if even the
    headers were late).

    Args:
        secret: The webhook's secret.
        on_delivery: Called with each verified prediction (on the server's
            thread); an exception it raises is answered 500.
        host: The address to listen on.
        port: The port; 0 picks a free one.
        tolerance: Seconds a delivery's timestamp may be off from now.
        max_body_size: The largest body, in bytes, the receiver reads.
        read_timeout: Seconds a client may take to send a whole request.

    Raises:
        TypeError: If an option is not a number of the right kind.
        ValueError: If `secret` is empty or an option is out of range.
    """

    def __init__(
        self,
        secret: str,
        on_delivery: Optional[Callable[[Dict[str, Any]], None]] = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tolerance: float = DEFAULT_TOLERANCE,
        max_body_size: int = MAX_BODY_SIZE,
        read_timeout: float = READ_TIMEOUT,
    ) -> None:
        _check(b"", secret)
        _check_number("tolerance", tolerance, minimum=0)
        if isinstance(max_body_size, bool) or not isinstance(max_body_size, int):
            raise TypeError(f"max_body_size must be an int, not {max_body_size!r}")
        if max_body_size < 0:
            raise ValueError(f"max_body_size must be >= 0, not {max_body_size}")
        _check_number("read_timeout", read_timeout, minimum=0)
        if read_timeout == 0:
            raise ValueError("read_timeout must be more than 0 seconds")
        self.secret = secret
        self.on_delivery = on_delivery
        self.tolerance = tolerance
        self.max_body_size = max_body_size
        self.read_timeout = read_timeout
        self.deliveries: List[Dict[str, Any]] = []
        self.refused: List[WebhookVerificationError] = []
        self._address = (host, port)
        self._condition = threading.Condition()
        self._server: Any = None
        self._thread: Optional[threading.Thread] = None

    @property
    def url(self) -> str:
        """The URL to give as `webhook.url`."""
        if self._server is None:
            raise RuntimeError("the receiver is not running: use it in a with block")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> WebhookReceiver:
        """Listen in a background thread."""
        import http.server

        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def setup(self) -> None:
                super().setup()
                self.rfile.close()  # else the socket stays open until collected
                deadline = time.monotonic() + receiver.read_timeout
                self.rfile = io.BufferedReader(
                    _DeadlineReader(self.connection, deadline)
                )

            def do_POST(self) -> None:  # the name http.server calls
                try:
                    body = self._read_body()
                except _Refusal as refusal:
                    receiver.refused.append(WebhookVerificationError(refusal.reason))
                    self.close_connection = True  # the body may be left unread
                    self._answer(refusal.status, refusal.reason)
                    return
                status, reason = receiver._receive(
                    body, self.headers.get(SIGNATURE_HEADER, "")
                )
                self._answer(status, reason)

            def _read_body(self) -> bytes:
                left = _body_length(
                    self.headers.get_all("Content-Length", []),
                    self.headers.get("Transfer-Encoding"),
                    receiver.max_body_size,
                )
                chunks = []
                try:
                    while left:
                        chunk = self.rfile.read1(min(left, 1 << 16))
                        if not chunk:
                            raise _Refusal(400, "the body ended before Content-Length")
                        chunks.append(chunk)
                        left -= len(chunk)
                except socket.timeout:
                    raise _Refusal(408, "the body took too long to arrive") from None
                except OSError:  # reset by the client: no traceback on stderr
                    raise _Refusal(400, "the connection broke") from None
                return b"".join(chunks)

            def _answer(self, status: int, reason: str) -> None:
                text = reason.encode("utf-8", "replace")
                try:
                    self.connection.settimeout(receiver.read_timeout)
                    self.send_response(status)
                    if text:
                        self.send_header("Content-Type", "text/plain; charset=utf-8")
                    self.send_header("Content-Length", str(len(text)))
                    self.end_headers()
                    self.wfile.write(text)
                except OSError:  # the client has gone: nobody to tell
                    self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                """Log nothing: the receiver keeps what it saw."""

        self._server = http.server.ThreadingHTTPServer(self._address, Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            args=(0.05,),  # how often it looks for stop(): 0.5 s by default
            name="webhook-receiver",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening; idempotent."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def wait_for(
        self, predicate: Callable[[Dict[str, Any]], bool], timeout: float = 10.0
    ) -> Dict[str, Any]:
        """Wait for a verified delivery that matches, and return it.

        Args:
            predicate: Tells the delivery waited for.
            timeout: Seconds to wait at most.

        Returns:
            The first matching delivery.

        Raises:
            TimeoutError: None came in time.
        """
        deadline = time.monotonic() + timeout
        with self._condition:
            while True:
                for prediction in self.deliveries:
                    if predicate(prediction):
                        return prediction
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no matching delivery within {timeout} s")
                self._condition.wait(left)

    def _receive(self, body: bytes, signature: str) -> Tuple[int, str]:
        """Verify and keep one delivery; return the status to answer, and why."""
        try:
            verify(body, signature, self.secret, self.tolerance)
            prediction = json.loads(body)
            if not isinstance(prediction, dict):
                raise ValueError("not an object")
        except WebhookVerificationError as exc:
            self.refused.append(exc)
            return 400, str(exc)
        except ValueError as exc:
            refusal = WebhookVerificationError(f"the body is not a JSON object: {exc}")
            self.refused.append(refusal)
            return 400, str(refusal)
        with self._condition:
            self.deliveries.append(prediction)
            self._condition.notify_all()
        if self.on_delivery is not None:
            try:
                self.on_delivery(prediction)
            except Exception:
                return 500, ""
        return 204, ""


__all__ = [
    "DEFAULT_TOLERANCE",
    "MAX_BODY_SIZE",
    "READ_TIMEOUT",
    "SIGNATURE_HEADER",
    "WebhookReceiver",
    "sign",
    "verify",
]
