"""predictions-otel keeps secrets, sends context only to the API, never fails a call."""

from __future__ import annotations

import re
import threading
import warnings
from pathlib import Path
from typing import Any, Iterator, List, Optional, Sequence, Tuple

import pytest
import requests
from opentelemetry import trace
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import (
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import SpanKind
from predictions_otel import Tracing

from predictions import Client, File, PluginWarning, WaitOptions, hookimpl
from predictions.testing import LocalServer
from tests.plugins.otel_sdk import Telemetry, attributes, installed

TOKEN = "tok-otel-secret-4242"
POLLED = WaitOptions(0.02, prefer_wait=0)
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")


class Sent:
    """A plugin after Tracing: each attempt's template, URL and `traceparent`."""

    def __init__(self) -> None:
        self.attempts: List[Tuple[Optional[str], str, Optional[str]]] = []
        self._lock = threading.Lock()

    @hookimpl
    def predictions_on_request(
        self, request: requests.PreparedRequest, template: Optional[str]
    ) -> None:
        with self._lock:
            self.attempts.append(
                (template, request.url or "", request.headers.get("traceparent"))
            )


def everything_said(spans: Sequence[ReadableSpan]) -> str:
    """Every name, attribute and event of the spans, and their resource, as text."""
    said: List[str] = []
    for span in spans:
        said.append(span.name)
        said.extend(f"{k}={v}" for k, v in (span.attributes or {}).items())
        for event in span.events:
            said.append(event.name)
            said.extend(f"{k}={v}" for k, v in (event.attributes or {}).items())
        said.append(str(span.status.description))
        said.extend(f"{k}={v}" for k, v in span.resource.attributes.items())
    return "\n".join(said)


def busy_day(client: Client, tmp_path: Path) -> None:
    """A create with an upload, waited; a stream; output files saved."""
    path = tmp_path / "in.bin"
    path.write_bytes(b"x" * (3 * 64 * 1024))
    client.predictions.create(
        {"input": {"file": File(path)}},
        "demo/file-info",
        wait=True,
        wait_options=POLLED,
    )
    created = client.predictions.create(
        {"input": {"text": "a b"}}, "demo/stream-words", stream=True
    )
    list(client.predictions.stream(created["id"]))
    files = client.predictions.create(
        {"input": {"count": 2, "size": 100}}, "demo/files", wait=True
    )
    (tmp_path / "out").mkdir()
    client.predictions.download(files, tmp_path / "out")


@pytest.mark.predictions_server(token=TOKEN, part_size=64 * 1024)
def test_no_credential_in_any_span(
    predictions_server: LocalServer, telemetry: Telemetry, tmp_path: Path
) -> None:
    with Client(
        predictions_server.base_url,
        access_token=TOKEN,
        plugins=[Tracing()],
        strict_plugins=True,
    ) as client:
        busy_day(client, tmp_path)
    said = everything_said(telemetry.spans())
    assert TOKEN not in said
    assert "Bearer" not in said
    assert "PUT" in said, "parts were traced"
    assert "/outputs/" in said, "output files were traced"
    signed = re.findall(r"[?&]sig=([^&\s]*)", said)
    assert signed, "pre-signed URLs were traced"
    assert set(signed) == {"REDACTED"}


@pytest.mark.predictions_server(part_size=64 * 1024)
def test_traceparent_goes_to_the_api_only_each_attempt_its_own_span(
    predictions_server: LocalServer, telemetry: Telemetry, tmp_path: Path
) -> None:
    sent = Sent()
    with Client(
        predictions_server.base_url, plugins=[Tracing(), sent], strict_plugins=True
    ) as client:
        busy_day(client, tmp_path)
    clients = {
        s.context.span_id: s for s in telemetry.spans() if s.kind == SpanKind.CLIENT
    }
    api = [a for a in sent.attempts if a[0] is not None]
    elsewhere = [a for a in sent.attempts if a[0] is None]
    assert len(api) >= 6
    assert any("/parts/" in url for _, url, _ in elsewhere)
    assert any("/outputs/" in url for _, url, _ in elsewhere)
    assert [header for *_, header in elsewhere] == [None] * len(elsewhere)
    for template, _, header in api:
        match = TRACEPARENT.match(header or "")
        assert match, header
        span = clients[int(match.group(2), 16)]  # the attempt's own span
        assert attributes(span)["url.template"] == template
        assert span.context.trace_id == int(match.group(1), 16)


def test_with_no_sdk_nothing_is_made_and_a_received_context_goes_on(
    predictions_server: LocalServer,
) -> None:
    sent = Sent()
    remote = trace.SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0xB7AD6B7169203331,
        is_remote=True,
        trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
    )
    with Client(
        predictions_server.base_url, plugins=[Tracing(), sent], strict_plugins=True
    ) as client:
        done = client.predictions.create(
            {"input": {"text": "a"}}, "demo/echo", wait=True
        )
        with trace.use_span(trace.NonRecordingSpan(remote)):
            client.predictions.get(done["id"])
    (create, get) = [header for *_, header in sent.attempts]
    assert create is None, "no SDK, no context: no header"
    assert get == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_an_sdk_set_up_after_the_client_was_made_is_used(
    predictions_server: LocalServer,
) -> None:
    later = Telemetry()
    with Client(
        predictions_server.base_url, plugins=[Tracing()], strict_plugins=True
    ) as client:
        done = client.predictions.create(
            {"input": {"text": "a"}}, "demo/echo", wait=True
        )
        with installed(later):
            client.predictions.get(done["id"])
        client.predictions.get(done["id"])
    assert [s.name for s in later.spans()] == ["GET /predictions/{id}"]


@pytest.fixture
def instrumented(telemetry: Telemetry) -> Iterator[Telemetry]:
    """OpenTelemetry's requests instrumentation, meanwhile."""
    RequestsInstrumentor().instrument(tracer_provider=telemetry.tracer_provider)
    try:
        yield telemetry
    finally:
        RequestsInstrumentor().uninstrument()


def test_with_the_requests_instrumentation_one_span_per_attempt_under_ours(
    predictions_server: LocalServer, instrumented: Telemetry
) -> None:
    sent = Sent()
    with Client(
        predictions_server.base_url, plugins=[Tracing(), sent], strict_plugins=True
    ) as client, trace.get_tracer("test").start_as_current_span("handler"):
        done = client.predictions.create(
            {"input": {"seconds": 0.2}},
            "demo/sleep",
            wait=True,
            wait_options=POLLED,
        )
        client.predictions.get(done["id"])
    (create,) = instrumented.named("create ")
    (handler,) = instrumented.named("handler")
    clients = [s for s in instrumented.spans() if s.kind == SpanKind.CLIENT]
    assert len(clients) == len(sent.attempts), "one span per attempt, not two"
    assert {s.instrumentation_scope.name for s in clients} == {  # type: ignore[union-attr]
        "opentelemetry.instrumentation.requests"
    }
    under_create = [s for s in clients if s.parent.span_id == create.context.span_id]  # type: ignore[union-attr]
    under_handler = [s for s in clients if s.parent.span_id == handler.context.span_id]  # type: ignore[union-attr]
    assert len(under_create) == len(clients) - 1, "the create and its polls"
    assert len(under_handler) == 1, "the get: no operation, the caller's span"
    assert create.parent is not None
    assert create.parent.span_id == handler.context.span_id
    assert trace.get_current_span() is trace.INVALID_SPAN, "nothing left attached"
    # Its durations are the instrumentation's: none of ours beside them.
    assert instrumented.points("http.client.request.duration") == []


class Failing(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        raise RuntimeError("the collector is down")


class Refusing(SpanProcessor):
    def on_end(self, span: ReadableSpan) -> None:
        raise RuntimeError("a processor that raises")


def test_a_failing_exporter_does_not_fail_the_call(
    predictions_server: LocalServer, caplog: pytest.LogCaptureFixture
) -> None:
    broken = Telemetry(processors=[SimpleSpanProcessor(Failing())])
    with installed(broken), Client(
        predictions_server.base_url, plugins=[Tracing()], strict_plugins=True
    ) as client:
        done = client.predictions.create(
            {"input": {"text": "a"}}, "demo/echo", wait=True
        )
    assert done["status"] == "succeeded"
    assert [s.name for s in broken.spans()][-1] == "create demo/echo:1"


def test_a_failing_sdk_does_not_fail_the_call_it_is_a_plugin_warning(
    predictions_server: LocalServer,
) -> None:
    broken = Telemetry(processors=[Refusing()])
    with installed(broken), Client(
        predictions_server.base_url, plugins=[Tracing()], strict_plugins=False
    ) as client, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        done = client.predictions.create(
            {"input": {"text": "a"}}, "demo/echo", wait=True
        )
        again = client.predictions.get(done["id"])
    assert done["status"] == again["status"] == "succeeded"
    reported = [str(w.message) for w in caught if issubclass(w.category, PluginWarning)]
    assert reported
    assert all("a processor that raises" in text for text in reported)
    assert trace.get_current_span() is trace.INVALID_SPAN


class BrokenInstrument:
    def add(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a meter that raises")

    record = add


class BrokenMeter:
    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: BrokenInstrument()


def test_a_failing_meter_does_not_fail_the_call_nor_lose_the_spans(
    predictions_server: LocalServer,
    telemetry: Telemetry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The plugin's meter alone: a broken global meter provider breaks the
    # SDK's own tracer too (from opentelemetry-sdk 1.41 it counts its spans
    # with the global meter), and no plugin can keep spans an SDK loses.
    from predictions_otel import _telemetry

    broken = _telemetry.Instruments(BrokenMeter())  # type: ignore[arg-type]
    monkeypatch.setattr(_telemetry, "instruments", lambda: broken)
    with Client(
        predictions_server.base_url, plugins=[Tracing()], strict_plugins=False
    ) as client, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        done = client.predictions.create(
            {"input": {"text": "a"}}, "demo/echo", wait=True
        )
    assert done["status"] == "succeeded"
    assert any("a meter that raises" in str(w.message) for w in caught)
    assert [s.name for s in telemetry.spans()] == [
        "POST /models/{owner}/{name}/predictions",
        "create demo/echo:1",
    ]
