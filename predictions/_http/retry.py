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
from typing import TYPE_CHECKING, Callable, List, Mapping, Optional, TypeVar

from predictions._clock import Clock
from predictions.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    InvalidResponseError,
    RateLimitError,
    ResponseTooLargeError,
)

if TYPE_CHECKING:
    import tenacity

T = TypeVar("T")

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
"""Statuses after which a read is sent again."""

BACKOFF_INITIAL = 0.5
"""The first backoff, in seconds; it doubles on each retry."""

BACKOFF_MAX = 8.0
"""The longest backoff, in seconds."""

MAX_RATE_LIMIT_WAIT = 60.0
"""The longest a 429 makes the client wait, whatever the server says."""


def backoff(attempt: int, rand: Callable[[], float]) -> float:
    """Return the delay before retry number `attempt` (1-based), with jitter.

    The delay lies between half and all of `BACKOFF_INITIAL * 2**(attempt-1)`,
    capped at `BACKOFF_MAX`.

    Args:
        attempt: How many attempts have failed so far.
        rand: A source of floats in [0, 1) (the clock's `random`).

    Returns:
        The delay in seconds.
    """
    # The exponent is capped: 2.0 ** 1024 overflows, and a wait through a long
    # outage counts thousands of failures.
    doublings = min(max(attempt - 1, 0), 32)
    ceiling = min(BACKOFF_MAX, BACKOFF_INITIAL * 2.0**doublings)
    return ceiling / 2 + rand() * ceiling / 2


def rate_limit_delay(
    headers: Mapping[str, str], now: Callable[[], float]
) -> Optional[float]:
    """Return how long a 429 asks the client to wait, or None if it does not say.

    `Retry-After` (seconds, or an HTTP date) wins over `x-ratelimit-reset`
    (a Unix time in seconds). Garbled or negative values count as not said;
    a time in the past means "now" (0). The result is capped at
    `MAX_RATE_LIMIT_WAIT`.

    Args:
        headers: The answer's headers (a case-insensitive mapping).
        now: The wall clock (the client's `Clock.wall`).

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
    seconds = header_number(value)
    if seconds is not None:
        return seconds
    try:  # a number refused above (NaN, negative, infinite) is no date either
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:  # Python < 3.10 returns None for garbage
        return None
    return when.timestamp() - now()


def _reset_at(value: Optional[str], now: Callable[[], float]) -> Optional[float]:
    reset = header_number(value)
    return None if reset is None else reset - now()


def header_number(value: Optional[str]) -> Optional[float]:
    """Read a header's number: a non-negative finite one, else None.

    Absent, garbled, negative, NaN and infinite values (`1e400` too) all
    count as not said: no header value may steer a wait or a count past
    what a number can mean.
    """
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    if number != number or number < 0 or number == float("inf"):
        return None
    return number


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
    if isinstance(exc, ResponseTooLargeError):  # it would be as large again
        return False
    if isinstance(exc, InvalidResponseError):  # a cut-off body, or a proxy's page
        return safe_to_repeat
    if isinstance(exc, APITimeoutError) and exc.deadline_reached:
        return False
    if made_nothing(exc):
        return True
    if isinstance(exc, APIConnectionError):
        return safe_to_repeat
    if isinstance(exc, APIStatusError):
        return safe_to_repeat and exc.status_code in RETRYABLE_STATUSES
    return False


def made_nothing(exc: BaseException) -> bool:
    """Tell whether a failed request surely did nothing on the server.

    It was never sent (the connection failed first), or it was refused with
    429 before any work: sending it again cannot do a thing twice.
    """
    if isinstance(exc, APIConnectionError):
        return not exc.request_sent
    return isinstance(exc, APIStatusError) and exc.status_code == 429


def retry_delay(
    exc: BaseException,
    attempt_number: int,
    clock: Clock,
    *,
    at_least_backoff: bool = False,
) -> float:
    """The delay before trying again after `exc`: what a 429 asks, else the backoff.

    Args:
        exc: What the failed attempt raised.
        attempt_number: How many attempts have failed so far.
        clock: The jitter (`random`) and the Unix time (`wall`, to read
            `x-ratelimit-reset`).
        at_least_backoff: Never less than the backoff, whatever a 429 says (a
            "Retry-After: 0" must not turn a long wait into a tight loop).

    Returns:
        The delay in seconds.
    """
    delay = backoff(attempt_number, clock.random)
    if isinstance(exc, RateLimitError):
        asked = rate_limit_delay(exc.response.headers, clock.wall)
        if asked is not None:
            return max(asked, delay) if at_least_backoff else asked
    return delay


class RetryPolicy:
    """Runs one call's attempts under the retry policy.

    Args:
        max_retries: How many times a failed attempt may be repeated.
        clock: The client's clock: the deadline, the sleeps and the jitter.
    """

    def __init__(self, max_retries: int, *, clock: Clock) -> None:
        self.max_retries = max_retries
        self.clock = clock

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
        # Most calls succeed at once: the first attempt runs before any
        # tenacity machinery is built, and a new Retrying takes over only after
        # a failure the policy would retry (replayed to it as attempt 1).
        try:
            return attempt()
        except Exception as exc:
            if limit == 0 or not is_retryable(exc, idempotent=idempotent):
                raise
            first_failure: List[BaseException] = [exc]

        import tenacity  # only a failed first attempt needs it

        def replay_then_attempt() -> T:
            if first_failure:
                raise first_failure.pop()
            return attempt()

        # tenacity asks `retry` before `wait`: the delay is chosen once, in
        # `retry`, so the deadline check and the sleep agree on the jitter.
        # (tenacity 8.0 passes `retry_state` by keyword: keep that name.)
        next_delay = [0.0]

        def retry(retry_state: tenacity.RetryCallState) -> bool:
            exc = retry_state.outcome.exception() if retry_state.outcome else None
            if exc is None or not is_retryable(exc, idempotent=idempotent):
                return False
            next_delay[0] = retry_delay(exc, retry_state.attempt_number, self.clock)
            return (
                deadline is None or self.clock.monotonic() + next_delay[0] <= deadline
            )

        def notify(retry_state: tenacity.RetryCallState) -> None:
            exc = retry_state.outcome.exception() if retry_state.outcome else None
            if before_sleep is not None and exc is not None:
                before_sleep(retry_state.attempt_number, next_delay[0], exc)

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(limit + 1),
            wait=lambda retry_state: next_delay[0],
            retry=retry,
            before_sleep=notify,
            sleep=self.clock.sleep,
            reraise=True,
        )
        return retrying(replay_then_attempt)


__all__ = [
    "BACKOFF_INITIAL",
    "BACKOFF_MAX",
    "MAX_RATE_LIMIT_WAIT",
    "RETRYABLE_STATUSES",
    "RetryPolicy",
    "backoff",
    "header_number",
    "retry_delay",
    "is_retryable",
    "rate_limit_delay",
]
