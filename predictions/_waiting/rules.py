"""One prediction being waited on, and the rules every wait follows.

The rules, for every prediction waited on, alone or in a batch:

- a terminal status ends its wait, with the prediction (failed ones too);
- any other status polls again after `poll_interval` (sooner at first with
  `early_polls`: `EARLY_POLLS`); a status the client
  does not know, held for `UNKNOWN_STATUS_LIMIT` (the API's longest run),
  ends the wait with `WaitTimeoutError`, even with no deadline;
- a poll that fails transiently (after its own retries) polls again after a
  backoff (at least what a 429 asks), until the deadline or, with no
  deadline, until polls have failed for `POLL_FAILURE_WINDOW` in a row; then
  its error is raised. Permanent errors (401, 403, 404...) are raised at once;
- the poll at the deadline has `DEADLINE_GRACE` more to answer, so a wait of
  `timeout=T` ends within about T + `DEADLINE_GRACE` whatever the server does;
- the hooks: `on_poll` after every poll, `on_terminal` exactly once.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping, Optional, Tuple, cast

from predictions._http import operations
from predictions._http.api import API
from predictions._http.request import Request
from predictions._http.retry import RETRYABLE_STATUSES, retry_delay
from predictions._requests import cancel_request, get_request, prediction_path
from predictions._waiting.options import BaseWaitOptions
from predictions.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    DeadlineReached,
    InvalidResponseError,
    WaitTimeoutError,
)
from predictions.hookspecs import Operation
from predictions.types import RUNNING_STATUSES, TERMINAL_STATUSES, PredictionWithIO

POLL_FAILURE_WINDOW = 300.0
"""With no deadline, how long polls may keep failing before a wait gives up."""

RUN_LIMIT = 1800.0
"""The longest the API runs a prediction (30 minutes), in seconds."""

UNKNOWN_STATUS_LIMIT = RUN_LIMIT
"""How long a prediction may stay in a status the client does not know."""

EARLY_POLLS = (0.1, 0.3, 0.7)
"""With `early_polls`, the seconds after the first polls (each cut to
`poll_interval`): any three add up to a second or more, so no second holds
more than three polls, the API's read limit (3 a second)."""


class FailureWindow:
    """How long requests have kept failing, none succeeding; one rule for all.

    A wait's polls, a batch's creates and each row's create keep one each:
    a failure starts it (`failed`), a success ends it (`reset`), and it is
    `over` once failures have lasted `POLL_FAILURE_WINDOW` seconds.
    """

    __slots__ = ("seconds", "since")

    def __init__(self) -> None:
        self.seconds = POLL_FAILURE_WINDOW
        self.since: Optional[float] = None

    def failed(self, now: float) -> bool:
        """Count a failure at `now`; whether the window is over with it."""
        if self.since is None:
            self.since = now
        return now - self.since >= self.seconds

    def reset(self) -> None:
        """A request went through: the window starts again at the next failure."""
        self.since = None


def is_transient_poll_error(exc: BaseException) -> bool:
    """Tell whether a failed poll should be tried again by the wait.

    Connection errors, timeouts, broken answers, 429 and 5xx are transient;
    every other status (401, 403, 404 above all) is permanent.
    """
    if isinstance(exc, (APIConnectionError, InvalidResponseError)):
        return True
    return isinstance(exc, APIStatusError) and exc.status_code in RETRYABLE_STATUSES


class Ending:
    """Something that ends once, telling the `on_terminal` hook how.

    Its `operation` (None with no plugin) is the one its hooks are told of;
    it ends that too when it `owns` it (a batch's, as_completed's, a stream's).
    """

    api: API
    ended = False
    operation: Optional[Operation] = None
    owns = False

    def end(self, error: Optional[BaseException]) -> None:
        """Fire `on_terminal` once: with the prediction, or with what ended it."""
        if self.ended:
            return
        self.ended = True
        hooks = self.api.hooks
        if not hooks.active:
            return
        prediction, polls, elapsed = self.outcome()
        hooks.call(
            "predictions_on_terminal",
            prediction=prediction,
            error=error,
            polls=polls,
            elapsed=elapsed,
            operation=self.operation,
        )
        if self.owns:
            operations.end(hooks, self.operation, error)

    def track(self, kind: str, name: str) -> None:
        """Start an operation of its own, if a plugin is active, to end with it."""
        if self.operation is None:
            self.operation = operations.start(self.api.hooks, kind, name)
            self.owns = self.operation is not None

    def outcome(self) -> Tuple[Any, int, float]:
        """The prediction as last seen, the polls, and the seconds taken."""
        raise NotImplementedError


class Waiting(Ending):
    """One prediction being waited on, and the rules its polls follow.

    Args:
        api: The API the polls go through (its clock and hooks too).
        prediction_id: The prediction (its path is checked here).
        options: The wait's options (checked): `poll_interval`, `on_poll`,
            `timeout` (for messages), `cancel_on_timeout`, `cancel_on_interrupt`.
        known: The prediction as last seen, if it was (a create's answer): if
            it has finished, the wait ends with no poll.
        started: The clock time the wait began (before the create, for a
            create that waits); now if None. Its deadline is
            `options.timeout` after it.
        deadline: The deadline instead (a batch's waits share one).
        operation: The operation its hooks are told of (None: none yet).
        owns: Whether it ends `operation` as it ends.
    """

    def __init__(
        self,
        api: API,
        prediction_id: str,
        options: BaseWaitOptions[Any],
        known: Optional[PredictionWithIO] = None,
        started: Optional[float] = None,
        deadline: Optional[float] = None,
        operation: Optional[Operation] = None,
        owns: bool = False,
    ) -> None:
        self.api = api
        self.operation = operation
        self.owns = owns
        self.prediction_id = prediction_id
        self.path = prediction_path(prediction_id)
        self.options = options
        self.started = api.clock.monotonic() if started is None else started
        if deadline is None and options.timeout is not None:
            deadline = self.started + options.timeout
        self.deadline = deadline
        self.polls = 0
        self.last: Optional[PredictionWithIO] = known
        self.last_error: Optional[BaseException] = None
        self._failures = 0
        self._failing = FailureWindow()
        self._status: Any = None
        self._status_since = self.started

    def finished(self) -> bool:
        """Whether the prediction was last seen finished."""
        return self.last is not None and self.last["status"] in TERMINAL_STATUSES

    def poll_request(self) -> Request:
        """The poll: a GET of the prediction, bounded by the deadline."""
        return get_request(self.path, deadline=self.deadline)

    def cancel_request(self) -> Request:
        """The cancel sent on the way out, when the options ask for it (no retry)."""
        return cancel_request(self.path, max_retries=0)

    def elapsed(self) -> float:
        """Seconds since the wait began."""
        return self.api.clock.monotonic() - self.started

    def record_poll(self, prediction: PredictionWithIO) -> None:
        """Record a poll's answer and fire the `on_poll` hook."""
        self.polls += 1
        self.last = prediction
        self.last_error = None
        self._failures = 0
        self._failing.reset()
        status = prediction["status"]
        if status != self._status:
            self._status, self._status_since = status, self.api.clock.monotonic()
        operation = self.operation
        if operation is not None:
            operations.saw(operation, prediction)
            operation.polls += 1
        if self.api.hooks.active:
            self.api.hooks.call(
                "predictions_on_poll",
                prediction=prediction,
                polls=self.polls,
                elapsed=self.elapsed(),
                operation=operation,
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
        return self.interval()

    def interval(self) -> float:
        """Seconds from the poll just made to the next (`early_polls` at first)."""
        interval = self.options.poll_interval
        if self.options.early_polls and 0 < self.polls <= len(EARLY_POLLS):
            return min(interval, EARLY_POLLS[self.polls - 1])
        return interval

    def back_off_after(self, exc: Exception) -> float:
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
        over = self._failing.failed(now)
        if over if self.deadline is None else now >= self.deadline:
            raise exc
        return retry_delay(exc, self._failures, self.api.clock, at_least_backoff=True)

    def wants_cancel(self, exc: BaseException) -> bool:
        """Whether ending with `exc` should ask the server to cancel."""
        if isinstance(exc, KeyboardInterrupt):
            return self.options.cancel_on_interrupt
        return self.options.cancel_on_timeout and isinstance(exc, WaitTimeoutError)

    def outcome(self) -> Tuple[Any, int, float]:
        """The prediction as last seen, the polls, the seconds taken."""
        return self.last, self.polls, self.elapsed()


def fire_on_create(
    api: API,
    prediction: Any,
    model: str,
    params: Mapping[str, Any],
    operation: Optional[Operation] = None,
) -> PredictionWithIO:
    """Fire `on_create` for a new prediction (a create's, or a batch row's); return it.

    Args:
        api: The API whose hooks to call.
        prediction: The new prediction.
        model: The model reference it was created with.
        params: The params the caller gave (shown to the hook read-only).
        operation: The create's operation, which learns of the prediction.
    """
    if api.hooks.active:
        operations.saw(operation, prediction)
        api.hooks.call(
            "predictions_on_create",
            prediction=prediction,
            model=model,
            params=MappingProxyType(dict(params)),
            operation=operation,
        )
    return cast(PredictionWithIO, prediction)


__all__ = [
    "fire_on_create",
    "EARLY_POLLS",
    "FailureWindow",
    "POLL_FAILURE_WINDOW",
    "RUN_LIMIT",
    "UNKNOWN_STATUS_LIMIT",
    "DeadlineReached",
    "Ending",
    "Waiting",
    "is_transient_poll_error",
]
