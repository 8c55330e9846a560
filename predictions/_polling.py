"""Waiting for a prediction: the poll policy (on tenacity) and the wait itself.

`PollLoop` is one wait's policy: when to poll again, how long to sleep, when
to stop. `Waiter` runs one wait, sync or async: it polls, fires the plugin
hooks and the caller's `on_poll`, and on the way out asks the server to
cancel when the options say so, then fires `on_terminal` exactly once.
"""

from __future__ import annotations

import inspect
import logging
import random
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, Mapping, Optional, cast

from predictions._api import API
from predictions._resource import prediction_path
from predictions._retry import RETRYABLE_STATUSES, backoff, rate_limit_delay
from predictions._wait_options import BaseWaitOptions, is_terminal
from predictions.errors import (
    APIConnectionError,
    APIStatusError,
    InvalidResponseError,
    PredictionsError,
    RateLimitError,
    WaitTimeoutError,
)
from predictions.types import PredictionWithIO

if TYPE_CHECKING:
    import tenacity

logger = logging.getLogger("predictions")

POLL_FAILURE_WINDOW = 300.0
"""With no deadline, how long polls may keep failing before a wait gives up."""


def is_transient_poll_error(exc: BaseException) -> bool:
    """Tell whether a failed poll should be tried again by the wait loop.

    Connection errors, timeouts, broken answers, 429 and 5xx are transient;
    every other status (401, 403, 404 above all) is permanent.

    Args:
        exc: What the poll raised, after its own retries.

    Returns:
        True if the wait should keep polling.
    """
    if isinstance(exc, (APIConnectionError, InvalidResponseError)):
        return True
    return isinstance(exc, APIStatusError) and exc.status_code in RETRYABLE_STATUSES


class PollLoop:
    """The poll policy of one wait: tenacity's stop, wait and retry, and the end.

    The same loop drives the sync wait (`tenacity.Retrying`) and the async one
    (`tenacity.AsyncRetrying`). Each attempt polls once and returns the
    prediction, or raises what the poll raised.

    - A terminal status ends the wait with that prediction.
    - Any other status (unknown ones included) polls again after
      `poll_interval`.
    - A transient error polls again after a backoff, until the deadline or,
      with no deadline, until polls have failed for `POLL_FAILURE_WINDOW`
      seconds in a row; then the error is raised. Permanent errors are
      raised at once.
    - At the deadline, `WaitTimeoutError` is raised with the last prediction
      seen, unless the last poll failed: then its error is raised. The last
      sleep is cut to the time left, so the last poll falls on the deadline.

    Args:
        prediction_id: The prediction waited on, for messages.
        poll_interval: Seconds between polls.
        timeout: Seconds until the deadline, or None for none.
        clock: A monotonic clock.
        rand: A source of floats in [0, 1) for jitter.
    """

    def __init__(
        self,
        prediction_id: str,
        poll_interval: float,
        timeout: Optional[float],
        *,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.prediction_id = prediction_id
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.clock = clock
        self.rand = rand
        self.started = clock()
        self.deadline = None if timeout is None else self.started + timeout
        self.polls = 0
        self.last_prediction: Optional[Mapping[str, Any]] = None
        self.timed_out = False
        self._failing_since: Optional[float] = None
        self._failures = 0

    def elapsed(self) -> float:
        """Seconds since the wait began."""
        return self.clock() - self.started

    def time_left(self) -> Optional[float]:
        """Seconds until the deadline (never negative), or None with no deadline."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - self.clock())

    def retry(self, retry_state: tenacity.RetryCallState) -> bool:
        """Tell tenacity whether to poll again after this attempt."""
        outcome = retry_state.outcome
        if outcome is None:
            return False
        if not outcome.failed:
            prediction = outcome.result()
            self.last_prediction = prediction
            self._failing_since = None
            self._failures = 0
            return not is_terminal(prediction)
        exc = outcome.exception()
        if exc is None or not is_transient_poll_error(exc):
            return False
        now = self.clock()
        if self._failing_since is None:
            self._failing_since = now
        self._failures += 1
        if self.deadline is None:
            return now - self._failing_since < POLL_FAILURE_WINDOW
        return True

    def stop(self, retry_state: tenacity.RetryCallState) -> bool:
        """Tell tenacity that the deadline has come."""
        self.timed_out = self.deadline is not None and self.clock() >= self.deadline
        return self.timed_out

    def wait(self, retry_state: tenacity.RetryCallState) -> float:
        """Seconds until the next poll, cut to the time left."""
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None and outcome.failed else None
        if exc is not None:
            # At least the backoff: a "Retry-After: 0" (or a date in the past)
            # must not turn a long wait into a tight loop of requests.
            delay = backoff(self._failures, self.rand)
            if isinstance(exc, RateLimitError):
                delay = max(delay, rate_limit_delay(exc.response.headers) or 0.0)
        else:
            delay = self.poll_interval
        left = self.time_left()
        return delay if left is None else min(delay, left)

    def give_up(self, retry_state: tenacity.RetryCallState) -> Any:
        """At the deadline: raise the last poll's error, or `WaitTimeoutError`."""
        outcome = retry_state.outcome
        if outcome is not None and outcome.failed:
            exc = outcome.exception()
            if exc is not None:
                raise exc
        status = (self.last_prediction or {}).get("status", "unknown")
        raise WaitTimeoutError(
            f"prediction {self.prediction_id} did not finish within {self.timeout} s "
            f"(last status: {status})",
            prediction=self.last_prediction,  # type: ignore[arg-type]
        )

    def options(self) -> Dict[str, Any]:
        """The keyword arguments of a tenacity `Retrying` for this loop."""
        return {
            "stop": self.stop,
            "wait": self.wait,
            "retry": self.retry,
            "retry_error_callback": self.give_up,
            "reraise": True,
        }


class Waiter:
    """Runs one wait on a prediction, sync (`run`) or async (`run_async`).

    Args:
        api: The API that sends the polls.
        prediction_id: The prediction to wait on (already checked).
        options: The wait's options (already checked).
    """

    def __init__(
        self, api: API, prediction_id: str, options: BaseWaitOptions[Any]
    ) -> None:
        self.api = api
        self.prediction_id = prediction_id
        self.options = options
        self.path = prediction_path(prediction_id)
        self.loop = PollLoop(
            prediction_id, options.poll_interval, options.timeout, clock=api.clock
        )

    def run(self) -> PredictionWithIO:
        """Poll until the prediction finishes; see `Predictions.wait`."""

        def poll() -> PredictionWithIO:
            prediction = self.api.request(
                "GET", self.path, expect_object=True, deadline=self.loop.deadline
            )
            polled = self._polled(prediction)
            if self.options.on_poll is not None:
                self.options.on_poll(polled)
            return polled

        import tenacity

        retrying = tenacity.Retrying(sleep=self.api.sleep, **self.loop.options())
        try:
            result: PredictionWithIO = retrying(poll)
        except BaseException as exc:
            if self._wants_cancel(exc):
                self._cancel_quietly()
            self._ended(None, exc)
            raise
        self._ended(result, None)
        return result

    async def run_async(self) -> PredictionWithIO:
        """Poll until the prediction finishes; see `Predictions.async_wait`."""

        async def poll() -> PredictionWithIO:
            prediction = await self.api.async_request(
                "GET", self.path, expect_object=True, deadline=self.loop.deadline
            )
            polled = self._polled(prediction)
            if self.options.on_poll is not None:
                awaitable = self.options.on_poll(polled)
                if inspect.isawaitable(awaitable):
                    await awaitable
            return polled

        import tenacity

        retrying = tenacity.AsyncRetrying(
            sleep=self.api.async_sleep, **self.loop.options()
        )
        try:
            result: PredictionWithIO = await retrying(poll)
        except BaseException as exc:
            if self._wants_cancel(exc):
                if isinstance(exc, KeyboardInterrupt):  # the loop may be going down
                    self._cancel_quietly()
                else:
                    await self._async_cancel_quietly()
            self._ended(None, exc)
            raise
        self._ended(result, None)
        return result

    def _polled(self, prediction: Any) -> PredictionWithIO:
        self.loop.polls += 1
        self.api.hooks.call(
            "predictions_on_poll",
            prediction=prediction,
            polls=self.loop.polls,
            elapsed=self.loop.elapsed(),
        )
        return cast(PredictionWithIO, prediction)

    def _ended(self, prediction: Any, error: Optional[BaseException]) -> None:
        self.api.hooks.call(
            "predictions_on_terminal",
            prediction=prediction if error is None else self.loop.last_prediction,
            error=error,
            polls=self.loop.polls,
            elapsed=self.loop.elapsed(),
        )

    def _wants_cancel(self, exc: BaseException) -> bool:
        if isinstance(exc, KeyboardInterrupt):
            return self.options.cancel_on_interrupt
        return (
            isinstance(exc, Exception)
            and self.loop.timed_out
            and self.options.cancel_on_timeout
        )

    def _cancel_quietly(self) -> None:
        """Ask for a cancel on the way out of a wait; a failure is only logged."""
        try:
            self.api.request(
                "POST", self.path + "/cancel", idempotent=True, max_retries=0
            )
        except PredictionsError as exc:
            logger.warning(
                "could not cancel prediction %s: %s", self.prediction_id, exc
            )

    async def _async_cancel_quietly(self) -> None:
        try:
            await self.api.async_request(
                "POST", self.path + "/cancel", idempotent=True, max_retries=0
            )
        except PredictionsError as exc:
            logger.warning(
                "could not cancel prediction %s: %s", self.prediction_id, exc
            )


__all__ = [
    "POLL_FAILURE_WINDOW",
    "PollLoop",
    "Waiter",
    "is_transient_poll_error",
]
