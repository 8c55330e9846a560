"""Signing and verifying webhook deliveries, as API.md "Webhooks" describes.

A signed delivery carries `wriftai-webhook-signature: t=<unix>,v1=<hex>...`,
each `v1` being HMAC-SHA256(secret, f"{t}.".encode() + raw_body) in hex.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import List, Optional, Tuple

from predictions.errors import WebhookVerificationError

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
        raise WebhookVerificationError("the signature header is empty")
    timestamp: Optional[str] = None
    signatures: List[str] = []
    for part in signature.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise WebhookVerificationError(
                f"the signature header has a part without '=': {part.strip()!r}"
            )
        if key == "t":
            timestamp = value
        elif key == scheme and value:
            signatures.append(value)
    if timestamp is None:
        raise WebhookVerificationError("the signature header has no timestamp (t=)")
    if not timestamp.isascii() or not timestamp.isdigit():
        raise WebhookVerificationError(f"the timestamp {timestamp!r} is not an integer")
    if not signatures:
        raise WebhookVerificationError(
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
        raise WebhookVerificationError(
            f"the timestamp is {int(current - timestamp)} s from now, "
            f"outside the tolerance of {tolerance} s"
        )
    expected = _digest(bytes(payload), secret, timestamp)
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise WebhookVerificationError("no signature matches the body and secret")


__all__ = ["DEFAULT_TOLERANCE", "SIGNATURE_HEADER", "sign", "verify"]
