"""Batches: predictions yielded as they finish, sync and async, on one pacing budget.

    for prediction in as_completed(created, client=client):
        print(prediction["id"], prediction["status"])

The batch is a schedule over the client's one poll engine (`_polling`): each
pending prediction is polled every `poll_interval` seconds, in the order they
fall due, through the client's pacer, under the same rules as a single wait
(the failure window, backoff, the 429 floor, the limit on unknown statuses),
and the `on_poll` and `on_terminal` hooks fire for each prediction.
"""

from __future__ import annotations

from typing import (
    TYPE_CHECKING,
    AsyncIterator,
    Dict,
    Iterable,
    Iterator,
    List,
    Optional,
    Tuple,
    Union,
)

from predictions._polling import Schedule, Waiting, run, run_async
from predictions._wait_options import check_poll_interval, check_timeout, is_terminal
from predictions.types import PredictionWithIO

if TYPE_CHECKING:
    from predictions._api import API
    from predictions.client import Client

PredictionOrId = Union[str, PredictionWithIO]


def _plan(
    api: API,
    predictions_or_ids: Iterable[PredictionOrId],
    poll_interval: float,
    timeout: Optional[float],
) -> Tuple[List[PredictionWithIO], Schedule]:
    """Check every argument before anything is sent; split finished from pending.

    Linear in the number of items: ids are de-duplicated with a dict.
    """
    check_poll_interval(poll_interval)
    check_timeout(timeout)
    if isinstance(predictions_or_ids, (str, bytes)):
        raise TypeError("pass a list of predictions or ids, not one string")
    deadline = None if timeout is None else api.clock.monotonic() + timeout
    finished: Dict[str, PredictionWithIO] = {}
    waits: Dict[str, Waiting] = {}
    for item in predictions_or_ids:
        if isinstance(item, str):
            prediction_id = item
        elif isinstance(item, dict) and isinstance(item.get("id"), str):
            prediction_id = item["id"]
            if is_terminal(item):
                finished.setdefault(prediction_id, item)
                waits.pop(prediction_id, None)
                continue
        else:
            raise TypeError(f"expected a prediction or its id, not {item!r}")
        if prediction_id not in waits and prediction_id not in finished:
            waits[prediction_id] = Waiting(
                api,
                prediction_id,
                poll_interval=poll_interval,
                deadline=deadline,
                timeout=timeout,
            )
    schedule = Schedule(list(waits.values()), api.clock, batch=True)
    return list(finished.values()), schedule


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
    finished, schedule = _plan(client.api, predictions_or_ids, poll_interval, timeout)
    return _iterate(client.api, finished, schedule)


def _iterate(
    api: API, finished: List[PredictionWithIO], schedule: Schedule
) -> Iterator[PredictionWithIO]:
    for prediction in finished:
        _ended_before(api, prediction)
        yield prediction
    yield from run(api, schedule)


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
    finished, schedule = _plan(client.api, predictions_or_ids, poll_interval, timeout)
    return _async_iterate(client.api, finished, schedule)


async def _async_iterate(
    api: API, finished: List[PredictionWithIO], schedule: Schedule
) -> AsyncIterator[PredictionWithIO]:
    for prediction in finished:
        _ended_before(api, prediction)
        yield prediction
    async for prediction in run_async(api, schedule):
        yield prediction


def _ended_before(api: API, prediction: PredictionWithIO) -> None:
    """A prediction that had finished before the batch: its `on_terminal`, no poll."""
    api.hooks.call(
        "predictions_on_terminal",
        prediction=prediction,
        error=None,
        polls=0,
        elapsed=0.0,
    )


__all__ = ["PredictionOrId", "as_completed", "async_as_completed"]
