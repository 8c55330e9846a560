"""predictions-otel's span trees, against the local server, with the SDK in memory."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any, Iterator, List

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode
from predictions_otel import Tracing

from predictions import Client, File, WaitOptions, as_completed
from predictions.batch import run_batch
from predictions.testing import LocalServer
from predictions.testing._http.faults import Fault
from tests.conftest import FakeClock
from tests.plugins.otel_sdk import Telemetry, attributes

CREATE = "POST /models/{owner}/{name}/predictions"
GET = "GET /predictions/{id}"
POLLED = WaitOptions(0.02, prefer_wait=0)


@pytest.fixture
def client(predictions_server: LocalServer) -> Iterator[Client]:
    with Client(
        predictions_server.base_url, plugins=[Tracing()], strict_plugins=True
    ) as made:
        yield made


def statuses(span: ReadableSpan) -> List[Any]:
    return [
        dict(event.attributes or {})["predictions.prediction.status"]
        for event in span.events
        if event.name == "predictions.prediction.status"
    ]


def test_create_and_wait_one_prediction_span_over_its_http_spans(
    client: Client, telemetry: Telemetry, predictions_server: LocalServer
) -> None:
    done = client.predictions.create(
        {"input": {"seconds": 0.3}}, "demo/sleep", wait=True, wait_options=POLLED
    )
    (root,) = [s for s in telemetry.spans() if s.parent is None]
    assert root.name == "create demo/sleep:1"
    assert root.kind == SpanKind.INTERNAL
    facts = attributes(root)
    assert facts["gen_ai.request.model"] == "demo/sleep:1"
    assert facts["predictions.prediction.id"] == done["id"]
    assert facts["predictions.prediction.status"] == "succeeded"
    assert facts["predictions.prediction.execution_time"] >= 0.3
    assert facts["predictions.prediction.queue_time"] >= 0
    assert "predictions.prediction.setup_time" in facts
    polls = facts["predictions.prediction.polls"]
    assert polls >= 2, "polled until it ended"
    http = telemetry.children(root)
    assert [s.name for s in http] == [CREATE] + [GET] * polls
    assert len(telemetry.spans()) == 1 + len(http), "nothing else, nothing twice"
    address, port = predictions_server.base_url.split("//")[1].split("/")[0].split(":")
    for span in http:
        assert span.kind == SpanKind.CLIENT
        facts = attributes(span)
        assert facts["url.template"] == span.name.split(" ", 1)[1]
        assert facts["url.full"].startswith(predictions_server.base_url)
        assert facts["server.address"] == address
        assert facts["server.port"] == int(port)
        assert facts["http.request.method"] == span.name.split()[0]
        assert 200 <= facts["http.response.status_code"] < 300
        assert "http.request.resend_count" not in facts
        assert span.status.status_code == StatusCode.UNSET
    seen = statuses(root)
    assert seen[-1] == "succeeded"
    assert seen == sorted(set(seen), key=seen.index), "one event per change"
    assert "started" in seen
    assert root.status.status_code == StatusCode.UNSET


@pytest.mark.predictions_server(
    faults=[Fault("status", route="get", status=503, sequence=[1])]
)
def test_a_retried_get_is_two_client_spans_under_the_callers(
    predictions_server: LocalServer, telemetry: Telemetry
) -> None:
    with Client(
        predictions_server.base_url,
        plugins=[Tracing()],
        strict_plugins=True,
        clock=FakeClock(),  # the retry's backoff: no real sleep
    ) as client:
        created = client.predictions.create({"input": {"text": "a"}}, "demo/echo")
        with trace.get_tracer("test").start_as_current_span("caller") as caller:
            client.predictions.get(created["id"])
    (parent,) = telemetry.named("caller")
    first, second = telemetry.children(parent)
    assert parent.context.span_id == caller.get_span_context().span_id
    assert first.name == second.name == GET
    assert attributes(first)["http.response.status_code"] == 503
    assert attributes(first)["error.type"] == "503"
    assert first.status.status_code == StatusCode.ERROR
    assert "http.request.resend_count" not in attributes(first)
    assert attributes(second)["http.response.status_code"] == 200
    assert attributes(second)["http.request.resend_count"] == 1
    assert "error.type" not in attributes(second)
    (retries,) = telemetry.points("predictions.client.retries")
    assert retries.value == 1
    assert dict(retries.attributes)["error.type"] == "503"


def test_an_async_create_inside_the_callers_span(
    client: Client, telemetry: Telemetry
) -> None:
    async def main() -> None:
        with trace.get_tracer("test").start_as_current_span("handler"):
            await client.predictions.async_create(
                {"input": {"text": "hi"}}, "demo/echo", wait=True
            )

    asyncio.run(main())
    (handler,) = telemetry.named("handler")
    (create,) = telemetry.children(handler)
    assert create.name == "create demo/echo:1"
    assert attributes(create)["predictions.prediction.status"] == "succeeded"
    assert [s.name for s in telemetry.children(create)] == [CREATE]
    assert {s.context.trace_id for s in telemetry.spans()} == {handler.context.trace_id}


@pytest.mark.predictions_server(
    faults=[Fault("truncate", route="stream", sequence=[1])]  # one resume
)
def test_a_stream_resumed_once_has_an_event_for_the_resume(
    client: Client, telemetry: Telemetry
) -> None:
    created = client.predictions.create(
        {"input": {"text": "one two three"}}, "demo/stream-words", stream=True
    )
    events = list(client.predictions.stream(created["id"]))
    assert (
        "".join(e["data"] for e in events if e["event"] == "output") == "one two three"
    )
    (stream,) = telemetry.named("stream")
    assert stream.name == "stream demo/stream-words:1"
    resumes = [e for e in stream.events if e.name == "predictions.stream.resume"]
    assert len(resumes) == 1
    assert dict(resumes[0].attributes or {})["predictions.stream.resumes"] == 1
    assert attributes(stream)["predictions.stream.resumes"] == 1
    reads = [s.name for s in telemetry.children(stream)]
    assert reads == ["GET /predictions/{id}/stream"] * 2
    assert stream.status.status_code == StatusCode.UNSET


@pytest.mark.predictions_server(part_size=64 * 1024)
def test_an_upload_span_per_file_its_parts_under_it(
    client: Client, telemetry: Telemetry, tmp_path: Path
) -> None:
    data = os.urandom(3 * 64 * 1024)
    path = tmp_path / "three.bin"
    path.write_bytes(data)
    client.predictions.create(
        {"input": {"file": File(path)}}, "demo/file-info", wait=True
    )
    (create,) = telemetry.named("create ")
    (upload,) = telemetry.named("upload")
    assert upload.parent is not None
    assert upload.parent.span_id == create.context.span_id
    facts = attributes(upload)
    assert facts["file.name"] == "three.bin"
    assert facts["file.size"] == len(data)
    assert facts["predictions.upload.parts"] == 3
    under = telemetry.children(upload)
    puts = [s for s in under if s.name == "PUT"]
    assert len(puts) == 3, "a part's URL is another origin: no template"
    for put in puts:
        assert "url.template" not in attributes(put)
        assert "sig=REDACTED" in attributes(put)["url.full"]
    assert next(s.name for s in under if s.name != "PUT").startswith("POST /uploads")


def test_a_batch_span_over_its_rows_spans(
    client: Client, telemetry: Telemetry, tmp_path: Path
) -> None:
    rows = [{"text": f"row {i}"} for i in range(3)]
    results = list(
        run_batch(
            rows,
            "demo/echo",
            client=client,
            ledger=str(tmp_path / "ledger.sqlite"),
            poll_interval=0.05,
        )
    )
    assert len(results) == 3
    (batch,) = telemetry.named("batch")
    assert batch.parent is None
    facts = attributes(batch)
    assert facts["predictions.batch.rows"] == 3
    assert facts["predictions.batch.succeeded"] == 3
    under = telemetry.children(batch)
    predictions = [s for s in under if s.name.startswith("create ")]
    assert len(predictions) == 3
    for span in predictions:
        assert attributes(span)["predictions.prediction.status"] == "succeeded"
        first = next(s.name for s in telemetry.children(span))
        assert first.startswith("POST /models/{owner}/{name}/"), "its create"
    shared = [s for s in under if s.kind == SpanKind.CLIENT]
    assert all(s.name.startswith("GET ") for s in shared), "list polls: the batch's"
    every = {s.context.trace_id for s in telemetry.spans()}
    assert every == {batch.context.trace_id}


def test_as_completed_waits_under_the_callers_span(
    client: Client, telemetry: Telemetry
) -> None:
    created = [
        client.predictions.create({"input": {"seconds": 0.05}}, "demo/sleep")
        for _ in range(2)
    ]
    with trace.get_tracer("test").start_as_current_span("caller"):
        done = list(as_completed(created, client=client, poll_interval=0.02))
    assert len(done) == 2
    (caller,) = telemetry.named("caller")
    waits = telemetry.named("wait ")
    assert len(waits) == 2
    for wait in waits:
        assert wait.parent is not None
        assert wait.parent.span_id == caller.context.span_id
        assert attributes(wait)["predictions.prediction.status"] == "succeeded"
        polls = telemetry.children(wait)
        assert polls, "its reads under it"
        assert all(s.kind == SpanKind.CLIENT for s in polls)
