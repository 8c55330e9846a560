"""Signing and verifying webhook deliveries, as API.md "Webhooks" describes.

A signed delivery carries `wriftai-webhook-signature: t=<unix>,v1=<hex>...`,
each `v1` being HMAC-SHA256(secret, f"{t}.".encode() + raw_body) in hex.
"""

from __future__ import annotations

import hashlib
import hmac
import json
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


def _parse(signature: str, scheme: str) -> Tuple[int, List[str]]:
    if not isinstance(signature, str) or not signature.strip():
        raise WebhookHeaderError("the signature header is empty")
    timestamp: Optional[str] = None
    signatures: List[str] = []
    for part in signature.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise WebhookHeaderError(
                f"the signature header has a part without '=': {part.strip()!r}"
            )
        if key == "t":
            timestamp = value
        elif key == scheme and value:
            signatures.append(value)
    if timestamp is None:
        raise WebhookTimestampError("the signature header has no timestamp (t=)")
    if not timestamp.isascii() or not timestamp.isdigit():
        raise WebhookTimestampError(f"the timestamp {timestamp!r} is not an integer")
    if not signatures:
        raise WebhookSignatureMissingError(
            f"the signature header has no {scheme} signature"
        )
    return int(timestamp), signatures


def verify(
    payload: bytes,
    signature: str,
    secret: str,
    tolerance: int = DEFAULT_TOLERANCE,
    scheme: str = "v1",
    *,
    now: Optional[float] = None,
) -> None:
    """Check that a webhook delivery is authentic and recent.

    Any matching signature of the scheme is accepted (several appear while a
    secret is rotated). Comparisons run in constant time.

    Args:
        payload: The raw request body, as bytes, exactly as received.
        signature: The `wriftai-webhook-signature` header's value.
        secret: The webhook's secret.
        tolerance: Seconds the timestamp may be off from now, either way.
        scheme: The signature scheme to check.
        now: The current Unix time, for tests.

    Raises:
        TypeError: If `payload` is not bytes.
        ValueError: If `secret` is empty.
        WebhookVerificationError: If the header is malformed, the timestamp is
            outside the tolerance or no signature matches.
    """
    _check(payload, secret)
    timestamp, candidates = _parse(signature, scheme)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookToleranceError(
            f"the timestamp is {int(current - timestamp)} s from now, "
            f"outside the tolerance of {tolerance} s"
        )
    expected = _digest(bytes(payload), secret, timestamp)
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise WebhookSignatureMismatchError("no signature matches the body and secret")


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
    and its error kept in `refused`.

    Args:
        secret: The webhook's secret.
        on_delivery: Called with each verified prediction (on the server's
            thread); an exception it raises is answered 500.
        host: The address to listen on.
        port: The port; 0 picks a free one.
        tolerance: Seconds a delivery's timestamp may be off from now.
    """

    def __init__(
        self,
        secret: str,
        on_delivery: Optional[Callable[[Dict[str, Any]], None]] = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tolerance: int = DEFAULT_TOLERANCE,
    ) -> None:
        _check(b"", secret)
        self.secret = secret
        self.on_delivery = on_delivery
        self.tolerance = tolerance
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
            def do_POST(self) -> None:  # the name http.server calls
                length = int(self.headers.get("Content-Length") or 0)
                status = receiver._receive(
                    self.rfile.read(length), self.headers.get(SIGNATURE_HEADER, "")
                )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Log nothing: the receiver keeps what it saw."""

        self._server = http.server.ThreadingHTTPServer(self._address, Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="webhook-receiver", daemon=True
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

    def _receive(self, body: bytes, signature: str) -> int:
        try:
            verify(body, signature, self.secret, self.tolerance)
            prediction = json.loads(body)
        except WebhookVerificationError as exc:
            self.refused.append(exc)
            return 400
        except ValueError as exc:
            self.refused.append(
                WebhookVerificationError(f"the body is not JSON: {exc}")
            )
            return 400
        with self._condition:
            self.deliveries.append(prediction)
            self._condition.notify_all()
        if self.on_delivery is not None:
            try:
                self.on_delivery(prediction)
            except Exception:
                return 500
        return 204


__all__ = ["DEFAULT_TOLERANCE", "SIGNATURE_HEADER", "WebhookReceiver", "sign", "verify"]
