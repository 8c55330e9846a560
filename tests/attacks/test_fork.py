"""Fork: a client used before a fork must not share sockets or threads with it."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import signal
import sys
import time
from typing import List, Optional, Tuple

import pytest

from predictions import Client
from predictions.testing import LocalServer

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or "fork" not in multiprocessing.get_all_start_methods(),
    reason="needs the fork start method (Linux)",
)

PREDICTIONS = 20
CALLS = 600
POOL_LIMIT = 25.0
CHILD_LIMIT = 10.0

_CLIENT: Optional[Client] = None
"""The client the pool's workers inherit through fork (set before the pool starts)."""


def _fetch(prediction_id: str) -> Tuple[str, Optional[str], Optional[str]]:
    """In a pool worker: get one prediction with the inherited client."""
    assert _CLIENT is not None
    try:
        answer = _CLIENT.predictions.get(prediction_id)
    except Exception as exc:
        return prediction_id, None, f"{type(exc).__name__}: {str(exc)[:200]}"
    return prediction_id, answer.get("id"), None


def _used_client(server: LocalServer) -> Tuple[Client, List[str]]:
    """A client with a keep-alive socket in its pool and its executor started."""
    client = Client(server.base_url, timeout=(2, 2), max_retries=0)
    ids = [
        client.predictions.create({"input": {"n": n}}, "demo/echo")["id"]
        for n in range(PREDICTIONS)
    ]
    assert client.predictions.get(ids[0])["id"] == ids[0]
    assert asyncio.run(client.predictions.async_get(ids[1]))["id"] == ids[1]
    return client, ids


def test_pool_workers_forked_from_a_used_client_get_their_own_answers(
    local_server: LocalServer,
) -> None:
    """Models a fork-based Pool inheriting the parent's pooled keep-alive socket."""
    global _CLIENT
    client, ids = _used_client(local_server)
    _CLIENT = client
    asked = [ids[i % len(ids)] for i in range(CALLS)]
    pool = multiprocessing.get_context("fork").Pool(4)
    try:
        pending = pool.map_async(_fetch, asked, chunksize=1)
        try:
            results = pending.get(timeout=POOL_LIMIT)
        except multiprocessing.TimeoutError:
            pytest.fail(f"the pool's {CALLS} gets did not end within {POOL_LIMIT} s")
    finally:
        pool.terminate()
        pool.join()
        _CLIENT = None
        client.close()
    mismatched = [
        (want, got) for want, got, error in results if error is None and got != want
    ]
    errors = [error for _, _, error in results if error is not None]
    account = (
        f"of {CALLS} gets, {len(mismatched)} answered another prediction "
        f"(asked, got): {mismatched[:3]}; {len(errors)} failed: {errors[:3]}"
    )
    assert not mismatched, account
    assert not errors, account


def test_async_get_in_an_os_fork_child_returns_within_10_s(
    local_server: LocalServer,
) -> None:
    """Models os.fork() after async use: the parent's executor threads are gone."""
    client, ids = _used_client(local_server)
    wanted = ids[2]
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report through the pipe and the exit code, never return
        code = 1
        try:
            os.close(read_end)
            signal.signal(signal.SIGALRM, signal.SIG_DFL)  # not pytest's handler
            signal.alarm(int(CHILD_LIMIT) + 5)  # a backstop if the parent is gone
            try:
                answer = asyncio.run(client.predictions.async_get(wanted))
                report = {"id": answer.get("id")}
                code = 0 if answer.get("id") == wanted else 3
            except BaseException as exc:
                report = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
                code = 4
            os.write(write_end, json.dumps(report).encode())
        finally:
            os._exit(code)
    os.close(write_end)
    try:
        deadline = time.monotonic() + CHILD_LIMIT
        status = None
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail(
                f"async_get in a forked child did not return within {CHILD_LIMIT} s "
                "(the parent's executor threads do not exist in the child)"
            )
        with os.fdopen(read_end, "rb") as pipe:
            report_text = pipe.read().decode() or "{}"
        read_end = -1
    finally:
        if read_end != -1:
            os.close(read_end)
        client.close()
    assert os.WIFEXITED(status), f"the child died: status {status}"
    assert os.WEXITSTATUS(status) == 0, f"the child reported {report_text}"
    assert json.loads(report_text) == {"id": wanted}
