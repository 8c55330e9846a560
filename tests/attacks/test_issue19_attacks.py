"""Attacks on the fixes made for issue 19 ("Hardening the new surfaces").

Each test here failed when it was written, and is marked `xfail(strict=True)`
so the suite stays green: it passes (and so fails the suite, as a strict
xfail) once its defect is fixed, and the mark can go. Only loopback addresses;
every test bounded in time and memory.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, List

import pytest
import responses

from predictions import Client, WaitOptions, WaitTimeoutError
from predictions._http.sse import EventDecoder
from predictions.testing import LocalServer
from tests.conftest import BASE, TOKEN, FakeClock
from tests.waiting.test_streams import CREATE, INIT, STREAM

# ---- streams ----------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.xfail(
    strict=True,
    reason="sse._line_end searches the whole rest of the buffer for a '\\n' at "
    "every CR-ended line: CR-only lines in one piece cost their square",
)
def test_cr_only_lines_decode_in_time_linear_in_their_bytes() -> None:
    """Item 2 said each byte is searched for a line end once. With CR-only
    line ends (which the fix made valid), `_line_end` runs
    `buffer.find(b"\\n", start)` to the buffer's end for every line: 1 MiB of
    CR-ended heartbeats in one piece takes ~9x as long as the same with LF
    (5.6 s against 0.6 s here), and the ratio doubles with the size."""
    size = 1024 * 1024

    def cost(piece: bytes) -> float:
        decoder = EventDecoder()
        started = time.process_time()
        assert decoder.feed(piece) == []
        return time.process_time() - started

    lf = cost(b":\n" * (size // 2))
    cr = cost(b":\r" * (size // 2))
    assert cr < 3 * lf + 0.2, f"CR-only: {cr:.2f} s, LF-only: {lf:.2f} s"


@pytest.mark.timeout(30)
@pytest.mark.xfail(
    strict=True,
    reason="Following.drop_connection's backoff ignores the caller's deadline, "
    "and reopening() turns the deadline's APITimeoutError into a StreamError",
)
def test_a_streamed_create_whose_deadline_passes_in_a_backoff_is_a_wait_timeout(
    clock: FakeClock,
) -> None:
    """A streamed create with wait_options.timeout=2 whose stream closes at
    once after `init`: the reconnects back off 0.5, 1.0, then 2.0 s (slept
    past the deadline, to t=3.5), and the stream ends with
    StreamError('the event stream could not be resumed (the deadline passed
    before the request was sent)'), not the WaitTimeoutError the fix
    promises for a streamed create past its deadline."""
    clock.jitter = 1.0
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.add("POST", CREATE, body=INIT, content_type="text/event-stream")
        mocked.add("GET", STREAM, body=b": ping\n\n", content_type="text/event-stream")
        with Client(BASE, TOKEN, clock=clock, pacing=False, max_retries=10) as client:
            events = client.predictions.create(
                {"input": 1},
                "o/n",
                wait=True,
                wait_options=WaitOptions(timeout=2.0),
                stream=True,
            )
            with pytest.raises(WaitTimeoutError, match="did not end within"):
                list(events)
    assert sum(clock.sleeps) <= 2.0, clock.sleeps  # no sleep past the deadline


# ---- numbers that become timeouts ------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.xfail(
    strict=True,
    reason="WebhookReceiver.wait_for does not check its timeout: 1e12 escapes "
    "as OverflowError from Condition.wait",
)
def test_webhook_wait_for_a_huge_timeout_is_a_value_error() -> None:
    from predictions.webhooks import WebhookReceiver

    receiver = WebhookReceiver(secret="whsec_" + "a" * 32)
    with receiver, pytest.raises(ValueError, match="timeout"):
        receiver.wait_for(lambda delivery: True, timeout=1e12)


@pytest.mark.timeout(30)
@pytest.mark.xfail(
    strict=True,
    reason="WebhookReceiver.wait_for(timeout=nan): the deadline is NaN, "
    "'left <= 0' never holds, and Condition.wait(nan) returns at once: it "
    "spins a CPU forever",
)
def test_webhook_wait_for_a_nan_timeout_is_refused_not_spun_on() -> None:
    from predictions.webhooks import WebhookReceiver

    outcome: List[Any] = []

    def wait() -> None:
        try:
            outcome.append(receiver.wait_for(lambda d: True, timeout=float("nan")))
        except BaseException as exc:
            outcome.append(exc)

    with WebhookReceiver(secret="whsec_" + "a" * 32) as receiver:
        thread = threading.Thread(target=wait, daemon=True)
        thread.start()
        thread.join(2.0)
        spinning = thread.is_alive()
        with receiver._condition:  # end the spin: a delivery it takes
            receiver.deliveries.append({"id": "unblock"})
            receiver._condition.notify_all()
        thread.join(5.0)
    assert not spinning, "wait_for(timeout=nan) was still running after 2 s"
    assert outcome
    assert isinstance(outcome[0], ValueError), outcome


# ---- uploads ----------------------------------------------------------------


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="no procfs")
@pytest.mark.xfail(
    strict=True,
    reason="File(path) trusts st_size of a regular file: procfs files say 0 "
    "and are read as empty (_file._path_size)",
)
def test_a_file_whose_size_cannot_be_known_is_refused_when_made() -> None:
    """/proc/self/status is 'regular' with st_size 0 but holds ~1 KiB:
    File('/proc/self/status') is made with size=0 and would upload nothing,
    with no error (the same hole /dev/zero was, through a path)."""
    from predictions import File

    with open("/proc/self/status", "rb") as handle:
        assert handle.read(), "procfs gives bytes"
    with pytest.raises(ValueError, match="size"):
        File("/proc/self/status")


@pytest.mark.skipif(not os.path.exists("/proc/cpuinfo"), reason="no procfs")
@pytest.mark.xfail(
    strict=True,
    reason="_stream_source seeks to the end of a procfs file object: a raw "
    "OSError(EINVAL) escapes instead of the clear refusal",
)
def test_a_procfs_file_object_is_refused_with_a_clear_error() -> None:
    """File(open('/proc/cpuinfo', 'rb')) raises OSError [Errno 22] Invalid
    argument from stream.seek(0, SEEK_END), not the ValueError a device gets."""
    from predictions import File

    with open("/proc/cpuinfo", "rb") as handle, pytest.raises(ValueError, match="size"):
        File(handle)


# ---- batch CSV rows ---------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.xfail(
    strict=True,
    reason="_rows._records counts characters (text readline limit and "
    "len(line)), not bytes: a CSV row of 16 MiB + 6 KiB of UTF-8 is accepted",
)
def test_the_csv_row_limit_is_in_bytes_as_for_jsonl(tmp_path: Path) -> None:
    """The same 16 MiB + 2000 bytes of text ('é' is two bytes) is one invalid
    row in JSONL ('longer than 16777216 bytes') but a valid row in CSV (its
    field 16,779,216 bytes): with 4-byte characters a CSV row of 64 MiB
    passes the '16 MiB' limit."""
    from predictions.batch._rows import MAX_ROW_BYTES, InputFile

    text = "é" * (MAX_ROW_BYTES // 2 + 1000)
    jsonl = tmp_path / "big.jsonl"
    jsonl.write_text('{"text": "' + text + '"}\n', encoding="utf-8")
    csv_file = tmp_path / "big.csv"
    csv_file.write_text("text\n" + text + "\n", encoding="utf-8")
    del text
    assert [row.input for row in InputFile(jsonl)] == [None]
    rows = list(InputFile(csv_file))
    assert len(rows) == 1
    accepted = rows[0].input is not None
    assert not accepted, f"a valid row: {csv_file.stat().st_size} bytes on disk"
    assert "longer than" in (rows[0].error or "")


# ---- predictions batch: one file for two jobs -------------------------------


@pytest.mark.timeout(60)
@pytest.mark.xfail(
    strict=True,
    reason="cli/_batch.check compares paths only: with --output - it never "
    "looks at what stdout is (os.fstat(1)), so stdout on the input is taken",
)
def test_batch_output_to_stdout_that_is_the_input_is_a_usage_error(
    tmp_path: Path,
) -> None:
    """`predictions batch ... --input rows.jsonl --output - --ledger l.db
    >> rows.jsonl`: exit 0, and the results are appended to the input (a
    resumed run reads them as rows; a large input can feed on itself)."""
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"text": "a"}\n{"text": "b"}\n')
    before = rows.read_bytes()
    with LocalServer(host="127.0.0.1", port=0) as server:
        with open(rows, "ab") as stdout:
            done = subprocess.run(
                [
                    sys.executable, "-m", "predictions", "batch", "demo/echo",
                    "--input", str(rows), "--output", "-",
                    "--ledger", str(tmp_path / "l.db"),
                    "--base-url", server.base_url,
                ],
                stdout=stdout,
                stderr=subprocess.PIPE,
                timeout=45,
                cwd=tmp_path,
            )  # fmt: skip
        sent = len(server.requests)
    assert rows.read_bytes() == before, "the input was written to"
    assert done.returncode == 2, done.stderr.decode()
    assert sent == 0
