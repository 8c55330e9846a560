"""The tools that hook requests see the client's calls: requests-cache and
OpenTelemetry's requests instrumentation, installed as their users do."""

from __future__ import annotations

import asyncio
from typing import Any, Iterator, List, Tuple

import pytest
import requests
import requests_cache
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)

from predictions import Client, WaitOptions, hookimpl
from predictions.testing import LocalServer
from predictions.testing._http.faults import Fault
from tests.conftest import FakeClock


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer(
        token="secret", faults=[Fault("status", route="get", status=503, sequence=[1])]
    ) as made:
        yield made


def client_of(server: LocalServer) -> Client:
    return Client(
        server.base_url, access_token="secret", trust_env=False, clock=FakeClock()
    )


@pytest.fixture
def traced() -> Iterator[Tuple[TracerProvider, InMemorySpanExporter]]:
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    RequestsInstrumentor().instrument(tracer_provider=provider)
    try:
        yield provider, exporter
    finally:
        RequestsInstrumentor().uninstrument()


class FromCache:
    """A plugin noting, of each answer, whether requests-cache served it."""

    def __init__(self) -> None:
        self.answers: List[Tuple[str, Any]] = []

    @hookimpl
    def predictions_on_response(
        self, request: requests.PreparedRequest, response: requests.Response
    ) -> None:
        self.answers.append(
            (str(request.method), getattr(response, "from_cache", None))
        )


def test_requests_cache_installed_globally_sees_every_call_and_keeps_none(
    server: LocalServer,
) -> None:
    """A prediction's status changes: a cached one would never end a wait."""
    seen = FromCache()
    requests_cache.install_cache(backend="memory")
    try:
        with Client(
            server.base_url,
            access_token="secret",
            trust_env=False,
            clock=FakeClock(),
            plugins=[seen],
        ) as client:
            created = client.predictions.create({"input": {"text": "hi"}}, "demo/echo")
            done = client.predictions.wait(created["id"], WaitOptions(timeout=60))
            again = client.predictions.get(created["id"])
            events = list(
                client.predictions.create(
                    {"input": {"text": "a b"}}, "demo/stream-words", True, stream=True
                )
            )
            session = client.api.transport.session()
    finally:
        requests_cache.uninstall_cache()
    assert isinstance(session, requests_cache.CachedSession)
    assert done["status"] == again["status"] == "succeeded"
    assert events[-1]["event"] == "done"
    assert [cached for _, cached in seen.answers] == [False] * len(seen.answers)
    gets = [method for method, _ in seen.answers if method == "GET"]
    assert len(gets) == len([r for r in server.requests if r.method == "GET"]) >= 3
    assert len(session.cache.responses) == 0


def test_opentelemetrys_requests_instrumentation_has_a_span_per_attempt(
    server: LocalServer, traced: Tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, exporter = traced
    with client_of(server) as client:
        done = client.predictions.create({"input": {"text": "hi"}}, "demo/echo")
        with provider.get_tracer("test").start_as_current_span("caller"):
            client.predictions.get(done["id"])
    finished = sorted(exporter.get_finished_spans(), key=lambda s: s.start_time)
    (caller,) = [s for s in finished if s.name == "caller"]
    http: Any = [s for s in finished if s is not caller]
    assert [s.name for s in http] == ["POST", "GET", "GET"]
    statuses = [
        s.attributes.get(
            "http.response.status_code", s.attributes.get("http.status_code")
        )
        for s in http
    ]
    assert statuses[1:] == [503, 200], "one span per attempt"
    assert http[0].parent is None
    assert all(s.parent.span_id == caller.context.span_id for s in http[1:])
    traceparents = [r.headers.get("traceparent") for r in server.requests]
    assert all(traceparents), "the instrumentation's header went out on each"


def test_the_async_twins_spans_are_children_of_the_callers_span(
    server: LocalServer, traced: Tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    """Sent on a pool thread, the request's span is under the caller's."""
    provider, exporter = traced

    async def main(client: Client) -> None:
        done = await client.predictions.async_create(
            {"input": {"text": "hi"}}, "demo/echo", wait=True
        )
        with provider.get_tracer("test").start_as_current_span("caller"):
            gets = (client.predictions.async_get(done["id"]) for _ in "ab")
            await asyncio.gather(*gets)

    with client_of(server) as client:
        asyncio.run(main(client))
    finished = sorted(exporter.get_finished_spans(), key=lambda s: s.start_time)
    (caller,) = [s for s in finished if s.name == "caller"]
    gets: Any = [s for s in finished if s.name == "GET"]
    assert len(gets) == 3, "two gets, the first retried once"
    assert all(s.parent.span_id == caller.context.span_id for s in gets)
    assert all(s.context.trace_id == caller.context.trace_id for s in gets)
