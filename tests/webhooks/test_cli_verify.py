"""`predictions webhook verify` run as a subprocess: never a traceback.

One line and an exit code: 0 authentic, 1 not (with the reason), 2 a usage error.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Optional

import pytest

from predictions.webhooks import sign

SECRET = "whsec-cli"
BODY = b'{"id":"p1","status":"succeeded"}'
NOW = 1_800_000_000


def run(
    *args: str, body: bytes = BODY, clock: Optional[float] = None
) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    """Run the command; with `clock`, time.time() is frozen there first."""
    if clock is None:
        command = [sys.executable, "-m", "predictions"]
    else:
        # The same as -m, with the clock set, so a fractional tolerance is exact.
        command = [
            sys.executable,
            "-c",
            f"import runpy, time; time.time = lambda: {clock!r}; "
            "runpy.run_module('predictions', run_name='__main__', alter_sys=True)",
        ]
    return subprocess.run(
        [*command, "webhook", "verify", "--secret-env", "HOOK_SECRET", *args],
        input=body,
        capture_output=True,
        env=dict(os.environ, HOOK_SECRET=SECRET),
        timeout=60,
    )


def assert_one_line(result: subprocess.CompletedProcess) -> None:  # type: ignore[type-arg]
    assert b"Traceback" not in result.stdout + result.stderr
    output = result.stdout if result.returncode < 2 else result.stderr
    assert output.count(b"\n") == 1, output
    assert (result.stderr if result.returncode < 2 else result.stdout) == b""


@pytest.mark.parametrize(
    "header",
    [
        "t=" + "9" * 400 + ",v1=00",  # was OverflowError
        "t=" + "9" * 5000 + ",v1=00",  # was a plain ValueError
        "t=99999999999999999999999999,v1=00",
        "t=1e400,v1=00",
        "t=-5,v1=00",
        "t=nan,v1=00",
        "t=\u0661\u0662\u0663,v1=00",
        ",,,",
        "=",
        "t=1,t=2,v1=00",
        "v1=00",
        "t=5",
    ],
)
def test_a_bad_header_is_one_line_and_exit_1(header: str) -> None:
    result = run("--signature", header)
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith(b"invalid: ")
    assert_one_line(result)


@pytest.mark.parametrize("signature", ["é" * 64, "\U0001f600"])
def test_a_non_ascii_signature_is_invalid(signature: str) -> None:
    # Was a TypeError from hmac.compare_digest, past the tolerance check.
    result = run("--signature", f"t={NOW},v1={signature}", clock=float(NOW))
    assert result.returncode == 1, result.stderr
    assert result.stdout == b"invalid: no signature matches the body and secret\n"
    assert_one_line(result)


def test_unknown_parts_are_skipped() -> None:
    header = sign(BODY, SECRET)
    result = run("--signature", f",{header},v2=abc,junk,")
    assert (result.returncode, result.stdout) == (0, b"valid\n")


def test_a_fractional_tolerance_is_kept() -> None:
    header = sign(BODY, SECRET, timestamp=NOW)
    within = run("--signature", header, "--tolerance", "0.5", clock=NOW + 0.4)
    assert (within.returncode, within.stdout) == (0, b"valid\n"), within.stderr
    outside = run("--signature", header, "--tolerance", "0.5", clock=NOW + 0.6)
    assert outside.returncode == 1
    assert b"tolerance of 0.5 s" in outside.stdout
    assert_one_line(outside)
    exact = run("--signature", header, "--tolerance", "0", clock=float(NOW))
    assert (exact.returncode, exact.stdout) == (0, b"valid\n"), exact.stderr


def test_the_default_tolerance_is_300_seconds() -> None:
    header = sign(BODY, SECRET, timestamp=NOW)
    assert run("--signature", header, clock=NOW + 300.0).returncode == 0
    late = run("--signature", header, clock=NOW + 300.5)
    assert late.returncode == 1
    assert b"tolerance of 300 s" in late.stdout


@pytest.mark.parametrize("tolerance", ["-1", "-0.5", "nan", "inf", "-inf", "abc", ""])
def test_a_bad_tolerance_is_a_usage_error(tolerance: str) -> None:
    result = run("--signature", sign(BODY, SECRET), "--tolerance", tolerance)
    assert result.returncode == 2
    assert b"--tolerance" in result.stderr
    assert_one_line(result)
