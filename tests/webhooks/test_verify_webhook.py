"""Signing and verifying webhook deliveries (the demo and the local server use both)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from predictions import WebhookVerificationError, verify_webhook
from predictions.webhooks import sign

BODY = b'{"id": "p1", "status": "succeeded"}'
NOW = 1_800_000_000


def test_sign_is_the_hmac_of_timestamp_and_body() -> None:
    expected = hmac.new(
        b"s3cret", f"{NOW}.".encode() + BODY, hashlib.sha256
    ).hexdigest()
    assert sign(BODY, "s3cret", timestamp=NOW) == f"t={NOW},v1={expected}"


def test_verify_accepts_a_fresh_signature_and_any_matching_one() -> None:
    header = sign(BODY, "new", timestamp=NOW)
    verify_webhook(BODY, header, "new", now=NOW + 10)
    old = sign(BODY, "old", timestamp=NOW).split(",")[1]
    rotated = f"{old},{header},v2=unknown"
    verify_webhook(BODY, rotated, "new", now=NOW)
    verify_webhook(BODY, rotated, "old", now=NOW)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("", "empty"),
        ("garbage", "no timestamp"),  # a part without '=' is skipped
        (f"garbage,v1={'0' * 64}", "no timestamp"),
        (f"t={NOW},garbage", "no v1 signature"),
        (f"v1={'0' * 64}", "no timestamp"),
        (f"t=abc,v1={'0' * 64}", "not an integer"),
        (f"t={NOW},v1=", "no v1 signature"),
        (f"t={NOW},v2=abc", "no v1 signature"),
        (f"t={NOW},v1={'0' * 64}", "no signature matches"),
    ],
)
def test_verify_refuses_bad_headers(header: str, message: str) -> None:
    with pytest.raises(WebhookVerificationError, match=message):
        verify_webhook(BODY, header, "s", now=NOW)


@pytest.mark.parametrize("offset", [-301, 301, 86400])
def test_verify_refuses_old_and_future_timestamps(offset: int) -> None:
    header = sign(BODY, "s", timestamp=NOW + offset)
    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify_webhook(BODY, header, "s", now=NOW)


def test_verify_refuses_a_changed_body() -> None:
    header = sign(BODY, "s", timestamp=NOW)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(b'{"status": "succeeded", "id": "p1"}', header, "s", now=NOW)


def test_str_payload_and_empty_secret() -> None:
    with pytest.raises(TypeError, match="raw request body as bytes"):
        verify_webhook(BODY.decode(), "t=1,v1=x", "s")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="secret"):
        verify_webhook(BODY, "t=1,v1=x", "")
    assert isinstance(WebhookVerificationError("x"), ValueError)
