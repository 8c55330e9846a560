"""The `otel` part of bench.py: what predictions-otel costs per get.

    python bench.py otel

Client CPU (and wall) time per `get` against one local server in its own
process, side by side in interleaved rounds:

- no plugin;
- a plugin implementing the same hooks with empty bodies: what the client's
  hooks cost by themselves, the floor of the next row;
- predictions-otel with no SDK set up (the API's stand-ins): goal <= 1.1x;
- predictions-otel with the SDK: a `TracerProvider` whose spans go through a
  `BatchSpanProcessor` to an exporter that drops them, and a `MeterProvider`
  whose reader exports every 60 s to one that drops them too: goal <= 1.5x.

Each round runs the rows one after the other, each from a collected heap,
the SDK's row ending with its span processor flushed (its exports are its
cost, not the next row's); a row's ratio is the
median over the rounds of its CPU time over the no-plugin row's in the
same round. OpenTelemetry's globals are set once per process; the rounds swap the SDK's
providers in and out of them between rows (as the SDK's own tests reset
them): the plugin looks them up at each call.
"""

from __future__ import annotations

import os
import statistics
from contextlib import contextmanager, nullcontext
from typing import Any, Callable, Dict, Iterator, List, Sequence, Tuple

ROUNDS = 15
CALLS = 300
NO_PLUGIN = "no plugin"
HOOKS_ONLY = "a plugin of the same hooks, empty"
NO_SDK = "otel plugin, no SDK"
WITH_SDK = "otel plugin + SDK (exporters drop)"


def _providers() -> Tuple[Any, Any]:
    """A tracer provider and a meter provider whose exporters drop everything."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        MetricExporter,
        MetricExportResult,
        PeriodicExportingMetricReader,
    )
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class DropSpans(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    class DropMetrics(MetricExporter):
        def export(self, metrics_data: Any, timeout_millis: float = 0, **_: Any) -> Any:
            return MetricExportResult.SUCCESS

        def force_flush(self, timeout_millis: float = 0) -> bool:
            return True

        def shutdown(self, timeout_millis: float = 0, **_: Any) -> None:
            pass

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(DropSpans()))
    reader = PeriodicExportingMetricReader(DropMetrics(), export_interval_millis=60_000)
    return tracer_provider, MeterProvider(metric_readers=[reader])


def empty_hooks() -> Any:
    """A plugin with predictions-otel's hooks, each doing nothing."""
    from predictions import hookimpl

    class Hooks:
        @hookimpl
        def predictions_on_operation_start(self, operation: Any) -> None:
            pass

        @hookimpl
        def predictions_on_operation_end(self, operation: Any, error: Any) -> None:
            pass

        @hookimpl
        def predictions_request_headers(self, request: Any, operation: Any) -> None:
            return None

        @hookimpl
        def predictions_on_request(
            self, request: Any, attempt: Any, operation: Any, template: Any
        ) -> None:
            pass

        @hookimpl
        def predictions_on_response(
            self, request: Any, response: Any, elapsed: Any
        ) -> None:
            pass

        @hookimpl
        def predictions_on_request_error(
            self, request: Any, error: Any, elapsed: Any
        ) -> None:
            pass

    return Hooks()


@contextmanager
def sdk(tracer_provider: Any, meter_provider: Any) -> Iterator[None]:
    """The SDK's providers as the global ones, meanwhile."""
    from opentelemetry import trace
    from opentelemetry.metrics import _internal as metrics

    saved = trace._TRACER_PROVIDER, metrics._METER_PROVIDER
    trace._TRACER_PROVIDER = tracer_provider
    metrics._METER_PROVIDER = meter_provider
    try:
        yield
    finally:
        trace._TRACER_PROVIDER, metrics._METER_PROVIDER = saved


def _row(
    fn: Callable[[], Any], tracer_provider: Any, flush: bool
) -> Tuple[float, float]:
    """One row's (CPU, wall) per call, charged with its own work only.

    Each row starts with no garbage of the rows before it (collected
    untimed). The SDK's row ends by flushing its span processor, timed: the
    export its spans cause is its cost, not that of the row during which
    the processor's thread would have run it.
    """
    import gc
    import time

    from bench import measure

    gc.collect()
    if not flush:
        return measure(fn, CALLS)
    cpu, wall = time.process_time(), time.perf_counter()
    measure(fn, CALLS)
    tracer_provider.force_flush()
    return (time.process_time() - cpu) / CALLS, (time.perf_counter() - wall) / CALLS


def otel() -> None:
    from bench import measure, server

    import predictions

    with server() as base_url:
        os.environ["PREDICTIONS_PLUGINS"] = ""
        bare = predictions.Client(base_url)
        os.environ["PREDICTIONS_PLUGINS"] = "otel"  # through its entry point
        traced = predictions.Client(base_url)
        os.environ["PREDICTIONS_PLUGINS"] = ""
        assert traced.plugins.active
        hooked = predictions.Client(base_url, plugins=[empty_hooks()])
        tracer_provider, meter_provider = _providers()
        pid = bare.predictions.create({"input": {"text": "bench"}}, "demo/echo")["id"]
        rows: Dict[str, Tuple[Callable[[], Any], Callable[[], Any]]] = {
            NO_PLUGIN: (lambda: bare.predictions.get(pid), nullcontext),
            HOOKS_ONLY: (lambda: hooked.predictions.get(pid), nullcontext),
            NO_SDK: (lambda: traced.predictions.get(pid), nullcontext),
            WITH_SDK: (
                lambda: traced.predictions.get(pid),
                lambda: sdk(tracer_provider, meter_provider),
            ),
        }
        samples: Dict[str, List[Tuple[float, float]]] = {name: [] for name in rows}
        for fn, around in rows.values():
            with around():
                measure(fn, 50)  # warm up connections and caches
        for _ in range(ROUNDS):  # interleaved, so the machine's noise is shared
            for name, (fn, around) in rows.items():
                with around():
                    samples[name].append(_row(fn, tracer_provider, name == WITH_SDK))
        tracer_provider.shutdown()
        meter_provider.shutdown()
        bare.close()
        hooked.close()
        traced.close()
    cpu = {
        name: statistics.median(s[0] for s in runs) for name, runs in samples.items()
    }
    wall = {
        name: statistics.median(s[1] for s in runs) for name, runs in samples.items()
    }
    # Each round's rows ran side by side: the median of the rounds' ratios
    # is steadier than the ratio of the medians on a shared machine.
    ratio = {
        name: statistics.median(
            run[0] / base[0] for run, base in zip(runs, samples[NO_PLUGIN])
        )
        for name, runs in samples.items()
    }
    print(
        f"\nPer get with predictions-otel: medians of {ROUNDS} rounds of {CALLS} calls"
    )
    print(f"  {'client':36} {'CPU us':>8} {'wall us':>8} {'CPU ratio':>10} {'goal':>6}")
    goals = {NO_PLUGIN: "", HOOKS_ONLY: "", NO_SDK: "<=1.1", WITH_SDK: "<=1.5"}
    for name in rows:
        print(
            f"  {name:36} {cpu[name] * 1e6:8.0f} {wall[name] * 1e6:8.0f} "
            f"{ratio[name]:10.2f} {goals[name]:>6}"
        )
