"""The OpenTelemetry SDK for predictions-otel's tests: spans and metrics in memory.

OpenTelemetry's global providers are set once per process; `installed()`
swaps an SDK's providers in and out of them (as the SDK's own tests reset
them), so that each test starts from the API's stand-ins and leaves them.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional, Sequence

from opentelemetry import trace
from opentelemetry.metrics import _internal as metrics_globals
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)


class Telemetry:
    """A tracer provider exporting to memory, a meter provider read on demand."""

    def __init__(self, processors: Sequence[SpanProcessor] = ()) -> None:
        self.exporter = InMemorySpanExporter()
        self.reader = InMemoryMetricReader()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        for processor in processors:
            self.tracer_provider.add_span_processor(processor)
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def spans(self) -> List[ReadableSpan]:
        """The spans ended so far, in the order they ended."""
        return list(self.exporter.get_finished_spans())

    def ours(self) -> List[ReadableSpan]:
        """The spans predictions-otel made."""
        return [s for s in self.spans() if _scope(s) == "predictions_otel"]

    def named(self, prefix: str) -> List[ReadableSpan]:
        """The spans whose name starts with `prefix`, by start time."""
        found = [s for s in self.spans() if s.name.startswith(prefix)]
        return sorted(found, key=lambda s: s.start_time or 0)

    def children(self, parent: ReadableSpan) -> List[ReadableSpan]:
        """The spans whose parent is `parent`, by start time."""
        found = [
            s
            for s in self.spans()
            if s.parent is not None and s.parent.span_id == parent.context.span_id
        ]
        return sorted(found, key=lambda s: s.start_time or 0)

    def points(self, name: str, scope: str = "predictions_otel") -> List[Any]:
        """The data points of a metric of a scope (cumulative, since the start)."""
        data = self.reader.get_metrics_data()
        found: List[Any] = []
        for resource in data.resource_metrics if data else ():
            for metrics in resource.scope_metrics:
                if metrics.scope.name != scope:
                    continue
                for metric in metrics.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)
        return found

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


def _scope(span: ReadableSpan) -> Optional[str]:
    scope = span.instrumentation_scope
    return scope.name if scope is not None else None


@contextmanager
def installed(telemetry: Optional[Telemetry]) -> Iterator[None]:
    """`telemetry`'s providers as the global ones meanwhile (None: no SDK)."""
    saved = trace._TRACER_PROVIDER, metrics_globals._METER_PROVIDER
    trace._TRACER_PROVIDER = None if telemetry is None else telemetry.tracer_provider
    metrics_globals._METER_PROVIDER = (
        None if telemetry is None else telemetry.meter_provider
    )
    try:
        yield
    finally:
        trace._TRACER_PROVIDER, metrics_globals._METER_PROVIDER = saved


def attributes(span: ReadableSpan) -> Dict[str, Any]:
    return dict(span.attributes or {})


__all__ = ["Telemetry", "attributes", "installed"]
