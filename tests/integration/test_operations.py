"""Operations against the local server: async twins, a resumed stream, uploads, batches.

A recording plugin (`tests.plugins.recording`) sees each operation start and
end once, its requests under it (on pool threads too), and the headers it
adds on the API's own requests only: never on an upload's part URLs nor on
an output file's host.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
from pathlib import Path
from typing import Any, Iterator, List, Optional

import pytest

from predictions import Client, File, as_completed, async_as_completed
from predictions.batch import run_batch
from predictions.testing import LocalServer
from predictions.testing._http.faults import Fault
from tests.plugins.recording import Recording, name_of

CALLER: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar(
    "caller", default=None
)
PART = 64 * 1024


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer(
        part_size=PART,
        faults=[Fault("truncate", route="stream", sequence=[1])],  # one resume
    ) as made:
        yield made


@pytest.fixture
def recording() -> Recording:
    return Recording({"traceparent": "00-trace-01", "X-Plugin": "yes"})


@pytest.fixture
def client(server: LocalServer, recording: Recording) -> Iterator[Client]:
    with Client(
        server.base_url, trust_env=False, plugins=[recording], strict_plugins=True
    ) as made:
        yield made


def test_async_create_in_a_callers_context(
    client: Client, recording: Recording
) -> None:
    async def main() -> None:
        CALLER.set("caller")
        await client.predictions.async_create(
            {"input": {"text": "a"}}, "demo/echo", wait=True
        )

    asyncio.run(main())
    (request,) = recording.of("request")
    assert request.operation == request.current == "prediction:create#0"
    assert request.thread.startswith("predictions"), "sent on a pool thread"
    operation = recording.operations[0]
    assert operation.model == "demo/echo:1"
    assert operation.prediction_id is not None
    assert recording.each_ended_once()


def test_a_stream_resumed_once(client: Client, recording: Recording) -> None:
    created = client.predictions.create(
        {"input": {"text": "one two three"}}, "demo/stream-words", stream=True
    )
    events = list(client.predictions.stream(created["id"]))
    assert "".join(e["data"] for e in events if e["event"] == "output") == (
        "one two three"
    )
    stream = recording.operations[1]
    assert (stream.kind, stream.name, stream.attributes) == (
        "stream",
        "stream",
        {"resumes": 1},
    )
    mine = [
        (e.hook, e.detail[1] if e.hook == "request" else None)
        for e in recording.events
        if e.operation == "stream:stream#1" and e.hook != "headers"
    ]
    assert mine == [
        ("start", None),
        ("request", "/predictions/{id}/stream"),
        ("response", None),
        ("resume", None),
        ("request", "/predictions/{id}/stream"),
        ("response", None),
        ("terminal", None),
        ("end", None),
    ]
    (resume,) = recording.of("resume")
    assert resume.detail[1] == 1
    assert stream.model == "demo/stream-words:1"
    assert recording.each_ended_once()


def test_an_upload_and_its_parts_under_the_create(
    client: Client, recording: Recording, server: LocalServer
) -> None:
    data = os.urandom(3 * PART)
    done = client.predictions.create(
        {"input": {"file": File(data)}}, "demo/file-info", wait=True
    )
    assert done["output"]["size"] == len(data)
    create, upload = recording.operations
    assert (upload.kind, upload.name, upload.parent) == ("upload", "upload", create)
    assert upload.attributes == {"file.name": None, "file.size": 3 * PART, "parts": 3}
    under_upload = [
        (e.detail[0], e.detail[1])
        for e in recording.of("request")
        if e.operation == "upload:upload#1"
    ]
    assert under_upload == [
        ("POST", "/uploads"),
        ("PUT", None),
        ("PUT", None),
        ("PUT", None),
        ("POST", "/uploads/{id}/complete"),
    ]
    puts = [e for e in recording.of("request") if e.detail[0] == "PUT"]
    assert {e.current for e in puts} == {"upload:upload#1"}
    asked = [e.detail[1] for e in recording.of("headers")]
    assert all(url.startswith(server.base_url) for url in asked), "no part URL"
    assert [e.detail[0] for e in recording.of("headers")] == ["POST", "POST", "POST"]
    for part in server.storage_requests:
        assert "traceparent" not in part.headers
        assert "authorization" not in part.headers
    create_sent = [r for r in server.requests if r.path.startswith("/v1/models/")]
    assert create_sent[-1].headers["traceparent"] == "00-trace-01"
    assert recording.each_ended_once()


def test_output_files_get_no_plugin_headers(
    client: Client, recording: Recording, server: LocalServer, tmp_path: Path
) -> None:
    files = client.predictions.create(
        {"input": {"count": 2, "size": 100}}, "demo/files", wait=True
    )
    before = len(server.storage_requests)
    client.predictions.download(files, tmp_path)
    fetched = server.storage_requests[before:]
    assert len(fetched) >= 2
    assert all("traceparent" not in r.headers for r in fetched)
    assert all("x-plugin" not in r.headers for r in fetched)
    assert [e.detail[0] for e in recording.of("headers")] == ["POST"]


def test_a_batch_and_its_rows(
    client: Client, recording: Recording, tmp_path: Path
) -> None:
    CALLER.set("batch")
    rows = [{"text": f"row {i}"} for i in range(4)]
    results = list(
        run_batch(
            rows,
            "demo/echo",
            client=client,
            ledger=str(tmp_path / "ledger.sqlite"),
            poll_interval=0.05,
        )
    )
    assert [r["status"] for r in results] == ["succeeded"] * 4
    batch, *row_ops = recording.operations
    assert (batch.kind, batch.name, batch.parent) == ("batch", "batch", None)
    assert batch.attributes == {"rows": 4, "succeeded": 4}
    assert len(row_ops) == 4
    for row in row_ops:
        assert (row.kind, row.name, row.parent) == ("prediction", "create", batch)
        assert row.model == "demo/echo:1"
    creates = [e for e in recording.of("request") if e.detail[0] == "POST"]
    assert len(creates) == 4
    for event in creates:
        assert event.current == event.operation
        assert event.operation in {name_of(row) for row in row_ops}
        assert event.thread.startswith("predictions-batch")
    assert recording.of("end")[-1].operation == name_of(batch), "the batch ends last"
    assert recording.each_ended_once()


def test_as_completed_one_wait_each_and_closed_early(
    client: Client, recording: Recording
) -> None:
    created = [
        client.predictions.create({"input": {"seconds": 0.05}}, "demo/sleep")
        for _ in range(3)
    ]
    done = list(as_completed(created, client=client, poll_interval=0.05))
    assert len(done) == 3
    waits = [op for op in recording.operations if op.name == "wait"]
    assert len(waits) == 3
    assert {op.prediction_id for op in waits} == {p["id"] for p in created}
    assert all(op.parent is None and op.kind == "prediction" for op in waits)
    polls = [e for e in recording.of("request") if e.operation in map(name_of, waits)]
    assert polls, "each poll under its wait"
    assert all(e.current == e.operation for e in polls)

    async def main() -> List[Any]:
        finished = async_as_completed(created, client=client, poll_interval=0.05)
        return [p async for p in finished]

    assert len(asyncio.run(main())) == 3
    assert len([op for op in recording.operations if op.name == "wait"]) == 6

    slow = [
        client.predictions.create({"input": {"seconds": 30}}, "demo/sleep")
        for _ in range(2)
    ]
    never = as_completed(slow, client=client)
    never.close()  # never started: no operation
    iterator = as_completed([done[0], *slow], client=client, poll_interval=10)
    assert next(iterator) == done[0], "finished already: yielded with no poll"
    iterator.close()
    waits = [op for op in recording.operations if op.name == "wait"]
    assert len(waits) == 9
    ends = [e.detail for e in recording.of("end")][-3:]
    assert ends == [None, "GeneratorExit", "GeneratorExit"]
    assert recording.each_ended_once()
