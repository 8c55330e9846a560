"""The retry policy for requests, on tenacity, and the rate-limit headers.

One `Retrying` is made for every call (never shared), always with an explicit
stop. What is retried depends on the request:

- reads (GET) and cancel: connection errors, timeouts, 429 and 500/502/503/504,
  and successes whose body is cut off or not JSON;
- create (POST) in the default "safe" mode: only failures where the request
  certainly never reached the server, and 429 (the server refused it
  unseen); in "idempotent" mode, also timeouts, broken connections and 5xx,
  which is safe only where the server honours the `Idempotency-Key`.

A 429 waits as the server asks (`Retry-After`, else `x-ratelimit-reset`),
capped at `MAX_RATE_LIMIT_WAIT`; everything else backs off exponentially with
jitter. No sleep runs past the caller's deadline.
"""

from __future__ import annotations

import email.utils
import random
import time
from typing import Any, Callable, Dict, Mapping, Optional, TypeVar

import tenacity

from predictions.errors import (
    APIConnectionError,
    APIStatusError,
    InvalidResponseError,
    RateLimitError,
    WaitTimeoutError,
)
from predictions.types import TERMINAL_STATUSES

T = TypeVar("T")

RETRY_CREATE_MODES = ("safe", "idempotent")
"""The accepted values of `retry_create`."""

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
"""Statuses after which a read is sent again."""

BACKOFF_INITIAL = 0.5
"""The first backoff, in seconds; it doubles on each retry."""

BACKOFF_MAX = 8.0
"""The longest backoff, in seconds."""

MAX_RATE_LIMIT_WAIT = 60.0
"""The longest a 429 makes the client wait, whatever the server says."""

POLL_FAILURE_WINDOW = 300.0
"""With no deadline, how long polls may keep failing before a wait gives up."""


def check_max_retries(max_retries: object) -> None:
    """Refuse a retry limit that is not a whole number >= 0.

    Args:
        max_retries: The limit to check.

    Raises:
        TypeError: If it is not an int.
        ValueError: If it is negative.
    """
    if isinstance(max_retries, bool) or not isinstance(max_retries, int):
        raise TypeError(f"max_retries must be an int, not {max_retries!r}")
    if max_retries < 0:
        raise ValueError(f"max_retries must be at least 0, not {max_retries}")


def backoff(attempt: int, rand: Callable[[], float] = random.random) -> float:
    """Return the delay before retry number `attempt` (1-based), with jitter.

    The delay lies between half and all of `BACKOFF_INITIAL * 2**(attempt-1)`,
    capped at `BACKOFF_MAX`.

    Args:
        attempt: How many attempts have failed so far.
        rand: A source of floats in [0, 1), for tests.

    Returns:
        The delay in seconds.
    """
    ceiling = min(BACKOFF_MAX, BACKOFF_INITIAL * float(2 ** max(attempt - 1, 0)))
    return ceiling / 2 + rand() * ceiling / 2


def rate_limit_delay(
    headers: Mapping[str, str], now: Callable[[], float] = time.time
) -> Optional[float]:
    """Return how long a 429 asks the client to wait, or None if it does not say.

    `Retry-After` (seconds, or an HTTP date) wins over `x-ratelimit-reset`
    (a Unix time in seconds). Garbled or negative values count as not said;
    a time in the past means "now" (0). The result is capped at
    `MAX_RATE_LIMIT_WAIT`.

    Args:
        headers: The answer's headers (a case-insensitive mapping).
        now: The wall clock, for tests.

    Returns:
        The delay in seconds, or None.
    """
    delay = _retry_after(headers.get("retry-after"), now)
    if delay is None:
        delay = _reset_at(headers.get("x-ratelimit-reset"), now)
    if delay is None:
        return None
    return min(max(delay, 0.0), MAX_RATE_LIMIT_WAIT)


def _retry_after(value: Optional[str], now: Callable[[], float]) -> Optional[float]:
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:  # Python < 3.10 returns None for garbage
            return None
        return when.timestamp() - now()
    if seconds != seconds or seconds < 0:  # NaN or negative: not a usable answer
        return None
    return seconds


def _reset_at(value: Optional[str], now: Callable[[], float]) -> Optional[float]:
    if not value:
        return None
    try:
        reset = float(value.strip())
    except ValueError:
        return None
    if reset != reset or reset < 0:
        return None
    return reset - now()


def is_retryable(exc: BaseException, *, idempotent: bool) -> bool:
    """Tell whether a failed request may be sent again.

    Args:
        exc: What the attempt raised.
        idempotent: Whether sending the request twice does no harm (reads,
            cancel, and creates in "idempotent" mode).

    Returns:
        True if the policy allows another attempt.
    """
    safe_to_repeat = idempotent
    if isinstance(exc, InvalidResponseError):  # a cut-off body, or a proxy's page
        return safe_to_repeat
    if isinstance(exc, APIConnectionError):
        return safe_to_repeat or not exc.request_sent
    if isinstance(exc, APIStatusError):
        if exc.status_code == 429:
            return True
        return safe_to_repeat and exc.status_code in RETRYABLE_STATUSES
    return False


class RetryPolicy:
    """Runs one call's attempts under the retry policy.

    Args:
        max_retries: How many times a failed attempt may be repeated.
        sleep: The sleep function (injectable for tests).
        clock: A monotonic clock, for the deadline.
        rand: A source of floats in [0, 1) for jitter.
    """

    def __init__(
        self,
        max_retries: int,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.max_retries = max_retries
        self.sleep = sleep
        self.clock = clock
        self.rand = rand

    def call(
        self,
        attempt: Callable[[], T],
        *,
        idempotent: bool,
        max_retries: Optional[int] = None,
        deadline: Optional[float] = None,
        before_sleep: Optional[Callable[[int, float, BaseException], None]] = None,
    ) -> T:
        """Run `attempt` until it succeeds or the policy gives up.

        Args:
            attempt: Sends the request once; raises on failure.
            idempotent: Whether sending the request twice does no harm; if
                not, only failures where it never left and 429 are retried.
            max_retries: This call's limit, instead of the policy's.
            deadline: A `clock()` time that no sleep may run past.
            before_sleep: Called with (attempt number, delay, error) before
                each retry's sleep.

        Returns:
            What `attempt` returned.

        Raises:
            Exception: The last attempt's error, when the policy gives up.
        """
        limit = self.max_retries if max_retries is None else max_retries
        # tenacity asks `retry` before `wait`: the delay is chosen once, in
        # `retry`, so the deadline check and the sleep agree on the jitter.
        # (tenacity 8.0 passes `retry_state` by keyword: keep that name.)
        next_delay = [0.0]

        def retry(retry_state: tenacity.RetryCallState) -> bool:
            exc = retry_state.outcome.exception() if retry_state.outcome else None
            if exc is None or not is_retryable(exc, idempotent=idempotent):
                return False
            next_delay[0] = _retry_delay(exc, retry_state.attempt_number, self.rand)
            return deadline is None or self.clock() + next_delay[0] <= deadline

        def notify(retry_state: tenacity.RetryCallState) -> None:
            exc = retry_state.outcome.exception() if retry_state.outcome else None
            if before_sleep is not None and exc is not None:
                before_sleep(retry_state.attempt_number, next_delay[0], exc)

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(limit + 1),
            wait=lambda retry_state: next_delay[0],
            retry=retry,
            before_sleep=notify,
            sleep=self.sleep,
            reraise=True,
        )
        return retrying(attempt)


def _retry_delay(
    exc: BaseException, attempt_number: int, rand: Callable[[], float]
) -> float:
    if isinstance(exc, RateLimitError):
        asked = rate_limit_delay(exc.response.headers)
        if asked is not None:
            return asked
    return backoff(attempt_number, rand)


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
        self.deadline = None if timeout is None else clock() + timeout
        self.last_prediction: Optional[Mapping[str, Any]] = None
        self.timed_out = False
        self._failing_since: Optional[float] = None
        self._failures = 0

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
            return prediction.get("status") not in TERMINAL_STATUSES
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


__all__ = [
    "BACKOFF_INITIAL",
    "POLL_FAILURE_WINDOW",
    "PollLoop",
    "is_transient_poll_error",
    "BACKOFF_MAX",
    "MAX_RATE_LIMIT_WAIT",
    "RETRYABLE_STATUSES",
    "RETRY_CREATE_MODES",
    "RetryPolicy",
    "backoff",
    "check_max_retries",
    "is_retryable",
    "rate_limit_delay",
]
