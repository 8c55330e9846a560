"""Operations: one INTERNAL span each (a prediction, a stream, an upload, a batch).

A span starts with its operation, under its parent operation's span or, for
one the caller started, under the caller's current span; it ends with it.
Its status events, its times and the prediction duration metric come from
what the operation saw.
"""

from __future__ import annotations

import os
import time
from typing import Any, Dict, Mapping, Optional

from opentelemetry import context, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from predictions import Operation
from predictions_otel import _telemetry
from predictions_otel._attempts import error_type
from predictions_otel._predictions import FAILED, TERMINAL, primitive, times_of

STATUS_EVENT = "predictions.prediction.status"
RESUME_EVENT = "predictions.stream.resume"
RETRY_EVENT = "predictions.retry"


class Record:
    """What the plugin keeps in an operation's `state`: its span, the last status."""

    __slots__ = ("span", "status")

    def __init__(self, span: trace.Span) -> None:
        self.span = span
        self.status: Optional[str] = None

    def note(self, status: Any) -> None:
        """An event on the span if `status` is not the last one noted."""
        if isinstance(status, str) and status != self.status:
            self.status = status
            self.span.add_event(STATUS_EVENT, {STATUS_EVENT: status})


class Operations:
    """The spans of operations, kept in their `state` under `key`.

    Args:
        key: The plugin's own key in `Operation.state`.
    """

    def __init__(self, key: str) -> None:
        self.key = key

    def parent_of(self, operation: Optional[Operation]) -> Optional[context.Context]:
        """The context a span under `operation` goes in (None: the current one)."""
        while operation is not None:
            record: Optional[Record] = operation.state.get(self.key)
            if record is not None:
                return trace.set_span_in_context(record.span)
            operation = operation.parent
        return None

    def start(self, operation: Operation) -> None:
        """Start the operation's span, under its parent's or the current one."""
        tracer = _telemetry.tracer()
        if tracer is None:
            return
        attributes: Dict[str, Any] = {"predictions.operation.name": operation.name}
        if operation.model:
            attributes["gen_ai.request.model"] = operation.model
        if operation.prediction_id:
            attributes["predictions.prediction.id"] = operation.prediction_id
        span = tracer.start_span(
            _name(operation),
            context=self.parent_of(operation.parent),
            kind=SpanKind.INTERNAL,
            attributes=attributes,
        )
        operation.state[self.key] = Record(span)

    def saw(self, operation: Optional[Operation], prediction: Any) -> None:
        """Add an event to the operation's span if the prediction's status changed."""
        record = self._record(operation)
        if record is None or not isinstance(prediction, Mapping):
            return
        record.note(prediction.get("status"))

    def event(
        self, operation: Optional[Operation], name: str, attributes: Dict[str, Any]
    ) -> None:
        """Add an event to the operation's span, if it has one."""
        record = self._record(operation)
        if record is not None:
            record.span.add_event(name, attributes)

    def end(self, operation: Operation, error: Optional[BaseException]) -> None:
        """End the operation's span; record a prediction's duration."""
        record: Optional[Record] = operation.state.pop(self.key, None)
        prediction: Mapping[str, Any] = operation.prediction or {}
        status = prediction.get("status")
        failure = _failure(status, error)
        try:
            if record is not None:
                _end_span(record, operation, error, failure)
        finally:  # a failing SDK or exporter does not lose the metric
            if operation.kind == "prediction" and (
                status in TERMINAL or error is not None
            ):
                _record_duration(operation, status, failure)

    def _record(self, operation: Optional[Operation]) -> Optional[Record]:
        if operation is None:
            return None
        record: Optional[Record] = operation.state.get(self.key)
        return record


def _end_span(
    record: Record,
    operation: Operation,
    error: Optional[BaseException],
    failure: Optional[str],
) -> None:
    """Set what the operation ended with on its span, and end it."""
    span = record.span
    prediction: Mapping[str, Any] = operation.prediction or {}
    status = prediction.get("status")
    if operation.model:
        span.update_name(_name(operation))
        span.set_attribute("gen_ai.request.model", operation.model)
    if operation.prediction_id:
        span.set_attribute("predictions.prediction.id", operation.prediction_id)
    if operation.kind in ("prediction", "stream"):
        span.set_attribute("predictions.prediction.polls", operation.polls)
    if isinstance(status, str):
        record.note(status)
        span.set_attribute("predictions.prediction.status", status)
        span.set_attributes(times_of(prediction))
    for key, value in operation.attributes.items():
        value = primitive(value)
        if key == "file.name" and isinstance(value, str):
            value = os.path.basename(value)  # the conventions' file.name: no folder
        if value is not None:
            name = key if "." in key else f"predictions.{operation.kind}.{key}"
            span.set_attribute(name, value)
    if failure is not None:
        span.set_attribute("error.type", failure)
        if error is not None:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}"))
        else:
            span.set_status(Status(StatusCode.ERROR, f"prediction {status}"))
    span.end()


def _name(operation: Operation) -> str:
    """`create owner/name:version`, `stream ...`; `upload`, `batch`."""
    if operation.model and operation.kind in ("prediction", "stream"):
        return f"{operation.name} {operation.model}"
    return operation.name


def _failure(status: Any, error: Optional[BaseException]) -> Optional[str]:
    """`error.type` of how an operation ended, or None for a success.

    A stream closed early by its reader (`GeneratorExit`) did not fail.
    """
    if error is not None and not isinstance(error, GeneratorExit):
        return error_type(error)
    if error is None and status in FAILED:
        return str(status)
    return None


def _record_duration(operation: Operation, status: Any, failure: Optional[str]) -> None:
    instruments = _telemetry.instruments()
    if instruments is None:
        return
    attributes: Dict[str, Any] = {"predictions.operation.name": operation.name}
    if operation.model:
        attributes["gen_ai.request.model"] = operation.model
    if isinstance(status, str):
        attributes["predictions.prediction.status"] = status
    if failure is not None:
        attributes["error.type"] = failure
    instruments.prediction_duration.record(
        max(time.time() - operation.started, 0.0), attributes
    )


__all__ = ["RESUME_EVENT", "RETRY_EVENT", "STATUS_EVENT", "Operations", "Record"]
