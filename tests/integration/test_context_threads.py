"""The caller's context (`contextvars`) crosses into every thread that does its work.

A plugin's `predictions_on_request` hook sees a `ContextVar` the caller set,
though the request is sent on a pool thread: the async twins', an async
stream's, an upload's parts', output files' downloads', `as_completed`'s
and a batch's rows'. This is what keeps a tracer's spans under the
caller's span.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator, List, Optional, Tuple
from urllib.parse import urlsplit

import pytest
import requests

from predictions import Client, File, as_completed, async_as_completed, hookimpl
from predictions._http.stream import StreamReader
from predictions.batch import run_batch
from predictions.testing import LocalServer
from predictions.testing._http.faults import Fault

CALLER: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar(
    "caller", default=None
)


class Seen:
    """A plugin: for each attempt, its method, path, the caller and the thread."""

    def __init__(self) -> None:
        self.requests: List[Tuple[str, str, Optional[str], str]] = []
        self._lock = threading.Lock()

    @hookimpl
    def predictions_on_request(self, request: requests.PreparedRequest) -> None:
        path = urlsplit(request.url or "").path
        with self._lock:
            self.requests.append(
                (
                    str(request.method),
                    path,
                    CALLER.get(),
                    threading.current_thread().name,
                )
            )

    def callers(self) -> List[Optional[str]]:
        return [caller for _, _, caller, _ in self.requests]

    def threads(self) -> List[str]:
        return [thread for _, _, _, thread in self.requests]


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer(
        part_size=64 * 1024,
        faults=[Fault("truncate", route="stream", sequence=[1])],  # one resume
    ) as made:
        yield made


@pytest.fixture(autouse=True)
def caller_unset() -> Iterator[None]:
    """What a test sets stays in it."""
    token = CALLER.set(None)
    yield
    CALLER.reset(token)


@pytest.fixture
def seen() -> Seen:
    return Seen()


@pytest.fixture
def client(server: LocalServer, seen: Seen) -> Iterator[Client]:
    with Client(
        server.base_url, trust_env=False, plugins=[seen], strict_plugins=True
    ) as made:
        yield made


def test_a_sync_call(client: Client, seen: Seen) -> None:
    CALLER.set("sync")
    client.predictions.create({"input": {"text": "a"}}, "demo/echo", wait=True)
    assert seen.callers() == ["sync"]


def test_the_async_twins_each_task_its_own(client: Client, seen: Seen) -> None:
    async def one(name: str) -> None:
        CALLER.set(name)
        done = await client.predictions.async_create(
            {"input": {"text": name}}, "demo/echo", wait=True
        )
        await client.predictions.async_get(done["id"])
        await client.predictions.async_wait(done["id"])

    async def main() -> None:
        await asyncio.gather(*(one(f"task {i}") for i in range(8)))

    CALLER.set("outside")
    asyncio.run(main())
    assert sorted(map(str, seen.callers())) == sorted(
        f"task {i}"
        for i in range(8)
        for _ in "abc"  # create, get, wait's get
    )
    assert "MainThread" not in seen.threads(), "each sent on a pool thread"


def test_an_async_stream_and_its_resume(client: Client, seen: Seen) -> None:
    async def main() -> List[Any]:
        CALLER.set("streaming")
        created = await client.predictions.async_create(
            {"input": {"text": "one two three"}}, "demo/stream-words", stream=True
        )
        return [e async for e in client.predictions.async_stream(created["id"])]

    events = asyncio.run(main())
    text = "".join(e["data"] for e in events if e["event"] == "output")
    assert text == "one two three"
    streams = [r for r in seen.requests if r[1].endswith("/stream")]
    assert len(streams) == 2, "truncated once, resumed once"
    assert set(seen.callers()) == {"streaming"}


def test_an_async_streams_reads_run_in_the_callers_context() -> None:
    """Each read waits on a stream thread, with the caller's context there."""
    reads: List[Tuple[Optional[str], str]] = []

    class Raw:
        def read1(self, size: int) -> bytes:
            reads.append((CALLER.get(), threading.current_thread().name))
            return b"data"

    class Answer:
        raw = type("Urllib3Answer", (), {"_fp": Raw()})()

    pool = ThreadPoolExecutor(1, thread_name_prefix="stream")

    async def main() -> None:
        CALLER.set("reader")
        reader = StreamReader(Answer(), lambda: pool)  # type: ignore[arg-type]
        assert await reader.async_read() == b"data"
        assert await reader.async_read() == b"data"

    try:
        asyncio.run(main())
    finally:
        pool.shutdown()
    assert [caller for caller, _ in reads] == ["reader", "reader"]
    assert all(thread.startswith("stream") for _, thread in reads)


def test_an_uploads_parts_and_output_files_downloads(
    client: Client, seen: Seen, tmp_path: Path
) -> None:
    CALLER.set("files")
    data = os.urandom(6 * 64 * 1024)  # six parts
    done = client.predictions.create(
        {"input": {"file": File(data)}}, "demo/file-info", wait=True
    )
    assert done["output"]["size"] == len(data)
    files = client.predictions.create(
        {"input": {"count": 4, "size": 1000}}, "demo/files", wait=True
    )
    (tmp_path / "sync").mkdir()
    (tmp_path / "async").mkdir()
    client.predictions.download(files, tmp_path / "sync")

    async def main() -> None:
        CALLER.set("async files")
        await client.predictions.async_download(files, tmp_path / "async")

    asyncio.run(main())
    methods = [method for method, *_ in seen.requests]
    assert methods.count("PUT") == 6
    downloads = [r for r in seen.requests if "/outputs/" in r[1]]
    assert len(downloads) == 8
    assert [r[2] for r in downloads] == ["files"] * 4 + ["async files"] * 4
    assert set(seen.callers()) == {"files", "async files"}


def test_in_parallel_runs_every_share_in_the_callers_context(client: Client) -> None:
    """The caller's run and its helpers all at once, each in a copy of the context."""
    runs: List[Tuple[Optional[str], str]] = []
    together = threading.Barrier(4, timeout=10)  # the caller and three helpers

    def work() -> None:
        together.wait()
        runs.append((CALLER.get(), threading.current_thread().name))

    CALLER.set("parallel")
    client.api.in_parallel(work, 4, lambda: None)
    assert [caller for caller, _ in runs] == ["parallel"] * 4
    assert len({thread for _, thread in runs}) == 4


def test_as_completed_and_its_async_twin(client: Client, seen: Seen) -> None:
    CALLER.set("completed")
    created = [
        client.predictions.create({"input": {"seconds": 0.05}}, "demo/sleep")
        for _ in range(3)
    ]
    done = list(as_completed(created, client=client, poll_interval=0.05))
    assert len(done) == 3

    async def main() -> int:
        CALLER.set("async completed")
        finished = async_as_completed(created, client=client, poll_interval=0.05)
        return len([p async for p in finished])

    before = len(seen.requests)
    assert asyncio.run(main()) == 3
    assert set(seen.callers()[:before]) == {"completed"}
    assert set(seen.callers()[before:]) == {"async completed"}
    assert len(seen.requests) > before


def test_run_batch_rows(client: Client, seen: Seen, tmp_path: Path) -> None:
    CALLER.set("batch")
    rows = [{"text": f"row {i}"} for i in range(6)]
    results = list(
        run_batch(
            rows,
            "demo/echo",
            client=client,
            ledger=str(tmp_path / "ledger.sqlite"),
            poll_interval=0.05,
        )
    )
    assert len(results) == 6
    assert len(seen.requests) >= 6
    assert set(seen.callers()) == {"batch"}
    assert all(t.startswith("predictions-batch") for t in seen.threads())
