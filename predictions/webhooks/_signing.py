"""Signing and verifying webhook deliveries, as the hosted API describes them.

A signed delivery carries `wriftai-webhook-signature: t=<unix>,v1=<hex>...`,
each `v1` being HMAC-SHA256(secret, f"{t}.".encode() + raw_body) in hex.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import List, Optional, Tuple

from predictions._checks import check_number
from predictions.errors import (
    WebhookHeaderError,
    WebhookSignatureMismatchError,
    WebhookSignatureMissingError,
    WebhookTimestampError,
    WebhookToleranceError,
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

    Parts it does not know are skipped, as the hosted API's reference says:
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
    check_number("tolerance", tolerance)
    if now is not None:
        check_number("now", now, minimum=None)
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
        # Whole seconds, but for a fraction of one (a tolerance of 0).
        size = f"{abs(off):g}" if abs(off) < 1 else str(int(abs(off)))
        when = f"{size} s old" if off > 0 else f"{size} s in the future"
        raise WebhookToleranceError(
            f"the timestamp is {when}, outside the tolerance of {tolerance} s"
        )
    expected = _digest(bytes(payload), secret, timestamp).encode()
    matched = False
    for candidate in candidates:
        # As bytes: compare_digest refuses str with non-ASCII characters.
        given = candidate.encode("utf-8", "surrogatepass")
        matched |= hmac.compare_digest(expected, given)
    if not matched:
        raise WebhookSignatureMismatchError("no signature matches the body and secret")


verify_webhook = verify
"""`verify`, under the name `predictions` exports it by."""


__all__ = [
    "DEFAULT_TOLERANCE",
    "MAX_BODY_SIZE",
    "READ_TIMEOUT",
    "SIGNATURE_HEADER",
    "sign",
    "verify",
    "verify_webhook",
]
