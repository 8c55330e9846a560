"""The plugin contract: the hooks, `Operation`, and the `hookimpl` marker.

Hooks observe; they return nothing, except that `predictions_on_request` may
add headers to the prepared request and `predictions_request_headers`
returns headers to add (on requests to the API's own origin only).
Arguments are only ever added, never renamed, and a hookimpl takes any
subset of them by name. Request hooks run on the thread that sends the
request (an executor thread for the `async_` methods); wait hooks run on
the waiting thread (the event loop's for `async_wait`). Either way they run
in the caller's `contextvars` context (a copy of it on another thread), so a
hook sees the caller's current span, and `current_operation()`.
A batch's `on_batch_progress` and its rows' `on_create` and
wait hooks run on the thread iterating it (its request hooks on its pool's);
the rows' come between its first `on_batch_progress` and its `final` one, so
a plugin can draw one line for them all.

Operations are what the client does for its caller: a prediction (`create`,
`run`, `wait`, a batch's row, one waited on by `as_completed`), a stream, an
upload of one file, a batch. Each starts and ends exactly once
(`on_operation_start`, `on_operation_end`), whatever happens: a result, an
error, a timeout, KeyboardInterrupt, an async task cancelled, a generator
closed early. While one runs it is `current_operation()` in the contexts it
runs in, and it is the `operation` argument of the hooks called meanwhile.
Operations are made only when a plugin is active: with none,
`current_operation()` is None.
"""

from __future__ import annotations

import contextvars
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional

import pluggy
import requests

from predictions.types import PredictionWithIO

if TYPE_CHECKING:
    from predictions.batch import BatchProgress

PROJECT_NAME = "predictions"
"""The pluggy project name, and the prefix of every hook's name."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marks a plugin's function as the implementation of the hook of its name."""


@dataclass(eq=False)
class Operation:
    """One thing the client does for its caller, that a plugin may trace.

    Compared and hashed by identity: a plugin may key a dict by it. The
    client fills it as the operation goes; a plugin reads it, and keeps its
    own things in `state` under a key of its own.

    Attributes:
        kind: "prediction", "stream", "upload" or "batch".
        name: The public call that made it: "create", "run", "wait",
            "stream", "upload" or "batch" (a batch row's prediction:
            "create", with the batch as `parent`).
        model: The model as the caller named it; "owner/name:version" as
            soon as a prediction of it is seen (its `model` field). None for
            an upload, a batch, and a wait until its first answer.
        prediction_id: The prediction's id, once known.
        prediction: The last prediction seen.
        polls: How many polls (gets or list reads) it has seen so far.
        parent: The operation it runs under (an upload under its create, a
            row under its batch, a wait under the caller's), or None.
        started: `time.time()` at its start (wall clock, for tracers).
        attributes: Facts of its kind. upload: "file.name", "file.size",
            "parts"; stream: "resumes"; batch, at its end: "rows" and one
            count per row status ("succeeded", "failed", ...).
        state: Scratch space for plugins: each plugin keeps its own key
            (e.g. its span). The client never reads it.
    """

    kind: str
    name: str
    model: Optional[str] = None
    prediction_id: Optional[str] = None
    prediction: Optional[PredictionWithIO] = field(default=None, repr=False)
    polls: int = 0
    parent: Optional[Operation] = field(default=None, repr=False)
    started: float = field(default_factory=time.time)
    attributes: Dict[str, Any] = field(default_factory=dict)
    state: Dict[str, Any] = field(default_factory=dict, repr=False)


_current: contextvars.ContextVar[Optional[Operation]] = contextvars.ContextVar(
    "predictions_operation", default=None
)


def current_operation() -> Optional[Operation]:
    """The operation running in the calling context, or None.

    It crosses into the pool threads the client hands work to (each runs in
    a copy of the caller's context). None when no plugin is active: the
    client makes operations only for plugins to see.
    """
    return _current.get()


@hookspec
def predictions_on_request(
    request: requests.PreparedRequest,
    attempt: int,
    operation: Optional[Operation],
    template: Optional[str],
    started: float,
    paced: float,
) -> None:
    """Before each attempt, on the sending (async: executor) thread; may add headers.

    Args:
        request: The prepared request about to be sent.
        attempt: 1 for the first attempt, 2 for the first retry, ...
        operation: The operation it serves (`current_operation()`), or None.
        template: The API route's path template below the base URL's path
            (e.g. "/predictions/{id}"); None for a request to another origin
            (an upload's part URL, an output file's host).
        started: `time.time()` as the attempt began (wall clock).
        paced: Seconds the attempt waited for the client's pacer (the rate
            limit) before it was sent, on the client's clock; 0.0 when it
            did not wait, when pacing is off, and on a redirect's later hops.
    """


@hookspec
def predictions_request_headers(
    request: requests.PreparedRequest, attempt: int, operation: Optional[Operation]
) -> Optional[Mapping[str, str]]:
    """Before each attempt of a request to the API's own origin: headers to add.

    Never called for other origins (upload part URLs, output file hosts, a
    redirect elsewhere). A header the client sets itself (Authorization,
    Content-Type, Content-Length, Idempotency-Key, Prefer, User-Agent,
    Accept, Range, If-Range, Cookie, Host) is not replaced: it is dropped,
    with one `PluginWarning` per plugin. Called before `on_request`.

    Args:
        request: The prepared request about to be sent.
        attempt: 1 for the first attempt.
        operation: The operation it serves, or None.

    Returns:
        Headers to add (e.g. W3C `traceparent`), or None.
    """


@hookspec
def predictions_on_response(
    request: requests.PreparedRequest,
    response: requests.Response,
    elapsed: float,
    attempt: int,
    operation: Optional[Operation],
    template: Optional[str],
    started: float,
) -> None:
    """After each answer, before decoding; on the sending (executor) thread.

    Args:
        request: The prepared request sent.
        response: Its answer (the body may be unread: a stream, a download).
        elapsed: Seconds from the attempt's start to the answer's headers.
        attempt: 1 for the first attempt.
        operation: The operation it serves, or None.
        template: As for `predictions_on_request`.
        started: `time.time()` as the attempt began.
    """


@hookspec
def predictions_on_request_error(
    request: requests.PreparedRequest,
    error: BaseException,
    attempt: int,
    started: float,
    elapsed: float,
    operation: Optional[Operation],
    template: Optional[str],
) -> None:
    """After an attempt that got no answer; on the sending (executor) thread.

    A refused connection, a timeout, a connection cut before the answer
    was whole, or an answer refused before decoding (a redirect to another
    origin, a body over the size limit). An answer with an error status
    comes to `on_response` instead; every attempt sent comes to one of them.

    Args:
        request: The prepared request.
        error: What went wrong (as the client raises it, or would retry it).
        attempt: 1 for the first attempt.
        started: `time.time()` as the attempt began.
        elapsed: Seconds from the attempt's start to the failure.
        operation: The operation it serves, or None.
        template: As for `predictions_on_request`.
    """


@hookspec
def predictions_on_retry(
    method: str,
    url: str,
    attempt: int,
    delay: float,
    error: BaseException,
    operation: Optional[Operation],
) -> None:
    """Before each retry's sleep; on the sending (executor) thread; observes.

    Args:
        method: The request's method.
        url: Its URL.
        attempt: The attempt that failed (1 for the first).
        delay: Seconds it will sleep before the next.
        error: Why it retries.
        operation: The operation it serves, or None.
    """


@hookspec
def predictions_on_create(
    prediction: PredictionWithIO,
    model: str,
    params: Mapping[str, Any],
    operation: Optional[Operation],
) -> None:
    """After a create got its prediction; for async: on the event loop; observes.

    Args:
        prediction: The prediction as the create answered it.
        model: The model as the caller named it.
        params: The params as sent (files replaced by their URLs).
        operation: The create's operation, or None.
    """


@hookspec
def predictions_on_poll(
    prediction: PredictionWithIO,
    polls: int,
    elapsed: float,
    operation: Optional[Operation],
) -> None:
    """After each poll, before the caller's on_poll; async: on the loop; observes.

    Args:
        prediction: The prediction as the poll saw it.
        polls: Polls so far, this one included.
        elapsed: Seconds since the wait began.
        operation: The wait's operation, or None.
    """


@hookspec
def predictions_on_terminal(
    prediction: Optional[PredictionWithIO],
    error: Optional[BaseException],
    polls: int,
    elapsed: float,
    operation: Optional[Operation],
) -> None:
    """Once as each wait ends (result or error); async: on the loop; observes.

    Args:
        prediction: The last prediction seen, or None.
        error: Why the wait ended without a terminal status, or None.
        polls: Polls it made.
        elapsed: Seconds since the wait began.
        operation: The wait's operation, or None.
    """


@hookspec
def predictions_on_batch_progress(progress: BatchProgress, final: bool) -> None:
    """As a batch starts, about twice a second, and as it ends (`final`); observes."""


@hookspec
def predictions_on_operation_start(operation: Operation) -> None:
    """As an operation starts: on the starting thread, before its first request.

    Args:
        operation: The operation. `current_operation()` is still what was
            current before (its `parent`, mostly); it is this one while its
            requests and its other hooks run.
    """


@hookspec
def predictions_on_operation_end(
    operation: Operation, error: Optional[BaseException]
) -> None:
    """Once, as an operation ends, on the thread ending it (no longer current).

    Args:
        operation: The operation, with its last prediction and attributes.
        error: None on success, and for a wait that ended in a failed or
            canceled status (the status says so); else what ended it: an
            exception, a timeout (`WaitTimeoutError`), KeyboardInterrupt,
            `asyncio.CancelledError`, `GeneratorExit` (a stream closed early).
    """


@hookspec
def predictions_on_stream_resume(
    operation: Operation, last_event_id: Optional[str], resumes: int
) -> None:
    """Before a stream reconnects (the connection closed with no terminal event).

    Args:
        operation: The stream's operation.
        last_event_id: The id it resumes after (None: from the start).
        resumes: Resumes so far, this one included.
    """


__all__ = [
    "PROJECT_NAME",
    "Operation",
    "current_operation",
    "hookimpl",
    "hookspec",
    "predictions_on_batch_progress",
    "predictions_on_create",
    "predictions_on_operation_end",
    "predictions_on_operation_start",
    "predictions_on_poll",
    "predictions_on_request",
    "predictions_on_request_error",
    "predictions_on_response",
    "predictions_on_retry",
    "predictions_on_stream_resume",
    "predictions_on_terminal",
    "predictions_request_headers",
]
