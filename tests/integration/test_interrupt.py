"""Ctrl-C during wait(): KeyboardInterrupt comes at once, with no thread left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from predictions import Client
from predictions.testing import LocalServer

SCRIPT = textwrap.dedent(
    """
    import sys, threading
    from predictions import Client, WaitOptions

    base_url, prediction_id, cancel = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    with Client(base_url) as client:
        options = WaitOptions(poll_interval=30, cancel_on_interrupt=cancel)
        print("waiting", flush=True)
        try:
            client.predictions.wait(prediction_id, options)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
    print("threads", threading.active_count(), flush=True)
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("cancel", [False, True])
def test_ctrl_c_interrupts_a_long_poll_interval_at_once(
    predictions_server: LocalServer, predictions_client: Client, cancel: bool
) -> None:
    created = predictions_client.predictions.create(
        {"input": {"seconds": 60}}, "demo/sleep"
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SCRIPT,
            predictions_server.base_url,
            created["id"],
            "1" if cancel else "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "waiting"
    time.sleep(0.3)  # let it poll once and fall asleep for 30 s
    started = time.monotonic()
    os.kill(process.pid, signal.SIGINT)
    out, _ = process.communicate(timeout=20)
    elapsed = time.monotonic() - started
    assert "interrupted" in out
    assert "threads 1" in out, "no thread is left running"
    # The wait was 30 s into its poll interval: it must not have waited it out.
    assert elapsed < 10, elapsed
    if cancel:
        # The hosted API cancels asynchronously: the status follows a moment later.
        assert predictions_server.wait(created["id"])["status"] == "cancelled"
    else:
        status = predictions_server.prediction(created["id"])["status"]  # type: ignore[index]
        assert status == "started"
