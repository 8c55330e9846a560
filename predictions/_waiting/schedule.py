"""The one poll engine: whose turn it is among any number of waits, and the drivers.

`Schedule` orders the waits (`_waiting.Waiting`, each with the rules of one
wait) by when their polls fall due; the last sleep is cut so that the last
poll falls on the deadline. Two drivers run a schedule, `run` (blocking) and
`run_async` (on the event loop); they differ only in how they sleep and send.
`wait`, `async_wait`, `create(..., wait=True)`, `as_completed` and
`async_as_completed` all wait through them.
"""

from __future__ import annotations

import heapq
import inspect
import logging
from typing import (
    Any,
    AsyncGenerator,
    Awaitable,
    Callable,
    Dict,
    Generator,
    List,
    Optional,
    Tuple,
    cast,
)

from predictions._clock import Clock
from predictions._http import operations
from predictions._http.api import API
from predictions._waiting.rules import Waiting
from predictions.errors import DeadlineReached, PredictionsError, WaitTimeoutError
from predictions.types import PredictionWithIO

logger = logging.getLogger("predictions")


class Schedule:
    """Whose turn it is: the waits of one call, in the order their polls fall due.

    Args:
        waits: The waits, all not yet finished.
        clock: The client's clock.
        batch: Whether the waits are a batch: its timeout ends them all,
            with one error that carries every unfinished prediction; and
            each is an operation of its own ("wait"), from the first turn of
            its driver to its end, if a plugin is active (`as_completed`).
    """

    def __init__(self, waits: List[Waiting], clock: Clock, batch: bool = False) -> None:
        self.clock = clock
        self.batch = batch
        self.waits = waits
        now = clock.monotonic()
        self._ready = [wait for wait in waits if wait.finished()]
        self.pending: Dict[int, Waiting] = {
            id(wait): wait for wait in waits if not wait.finished()
        }
        self._heap: List[Tuple[float, int, Waiting]] = [
            (now, index, wait) for index, wait in enumerate(self.pending.values())
        ]
        self._count = len(self._heap)

    def begin(self) -> None:
        """As its driver starts: a batch's waits start their operations."""
        if self.batch:
            for wait in self.waits:
                wait.track("prediction", "wait")
                if wait.last is not None:
                    operations.saw(wait.operation, wait.last)

    def ready(self) -> List[PredictionWithIO]:
        """The predictions seen finished before any poll; `on_terminal` for each."""
        ready, self._ready = self._ready, []
        for wait in ready:
            wait.end(None)
        return [wait.last for wait in ready if wait.last is not None]

    def __bool__(self) -> bool:
        return bool(self._heap)

    def delay(self) -> float:
        """Seconds until the next poll falls due (0 if one is due now)."""
        return max(0.0, self._heap[0][0] - self.clock.monotonic())

    def due(self) -> List[Waiting]:
        """Take every wait whose poll is due now."""
        now = self.clock.monotonic()
        taken = []
        while self._heap and self._heap[0][0] <= now:
            taken.append(heapq.heappop(self._heap)[2])
        return taken

    def later(self, wait: Waiting, delay: float) -> None:
        """Put a wait back, to poll after `delay` (never past its deadline)."""
        due = self.clock.monotonic() + delay
        if wait.deadline is not None:
            due = min(due, max(wait.deadline, self.clock.monotonic()))
        self._count += 1
        heapq.heappush(self._heap, (due, self._count, wait))

    def settle(self, wait: Waiting) -> Optional[PredictionWithIO]:
        """After a successful poll and its callback: the prediction if it finished."""
        delay = self._guarded(wait, wait.next_poll)
        if delay is None:
            self.pending.pop(id(wait), None)
            wait.end(None)
            return wait.last
        self.later(wait, delay)
        return None

    def back_off(self, wait: Waiting, exc: Exception) -> None:
        """After a failed poll: put the wait back, or raise what ends it."""
        self.later(wait, self._guarded(wait, lambda: wait.back_off_after(exc)))

    def _guarded(self, wait: Waiting, decide: Callable[[], Any]) -> Any:
        try:
            return decide()
        except DeadlineReached as reached:
            raise self._timed_out(wait) from reached.__cause__

    def _timed_out(self, wait: Waiting) -> WaitTimeoutError:
        """The error of a call whose deadline came: for one wait, or for all."""
        if not self.batch:
            status = wait.last["status"] if wait.last else "unknown"
            return WaitTimeoutError(
                f"prediction {wait.prediction_id} did not finish within "
                f"{wait.options.timeout} s (last status: {status})",
                prediction=wait.last,
            )
        unfinished = [w.last or {"id": w.prediction_id} for w in self.pending.values()]
        return WaitTimeoutError(
            f"{len(unfinished)} predictions did not finish within "
            f"{wait.options.timeout} s",
            prediction=wait.last,
            predictions=unfinished,
        )

    def abandon(self, exc: BaseException) -> List[Waiting]:
        """The call ends with `exc`: the waits to cancel; `on_terminal` for all."""
        waits = list(self.pending.values())
        self.pending.clear()
        self._heap.clear()
        to_cancel = [w for w in waits if w.wants_cancel(exc)]
        return to_cancel


def run(api: API, schedule: Schedule) -> Generator[PredictionWithIO, None, None]:
    """Drive a schedule, blocking: yield each prediction as it finishes."""
    waits: List[Waiting] = schedule.waits
    try:
        schedule.begin()
        yield from schedule.ready()
        while schedule:
            delay = schedule.delay()
            if delay > 0:
                api.clock.sleep(delay)
            for wait in schedule.due():
                try:
                    with operations.current(wait.operation):
                        prediction = api.request(wait.poll_request())
                except Exception as exc:
                    schedule.back_off(wait, exc)
                    continue
                wait.record_poll(prediction)
                if wait.options.on_poll is not None:
                    wait.options.on_poll(prediction)
                finished = schedule.settle(wait)
                if finished is not None:
                    yield finished
    except BaseException as exc:
        for wait in schedule.abandon(exc):
            _cancel_quietly(api, wait)
        _end_all(waits, exc)
        raise


async def run_async(
    api: API, schedule: Schedule
) -> AsyncGenerator[PredictionWithIO, None]:
    """Drive a schedule on the event loop; polls that fall due together go together."""
    import asyncio

    waits: List[Waiting] = schedule.waits
    try:
        schedule.begin()
        for prediction in schedule.ready():
            yield prediction
        while schedule:
            delay = schedule.delay()
            if delay > 0:
                await api.clock.async_sleep(delay)
            due = schedule.due()
            answers = await asyncio.gather(
                *(_async_poll(api, wait) for wait in due),
                return_exceptions=True,
            )
            for wait, answer in zip(due, answers):
                if isinstance(answer, BaseException):
                    if not isinstance(answer, Exception):
                        raise answer
                    schedule.back_off(wait, answer)
                    continue
                prediction = cast(PredictionWithIO, answer)
                wait.record_poll(prediction)
                if wait.options.on_poll is not None:
                    awaitable = wait.options.on_poll(prediction)
                    if inspect.isawaitable(awaitable):
                        await awaitable
                finished = schedule.settle(wait)
                if finished is not None:
                    yield finished
    except BaseException as exc:
        for wait in schedule.abandon(exc):
            if isinstance(exc, KeyboardInterrupt):  # the loop may be going down
                _cancel_quietly(api, wait)
            else:
                await _async_cancel_quietly(api, wait)
        _end_all(waits, exc)
        raise


def _async_poll(api: API, wait: Waiting) -> Awaitable[Any]:
    """A wait's poll, to be gathered: in a task of its own, its operation current."""
    if wait.operation is None:
        return api.async_request(wait.poll_request())
    return _async_poll_under(api, wait)


async def _async_poll_under(api: API, wait: Waiting) -> Any:
    with operations.current(wait.operation):
        return await api.async_request(wait.poll_request())


def _end_all(waits: List[Waiting], exc: BaseException) -> None:
    for wait in waits:
        wait.end(exc)


def _cancel_quietly(api: API, wait: Waiting) -> None:
    """Ask for a cancel on the way out of a wait; a failure is only logged."""
    try:
        with operations.current(wait.operation):
            api.request(wait.cancel_request())
    except PredictionsError as exc:
        logger.warning("could not cancel prediction %s: %s", wait.prediction_id, exc)


async def _async_cancel_quietly(api: API, wait: Waiting) -> None:
    try:
        with operations.current(wait.operation):
            await api.async_request(wait.cancel_request())
    except PredictionsError as exc:
        logger.warning("could not cancel prediction %s: %s", wait.prediction_id, exc)


def wait_for(api: API, wait: Waiting) -> PredictionWithIO:
    """Wait for one prediction, blocking; see `Predictions.wait`."""
    predictions = run(api, Schedule([wait], api.clock))
    try:
        return next(predictions)
    finally:
        predictions.close()


async def async_wait_for(api: API, wait: Waiting) -> PredictionWithIO:
    """Wait for one prediction on the event loop; see `wait_for`."""
    predictions = run_async(api, Schedule([wait], api.clock))
    try:
        return await predictions.__anext__()
    finally:
        await predictions.aclose()


__all__ = [
    "Schedule",
    "async_wait_for",
    "run",
    "run_async",
    "wait_for",
]
