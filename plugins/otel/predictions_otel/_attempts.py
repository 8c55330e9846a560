"""HTTP attempts: one CLIENT span each, `http.client.request.duration`, propagation.

An attempt's span starts in `request_headers` (the API's origin: its context
goes out as `traceparent`) or in `on_request` (other origins), and ends in
`on_response` or `on_request_error`: hooks of one attempt run on one thread,
so the attempt in flight is kept per thread.
"""

from __future__ import annotations

import threading
from typing import Any, Dict, Mapping, Optional

import requests
from opentelemetry import context, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from predictions import Operation
from predictions_otel import _telemetry
from predictions_otel._urls import redact_url, server_of

KNOWN_METHODS = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"}
)


def error_type(error: BaseException) -> str:
    """`error.type` of an exception: its status code if it has one, else its class.

    The class by its full name, as the semantic conventions ask
    (`predictions.errors.APITimeoutError`; a builtin by its bare name).
    """
    status = getattr(error, "status_code", None)
    if isinstance(status, int):
        return str(status)
    kind = type(error)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


class Attempt:
    """The attempt in flight on a thread: its span and what it attached."""

    __slots__ = ("named", "operation", "request", "span", "token")

    def __init__(
        self,
        request: requests.PreparedRequest,
        operation: Optional[Operation],
        span: Optional[trace.Span],
        token: Any = None,
    ) -> None:
        self.request = request
        self.operation = operation
        self.span = span
        self.token = token  # the context attached around the send, to detach
        self.named = False  # whether on_request has named it


class Attempts:
    """The attempts in flight, one per thread; `parent_of` finds an operation's span.

    Args:
        parent_of: The context an operation's spans go under (None: the
            caller's current one).
    """

    def __init__(self, parent_of: Any) -> None:
        self._local = threading.local()
        self._parent_of = parent_of

    def headers(
        self, request: requests.PreparedRequest, operation: Optional[Operation]
    ) -> Optional[Mapping[str, str]]:
        """Start the attempt's span; its context as headers (`traceparent`)."""
        tracer = _telemetry.tracer()
        if tracer is None:
            # No SDK: a context the application received still goes on.
            if not trace.get_current_span().get_span_context().is_valid:
                return None
            return _inject(None)
        if _telemetry.requests_instrumented():
            return None  # its span's context goes out, on every origin: its way
        attempt = self._start(tracer, request, operation)
        if attempt.span is None:
            return None
        return _inject(trace.set_span_in_context(attempt.span))

    def start(
        self,
        request: requests.PreparedRequest,
        attempt: int,
        operation: Optional[Operation],
        template: Optional[str],
    ) -> None:
        """Name the attempt's span (made here for another origin), or attach.

        With OpenTelemetry's requests instrumentation active, no span is made:
        the operation's span is made current around the send, so that the
        instrumentation's span goes under it.
        """
        tracer = _telemetry.tracer()
        if tracer is None:
            return
        pending = getattr(self._local, "attempt", None)
        if pending is None or pending.request is not request or pending.named:
            pending = self._start(tracer, request, operation)
        pending.named = True
        span = pending.span
        if span is None:
            return
        method = _method(request)
        span.update_name(f"{method} {template}" if template else method)
        if template:
            span.set_attribute("url.template", template)
        if attempt > 1:
            span.set_attribute("http.request.resend_count", attempt - 1)

    def answered(
        self,
        request: requests.PreparedRequest,
        response: requests.Response,
        elapsed: float,
    ) -> None:
        """End the attempt's span with the answer's status; record its duration."""
        pending = self._finish()
        status = response.status_code
        try:
            if pending is not None and pending.span is not None:
                span = pending.span
                span.set_attribute("http.response.status_code", status)
                if status >= 400:
                    span.set_attribute("error.type", str(status))
                    span.set_status(Status(StatusCode.ERROR))
                span.end()
        finally:  # a failing SDK, exporter or meter leaves neither half undone
            _record(request, elapsed, status, str(status) if status >= 400 else None)

    def failed(
        self, request: requests.PreparedRequest, error: BaseException, elapsed: float
    ) -> None:
        """End the attempt's span with why no answer came; record its duration."""
        pending = self._finish()
        kind = error_type(error)
        try:
            if pending is not None and pending.span is not None:
                span = pending.span
                span.set_attribute("error.type", kind)
                span.set_status(Status(StatusCode.ERROR, type(error).__name__))
                span.end()
        finally:
            _record(request, elapsed, None, kind)

    def abandon(self, operation: Operation) -> None:
        """End an attempt of `operation` left in flight on this thread.

        An attempt that KeyboardInterrupt cut short has neither an answer
        nor an error hook: its span ends with its operation.
        """
        pending = getattr(self._local, "attempt", None)
        if pending is not None and pending.operation is operation:
            self._finish()
            if pending.span is not None:
                pending.span.end()

    def _start(
        self,
        tracer: trace.Tracer,
        request: requests.PreparedRequest,
        operation: Optional[Operation],
    ) -> Attempt:
        stray = self._finish()
        if stray is not None and stray.span is not None:
            stray.span.end()  # a hop its redirect ended: no hook told
        parent = self._parent_of(operation)
        if _telemetry.requests_instrumented():
            token = context.attach(parent) if parent is not None else None
            attempt = Attempt(request, operation, None, token)
        else:
            span = tracer.start_span(
                _method(request),
                context=parent,
                kind=SpanKind.CLIENT,
                attributes=_span_attributes(request),
            )
            attempt = Attempt(request, operation, span)
        self._local.attempt = attempt
        return attempt

    def _finish(self) -> Optional[Attempt]:
        """Take this thread's attempt in flight, detaching what it attached."""
        pending: Optional[Attempt] = getattr(self._local, "attempt", None)
        if pending is None:
            return None
        self._local.attempt = None
        if pending.token is not None:
            context.detach(pending.token)
        return pending


def _record(
    request: requests.PreparedRequest,
    elapsed: float,
    status: Optional[int],
    failure: Optional[str],
) -> None:
    """Record an attempt's duration, and count a 429."""
    instruments = _telemetry.instruments()
    if instruments is None:
        return
    attributes = _server_attributes(request)
    if status == 429:
        instruments.rate_limited.add(1, dict(attributes))
    if _telemetry.requests_instrumented():
        return  # the instrumentation records its own durations
    if status is not None:
        attributes["http.response.status_code"] = status
    if failure is not None:
        attributes["error.type"] = failure
    instruments.http_duration.record(elapsed, attributes)


def _method(request: requests.PreparedRequest) -> str:
    method = (request.method or "").upper()
    return method if method in KNOWN_METHODS else "_OTHER"


def _server_attributes(request: requests.PreparedRequest) -> Dict[str, Any]:
    address, port = server_of(request.url or "")
    attributes: Dict[str, Any] = {"http.request.method": _method(request)}
    if address:
        attributes["server.address"] = address
    if port:
        attributes["server.port"] = port
    return attributes


def _span_attributes(request: requests.PreparedRequest) -> Dict[str, Any]:
    attributes = _server_attributes(request)
    attributes["url.full"] = redact_url(request.url or "")
    if attributes["http.request.method"] == "_OTHER":
        attributes["http.request.method_original"] = request.method or ""
    return attributes


def _inject(parent: Optional[context.Context]) -> Optional[Mapping[str, str]]:
    from opentelemetry import propagate  # its first import reads the environment

    carrier: Dict[str, str] = {}
    propagate.inject(carrier, context=parent)
    return carrier or None


__all__ = ["KNOWN_METHODS", "Attempt", "Attempts", "error_type"]
