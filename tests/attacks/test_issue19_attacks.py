"""Attacks on the fixes made for issue 19 ("Hardening the new surfaces").

Each test here failed when it was written (an outside attack on the fixes),
and passes since its defect was fixed. Only loopback addresses; every test
bounded in time and memory.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
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
def test_cr_only_lines_are_searched_once() -> None:
    """Item 2 said each byte is searched for a line end once. With CR-only
    line ends (which the fix made valid), `_line_end` searched to the
    buffer's end for a `\\n` at every line: 1 MiB of CR-ended heartbeats in
    one piece cost ~9x the same with LF. Count the bytes searched instead of
    timing it."""
    import predictions._http.sse as sse

    searched: List[int] = []

    class Counting:
        def search(self, buffer: Any, start: int) -> Any:
            found = real.search(buffer, start)
            searched.append((found.end() if found else len(buffer)) - start)
            return found

    real = sse._LINE_END
    piece = b":\r" * (256 * 1024)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sse, "_LINE_END", Counting())
        assert EventDecoder().feed(piece) == []
    assert sum(searched) <= 2 * len(piece)


@pytest.mark.timeout(30)
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
def test_webhook_wait_for_a_huge_timeout_is_a_value_error() -> None:
    from predictions.webhooks import WebhookReceiver

    receiver = WebhookReceiver(secret="whsec_" + "a" * 32)
    with receiver, pytest.raises(ValueError, match="timeout"):
        receiver.wait_for(lambda delivery: True, timeout=1e12)


@pytest.mark.timeout(30)
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
def test_a_procfs_file_object_is_refused_with_a_clear_error() -> None:
    """File(open('/proc/cpuinfo', 'rb')) raises OSError [Errno 22] Invalid
    argument from stream.seek(0, SEEK_END), not the ValueError a device gets."""
    from predictions import File

    with open("/proc/cpuinfo", "rb") as handle, pytest.raises(ValueError, match="size"):
        File(handle)


# ---- batch CSV rows ---------------------------------------------------------


@pytest.mark.timeout(60)
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


# ---- smaller things the attack saw ------------------------------------------


def test_wait_options_given_as_wait_are_refused_before_anything_is_sent() -> None:
    """`create(..., wait=WaitOptions(timeout=2))` was taken as True, its
    options unread: no deadline at all."""
    with responses.RequestsMock() as mocked, Client(BASE, TOKEN) as client:
        with pytest.raises(TypeError, match="wait_options="):
            client.predictions.create(
                {"input": 1},
                "o/n",
                wait=WaitOptions(timeout=2),  # type: ignore[call-overload]
            )
        assert len(mocked.calls) == 0


def test_an_empty_read_between_a_cr_and_its_lf_keeps_them_one_line_end() -> None:
    """An empty read forgot the `\\r`: its `\\n` was a blank line, and the
    event was dispatched half-received."""
    decoder = EventDecoder()
    assert decoder.feed(b"id: 1\revent: output\rdata: [1,\r") == []
    assert decoder.feed(b"") == []
    assert decoder.feed(b"\ndata: 2]\r\n\r\n") == [
        {"id": "1", "event": "output", "data": [1, 2]}
    ]


def test_a_webhook_a_fraction_of_a_second_off_says_how_much() -> None:
    from predictions.errors import WebhookToleranceError
    from predictions.webhooks import sign, verify

    header = sign(b"{}", "s", timestamp=1000)
    with pytest.raises(WebhookToleranceError, match=r"0\.25 s old"):
        verify(b"{}", header, "s", tolerance=0, now=1000.25)
