"""The command line's waits, in-process on a mocked API and the fake clock (issue 21).

The client the command line makes gets the tests' fake clock, so the sleeps
it asks for are read, not slept.
"""

from __future__ import annotations

import io
import json
import re
import sys
from typing import Any, List

import pytest
import responses

from predictions._http.stream import StreamReader
from predictions.cli import main
from predictions.cli._interrupts import Watch
from tests.cli.run import cli
from tests.conftest import BASE, FakeClock, prediction

CREATE = f"{BASE}/models/o/n/predictions"
URL = f"{BASE}/predictions/p1"


@pytest.fixture
def api(mocked: responses.RequestsMock, cli_clock: FakeClock) -> responses.RequestsMock:
    """The mocked API, which the command line's client (on the fake clock) asks."""
    return mocked


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


# 2. Ctrl-C: the id, that it still runs, and how to cancel it; on a fresh line


def block(event_id: int, kind: str, data: Any) -> bytes:
    return f"id: {event_id}\nevent: {kind}\ndata: {json.dumps(data)}\n\n".encode()


STREAMED = block(1, "init", prediction(status="starting", stream=True)) + (
    block(2, "output", "one ") + block(3, "output", "two")
)
STILL_RUNS = (
    "predictions: interrupted: prediction p1 is still running on the server "
    "(started): Ctrl-C does not cancel it; predictions cancel p1 does\n"
)


@pytest.fixture
def ctrl_c_in_a_sleep(
    monkeypatch: pytest.MonkeyPatch, cli_clock: FakeClock
) -> FakeClock:
    """Ctrl-C comes while the wait sleeps between two polls."""

    def sleep(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_clock, "sleep", sleep)
    return cli_clock


@pytest.fixture
def ctrl_c_in_the_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C comes while the stream waits for its next piece."""
    read = StreamReader.read
    reads: List[int] = []

    def read_then_interrupt(self: StreamReader, size: int = 65536) -> bytes:
        if reads:
            raise KeyboardInterrupt
        reads.append(size)
        return read(self, size)

    monkeypatch.setattr(StreamReader, "read", read_then_interrupt)


def stream_answers(mocked: responses.RequestsMock, *, status: str = "started") -> None:
    """A streamed create's answer: its init event and two pieces, then nothing."""
    mocked.add("POST", CREATE, body=STREAMED, content_type="text/event-stream")
    mocked.add("GET", URL, json=prediction(status=status))  # asked after Ctrl-C


@pytest.mark.parametrize("argv", [["wait", "p1"], ["run", "o/n", "-i", "x=1"]])
def test_ctrl_c_while_polling_says_the_id_that_it_runs_and_how_to_cancel(
    capsys: pytest.CaptureFixture[str],
    api: responses.RequestsMock,
    ctrl_c_in_a_sleep: FakeClock,
    argv: List[str],
) -> None:
    """`wait` said only "interrupted"."""
    if argv[0] == "run":
        api.add("POST", CREATE, json=prediction(status="starting"), status=201)
    api.add("GET", URL, json=prediction(status="started"))
    code, out, err = cli(capsys, *argv)
    assert (code, out, err) == (130, "", STILL_RUNS)
    assert not any("/cancel" in call.request.url for call in api.calls)


def test_ctrl_c_says_when_the_prediction_has_ended_meanwhile(
    capsys: pytest.CaptureFixture[str],
    api: responses.RequestsMock,
    ctrl_c_in_a_sleep: FakeClock,
) -> None:
    api.add("GET", URL, json=prediction(status="started"))
    api.add("GET", URL, json=prediction(status="succeeded", output="ok"))
    code, _, err = cli(capsys, "wait", "p1")
    assert code == 130
    assert err == (
        "predictions: interrupted: prediction p1 has ended (succeeded): "
        "predictions get p1 shows it\n"
    )


@pytest.mark.parametrize("command", ["wait", "run"])
def test_ctrl_c_with_cancel_on_interrupt_asks_for_the_cancel_once(
    capsys: pytest.CaptureFixture[str],
    api: responses.RequestsMock,
    ctrl_c_in_a_sleep: FakeClock,
    command: str,
) -> None:
    argv = ["wait", "p1"] if command == "wait" else ["run", "o/n", "-i", "x=1"]
    if command == "run":  # --prefer-wait too: a held create could not be cancelled
        api.add("POST", CREATE, json=prediction(status="starting"), status=201)
        argv += ["--prefer-wait", "5"]
    api.add("GET", URL, json=prediction(status="started"))
    api.add("POST", f"{URL}/cancel", json=None)
    code, _, err = cli(capsys, *argv, "--cancel-on-interrupt")
    assert code == 130
    assert err == (
        "predictions: interrupted: prediction p1: the server was asked to cancel "
        "it (predictions wait p1 shows the end)\n"
    )
    cancels = [call for call in api.calls if call.request.url.endswith("/cancel")]
    assert len(cancels) == 1
    assert "Prefer" not in api.calls[0].request.headers


def test_ctrl_c_during_a_stream_ends_the_line_and_says_the_id(
    capsys: pytest.CaptureFixture[str],
    api: responses.RequestsMock,
    ctrl_c_in_the_stream: None,
) -> None:
    """`run --stream` said only "interrupted", after "two" on the same line."""
    stream_answers(api)
    code, out, err = cli(capsys, "run", "o/n", "-i", "x=1", "--stream")
    assert code == 130
    assert out == "one two\n"  # ended: what comes next starts a line
    assert err == STILL_RUNS


def test_ctrl_c_during_a_stream_with_cancel_on_interrupt_cancels_it(
    capsys: pytest.CaptureFixture[str],
    api: responses.RequestsMock,
    ctrl_c_in_the_stream: None,
) -> None:
    """The stream has no poll loop to cancel on its way out: the command asks."""
    api.add("POST", CREATE, body=STREAMED, content_type="text/event-stream")
    api.add("POST", f"{URL}/cancel", json=None)
    argv = ["run", "o/n", "-i", "x=1", "--stream", "--cancel-on-interrupt"]
    code, _, err = cli(capsys, *argv)
    assert code == 130
    assert "prediction p1: the server was asked to cancel it" in err
    assert api.calls[-1].request.url == f"{URL}/cancel"


def assert_one_line_each(
    api: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A streamed run cut by Ctrl-C, stdout and stderr on one screen (as on a
    terminal) and the progress plugin on: the pieces, the progress line and
    the message, a line each. (In the test's body: pytest's capture puts its
    own stdout back between the fixtures and the test.)"""
    pytest.importorskip("predictions_progress")
    monkeypatch.setenv("PREDICTIONS_PLUGINS", "progress")
    screen = io.StringIO()
    monkeypatch.setattr(sys, "stdout", screen)
    monkeypatch.setattr(sys, "stderr", screen)
    stream_answers(api)
    code = main(["run", "o/n", "-i", "x=1", "--stream"])
    lines = screen.getvalue().splitlines()
    assert code == 130
    assert lines[0] == "one two"
    assert re.fullmatch(r"p1 o/n:1 interrupted \(Ctrl-C\) \(waited .*\)", lines[1])
    assert lines[2:] == [STILL_RUNS.strip()]


def test_a_streamed_line_and_the_progress_line_never_share_a_line(
    capsys: pytest.CaptureFixture[str],
    api: responses.RequestsMock,
    ctrl_c_in_the_stream: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """stdout and stderr on one screen, as on a terminal, the progress plugin on."""
    assert_one_line_each(api, monkeypatch)


def test_ctrl_c_before_the_id_is_known_says_where_to_find_it(
    capsys: pytest.CaptureFixture[str], api: responses.RequestsMock
) -> None:
    """A held create (--prefer-wait) has no id until it answers."""

    def interrupt(request: Any) -> Any:
        raise KeyboardInterrupt

    api.add_callback("POST", CREATE, callback=interrupt)
    code, _, err = cli(capsys, "run", "o/n", "-i", "x=1", "--prefer-wait", "30")
    assert code == 130
    assert err == (
        "predictions: interrupted before the prediction's id was known: if it was "
        "created, it still runs on the server (Ctrl-C does not cancel it); "
        "predictions list shows it, and predictions cancel ID cancels it\n"
    )


def test_ctrl_c_while_a_piece_is_printed_ends_the_stream_as_interrupted(
    capsys: pytest.CaptureFixture[str],
    api: responses.RequestsMock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ctrl-C landing in the command's own loop, not in the stream's read: the
    stream was left suspended and ended later by its garbage collection, so
    plugins heard of a GeneratorExit ("stopped by an error with no message"),
    after the command's message, not of the Ctrl-C."""
    printed = Watch.printed

    def printed_then_interrupt(self: Watch, text: str) -> None:
        printed(self, text)
        if "two" in text:
            raise KeyboardInterrupt

    monkeypatch.setattr(Watch, "printed", printed_then_interrupt)
    assert_one_line_each(api, monkeypatch)
