"""Whatever the header holds, verify() succeeds or raises its own error family.

A property-style test without a property-testing library: a seeded generator
throws thousands of hostile headers at verify, against the real clock and a
fixed one. The seed is in the failure message, so a failure reproduces.
"""

from __future__ import annotations

import random
from typing import Callable, List, Optional, Union

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
SECRET = "whsec-garbage"
NOW = 1_800_000_000
FAMILY = (
    WebhookHeaderError,
    WebhookTimestampError,
    WebhookToleranceError,
    WebhookSignatureMissingError,
    WebhookSignatureMismatchError,
)

NUMBERS = [
    "99999999999999999999999999",
    "9" * 310,  # past the largest float: float - int overflows
    "9" * 5000,  # past int()'s default 4300 digits: a plain ValueError
    "0" * 5000 + str(NOW),
    "1e400",
    "1e10",
    "-5",
    "+5",
    "-0",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "12.5",
    "0x10",
    "1_000",
    " 5",
    "5 ",
    "",
    "0",
    str(NOW),
    str(NOW - 301),
    str(NOW + 10**12),
    str(2**63),
    str(2**64 + 1),
    "\u0661\u0662\u0663",  # Arabic-Indic digits: isdigit() says yes
    "\uff11\uff12\uff13",  # fullwidth digits
    "\u00b2",  # superscript two
    "\u0966",  # Devanagari zero
    "\U0001d7d9",  # mathematical double-struck one
]

SIGNATURES = [
    "",
    "0" * 64,
    "zz",
    "\x00",
    "\u00e9" * 64,  # non-ASCII: hmac.compare_digest refuses such str
    "\udcff" * 64,  # a lone surrogate, as surrogateescape makes
    "\U0001f600",
    "a" * 100_000,
]


def random_text(rng: random.Random) -> str:
    raw = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 80)))
    encoding, errors = rng.choice(
        [("utf-8", "surrogateescape"), ("latin-1", "strict"), ("utf-8", "replace")]
    )
    return raw.decode(encoding, errors)


def random_part(rng: random.Random, valid: str) -> str:
    makers: List[Callable[[], str]] = [
        lambda: f"t={rng.choice(NUMBERS)}",
        lambda: f"v1={rng.choice(SIGNATURES)}",
        lambda: f"v1={rng.getrandbits(256):064x}",
        lambda: (
            rng.choice(["v0", "v2", "V1", "t ", " t", "T", "=", ""])
            + "="
            + random_text(rng)
        ),
        lambda: rng.choice(["", " ", "=", "==", "t", "v1", "t==5", "v1=="]),
        lambda: random_text(rng),
        lambda: rng.choice(valid.split(",")),
    ]
    return rng.choice(makers)()


def random_header(rng: random.Random, valid: str) -> str:
    kind = rng.randrange(6)
    if kind == 0:
        return random_text(rng)
    if kind == 1:
        return "," * rng.randrange(0, 5000)
    if kind == 2:  # very long, many parts
        return ",".join(random_part(rng, valid) for _ in range(rng.randrange(1, 3000)))
    if kind == 3:  # the valid header, with garbage spliced in anywhere
        parts = valid.split(",")
        for _ in range(rng.randrange(1, 6)):
            parts.insert(rng.randrange(len(parts) + 1), random_part(rng, valid))
        return ",".join(parts)
    separator = rng.choice([",", ", ", " , ", ",,", ";", "\t,"])
    return separator.join(random_part(rng, valid) for _ in range(rng.randrange(0, 8)))


def check(header: str, now: Optional[Union[int, float]], seed: int) -> None:
    error: Optional[WebhookVerificationError] = None
    try:
        verify_webhook(BODY, header, SECRET, now=now)
    except WebhookVerificationError as exc:
        error = exc
    except Exception as exc:
        pytest.fail(
            f"seed {seed}: {type(exc).__name__} {exc!s:.200} "
            f"for the header {header[:200]!r}"
        )
    if error is not None:
        assert isinstance(error, FAMILY), (seed, header[:200], error)
        assert "\n" not in str(error)  # the CLI prints it as one line
        assert len(str(error)) < 1000, (seed, header[:200])


@pytest.mark.timeout(60)
@pytest.mark.parametrize("seed", range(8))
def test_random_headers_raise_only_the_family(seed: int) -> None:
    rng = random.Random(seed)
    valid = sign(BODY, SECRET, timestamp=NOW)
    for _ in range(400):
        header = random_header(rng, valid)
        for now in (None, NOW, float(NOW) + 0.5):
            check(header, now, seed)


@pytest.mark.parametrize("number", NUMBERS, ids=lambda n: ascii(n)[:24])
@pytest.mark.parametrize("now", [None, NOW, float(NOW)])
def test_every_timestamp_raises_only_the_family(
    number: str, now: Optional[float]
) -> None:
    check(f"t={number},v1={'0' * 64}", now, -1)


@pytest.mark.parametrize(
    "header",
    [
        "t=" + "9" * 310 + ",v1=00",
        "t=" + "9" * 5000 + ",v1=00",
        "t=1e400,v1=00",
        "t=99999999999999999999999999,v1=00",
    ],
)
def test_huge_timestamps_are_outside_the_tolerance(header: str) -> None:
    with pytest.raises((WebhookToleranceError, WebhookTimestampError)):
        verify_webhook(BODY, header, SECRET)


@pytest.mark.parametrize("signature", SIGNATURES, ids=lambda s: ascii(s)[:24])
def test_every_signature_value_raises_only_the_family(signature: str) -> None:
    check(f"t={NOW},v1={signature}", NOW, -1)


def test_a_non_ascii_signature_is_a_mismatch_not_a_type_error() -> None:
    with pytest.raises(WebhookSignatureMismatchError):
        verify_webhook(BODY, f"t={NOW},v1={'é' * 64}", SECRET, now=NOW)


def test_a_valid_signature_among_garbage_still_verifies() -> None:
    valid = sign(BODY, SECRET, timestamp=NOW)
    stamp, v1 = valid.split(",")
    for header in (
        f",,{v1},,junk,v2=x,v1={'é' * 3},{stamp},",
        f"{stamp},{'v1=' + '0' * 64},{v1}" + ",=" * 2000,
    ):
        verify_webhook(BODY, header, SECRET, now=NOW)
