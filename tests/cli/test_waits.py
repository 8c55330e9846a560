"""The command line's waits, in-process on a mocked API and the fake clock (issue 21).

The client the command line makes gets the tests' fake clock, so the sleeps
it asks for are read, not slept.
"""

from __future__ import annotations

from typing import Tuple

import pytest
import responses

from predictions.cli import main
from tests.conftest import BASE, FakeClock, prediction

CREATE = f"{BASE}/models/o/n/predictions"
URL = f"{BASE}/predictions/p1"


@pytest.fixture
def api(mocked: responses.RequestsMock, cli_clock: FakeClock) -> responses.RequestsMock:
    """The mocked API, which the command line's client (on the fake clock) asks."""
    return mocked


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> Tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def answers(mocked: responses.RequestsMock, *statuses: str) -> None:
    """The create's answer, then one poll's per status."""
    mocked.add("POST", CREATE, json=prediction(status="starting"), status=201)
    for status in statuses:
        output = {"text": "hi"} if status == "succeeded" else None
        mocked.add("GET", URL, json=prediction(status=status, output=output))


# 1. The first polls come sooner


def test_run_polls_a_tenth_of_a_second_after_finding_it_starting(
    capsys: pytest.CaptureFixture[str],
    api: responses.RequestsMock,
    cli_clock: FakeClock,
) -> None:
    """It slept a whole --poll-interval (1 s) first: 1.25 s for a 0.25 s model."""
    answers(api, "starting", "succeeded")
    code, out, err = cli(capsys, "run", "o/n", "-i", "text=hi")
    assert (code, out) == (0, '{\n  "text": "hi"\n}\n'), err
    assert cli_clock.sleeps == pytest.approx([0.1])


def test_run_and_wait_poll_sooner_at_first_then_every_poll_interval(
    capsys: pytest.CaptureFixture[str],
    api: responses.RequestsMock,
    cli_clock: FakeClock,
) -> None:
    answers(api, *["started"] * 5, "succeeded")
    code, _, err = cli(capsys, "run", "o/n", "-i", "text=hi", "--poll-interval", "2")
    assert code == 0, err
    assert cli_clock.sleeps == pytest.approx([0.1, 0.3, 0.7, 2.0, 2.0])
    cli_clock.sleeps.clear()
    for status in ["started"] * 4 + ["succeeded"]:
        api.add("GET", URL, json=prediction(status=status, output="ok"))
    code, out, err = cli(capsys, "wait", "p1")
    assert (code, out) == (0, "ok\n"), err
    assert cli_clock.sleeps == pytest.approx([0.1, 0.3, 0.7, 1.0])
