"""The version of predictions-otel (also its instrumentation scope's)."""

__version__ = "0.1.0"
