"""The header's documented forms verify; parts the verifier does not know are skipped.

As the official verifier does: a trailing comma, an empty part, a part with no
`=`, another scheme (`v0=`, `v2=`) are ignored; the checks that remain are a
timestamp, a signature of the scheme, and one that matches.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from predictions import (
    WebhookSignatureMismatchError,
    WebhookSignatureMissingError,
    WebhookTimestampError,
    WebhookToleranceError,
    verify_webhook,
)
from predictions.webhooks import sign

BODY = b'{"id":"p1","status":"succeeded"}'
NOW = 1_800_000_000
NEW = sign(BODY, "new", timestamp=NOW).split(",")[1]
OLD = sign(BODY, "old", timestamp=NOW).split(",")[1]
T = f"t={NOW}"
WRONG = "v1=" + "0" * 64


@pytest.mark.parametrize(
    "header",
    [
        f"{T},{NEW}",  # the plain form
        f"{NEW},{T}",  # v1 before t
        f"{T},{OLD},{NEW}",  # rotation: any one matching is enough
        f"{T},{NEW},{OLD}",
        f"{OLD},{T},{NEW}",
        f"{T},{WRONG},{NEW},{WRONG}",
        f"  {T} ,  {NEW}  ",  # spaces around parts
        f"{T}, {OLD}, {NEW}",
        f"{T},{NEW},",  # a trailing comma
        f",{T},{NEW}",
        f"{T},,{NEW}",  # an empty part
        f"{T},,,  ,{NEW},,",
        f"{T},junk,{NEW}",  # a part with no '='
        f"{T},v1,{NEW}",
        f"{T},v2=abc,{NEW}",  # other schemes
        f"v0=def,{T},{NEW},v2=abc",
        f"{T},{T},{NEW}",  # the same timestamp twice: no ambiguity
    ],
)
def test_every_documented_form_verifies(header: str) -> None:
    verify_webhook(BODY, header, "new", now=NOW)


@pytest.mark.parametrize(
    "header",
    [f"{T},{OLD},{NEW}", f"{NEW},{OLD},{T}", f"{T},{NEW},v2=x,{OLD},"],
)
def test_rotation_either_secret_verifies(header: str) -> None:
    verify_webhook(BODY, header, "old", now=NOW)
    verify_webhook(BODY, header, "new", now=NOW)


@pytest.mark.parametrize(
    "header",
    [
        NEW,
        f"{NEW},",
        f"junk,{NEW}",
        f"T={NOW},{NEW}",  # keys are case-sensitive, as the official verifier's
        f"v2={NOW},{NEW}",
    ],
)
def test_no_timestamp_is_a_timestamp_error(header: str) -> None:
    with pytest.raises(WebhookTimestampError, match="no timestamp"):
        verify_webhook(BODY, header, "new", now=NOW)


@pytest.mark.parametrize(
    "header",
    [T, f"{T},", f"{T},v2=abc,v0=def", f"{T},v1=", f"{T},v1", f"{T},V1=abc"],
)
def test_no_signature_of_the_scheme_is_missing(header: str) -> None:
    with pytest.raises(WebhookSignatureMissingError, match="no v1 signature"):
        verify_webhook(BODY, header, "new", now=NOW)


def test_another_scheme_can_be_checked() -> None:
    with pytest.raises(WebhookSignatureMissingError, match="no v2 signature"):
        verify_webhook(BODY, f"{T},{NEW}", "new", scheme="v2", now=NOW)


def test_only_matching_signatures_pass() -> None:
    with pytest.raises(WebhookSignatureMismatchError):
        verify_webhook(BODY, f"{T},{OLD},{WRONG},", "new", now=NOW)


# The tolerance: an int or a float, finite and >= 0


def test_a_fractional_tolerance_counts() -> None:
    header = f"{T},{NEW}"
    verify_webhook(BODY, header, "new", tolerance=0.5, now=NOW + 0.4)
    verify_webhook(BODY, header, "new", tolerance=0, now=NOW)
    with pytest.raises(WebhookToleranceError):
        verify_webhook(BODY, header, "new", tolerance=0.5, now=NOW + 0.6)
    verify_webhook(BODY, header, "new", tolerance=10**400, now=NOW)


@pytest.mark.parametrize(
    ("tolerance", "error"),
    [
        (-1, ValueError),
        (-0.5, ValueError),
        (math.nan, ValueError),
        (math.inf, ValueError),
        (-math.inf, ValueError),
        (True, TypeError),
        (False, TypeError),
        ("300", TypeError),
        (None, TypeError),
        ([300], TypeError),
    ],
)
def test_a_bad_tolerance_is_the_callers_bug(tolerance: Any, error: type) -> None:
    with pytest.raises(error, match="tolerance") as info:
        verify_webhook(BODY, f"{T},{NEW}", "new", tolerance=tolerance, now=NOW)
    assert not isinstance(info.value, WebhookToleranceError)


@pytest.mark.parametrize(
    ("now", "error"),
    [(math.nan, ValueError), (math.inf, ValueError), ("1", TypeError)],
)
def test_a_bad_now_is_the_callers_bug(now: Any, error: type) -> None:
    # A NaN clock would have passed every tolerance check.
    with pytest.raises(error, match="now"):
        verify_webhook(BODY, f"{T},{NEW}", "new", now=now)
