"""The plugin contract: the hooks a plugin may implement, and the `hookimpl` marker.

Hooks observe; they return nothing, except that `predictions_on_request` may
add headers to the prepared request. Arguments are only ever added, never
renamed, and a hookimpl takes any subset of them by name. Request hooks run
on the thread that sends the request (an executor thread for the `async_`
methods); wait hooks run on the waiting thread (the event loop's for
`async_wait`). Either way they run in the caller's `contextvars` context
(a copy of it on another thread), so a hook sees the caller's current span.
A batch's `on_batch_progress` and its rows' `on_create` and
wait hooks run on the thread iterating it (its request hooks on its pool's);
the rows' come between its first `on_batch_progress` and its `final` one, so
a plugin can draw one line for them all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Optional

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


@hookspec
def predictions_on_request(request: requests.PreparedRequest, attempt: int) -> None:
    """Before each attempt; on the sending (async: executor) thread; may add headers."""


@hookspec
def predictions_on_response(
    request: requests.PreparedRequest, response: requests.Response, elapsed: float
) -> None:
    """After each answer, before decoding; on the sending (executor) thread."""


@hookspec
def predictions_on_retry(
    method: str, url: str, attempt: int, delay: float, error: BaseException
) -> None:
    """Before each retry's sleep; on the sending (executor) thread; observes."""


@hookspec
def predictions_on_create(
    prediction: PredictionWithIO, model: str, params: Mapping[str, Any]
) -> None:
    """After a create got its prediction; for async: on the event loop; observes."""


@hookspec
def predictions_on_poll(
    prediction: PredictionWithIO, polls: int, elapsed: float
) -> None:
    """After each poll, before the caller's on_poll; async: on the loop; observes."""


@hookspec
def predictions_on_terminal(
    prediction: Optional[PredictionWithIO],
    error: Optional[BaseException],
    polls: int,
    elapsed: float,
) -> None:
    """Once as each wait ends (result or error); async: on the loop; observes."""


@hookspec
def predictions_on_batch_progress(progress: BatchProgress, final: bool) -> None:
    """As a batch starts, about twice a second, and as it ends (`final`); observes."""


__all__ = [
    "PROJECT_NAME",
    "hookimpl",
    "hookspec",
    "predictions_on_batch_progress",
    "predictions_on_create",
    "predictions_on_poll",
    "predictions_on_request",
    "predictions_on_response",
    "predictions_on_retry",
    "predictions_on_terminal",
]
