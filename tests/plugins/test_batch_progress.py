"""A batch's progress: one quiet line, in Python as on the command line.

`run_batch` with predictions-progress installed wrote a line per row (1,000
lines for 1,000 rows) while `predictions batch` drew one line: the command
line took the plugin off its client and drew its own (issue 21).
"""

from __future__ import annotations

import io
import re
from typing import Iterator, List

import predictions_progress
import pytest

from predictions import Client, WaitOptions
from predictions.batch import BatchProgress, run_batch
from predictions.testing import LocalServer

ROWS = 120
PER_ROW = re.compile(r"demo/(echo|sleep):1")  # the plugin's line for one prediction


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer(prefer_wait_max=1) as running:
        yield running


def progress_client(server: LocalServer, stream: io.StringIO) -> Client:
    plugin = predictions_progress.Progress(stream)
    return Client(server.base_url, plugins=[plugin], strict_plugins=True)


def run_rows(client: Client) -> BatchProgress:
    """A batch whose rows are created, and half of them polled (no hold)."""
    inputs = [{"text": f"row {n}"} for n in range(ROWS)]
    with run_batch(
        inputs, "demo/echo", client=client, hold=0, poll_interval=0.05
    ) as batch:
        assert all(r["status"] == "succeeded" for r in batch)
        return batch.progress()


def test_run_batch_off_a_terminal_writes_a_line_now_and_then_not_one_per_row(
    server: LocalServer,
) -> None:
    stream = io.StringIO()
    with progress_client(server, stream) as client:
        final = run_rows(client)
    lines = stream.getvalue().splitlines()
    assert not PER_ROW.search(stream.getvalue()), lines[:3]
    # A line every 10 s of the batch, and the last.
    assert 1 <= len(lines) <= 1 + final.elapsed // 10 + 1
    assert lines[-1].startswith(
        f"batch: {ROWS}/{ROWS} rows done ({ROWS} succeeded, 0 failed)"
    )


def test_run_batch_on_a_terminal_redraws_one_line(server: LocalServer) -> None:
    stream = Terminal()
    with progress_client(server, stream) as client:
        run_rows(client)
    out = stream.getvalue()
    assert not PER_ROW.search(out)
    assert not re.search(r"\x1b\[([2-9]|\d\d+)F", out), "never more than one line"
    assert "\x1b[1F" in out, "the line is redrawn in place"
    assert out.count(f"batch: {ROWS}/{ROWS} rows done") == 1
    assert out.endswith("\n")
    assert "\x1b[2K" not in out.rsplit("\x1b[J", 1)[-1], "the last line is left as is"


def progress(elapsed: float, done: int, total: int = 100) -> BatchProgress:
    return BatchProgress(
        total=total,
        done=done,
        succeeded=done,
        failed=0,
        running=total - done,
        resumed=0,
        elapsed=elapsed,
        rate=done / max(elapsed, 1e-9),
        eta=None,
    )


def test_off_a_terminal_a_line_every_ten_seconds_of_the_batch_and_the_last() -> None:
    stream = io.StringIO()
    plugin = predictions_progress.Progress(stream)
    for step in range(201):  # 100 s, reported twice a second
        now = progress(step / 2, step // 2)
        plugin.predictions_on_batch_progress(progress=now, final=False)
    plugin.predictions_on_batch_progress(progress=progress(100.2, 100), final=True)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 11
    assert lines[0].startswith("batch: 10/100 rows done")
    assert lines[-1].startswith("batch: 100/100 rows done (100 succeeded, 0 failed)")


def test_a_wait_after_a_batch_on_the_same_thread_is_drawn_again(
    server: LocalServer,
) -> None:
    stream = io.StringIO()
    with progress_client(server, stream) as client:
        with run_batch([{"seconds": 0.01}] * 3, "demo/sleep", client=client) as batch:
            next(batch)  # left early: the batch's line ends with it
        created = client.predictions.create({"input": {"text": "x"}}, "demo/echo")
        server.wait(created["id"])
        client.predictions.wait(created["id"], WaitOptions(0.02))
    lines: List[str] = stream.getvalue().splitlines()
    assert lines[-2].startswith("batch: ")
    assert f"{created['id'][:8]} demo/echo:1 succeeded" in lines[-1]
