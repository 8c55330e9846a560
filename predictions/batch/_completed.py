"""`as_completed` and `async_as_completed`: predictions yielded as they finish.

A schedule over the client's one poll engine (`predictions._waiting`): each
pending prediction is polled every `poll_interval` seconds, in the order
they fall due, through the client's pacer, under the same rules as a single
wait, and the `on_poll` and `on_terminal` hooks fire for each prediction.
"""

from __future__ import annotations

from typing import (
    TYPE_CHECKING,
    AsyncIterator,
    Dict,
    Iterable,
    Iterator,
    Optional,
    Union,
)

from predictions._waiting.options import WaitOptions
from predictions._waiting.rules import Waiting
from predictions._waiting.schedule import Schedule, run, run_async
from predictions.types import PredictionWithIO

if TYPE_CHECKING:
    from predictions._http.api import API
    from predictions.client import Client

PredictionOrId = Union[str, PredictionWithIO]


def _plan(
    api: API,
    predictions_or_ids: Iterable[PredictionOrId],
    poll_interval: float,
    timeout: Optional[float],
) -> Schedule:
    """Check every argument before anything is sent; one wait per prediction.

    Linear in the number of items: ids are de-duplicated with a dict. A
    prediction given finished is yielded first, with no poll.
    """
    if isinstance(predictions_or_ids, (str, bytes)):
        raise TypeError("pass a list of predictions or ids, not one string")
    options = WaitOptions(poll_interval=poll_interval, timeout=timeout)
    deadline = None if timeout is None else api.clock.monotonic() + timeout
    waits: Dict[str, Waiting] = {}
    for item in predictions_or_ids:
        if isinstance(item, str):
            prediction_id, known = item, None
        elif isinstance(item, dict) and isinstance(item.get("id"), str):
            prediction_id, known = item["id"], item
        else:
            raise TypeError(f"expected a prediction or its id, not {item!r}")
        wait = waits.get(prediction_id)
        if wait is None or (known is not None and not wait.finished()):
            waits[prediction_id] = Waiting(
                api, prediction_id, options, known, deadline=deadline
            )
    return Schedule(list(waits.values()), api.clock, batch=True)


def as_completed(
    predictions_or_ids: Iterable[PredictionOrId],
    *,
    client: Client,
    poll_interval: float = 1.0,
    timeout: Optional[float] = None,
) -> Iterator[PredictionWithIO]:
    """Yield predictions as they finish, polling the pending ones in turn.

    Args:
        predictions_or_ids: Predictions (as the API returns them) or their ids;
            a prediction already finished is yielded at once.
        client: The client whose requests, retries, pacing and hooks are used.
        poll_interval: Seconds between two polls of one prediction.
        timeout: Seconds after which the rest raise `WaitTimeoutError`.

    Yields:
        Each prediction once, when its status is terminal (failed ones too).

    Raises:
        TypeError: An item is neither a prediction nor an id, or
            `poll_interval` or `timeout` is not a number.
        ValueError: An id, `poll_interval` or `timeout` is not valid (raised
            when the iterator is made, before anything is sent).
        WaitTimeoutError: The timeout came first; its `predictions` are the
            ones that did not finish, as last seen.
        APIStatusError: A poll failed permanently (401, 403, 404...).
    """
    schedule = _plan(client.api, predictions_or_ids, poll_interval, timeout)
    return run(client.api, schedule)


def async_as_completed(
    predictions_or_ids: Iterable[PredictionOrId],
    *,
    client: Client,
    poll_interval: float = 1.0,
    timeout: Optional[float] = None,
) -> AsyncIterator[PredictionWithIO]:
    """Yield predictions as they finish, asynchronously; see `as_completed`.

    The polls that fall due together are sent together (on the client's
    thread pool, through its pacer); sleeps run on the event loop. The
    arguments, what is yielded and what is raised are those of `as_completed`.
    """
    schedule = _plan(client.api, predictions_or_ids, poll_interval, timeout)
    return run_async(client.api, schedule)


__all__ = ["PredictionOrId", "as_completed", "async_as_completed"]
