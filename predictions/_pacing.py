"""Pacing: a client-side limiter that learns the server's rate limit.

Every answer carries `x-ratelimit-limit`, `x-ratelimit-remaining` and
`x-ratelimit-reset` (a Unix time); a 429 may carry `Retry-After`. The pacer
keeps, per bucket ("read" or "create"), how many requests the server will
still take before its reset, counts down as requests go out, and makes a
request that would overdraw the bucket wait for the reset instead of drawing
a 429. A 429 blocks the bucket until the time it names. All threads and
tasks of a client share one pacer, so a batch of waits spends one budget.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Dict, Mapping, Optional

from predictions._retry import MAX_RATE_LIMIT_WAIT, rate_limit_delay

MIN_PAUSE = 0.01
"""The shortest wait once a bucket is empty, in seconds (a reset just past)."""

RESET_GUESS = 1.0
"""Seconds to the next reset after a refill, until an answer names it."""


def bucket_of(method: str, path: str) -> str:
    """The rate-limit bucket a request draws from: "create" or "read"."""
    if method == "POST" and path.endswith("/predictions"):
        return "create"
    return "read"


class _Bucket:
    __slots__ = ("blocked_until", "learned", "limit", "probing", "reset_at", "tokens")

    def __init__(self) -> None:
        self.tokens: Optional[float] = None  # None: the server has not said
        self.limit: Optional[float] = None
        self.reset_at = 0.0
        self.blocked_until = 0.0
        self.learned = False  # an answer has come from this bucket
        self.probing = False  # the first request is out; the others wait for it


class Pacer:
    """Spaces one client's requests to fit the server's rate limits.

    Args:
        clock: A monotonic clock.
        wall: The Unix time, to read `x-ratelimit-reset`.
        sleep: The blocking sleep.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.clock = clock
        self.wall = wall
        self.sleep = sleep
        self._lock = threading.Lock()
        self._buckets: Dict[str, _Bucket] = {"read": _Bucket(), "create": _Bucket()}
        self.waited = 0.0
        """Seconds spent waiting for the limits, in all (for reports)."""

    def reserve(self, bucket: str) -> float:
        """Take a place in the bucket: 0 if the request may go now.

        Returns:
            0.0 when a token was taken; else the seconds to wait before
            asking again (no token was taken).
        """
        with self._lock:
            state = self._buckets[bucket]
            now = self.clock()
            if state.blocked_until > now:
                return state.blocked_until - now
            if not state.learned:
                # Until the first answer tells the limit, one request at a
                # time: a burst sent blind is how a batch draws its 429s.
                if state.probing:
                    return MIN_PAUSE
                state.probing = True
                return 0.0
            if state.tokens is None:
                return 0.0
            if state.tokens < 1 and now >= state.reset_at:
                # Past the reset the server's bucket is full again. Until an
                # answer names the next reset, assume the API's one-second
                # window: refilling again before then is how bursts draw 429s.
                state.tokens = state.limit if state.limit is not None else 1.0
                state.reset_at = now + RESET_GUESS
            if state.tokens >= 1:
                state.tokens -= 1
                return 0.0
            return max(state.reset_at - now, MIN_PAUSE)

    def acquire(self, bucket: str, deadline: Optional[float] = None) -> None:
        """Wait (blocking) until a request may go to the bucket, and take its place.

        Args:
            bucket: "read" or "create".
            deadline: A `clock()` time not to wait past: then the request goes
                anyway, and its answer (perhaps a 429) decides.
        """
        while True:
            delay = self._delay(bucket, deadline)
            if delay <= 0:
                return
            self.waited += delay
            self.sleep(delay)

    async def async_acquire(
        self, bucket: str, deadline: Optional[float] = None
    ) -> None:
        """Wait on the event loop until a request may go; see `acquire`."""
        import asyncio

        while True:
            delay = self._delay(bucket, deadline)
            if delay <= 0:
                return
            self.waited += delay
            await asyncio.sleep(delay)

    def _delay(self, bucket: str, deadline: Optional[float]) -> float:
        delay = self.reserve(bucket)
        if delay > 0 and deadline is not None:
            delay = min(delay, deadline - self.clock())
        return delay

    def observe(self, bucket: str, status: int, headers: Mapping[str, str]) -> None:
        """Learn from an answer's rate-limit headers (and a 429)."""
        remaining = _number(headers.get("x-ratelimit-remaining"))
        reset = _number(headers.get("x-ratelimit-reset"))
        limit = _number(headers.get("x-ratelimit-limit"))
        with self._lock:
            state = self._buckets[bucket]
            state.learned = True
            state.probing = False
            now = self.clock()
            if limit is not None:
                state.limit = limit
            if reset is not None:
                wait = min(max(reset - self.wall(), 0.0), MAX_RATE_LIMIT_WAIT)
                state.reset_at = now + wait
            # Requests counted down since this answer are not in its figure:
            # keep the lower of the two.
            if remaining is not None and (
                state.tokens is None or remaining < state.tokens
            ):
                state.tokens = remaining
            if status == 429:
                # The bucket is empty. When the server says when to come back,
                # everyone waits that long (the retry policy sleeps as much
                # before its own retry), then one request probes the bucket
                # again: a token bucket may hold just one token by then.
                # Otherwise the bucket refills at its reset.
                state.tokens = 0.0
                delay = rate_limit_delay(headers, self.wall)
                if delay is not None:
                    state.blocked_until = max(state.blocked_until, now + delay)
                    state.learned = False

    def release(self, bucket: str) -> None:
        """A request got no answer: let the next one probe the bucket."""
        with self._lock:
            self._buckets[bucket].probing = False


def _number(value: Optional[str]) -> Optional[float]:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    if number != number or number < 0:
        return None
    return number


__all__ = ["MIN_PAUSE", "Pacer", "bucket_of"]
