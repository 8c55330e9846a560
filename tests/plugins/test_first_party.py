"""The first-party plugins at work: predictions-progress and predictions-jsonlog."""

from __future__ import annotations

import asyncio
import io
import json
import multiprocessing
import os
import re
import threading
from typing import Any, Dict, List

import predictions_jsonlog
import predictions_progress
import pytest

from predictions import AsyncWaitOptions, Client, WaitOptions
from predictions.testing import Fault, Faults, LocalServer

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def progress_client(server: LocalServer, stream: io.StringIO) -> Client:
    plugin = predictions_progress.Progress(stream)
    return Client(server.base_url, plugins=[plugin], strict_plugins=True)


def test_progress_without_a_terminal_writes_a_plain_line_per_status_change(
    predictions_server: LocalServer,
) -> None:
    stream = io.StringIO()
    with progress_client(predictions_server, stream) as client:
        client.predictions.create(
            {"input": {"seconds": 0.3}},
            "demo/sleep",
            wait=True,
            wait_options=WaitOptions(0.02, prefer_wait=0),  # polled
        )
    lines = stream.getvalue().splitlines()
    assert not CONTROL.search(stream.getvalue()), "no control characters off a terminal"
    statuses = [line.split()[2] for line in lines[:-1]]
    assert statuses == sorted(set(statuses), key=statuses.index), "one line per change"
    assert statuses[-1] == "started"
    assert "demo/sleep:1" in lines[0]
    final = lines[-1]
    assert "succeeded (waited" in final
    assert "polls" in final
    assert "execution" in final
    assert sum("succeeded" in line for line in lines) == 1, "one final line, not two"


def test_progress_on_a_terminal_redraws_one_line_per_prediction(
    predictions_server: LocalServer,
) -> None:
    stream = Terminal()
    with progress_client(predictions_server, stream) as client:

        async def main() -> List[Any]:
            return await asyncio.gather(
                *(
                    client.predictions.async_create(
                        {"input": {"seconds": 0.2}},
                        "demo/sleep",
                        wait=True,
                        wait_options=AsyncWaitOptions(0.02, prefer_wait=0),  # polled
                    )
                    for _ in range(3)
                )
            )

        results = asyncio.run(main())
    out = stream.getvalue()
    assert "\x1b[2K" in out, "lines are cleared and redrawn in place"
    assert re.search(r"\x1b\[[23]F", out), "several live lines at once"
    finals = [line for line in out.split("\n") if "succeeded (waited" in line]
    assert len(finals) == 3
    for result in results:
        assert result["id"][:8] in out
    assert "| step" in out, "the latest log line is shown"


def test_progress_reports_how_a_failed_wait_ended(
    predictions_server: LocalServer,
) -> None:
    stream = io.StringIO()
    with progress_client(predictions_server, stream) as client:
        created = client.predictions.create({"input": {"seconds": 30}}, "demo/sleep")
        with pytest.raises(Exception, match="did not finish"):
            client.predictions.wait(created["id"], WaitOptions(0.02, timeout=0.1))
    final = stream.getvalue().splitlines()[-1]
    assert f"{created['id'][:8]} demo/sleep:1 stopped: prediction" in final
    assert "did not finish within 0.1 s" in final
    assert "Error" not in final, "a sentence, not a class name"


def test_progress_says_1_poll_and_nothing_for_a_prediction_never_seen(
    predictions_server: LocalServer,
) -> None:
    stream = io.StringIO()
    with progress_client(predictions_server, stream) as client:
        created = client.predictions.create({"input": {"text": "x"}}, "demo/echo")
        predictions_server.wait(created["id"])
        client.predictions.wait(created["id"], WaitOptions(0.02))
        assert re.search(r"succeeded \(waited [\d.]+s, 1 poll[,)]", stream.getvalue())
        before = stream.getvalue()
        with pytest.raises(Exception, match="404"):
            client.predictions.wait("no-such-id", WaitOptions(0.02))
    assert stream.getvalue() == before, "the caller tells the error, once"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_on_a_terminal_keeps_the_time_moving_between_polls() -> None:
    stream = Terminal()
    clock = FakeClock()
    plugin = predictions_progress.Progress(stream, tick=0.01, clock=clock)
    prediction = {
        "id": "abcdef123",
        "status": "started",
        "model": {"owner": "o", "name": "m"},
    }
    plugin.predictions_on_poll(prediction=prediction, polls=1, elapsed=2.0)
    ticker = plugin._ticker
    assert ticker is not None
    assert ticker.daemon
    clock.now += 3.0  # no poll: the ticker alone redraws
    for _ in range(500):
        if "5.0s, 1 poll" in stream.getvalue():
            break
        threading.Event().wait(0.01)
    assert "5.0s, 1 poll" in stream.getvalue()
    done = dict(prediction, status="succeeded")
    plugin.predictions_on_terminal(prediction=done, error=None, polls=2, elapsed=5.5)
    assert not ticker.is_alive(), "stopped with the last live line"
    assert plugin._ticker is None
    after = stream.getvalue()
    threading.Event().wait(0.05)
    assert stream.getvalue() == after, "no redraw after the final line"
    assert "succeeded (waited 5.5s, 2 polls)" in after


def read_events(path: Any) -> List[Dict[str, Any]]:
    with open(path) as handle:
        return [json.loads(line) for line in handle]


@pytest.fixture
def jsonlog_path(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    path = tmp_path / "events.jsonl"
    monkeypatch.setenv("PREDICTIONS_JSONLOG", str(path))
    return path


def test_jsonlog_writes_create_status_retry_and_terminal(jsonlog_path: Any) -> None:
    faults = Faults([Fault("status", route="get", status=503, sequence=[1])])
    with LocalServer(faults=faults) as server, Client(
        server.base_url, plugins=[predictions_jsonlog], strict_plugins=True
    ) as client:
        client.api.retry_policy.sleep = lambda seconds: None
        done = client.predictions.create(
            {"input": {"seconds": 0.1}},
            "demo/sleep",
            wait=True,
            wait_options=WaitOptions(0.02, prefer_wait=0),  # polled
        )
    events = read_events(jsonlog_path)
    kinds = [event["event"] for event in events]
    assert kinds[0] == "create"
    assert "retry" in kinds
    assert kinds[-1] == "terminal"
    assert kinds.count("terminal") == 1
    statuses = [event["status"] for event in events if event["event"] == "status"]
    assert statuses[-1] == "succeeded"
    assert len(statuses) == len(set(statuses)), "only polls that changed the status"
    retry = next(event for event in events if event["event"] == "retry")
    assert retry["attempt"] == 1
    assert retry["path"].startswith("/v1/predictions/")
    assert "503" in retry["error"]
    terminal = events[-1]
    assert terminal["id"] == done["id"]
    assert terminal["status"] == "succeeded"
    assert terminal["error"] is None
    assert all({"event", "time", "pid"} <= set(event) for event in events)


def test_jsonlog_without_its_variable_writes_nothing(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PREDICTIONS_JSONLOG", raising=False)
    monkeypatch.chdir(tmp_path)
    predictions_jsonlog.write_event("create", id="x")
    assert os.listdir(tmp_path) == []


def _write_many(path: str, tag: str) -> None:
    os.environ["PREDICTIONS_JSONLOG"] = path
    for index in range(200):
        predictions_jsonlog.write_event("status", id=f"{tag}-{index}", filler="x" * 300)


def test_jsonlog_lines_stay_whole_across_threads_and_processes(
    jsonlog_path: Any,
) -> None:
    threads = [
        threading.Thread(target=_write_many, args=(str(jsonlog_path), f"t{i}"))
        for i in range(4)
    ]
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_write_many, args=(str(jsonlog_path), f"p{i}"))
        for i in range(2)
    ]
    for worker in [*threads, *processes]:
        worker.start()
    for worker in [*threads, *processes]:
        worker.join(60)
    events = read_events(jsonlog_path)  # every line parses: none was torn
    assert len(events) == 6 * 200
    assert len({event["id"] for event in events}) == 6 * 200


def test_the_plugins_show_a_cold_start_and_a_held_create(jsonlog_path: Any) -> None:
    """`starting` (issue 12) is shown like any status; a create the server held
    until the end (no poll) still ends with its final line and terminal event."""
    stream = io.StringIO()
    progress = predictions_progress.Progress(stream)
    with LocalServer(cold_start=0.3) as server, Client(
        server.base_url, plugins=[progress, predictions_jsonlog], strict_plugins=True
    ) as client:
        polled = client.predictions.create(
            {"input": {"seconds": 0.05}},
            "demo/sleep",
            wait=True,
            wait_options=WaitOptions(0.02, prefer_wait=0),
        )
        held = client.predictions.create(
            {"input": {"seconds": 0.05}}, "demo/sleep", wait=True
        )
    assert polled["status"] == held["status"] == "succeeded"
    text = stream.getvalue()
    assert f"{polled['id'][:8]} demo/sleep:1 starting" in text
    assert f"{held['id'][:8]} demo/sleep:1 succeeded (waited" in text
    events = read_events(jsonlog_path)
    statuses = [e["status"] for e in events if e["event"] == "status"]
    assert "starting" in statuses
    terminals = {e["id"]: e for e in events if e["event"] == "terminal"}
    assert terminals[held["id"]]["status"] == "succeeded"
    assert terminals[polled["id"]]["status"] == "succeeded"
