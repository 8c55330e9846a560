"""The global tracer and meter, looked up at each use; the metrics' instruments.

Looked up at each use (one global read and a type check), so an SDK set up
after this module was imported, or after a client was made, is used from its
next call on; while none is set the plugin does nothing else.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple

import requests
from opentelemetry import metrics, trace

from predictions_otel._version import __version__

SCOPE = "predictions_otel"
"""The instrumentation scope's name (the tracer's and the meter's)."""

_OFF_TRACERS: Tuple[type, ...] = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
_OFF_METERS: Tuple[type, ...] = (metrics.NoOpMeterProvider,)
try:  # the API's stand-in until an SDK is set (not exported by it)
    from opentelemetry.metrics._internal import _ProxyMeterProvider

    _OFF_METERS += (_ProxyMeterProvider,)
except ImportError:  # pragma: no cover - an API that moved it
    pass

HTTP_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1,
    2.5,
    5,
    7.5,
    10,
)
"""The semantic conventions' advised buckets of `http.client.request.duration`."""

PREDICTION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800)
"""Seconds, up to the hosted API's run limit (30 minutes)."""

PACER_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
"""Seconds, up to the longest the client waits for a rate limit (60 s)."""


class Instruments:
    """The plugin's metrics, made from one meter."""

    def __init__(self, meter: metrics.Meter) -> None:
        self.http_duration = _histogram(
            meter,
            "http.client.request.duration",
            "Duration of HTTP client requests.",
            HTTP_BUCKETS,
        )
        self.prediction_duration = _histogram(
            meter,
            "predictions.prediction.duration",
            "Time from a prediction's create (or the start of its wait) to its "
            "end, as the caller waited it.",
            PREDICTION_BUCKETS,
        )
        self.pacer_wait = _histogram(
            meter,
            "predictions.client.pacer.wait",
            "Time an attempt waited for the client's pacer (the server's rate "
            "limit) before it was sent; attempts that did not wait are not "
            "recorded.",
            PACER_BUCKETS,
        )
        self.retries = meter.create_counter(
            "predictions.client.retries",
            unit="{retry}",
            description="Requests sent again after a failed attempt.",
        )
        self.rate_limited = meter.create_counter(
            "predictions.client.rate_limited",
            unit="{response}",
            description="Answers of status 429 (Too Many Requests).",
        )


def _histogram(
    meter: metrics.Meter, name: str, description: str, buckets: Sequence[float]
) -> metrics.Histogram:
    try:  # the advice arrived in opentelemetry-api 1.23
        return meter.create_histogram(
            name,
            unit="s",
            description=description,
            explicit_bucket_boundaries_advisory=buckets,  # type: ignore[call-arg,unused-ignore]
        )
    except TypeError:  # pragma: no cover - an older API
        return meter.create_histogram(name, unit="s", description=description)


_tracer: Tuple[Any, Optional[trace.Tracer]] = (None, None)
_instruments: Tuple[Any, Optional[Instruments]] = (None, None)


def tracer() -> Optional[trace.Tracer]:
    """The global provider's tracer, or None while no SDK is set."""
    global _tracer
    provider = trace.get_tracer_provider()
    known, found = _tracer
    if provider is known:
        return found
    if isinstance(provider, _OFF_TRACERS):
        found = None
    else:
        found = provider.get_tracer(SCOPE, __version__)
    _tracer = (provider, found)
    return found


def instruments() -> Optional[Instruments]:
    """The instruments of the global meter provider, or None while none is set."""
    global _instruments
    provider = metrics.get_meter_provider()
    known, found = _instruments
    if provider is known:
        return found
    if isinstance(provider, _OFF_METERS):
        found = None
    else:
        found = Instruments(provider.get_meter(SCOPE, __version__))
    _instruments = (provider, found)
    return found


def requests_instrumented() -> bool:
    """Whether OpenTelemetry's requests instrumentation wraps `Session.send`.

    It marks its wrapper; other tools may have wrapped it again since, so
    the chain of `__wrapped__` is followed.
    """
    send: Any = requests.Session.send
    for _ in range(16):
        if getattr(send, "opentelemetry_instrumentation_requests_applied", False):
            return True
        send = getattr(send, "__wrapped__", None)
        if send is None:
            return False
    return False


def reset() -> None:
    """Forget the providers seen (tests that replace the global ones)."""
    global _tracer, _instruments
    _tracer = (None, None)
    _instruments = (None, None)


__all__ = [
    "HTTP_BUCKETS",
    "PACER_BUCKETS",
    "PREDICTION_BUCKETS",
    "SCOPE",
    "Instruments",
    "instruments",
    "requests_instrumented",
    "reset",
    "tracer",
]
