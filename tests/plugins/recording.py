"""A plugin that implements every hook, and writes down what each saw.

Each operation is named when it starts (`kind:name#n`, n counting from 0),
so that a test can say which operation a hook was told of, which one was
current (`current_operation()`) when it ran, and on which thread.
"""

from __future__ import annotations

import threading
from typing import Any, Dict, List, Mapping, NamedTuple, Optional

from predictions import Operation, current_operation, hookimpl


class Event(NamedTuple):
    hook: str
    operation: Optional[str]  # the operation the hook was told of
    current: Optional[str]  # current_operation() as it ran
    thread: str
    detail: Any


def name_of(operation: Optional[Operation]) -> Optional[str]:
    if operation is None:
        return None
    return operation.state.get("recorded", "<not started>")


class Recording:
    """Every hook, recorded; `headers` is what `request_headers` answers."""

    def __init__(self, headers: Optional[Mapping[str, str]] = None) -> None:
        self.events: List[Event] = []
        self.operations: List[Operation] = []
        self.ended: Dict[str, int] = {}
        self.headers = headers
        self._lock = threading.Lock()

    def _note(self, hook: str, operation: Optional[Operation], detail: Any) -> None:
        with self._lock:
            self.events.append(
                Event(
                    hook,
                    name_of(operation),
                    name_of(current_operation()),
                    threading.current_thread().name,
                    detail,
                )
            )

    @hookimpl
    def predictions_on_operation_start(self, operation: Operation) -> None:
        with self._lock:
            name = f"{operation.kind}:{operation.name}#{len(self.operations)}"
            operation.state["recorded"] = name
            self.operations.append(operation)
        self._note("start", operation, name_of(operation.parent))

    @hookimpl
    def predictions_on_operation_end(
        self, operation: Operation, error: Optional[BaseException]
    ) -> None:
        name = str(name_of(operation))
        with self._lock:
            self.ended[name] = self.ended.get(name, 0) + 1
        self._note("end", operation, type(error).__name__ if error else None)

    @hookimpl
    def predictions_request_headers(
        self, request: Any, attempt: int, operation: Optional[Operation]
    ) -> Optional[Mapping[str, str]]:
        self._note("headers", operation, (request.method, request.url, attempt))
        return self.headers

    @hookimpl
    def predictions_on_request(
        self,
        request: Any,
        attempt: int,
        operation: Optional[Operation],
        template: Optional[str],
        started: float,
    ) -> None:
        assert isinstance(started, float)
        assert started > 1e9
        self._note("request", operation, (request.method, template, attempt))

    @hookimpl
    def predictions_on_response(
        self,
        response: Any,
        attempt: int,
        operation: Optional[Operation],
        template: Optional[str],
        started: float,
        elapsed: float,
    ) -> None:
        assert elapsed >= 0
        assert started > 1e9
        self._note("response", operation, (response.status_code, template, attempt))

    @hookimpl
    def predictions_on_request_error(
        self,
        request: Any,
        error: BaseException,
        attempt: int,
        started: float,
        elapsed: float,
        operation: Optional[Operation],
        template: Optional[str],
    ) -> None:
        assert elapsed >= 0
        assert started > 1e9
        self._note("error", operation, (type(error).__name__, template, attempt))

    @hookimpl
    def predictions_on_retry(
        self, method: str, attempt: int, operation: Optional[Operation]
    ) -> None:
        self._note("retry", operation, (method, attempt))

    @hookimpl
    def predictions_on_create(
        self, prediction: Any, model: str, operation: Optional[Operation]
    ) -> None:
        self._note("create", operation, (prediction["id"], model))

    @hookimpl
    def predictions_on_poll(
        self, prediction: Any, polls: int, operation: Optional[Operation]
    ) -> None:
        self._note("poll", operation, (prediction["status"], polls))

    @hookimpl
    def predictions_on_terminal(
        self,
        prediction: Optional[Any],
        error: Optional[BaseException],
        operation: Optional[Operation],
    ) -> None:
        status = prediction.get("status") if prediction else None
        self._note(
            "terminal", operation, (status, type(error).__name__ if error else None)
        )

    @hookimpl
    def predictions_on_stream_resume(
        self, operation: Operation, last_event_id: Optional[str], resumes: int
    ) -> None:
        self._note("resume", operation, (last_event_id, resumes))

    def hooks(self, *names: str) -> List[str]:
        """The hooks called, in order (those named, if any)."""
        return [e.hook for e in self.events if not names or e.hook in names]

    def of(self, hook: str) -> List[Event]:
        return [e for e in self.events if e.hook == hook]

    def each_ended_once(self) -> bool:
        """Every operation started ended, exactly once."""
        started = [name_of(op) for op in self.operations]
        return all(self.ended.get(str(name)) == 1 for name in started) and len(
            self.ended
        ) == len(started)


__all__ = ["Event", "Recording", "name_of"]
