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
    """The attempt in flight on a thread: its span, what it attached, its server."""

    __slots__ = (
        "instrumented",
        "later",
        "name",
        "named",
        "operation",
        "request",
        "server",
        "span",
        "token",
    )

    def __init__(
        self,
        request: requests.PreparedRequest,
        operation: Optional[Operation],
        server: Dict[str, Any],
        instrumented: bool,
    ) -> None:
        self.request = request
        self.operation = operation
        self.server = server  # its method, server.address and server.port
        self.instrumented = instrumented  # the requests instrumentation's send
        self.span: Optional[trace.Span] = None
        self.token: Any = None  # the context attached around the send, to detach
        self.named = False  # whether on_request has seen it
        self.name: Optional[str] = None  # its name once its template is known
        self.later: Dict[str, Any] = {}  # attributes to set as it ends


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
            if _telemetry.instruments() is None:
                self._local.idle = request  # its other hooks need not look again
            # No SDK: a context the application received still goes on.
            if not trace.get_current_span().get_span_context().is_valid:
                return None
            return _inject(None)
        attempt = self._start(tracer, request, operation)
        if attempt.span is None:
            return None  # the instrumentation sends its span's context, its way
        return _inject(trace.set_span_in_context(attempt.span))

    def start(
        self,
        request: requests.PreparedRequest,
        attempt: int,
        operation: Optional[Operation],
        template: Optional[str],
        paced: float = 0.0,
    ) -> None:
        """Start the attempt's span, unless `headers` did; note its template.

        With OpenTelemetry's requests instrumentation active, no span is made:
        the operation's span is made current around the send, so that the
        instrumentation's span goes under it. The template, the resend count
        and the wait for the pacer (`paced`, seconds) go on the span as it
        ends (one call of the SDK, not two).
        """
        pending: Optional[Attempt] = getattr(self._local, "attempt", None)
        if pending is None or pending.request is not request or pending.named:
            if getattr(self._local, "idle", None) is request:
                return
            tracer = _telemetry.tracer()
            if tracer is None:
                if _telemetry.instruments() is None:
                    self._local.idle = request
                return
            pending = self._start(tracer, request, operation)
        pending.named = True
        if pending.span is None:
            return
        if template:
            pending.later["url.template"] = template
            pending.name = f"{pending.server['http.request.method']} {template}"
        if attempt > 1:
            pending.later["http.request.resend_count"] = attempt - 1
        if paced > 0:
            pending.later["predictions.pacer.wait"] = paced

    def answered(
        self,
        request: requests.PreparedRequest,
        response: requests.Response,
        elapsed: float,
    ) -> None:
        """End the attempt's span with the answer's status; record its duration."""
        pending = self._finish()
        if pending is None and self._idle(request):
            return
        status = response.status_code
        failure = str(status) if status >= 400 else None
        try:
            if pending is not None and pending.span is not None:
                pending.later["http.response.status_code"] = status
                if failure is not None:
                    pending.later["error.type"] = failure
                    pending.span.set_status(Status(StatusCode.ERROR))
                _end(pending)
        finally:  # a failing SDK, exporter or meter leaves neither half undone
            _record(pending, request, elapsed, status, failure)

    def failed(
        self, request: requests.PreparedRequest, error: BaseException, elapsed: float
    ) -> None:
        """End the attempt's span with why no answer came; record its duration."""
        pending = self._finish()
        if pending is None and self._idle(request):
            return
        kind = error_type(error)
        try:
            if pending is not None and pending.span is not None:
                pending.later["error.type"] = kind
                pending.span.set_status(Status(StatusCode.ERROR, type(error).__name__))
                _end(pending)
        finally:
            _record(pending, request, elapsed, None, kind)

    def abandon(self, operation: Operation) -> None:
        """End an attempt of `operation` left in flight on this thread.

        An attempt that KeyboardInterrupt cut short has neither an answer
        nor an error hook: its span ends with its operation.
        """
        pending = getattr(self._local, "attempt", None)
        if pending is not None and pending.operation is operation:
            self._finish()
            if pending.span is not None:
                _end(pending)

    def _start(
        self,
        tracer: trace.Tracer,
        request: requests.PreparedRequest,
        operation: Optional[Operation],
    ) -> Attempt:
        stray = self._finish()
        if stray is not None and stray.span is not None:
            _end(stray)  # a hop its redirect ended: no hook told
        parent = self._parent_of(operation)
        attempt = Attempt(
            request,
            operation,
            _server_attributes(request),
            _telemetry.requests_instrumented(),
        )
        if attempt.instrumented:
            if parent is not None:
                attempt.token = context.attach(parent)
        else:
            attributes = dict(attempt.server)
            attributes["url.full"] = redact_url(request.url or "")
            if attributes["http.request.method"] == "_OTHER":
                attributes["http.request.method_original"] = request.method or ""
            attempt.span = tracer.start_span(
                attempt.server["http.request.method"],
                context=parent,
                kind=SpanKind.CLIENT,
                attributes=attributes,
            )
        self._local.attempt = attempt
        return attempt

    def _idle(self, request: requests.PreparedRequest) -> bool:
        """Whether the attempt of `request` began with no SDK (and forget it).

        Then nothing is recorded as it ends: there was neither a tracer nor
        a meter for it.
        """
        if getattr(self._local, "idle", None) is not request:
            return False
        self._local.idle = None
        return True

    def _finish(self) -> Optional[Attempt]:
        """Take this thread's attempt in flight, detaching what it attached."""
        pending: Optional[Attempt] = getattr(self._local, "attempt", None)
        if pending is None:
            return None
        self._local.attempt = None
        if pending.token is not None:
            context.detach(pending.token)
        return pending


def _end(attempt: Attempt) -> None:
    """End an attempt's span, with what was kept for its end."""
    span = attempt.span
    assert span is not None
    if attempt.name is not None:
        span.update_name(attempt.name)
    if attempt.later:
        span.set_attributes(attempt.later)
    span.end()


def _record(
    pending: Optional[Attempt],
    request: requests.PreparedRequest,
    elapsed: float,
    status: Optional[int],
    failure: Optional[str],
) -> None:
    """Record an attempt's duration, and count a 429."""
    instruments = _telemetry.instruments()
    if instruments is None:
        return
    if pending is not None:
        attributes = dict(pending.server)
        instrumented = pending.instrumented
    else:  # no tracer: no attempt was kept
        attributes = _server_attributes(request)
        instrumented = _telemetry.requests_instrumented()
    if status == 429:
        instruments.rate_limited.add(1, dict(attributes))
    if instrumented:
        return  # the instrumentation records its own durations
    if status is not None:
        attributes["http.response.status_code"] = status
    if failure is not None:
        attributes["error.type"] = failure
    instruments.http_duration.record(elapsed, attributes)


def record_wait(request: requests.PreparedRequest, paced: float) -> None:
    """Record an attempt's wait for the pacer (`paced` s, > 0), by server."""
    instruments = _telemetry.instruments()
    if instruments is None:
        return
    attributes = _server_attributes(request)
    del attributes["http.request.method"]
    instruments.pacer_wait.record(paced, attributes)


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


_propagate: Any = None


def _inject(parent: Optional[context.Context]) -> Optional[Mapping[str, str]]:
    """The context as headers, written by the global propagator."""
    global _propagate
    if _propagate is None:  # its first import reads the environment: not before
        from opentelemetry import propagate

        _propagate = propagate
    carrier: Dict[str, str] = {}
    _propagate.inject(carrier, context=parent)
    return carrier or None


__all__ = ["KNOWN_METHODS", "Attempt", "Attempts", "error_type", "record_wait"]
