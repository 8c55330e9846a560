"""The plugin: the client's hooks, handed to the operations' and attempts' spans."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

import requests

from predictions import Operation, hookimpl
from predictions.types import PredictionWithIO
from predictions_otel import _telemetry
from predictions_otel._attempts import Attempts, error_type, record_wait
from predictions_otel._operations import RESUME_EVENT, RETRY_EVENT, Operations
from predictions_otel._urls import server_of


class Tracing:
    """Spans and metrics of a client's calls, through the global OpenTelemetry API.

    Each hook first asks the global providers: while no SDK is set, it does
    nothing else (but pass on a `traceparent` the application received).
    One instance serves any number of clients and threads.
    """

    def __init__(self) -> None:
        self.operations = Operations(f"predictions_otel.{id(self)}")
        self.attempts = Attempts(self.operations.parent_of)

    @hookimpl
    def predictions_on_operation_start(self, operation: Operation) -> None:
        """Start the operation's span."""
        self.operations.start(operation)

    @hookimpl
    def predictions_on_operation_end(
        self, operation: Operation, error: Optional[BaseException]
    ) -> None:
        """End the operation's span (and an attempt of it left in flight)."""
        try:
            self.attempts.abandon(operation)
        finally:
            self.operations.end(operation, error)

    @hookimpl
    def predictions_request_headers(
        self, request: requests.PreparedRequest, operation: Optional[Operation]
    ) -> Optional[Mapping[str, str]]:
        """The attempt's context as W3C `traceparent` (the global propagator's)."""
        return self.attempts.headers(request, operation)

    @hookimpl
    def predictions_on_request(
        self,
        request: requests.PreparedRequest,
        attempt: int,
        operation: Optional[Operation],
        template: Optional[str],
        paced: float,
    ) -> None:
        """Start (or name) the attempt's CLIENT span; record its wait for the pacer."""
        try:
            self.attempts.start(request, attempt, operation, template, paced)
        finally:  # a failing SDK leaves neither half undone
            if paced > 0:
                record_wait(request, paced)

    @hookimpl
    def predictions_on_response(
        self,
        request: requests.PreparedRequest,
        response: requests.Response,
        elapsed: float,
    ) -> None:
        """End the attempt's span with the answer's status."""
        self.attempts.answered(request, response, elapsed)

    @hookimpl
    def predictions_on_request_error(
        self, request: requests.PreparedRequest, error: BaseException, elapsed: float
    ) -> None:
        """End the attempt's span with why no answer came."""
        self.attempts.failed(request, error, elapsed)

    @hookimpl
    def predictions_on_retry(
        self,
        method: str,
        url: str,
        attempt: int,
        delay: float,
        error: BaseException,
        operation: Optional[Operation],
    ) -> None:
        """Count the retry; an event on the operation's span."""
        kind = error_type(error)
        instruments = _telemetry.instruments()
        if instruments is not None:
            address, port = server_of(url)
            instruments.retries.add(
                1,
                {
                    "http.request.method": method,
                    "error.type": kind,
                    "server.address": address or "",
                    "server.port": port or 0,
                },
            )
        self.operations.event(
            operation,
            RETRY_EVENT,
            {
                "http.request.method": method,
                "predictions.retry.attempt": attempt,
                "predictions.retry.delay": delay,
                "error.type": kind,
            },
        )

    @hookimpl
    def predictions_on_create(
        self, prediction: PredictionWithIO, operation: Optional[Operation]
    ) -> None:
        """An event with the created prediction's status."""
        self.operations.saw(operation, prediction)

    @hookimpl
    def predictions_on_poll(
        self, prediction: PredictionWithIO, operation: Optional[Operation]
    ) -> None:
        """An event if the poll saw a new status."""
        self.operations.saw(operation, prediction)

    @hookimpl
    def predictions_on_terminal(
        self, prediction: Optional[PredictionWithIO], operation: Optional[Operation]
    ) -> None:
        """An event with the final status, if new."""
        if prediction is not None:
            self.operations.saw(operation, prediction)

    @hookimpl
    def predictions_on_stream_resume(
        self, operation: Operation, last_event_id: Optional[str], resumes: int
    ) -> None:
        """An event on the stream's span for each resume."""
        attributes: Dict[str, Any] = {"predictions.stream.resumes": resumes}
        if last_event_id is not None:
            attributes["predictions.stream.last_event_id"] = last_event_id
        self.operations.event(operation, RESUME_EVENT, attributes)


__all__ = ["Tracing"]
