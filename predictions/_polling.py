"""The one poll engine: how predictions are waited on, one or a batch of them.

`Waiting` holds one prediction's wait and its rules: the deadline, the
failure window, the backoff and the 429 floor, the limit on statuses the
client does not know, and the hooks (`on_poll` after every poll,
`on_terminal` exactly once). `Schedule` decides whose turn it is among any
number of waits. Two drivers run a schedule, `run` (blocking) and
`run_async` (on the event loop); they differ only in how they sleep and send.
`wait`, `async_wait`, `create(..., wait=True)`, `as_completed` and
`async_as_completed` all wait through them.

The rules, for every prediction waited on:

- a terminal status ends its wait, with the prediction (failed ones too);
- any other status polls again after `poll_interval`; a status the client
  does not know, held for `UNKNOWN_STATUS_LIMIT` (the API's longest run),
  ends the wait with `WaitTimeoutError`, even with no deadline;
- a poll that fails transiently (after its own retries) polls again after a
  backoff (at least what a 429 asks), until the deadline or, with no
  deadline, until polls have failed for `POLL_FAILURE_WINDOW` in a row; then
  its error is raised. Permanent errors (401, 403, 404...) are raised at once;
- the last sleep is cut so that the last poll falls on the deadline; the
  request in flight then has `DEADLINE_GRACE` more to answer, so a wait of
  `timeout=T` ends within about T + `DEADLINE_GRACE` whatever the server does.
"""

from __future__ import annotations

import heapq
import inspect
import logging
import random
from typing import (
    Any,
    AsyncGenerator,
    Callable,
    Dict,
    Generator,
    List,
    Optional,
    Tuple,
    cast,
)

from predictions._api import API
from predictions._clock import Clock
from predictions._decode import decode_nothing, decode_prediction
from predictions._request import Request
from predictions._resource import prediction_path
from predictions._retry import RETRYABLE_STATUSES, retry_delay
from predictions._wait_options import BaseWaitOptions
from predictions.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    InvalidResponseError,
    PredictionsError,
    WaitTimeoutError,
)
from predictions.types import RUNNING_STATUSES, TERMINAL_STATUSES, PredictionWithIO

logger = logging.getLogger("predictions")

POLL_FAILURE_WINDOW = 300.0
"""With no deadline, how long polls may keep failing before a wait gives up."""

UNKNOWN_STATUS_LIMIT = 1800.0
"""How long a prediction may stay in a status the client does not know (the
API runs a prediction 30 minutes at most)."""


class DeadlineReached(Exception):
    """Raised inside the engine when a wait's deadline has come (never outside)."""


def is_transient_poll_error(exc: BaseException) -> bool:
    """Tell whether a failed poll should be tried again by the wait.

    Connection errors, timeouts, broken answers, 429 and 5xx are transient;
    every other status (401, 403, 404 above all) is permanent.
    """
    if isinstance(exc, (APIConnectionError, InvalidResponseError)):
        return True
    return isinstance(exc, APIStatusError) and exc.status_code in RETRYABLE_STATUSES


class Waiting:
    """One prediction being waited on, and the rules its polls follow.

    Args:
        api: The API the polls go through (its clock and hooks too).
        prediction_id: The prediction (its path is checked here).
        options: The wait's options (checked): `poll_interval`, `on_poll`,
            `timeout` (for messages), `cancel_on_timeout`, `cancel_on_interrupt`.
        deadline: The clock time the wait gives up at, or None. A batch's
            waits share one; a single wait's is `options.timeout` from now.
        known: The prediction as last seen, if it was (a create's answer): if
            it has finished, the wait ends with no poll.
    """

    def __init__(
        self,
        api: API,
        prediction_id: str,
        options: BaseWaitOptions[Any],
        deadline: Optional[float] = None,
        known: Optional[PredictionWithIO] = None,
    ) -> None:
        self.api = api
        self.prediction_id = prediction_id
        self.path = prediction_path(prediction_id)
        self.options = options
        self.deadline = deadline
        self.started = api.clock.monotonic()
        self.polls = 0
        self.last: Optional[PredictionWithIO] = known
        self.last_error: Optional[BaseException] = None
        self.ended = False
        self._failures = 0
        self._failing_since: Optional[float] = None
        self._status: Any = None
        self._status_since = self.started

    @classmethod
    def single(
        cls,
        api: API,
        prediction_id: str,
        options: BaseWaitOptions[Any],
        known: Optional[PredictionWithIO] = None,
        started: Optional[float] = None,
    ) -> Waiting:
        """One wait of its own, its deadline `options.timeout` after `started`.

        `started` is a clock time; now if None.
        """
        timeout = options.timeout
        if started is None:
            started = api.clock.monotonic()
        deadline = None if timeout is None else started + timeout
        return cls(api, prediction_id, options, deadline, known)

    def finished(self) -> bool:
        """Whether the prediction was last seen finished."""
        return self.last is not None and self.last["status"] in TERMINAL_STATUSES

    def poll_request(self) -> Request:
        """The poll: a GET of the prediction, bounded by the deadline."""
        return Request(
            "GET", self.path, deadline=self.deadline, decode=decode_prediction
        )

    def cancel_request(self) -> Request:
        """The cancel sent on the way out, when the options ask for it (no retry)."""
        return Request(
            "POST", self.path + "/cancel", max_retries=0, decode=decode_nothing
        )

    def elapsed(self) -> float:
        """Seconds since the wait began."""
        return self.api.clock.monotonic() - self.started

    def polled(self, prediction: PredictionWithIO) -> None:
        """Record a poll's answer and fire the `on_poll` hook."""
        self.polls += 1
        self.last = prediction
        self.last_error = None
        self._failures = 0
        self._failing_since = None
        status = prediction["status"]
        if status != self._status:
            self._status, self._status_since = status, self.api.clock.monotonic()
        self.api.hooks.call(
            "predictions_on_poll",
            prediction=prediction,
            polls=self.polls,
            elapsed=self.elapsed(),
        )

    def next_poll(self) -> Optional[float]:
        """After a poll: None if the prediction finished, else seconds to the next.

        Raises:
            DeadlineReached: The deadline has come.
            WaitTimeoutError: The prediction has stayed too long in a status
                the client does not know.
        """
        assert self.last is not None
        status = self.last["status"]
        if status in TERMINAL_STATUSES:
            return None
        now = self.api.clock.monotonic()
        if status not in RUNNING_STATUSES and now - self._status_since >= (
            UNKNOWN_STATUS_LIMIT
        ):
            raise WaitTimeoutError(
                f"prediction {self.prediction_id} has been in status {status!r}, "
                f"which this client does not know, for {UNKNOWN_STATUS_LIMIT:g} s "
                "(longer than the API runs a prediction); stopped waiting",
                prediction=self.last,
            )
        if self.deadline is not None and now >= self.deadline:
            raise DeadlineReached
        return self.options.poll_interval

    def poll_failed(self, exc: Exception) -> float:
        """After a failed poll: seconds to the next, or raise.

        Raises:
            DeadlineReached: The poll was cut short by the deadline.
            Exception: `exc` itself, when it is permanent, or when polls have
                failed until the deadline (then the last failure) or through
                the failure window.
        """
        if isinstance(exc, APITimeoutError) and exc.deadline_reached:
            if self.last_error is not None:  # polls were failing until then
                raise self.last_error
            raise DeadlineReached from exc
        if not is_transient_poll_error(exc):
            raise exc
        now = self.api.clock.monotonic()
        self.last_error = exc
        self._failures += 1
        if self._failing_since is None:
            self._failing_since = now
        if self.deadline is None:
            if now - self._failing_since >= POLL_FAILURE_WINDOW:
                raise exc
        elif now >= self.deadline:
            raise exc
        return retry_delay(
            exc,
            self._failures,
            random.random,
            self.api.clock.wall,
            at_least_backoff=True,
        )

    def wants_cancel(self, exc: BaseException) -> bool:
        """Whether ending with `exc` should ask the server to cancel."""
        if isinstance(exc, KeyboardInterrupt):
            return self.options.cancel_on_interrupt
        return self.options.cancel_on_timeout and isinstance(exc, WaitTimeoutError)

    def end(self, error: Optional[BaseException]) -> None:
        """Fire `on_terminal` once: with the prediction, or what ended the wait."""
        if self.ended:
            return
        self.ended = True
        self.api.hooks.call(
            "predictions_on_terminal",
            prediction=self.last,
            error=error,
            polls=self.polls,
            elapsed=self.elapsed(),
        )


class Schedule:
    """Whose turn it is: the waits of one call, in the order their polls fall due.

    Args:
        waits: The waits, all not yet finished.
        clock: The client's clock.
        batch: Whether the waits are a batch: its timeout ends them all,
            with one error that carries every unfinished prediction.
    """

    def __init__(self, waits: List[Waiting], clock: Clock, batch: bool = False) -> None:
        self.clock = clock
        self.batch = batch
        now = clock.monotonic()
        self._ready = [wait for wait in waits if wait.finished()]
        self.pending: Dict[int, Waiting] = {
            id(wait): wait for wait in waits if not wait.finished()
        }
        self._heap: List[Tuple[float, int, Waiting]] = [
            (now, index, wait) for index, wait in enumerate(self.pending.values())
        ]
        self._count = len(self._heap)

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

    def failed(self, wait: Waiting, exc: Exception) -> None:
        """After a failed poll: put the wait back, or raise what ends it."""
        self.later(wait, self._guarded(wait, lambda: wait.poll_failed(exc)))

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
    waits: List[Waiting] = list(schedule.pending.values())
    yield from schedule.ready()
    try:
        while schedule:
            delay = schedule.delay()
            if delay > 0:
                api.clock.sleep(delay)
            for wait in schedule.due():
                try:
                    prediction = api.request(wait.poll_request())
                except Exception as exc:
                    schedule.failed(wait, exc)
                    continue
                wait.polled(prediction)
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

    waits: List[Waiting] = list(schedule.pending.values())
    for prediction in schedule.ready():
        yield prediction
    try:
        while schedule:
            delay = schedule.delay()
            if delay > 0:
                await api.clock.async_sleep(delay)
            due = schedule.due()
            answers = await asyncio.gather(
                *(api.async_request(wait.poll_request()) for wait in due),
                return_exceptions=True,
            )
            for wait, answer in zip(due, answers):
                if isinstance(answer, BaseException):
                    if not isinstance(answer, Exception):
                        raise answer
                    schedule.failed(wait, answer)
                    continue
                prediction = cast(PredictionWithIO, answer)
                wait.polled(prediction)
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


def _end_all(waits: List[Waiting], exc: BaseException) -> None:
    for wait in waits:
        wait.end(exc)


def _cancel_quietly(api: API, wait: Waiting) -> None:
    """Ask for a cancel on the way out of a wait; a failure is only logged."""
    try:
        api.request(wait.cancel_request())
    except PredictionsError as exc:
        logger.warning("could not cancel prediction %s: %s", wait.prediction_id, exc)


async def _async_cancel_quietly(api: API, wait: Waiting) -> None:
    try:
        await api.async_request(wait.cancel_request())
    except PredictionsError as exc:
        logger.warning("could not cancel prediction %s: %s", wait.prediction_id, exc)


def wait_for(
    api: API,
    prediction_id: str,
    options: BaseWaitOptions[Any],
    known: Optional[PredictionWithIO] = None,
    started: Optional[float] = None,
) -> PredictionWithIO:
    """Wait for one prediction, blocking; see `Predictions.wait`.

    Args:
        api: The API to poll through.
        prediction_id: The prediction.
        options: The wait's options (checked).
        known: The prediction as last seen (a create's answer), if any: when
            it has finished, the wait ends with no poll.
        started: The clock time the wait's timeout runs from (before the
            create, for a create that waits); now if None.
    """
    wait = Waiting.single(api, prediction_id, options, known, started)
    predictions = run(api, Schedule([wait], api.clock))
    try:
        return next(predictions)
    finally:
        predictions.close()


async def async_wait_for(
    api: API,
    prediction_id: str,
    options: BaseWaitOptions[Any],
    known: Optional[PredictionWithIO] = None,
    started: Optional[float] = None,
) -> PredictionWithIO:
    """Wait for one prediction on the event loop; see `wait_for`."""
    wait = Waiting.single(api, prediction_id, options, known, started)
    predictions = run_async(api, Schedule([wait], api.clock))
    try:
        return await predictions.__anext__()
    finally:
        await predictions.aclose()


__all__ = [
    "POLL_FAILURE_WINDOW",
    "DeadlineReached",
    "UNKNOWN_STATUS_LIMIT",
    "Schedule",
    "Waiting",
    "async_wait_for",
    "is_transient_poll_error",
    "run",
    "run_async",
    "wait_for",
]
