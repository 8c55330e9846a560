"""Webhook verification: the error family, never another exception, and rotation."""

from __future__ import annotations

import time
from typing import Any, Type

import pytest

from predictions import (
    WebhookHeaderError,
    WebhookSignatureMismatchError,
    WebhookSignatureMissingError,
    WebhookTimestampError,
    WebhookToleranceError,
    WebhookVerificationError,
    verify_webhook,
)
from predictions.webhooks import sign

BODY = b'{"id":"p1","status":"succeeded"}'
NOW = 1_800_000_000


@pytest.mark.parametrize(
    ("header", "error"),
    [
        ("", WebhookHeaderError),
        ("   ", WebhookHeaderError),
        ("t", WebhookTimestampError),  # a part without '=' is skipped
        ("t=1,v1", WebhookSignatureMissingError),
        (f"t=1,t=2,v1={'0' * 64}", WebhookHeaderError),
        (f"v1={'0' * 64}", WebhookTimestampError),
        (f"t=,v1={'0' * 64}", WebhookTimestampError),
        (f"t=12.5,v1={'0' * 64}", WebhookTimestampError),
        (f"t=-5,v1={'0' * 64}", WebhookTimestampError),
        (f"t=\u0661\u0662,v1={'0' * 64}", WebhookTimestampError),
        (f"t={NOW},v1=", WebhookSignatureMissingError),
        (f"t={NOW},v2=abc,v0=def", WebhookSignatureMissingError),
        (f"t={NOW},v1={'0' * 64}", WebhookSignatureMismatchError),
        (f"t={NOW},v1=zz", WebhookSignatureMismatchError),
        (f"t={NOW - 301},v1=00", WebhookToleranceError),
        (f"t={NOW + 301},v1=00", WebhookToleranceError),
        (f"t={NOW + 10**12},v1=00", WebhookToleranceError),
    ],
)
def test_each_bad_header_gives_its_error(header: str, error: Type[Exception]) -> None:
    with pytest.raises(error) as info:
        verify_webhook(BODY, header, "secret", now=NOW)
    assert isinstance(info.value, WebhookVerificationError)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "header", [None, 5, b"t=1,v1=00", "t=1,v1=\x00", "=,=,=", ",,,"]
)
def test_garbage_never_raises_anything_else(header: Any) -> None:
    with pytest.raises(WebhookVerificationError):
        verify_webhook(BODY, header, "secret", now=NOW)


def test_a_real_signature_and_rotation() -> None:
    new = sign(BODY, "new", timestamp=NOW)
    old = sign(BODY, "old", timestamp=NOW).split(",", 1)[1]
    verify_webhook(BODY, new, "new", now=NOW)
    verify_webhook(BODY, f"{new},{old}", "old", now=NOW)
    verify_webhook(BODY, f"{new},v2=xyz", "new", now=NOW + 299)
    verify_webhook(BODY, sign(BODY, "s"), "s")  # the real clock, tolerance 300


def test_the_tolerance_is_adjustable() -> None:
    header = sign(BODY, "s", timestamp=NOW - 1000)
    verify_webhook(BODY, header, "s", tolerance=1001, now=NOW)
    with pytest.raises(WebhookToleranceError):
        verify_webhook(BODY, header, "s", tolerance=999, now=NOW)


def test_a_reserialised_body_is_refused() -> None:
    header = sign(BODY, "s", timestamp=NOW)
    for changed in (
        b'{"status":"succeeded","id":"p1"}',
        b'{"id": "p1", "status": "succeeded"}',
    ):
        with pytest.raises(WebhookSignatureMismatchError):
            verify_webhook(changed, header, "s", now=NOW)


def test_str_payload_and_empty_secret() -> None:
    header = sign(BODY, "s")
    with pytest.raises(TypeError, match="raw request body as bytes"):
        verify_webhook(BODY.decode(), header, "s")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="secret"):
        verify_webhook(BODY, header, "")
    with pytest.raises(TypeError, match="raw request body as bytes"):
        sign(BODY.decode(), "s")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="secret"):
        sign(BODY, "")


def test_sign_uses_now_by_default() -> None:
    stamp = int(sign(BODY, "s").split(",")[0][2:])
    assert abs(stamp - time.time()) < 5


@pytest.mark.parametrize(
    ("timestamp", "said"),
    [(NOW - 301, "the timestamp is 301 s old"), (NOW + 301, "301 s in the future")],
)
def test_the_tolerance_error_says_old_or_in_the_future(
    timestamp: int, said: str
) -> None:
    """It said "-300 s from now" of one in the future (issue 19)."""
    header = sign(BODY, "s", timestamp=timestamp)
    with pytest.raises(WebhookToleranceError, match=said):
        verify_webhook(BODY, header, "s", now=NOW)
