"""Batches: predictions yielded as they finish, sync and async, on one pacing budget.

    for prediction in as_completed(created, client=client):
        print(prediction["id"], prediction["status"])

Each pending prediction is polled every `poll_interval` seconds, in the order
they fall due, through the client's pacer: a batch of thousands stays inside
the rate limit the server announces, and the sync and async iterators of one
client share that budget with everything else the client sends.
"""

from __future__ import annotations

import heapq
from typing import (
    TYPE_CHECKING,
    Any,
    AsyncIterator,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Optional,
    Tuple,
    Union,
    cast,
)

from predictions._polling import is_transient_poll_error
from predictions._resource import prediction_path
from predictions._retry import backoff
from predictions._wait_options import check_poll_interval, check_timeout, is_terminal
from predictions.errors import WaitTimeoutError
from predictions.types import PredictionWithIO

if TYPE_CHECKING:
    from predictions.client import Client

PredictionOrId = Union[str, PredictionWithIO]


def _plan(
    predictions_or_ids: Iterable[PredictionOrId],
    poll_interval: float,
    timeout: Optional[float],
) -> Tuple[List[str], Dict[str, PredictionWithIO]]:
    """Check every argument before anything is sent; split finished from pending."""
    check_poll_interval(poll_interval)
    check_timeout(timeout)
    if isinstance(predictions_or_ids, (str, bytes)):
        raise TypeError("pass a list of predictions or ids, not one string")
    order: List[str] = []
    finished: Dict[str, PredictionWithIO] = {}
    for item in predictions_or_ids:
        if isinstance(item, str):
            prediction_id = item
        elif isinstance(item, dict) and isinstance(item.get("id"), str):
            prediction_id = item["id"]
            if is_terminal(item):
                finished[prediction_id] = item
        else:
            raise TypeError(f"expected a prediction or its id, not {item!r}")
        prediction_path(prediction_id)  # ValueError for an unusable id
        if prediction_id not in order:
            order.append(prediction_id)
    return order, finished


class _Schedule:
    """When each pending prediction is next polled."""

    def __init__(
        self, ids: List[str], clock: Callable[[], float], timeout: Optional[float]
    ) -> None:
        self.clock = clock
        now = clock()
        self.deadline = None if timeout is None else now + timeout
        self.timeout = timeout
        self.heap: List[Tuple[float, int, str]] = [
            (now, index, prediction_id) for index, prediction_id in enumerate(ids)
        ]
        self.failures: Dict[str, int] = {}

    def later(self, prediction_id: str, delay: float) -> None:
        heapq.heappush(self.heap, (self.clock() + delay, len(self.heap), prediction_id))

    def failed(self, prediction_id: str, error: BaseException) -> None:
        if not is_transient_poll_error(error):
            raise error
        count = self.failures[prediction_id] = self.failures.get(prediction_id, 0) + 1
        self.later(prediction_id, backoff(count))

    def check_deadline(self) -> None:
        if self.deadline is not None and self.clock() >= self.deadline:
            raise WaitTimeoutError(
                f"{len(self.heap)} predictions did not finish within {self.timeout} s"
            )

    def wait_for_next(self) -> float:
        """Seconds until the next poll falls due, cut to the deadline."""
        delay = max(0.0, self.heap[0][0] - self.clock())
        if self.deadline is not None:
            delay = min(delay, max(0.0, self.deadline - self.clock()))
        return delay


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
        client: The client whose requests, retries and pacing are used.
        poll_interval: Seconds between two polls of one prediction.
        timeout: Seconds after which the rest raise `WaitTimeoutError`.

    Yields:
        Each prediction once, when its status is terminal (failed ones too).

    Raises:
        TypeError: An item is neither a prediction nor an id, or
            `poll_interval` is not a number.
        ValueError: An id, `poll_interval` or `timeout` is not valid (raised
            when the iterator is made, before anything is sent).
        WaitTimeoutError: The timeout came first.
        APIStatusError: A poll failed permanently (401, 403, 404...).
    """
    ids, finished = _plan(predictions_or_ids, poll_interval, timeout)
    return _iterate(client, ids, finished, poll_interval, timeout)


def _iterate(
    client: Client,
    ids: List[str],
    finished: Dict[str, PredictionWithIO],
    poll_interval: float,
    timeout: Optional[float],
) -> Iterator[PredictionWithIO]:
    api = client.api
    yield from finished.values()
    schedule = _Schedule([i for i in ids if i not in finished], api.clock, timeout)
    while schedule.heap:
        delay = schedule.wait_for_next()
        if delay > 0:
            api.sleep(delay)
        schedule.check_deadline()
        _, _, prediction_id = heapq.heappop(schedule.heap)
        try:
            prediction = api.request(
                "GET",
                prediction_path(prediction_id),
                expect_object=True,
                deadline=schedule.deadline,
            )
        except Exception as exc:
            schedule.failed(prediction_id, exc)
            continue
        if is_terminal(cast(Dict[str, Any], prediction)):
            yield cast(PredictionWithIO, prediction)
        else:
            schedule.later(prediction_id, poll_interval)


def async_as_completed(
    predictions_or_ids: Iterable[PredictionOrId],
    *,
    client: Client,
    poll_interval: float = 1.0,
    timeout: Optional[float] = None,
) -> AsyncIterator[PredictionWithIO]:
    """Yield predictions as they finish, asynchronously; see `as_completed`.

    The polls that fall due together are sent together (on the client's
    thread pool, through its pacer); sleeps run on the event loop.

    Args:
        predictions_or_ids: Predictions or their ids.
        client: The client whose requests, retries and pacing are used.
        poll_interval: Seconds between two polls of one prediction.
        timeout: Seconds after which the rest raise `WaitTimeoutError`.

    Returns:
        An async iterator of the predictions, each once, as they finish.

    Raises:
        TypeError: An item is neither a prediction nor an id, or
            `poll_interval` is not a number.
        ValueError: An id, `poll_interval` or `timeout` is not valid.
    """
    ids, finished = _plan(predictions_or_ids, poll_interval, timeout)
    return _async_iterate(client, ids, finished, poll_interval, timeout)


async def _async_iterate(
    client: Client,
    ids: List[str],
    finished: Dict[str, PredictionWithIO],
    poll_interval: float,
    timeout: Optional[float],
) -> AsyncIterator[PredictionWithIO]:
    import asyncio

    api = client.api
    for prediction in finished.values():
        yield prediction
    schedule = _Schedule([i for i in ids if i not in finished], api.clock, timeout)
    while schedule.heap:
        delay = schedule.wait_for_next()
        if delay > 0:
            await api.async_sleep(delay)
        schedule.check_deadline()
        now = api.clock()
        due: List[str] = []
        while schedule.heap and schedule.heap[0][0] <= now:
            due.append(heapq.heappop(schedule.heap)[2])
        answers = await asyncio.gather(
            *(
                api.async_request(
                    "GET",
                    prediction_path(prediction_id),
                    expect_object=True,
                    deadline=schedule.deadline,
                )
                for prediction_id in due
            ),
            return_exceptions=True,
        )
        for prediction_id, answer in zip(due, answers):
            if isinstance(answer, BaseException):
                if not isinstance(answer, Exception):
                    raise answer
                schedule.failed(prediction_id, answer)
            elif is_terminal(cast(Dict[str, Any], answer)):
                yield cast(PredictionWithIO, answer)
            else:
                schedule.later(prediction_id, poll_interval)


__all__ = ["PredictionOrId", "as_completed", "async_as_completed"]
