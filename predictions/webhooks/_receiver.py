"""A small HTTP server that takes signed webhook deliveries and verifies them.

Exported as `predictions.webhooks.WebhookReceiver`; the verifying it relies
on, and its documented defaults, live in `predictions.webhooks`.
"""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from predictions._checks import MAX_SECONDS, check_count, check_number
from predictions._http.connection import Attempt, BoundedReader
from predictions.errors import ReceiverRefusal, WebhookVerificationError
from predictions.webhooks._signing import (
    DEFAULT_TOLERANCE,
    MAX_BODY_SIZE,
    READ_TIMEOUT,
    SIGNATURE_HEADER,
    _check,
    _shown,
    verify,
)


def _body_length(
    content_lengths: List[str], transfer_encoding: Optional[str], limit: int
) -> int:
    """The body's length from the request's headers, or `ReceiverRefusal` if unusable.

    Raises:
        ReceiverRefusal: 400 for a Transfer-Encoding (none is supported) or a missing,
            malformed, negative or ambiguous Content-Length; 413 past `limit`.
    """
    if transfer_encoding is not None:
        raise ReceiverRefusal(
            400, "Transfer-Encoding is not supported: send Content-Length"
        )
    # RFC 9110 8.6: repeated or listed values are acceptable only if all equal.
    values = {value.strip() for line in content_lengths for value in line.split(",")}
    if not values:
        raise ReceiverRefusal(400, "Content-Length is required")
    if len(values) > 1:
        raise ReceiverRefusal(400, "Content-Length has several different values")
    (value,) = values
    if not value.isascii() or not value.isdigit():
        raise ReceiverRefusal(
            400, f"Content-Length {_shown(value)} is not a whole number"
        )
    digits = value.lstrip("0") or "0"  # int() refuses over 4300 digits
    if len(digits) > len(str(limit)) or int(digits) > limit:
        raise ReceiverRefusal(413, f"the body is larger than {limit} bytes")
    return int(digits)


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
        check_number("tolerance", tolerance)
        check_count("max_body_size", max_body_size)
        check_number("read_timeout", read_timeout, inclusive=False, maximum=MAX_SECONDS)
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
                # A per-read timeout alone lets a client that sends a byte now
                # and then hold a thread forever: bound the whole request.
                limits = Attempt(time.monotonic() + receiver.read_timeout, None)
                self.rfile = io.BufferedReader(BoundedReader(self.connection, limits))

            def do_POST(self) -> None:  # the name http.server calls
                try:
                    body = self._read_body()
                except ReceiverRefusal as refusal:
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
                            raise ReceiverRefusal(
                                400, "the body ended before Content-Length"
                            )
                        chunks.append(chunk)
                        left -= len(chunk)
                except socket.timeout:
                    raise ReceiverRefusal(
                        408, "the body took too long to arrive"
                    ) from None
                except OSError:  # reset by the client: no traceback on stderr
                    raise ReceiverRefusal(400, "the connection broke") from None
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
            TypeError: `timeout` is not a number.
            ValueError: `timeout` is negative, NaN, infinite or over 30 days.
            TimeoutError: None came in time.
        """
        check_number("timeout", timeout, maximum=MAX_SECONDS)
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


__all__ = ["WebhookReceiver"]
