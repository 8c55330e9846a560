"""predictions-otel: OpenTelemetry spans and metrics of a predictions client's calls.

Installed, it loads in every client (the `otel` entry point) and uses the
global tracer provider, meter provider and propagator: the application
sets up the SDK and its exporters; with none set up it does nothing.
"""

from __future__ import annotations

from predictions_otel._plugin import Tracing
from predictions_otel._urls import SECRET_PARAMETERS, redact_url
from predictions_otel._version import __version__

plugin = Tracing()
"""The instance the entry point loads."""

__all__ = ["SECRET_PARAMETERS", "Tracing", "__version__", "plugin", "redact_url"]
