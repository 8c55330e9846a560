"""Pacing: a client-side limiter that learns the server's rate limit.

Every answer carries `x-ratelimit-limit`, `x-ratelimit-remaining` and
`x-ratelimit-reset` (a Unix time); a 429 may carry `Retry-After`. The pacer
keeps, per bucket ("read" or "create"), how many requests the server will
still take before its reset, counts down as requests go out, and makes a
request that would overdraw the bucket wait for the reset instead of drawing
a 429. All threads and tasks of a client share one pacer, so a batch of waits
spends one budget.

A request takes a `Slot` before it is sent and gives it back exactly once:
with the answer's headers (`Slot.observe`), or with nothing when no answer
came (`Slot.release`). Rules that no server can break:

- no header value makes a request wait past `MAX_RATE_LIMIT_WAIT` (60 s);
- a bucket refills as a token bucket does (the API allows short bursts): at
  the rate the newest answer implies, from `remaining` up to
  `x-ratelimit-limit` by `x-ratelimit-reset` (a whole second, rounded up, so
  the fill may be up to a second sooner), and never faster than the API's
  limits, `x-ratelimit-limit` a second; of that refill `REFILL_SHARE` is
  spent (the rest absorbs requests that arrive closer together than they
  were sent), less after each 429, then slowly more again; so an
  empty bucket is used as it refills, not only at its reset. A server that
  answers 429 to `WINDOW_429S` requests sent on such refills refills at its
  resets only (a fixed window): from then on, nothing is sent to its empty
  bucket before the reset it announced;
- an answer to an older request never moves a reset (answers can arrive out
  of order);
- until the first answer tells the limit, requests go at one a second (the
  lowest limit the API documents), so one slow first request (a create the
  server holds) keeps no one waiting for it;
- a wait that would pass the caller's deadline is not waited: the request is
  not sent, and `APITimeoutError(deadline_reached=True)` says why.
"""

from __future__ import annotations

import itertools
import threading
from typing import Dict, Mapping, Optional, Tuple

from predictions._clock import Clock
from predictions._http.retry import MAX_RATE_LIMIT_WAIT, rate_limit_delay
from predictions.errors import APITimeoutError

_SENT = itertools.count()
"""The order requests take their places in (`next()` on it is atomic)."""

MIN_PAUSE = 0.01
"""The shortest wait once a bucket is empty, in seconds (a reset just past)."""

RESET_GUESS = 1.0
"""Seconds to the next reset after a refill, until an answer names it."""

PROBE_INTERVAL = 1.0
"""Until a bucket's limit is known, one request goes per this many seconds."""

REFILL_SHARE = 0.95
"""The share of a bucket's refill that is spent: requests sent 1/rate apart may
arrive closer, and a bucket kept at exactly empty answers those with 429."""

OVERTAKE = 0.05
"""Seconds within which a request sent before another may reach the server after it."""

SHARE_CUT = 0.8
"""What a 429 leaves of the share of a bucket's refill that is spent."""

MIN_SHARE = 0.5
"""The least share of a bucket's refill that is spent."""

SHARE_REGAIN = 0.002
"""What each answer that is not a 429 gives back of the share (to REFILL_SHARE)."""

WINDOW_429S = 3
"""429s to requests sent on early refills that show a fixed-window server
(one may be a request that arrived sooner than it was sent)."""

PROBE_CHECK = 0.05
"""How often a request waiting for the first answer looks whether it came."""


class _Bucket:
    __slots__ = (
        "blocked_until",
        "early_429s",
        "filled_at",
        "flying",
        "held_probe_at",
        "learned",
        "limit",
        "newest",
        "observed_seq",
        "probe_at",
        "rate",
        "reset_at",
        "share",
        "tokens",
        "windowed",
    )

    def __init__(self) -> None:
        self.tokens: Optional[float] = None  # None: the server has not said
        self.limit: Optional[float] = None
        self.reset_at = 0.0
        self.blocked_until = 0.0
        self.learned = False  # an answer has told this bucket's state
        self.probe_at = float("-inf")  # when the last request went unlearned
        self.held_probe_at = float("-inf")  # the same, for held requests
        self.newest: Tuple[float, int] = (float("-inf"), -1)  # the newest answered
        self.flying: Dict[Slot, Tuple[float, int]] = {}  # sent, not answered
        self.filled_at = 0.0  # when `tokens` was last refilled (a token bucket)
        self.rate = 1.0  # tokens a second, as the newest answer implies
        self.windowed = False  # 429s showed the server refills at resets only
        self.early_429s = 0
        self.share = REFILL_SHARE  # of the refill, spent
        self.observed_seq = -1  # the order of sends when the newest answer came


class Slot:
    """A request's place in a bucket, given back once (`observe` or `release`)."""

    __slots__ = ("bucket", "early", "order", "pacer", "sent_at", "settled")

    def __init__(
        self, pacer: Optional[Pacer], bucket: Optional[str], sent_at: float
    ) -> None:
        self.pacer = pacer
        self.bucket = bucket
        self.sent_at = sent_at
        # Which was sent first, even when two clock readings are the same
        # (a coarse monotonic clock ticks every 16 ms on some systems).
        self.order = (sent_at, next(_SENT))
        self.early = False  # sent on a refill before the announced reset
        self.settled = pacer is None

    def observe(self, status: int, headers: Mapping[str, str]) -> None:
        """Give the place back with what the answer says of the limit."""
        if not self.settled:
            self.settled = True
            assert self.pacer is not None
            self.pacer._observe(self, status, headers)

    def release(self) -> None:
        """Give the place back with no answer (the request failed or never went)."""
        if not self.settled:
            self.settled = True
            assert self.pacer is not None
            self.pacer._release(self)


class Pacer:
    """Spaces one client's requests to fit the server's rate limits.

    Args:
        clock: The client's clock.
        one_bucket: Spend every request from one bucket: the API limits an
            unauthenticated client's requests together (1/s), creates too.
    """

    def __init__(self, clock: Clock, one_bucket: bool = False) -> None:
        self.clock = clock
        self.one_bucket = one_bucket
        self._lock = threading.Lock()
        self._buckets: Dict[str, _Bucket] = {"read": _Bucket(), "create": _Bucket()}
        self.waited = 0.0
        """Seconds spent waiting for the limits, in all (for reports)."""

    def after_fork(self) -> None:
        """In a forked child: a new lock (the parent's may have been held).

        The parent's requests in flight are not the child's: it never settles
        them, so they are forgotten.
        """
        self._lock = threading.Lock()
        for state in self._buckets.values():
            state.flying = {}

    def take(
        self, bucket: str, deadline: Optional[float] = None, held: bool = False
    ) -> Slot:
        """Wait (blocking) until a request may go to the bucket; take its place.

        Args:
            bucket: "read" or "create".
            deadline: A clock time the wait may not pass.
            held: The server will hold the request (its answer comes late).

        Raises:
            APITimeoutError: The wait would pass the deadline (nothing sent).
        """
        bucket = "read" if self.one_bucket else bucket
        while True:
            delay, slot = self._claim(bucket, deadline, held)
            if slot is not None:
                return slot
            self.clock.sleep(delay)

    async def async_take(
        self, bucket: str, deadline: Optional[float] = None, held: bool = False
    ) -> Slot:
        """Wait on the event loop until a request may go; see `take`."""
        bucket = "read" if self.one_bucket else bucket
        while True:
            delay, slot = self._claim(bucket, deadline, held)
            if slot is not None:
                return slot
            await self.clock.async_sleep(delay)

    def _claim(
        self, bucket: str, deadline: Optional[float], held: bool
    ) -> Tuple[float, Optional[Slot]]:
        """Take a place and its slot, or tell the seconds to wait before asking again.

        The slot counts as in flight from the moment its place is taken (under
        the same lock): an answer read meanwhile cannot miss it.
        """
        with self._lock:
            state = self._buckets[bucket]
            early = state.tokens is not None and state.tokens < 1
            delay = self._reserve(bucket, held)
            if delay == 0:
                slot = Slot(self, bucket, self.clock.monotonic())
                slot.early = early and slot.sent_at < state.reset_at
                state.flying[slot] = slot.order
                return 0.0, slot
        if deadline is not None:
            left = deadline - self.clock.monotonic()
            if delay > left:
                raise APITimeoutError(
                    f"the {bucket} rate limit allows the next request in "
                    f"{delay:.3g} s, past the deadline; it was not sent",
                    request_sent=False,
                    deadline_reached=True,
                )
        self.waited += delay
        return delay, None

    def reserve(self, bucket: str, held: bool = False) -> float:
        """Take a place in the bucket if one is free.

        Args:
            bucket: "read" or "create".
            held: The server will hold the request: until the limit is known,
                held requests probe on a clock of their own, so that a slow
                one never makes the quick ones wait for its answer.

        Returns:
            0.0 when a place was taken; else the seconds to wait before
            asking again (no place was taken).
        """
        with self._lock:
            return self._reserve(bucket, held)

    def _reserve(self, bucket: str, held: bool) -> float:
        """`reserve`'s body; the lock is held."""
        state = self._buckets[bucket]
        now = self.clock.monotonic()
        if state.blocked_until > now:
            return state.blocked_until - now
        if not state.learned:
            # A burst sent blind is how a batch draws its 429s; waiting
            # for the first answer would hold everyone behind one slow
            # request. One a second is the lowest limit the API has.
            last = state.held_probe_at if held else state.probe_at
            wait = last + PROBE_INTERVAL - now
            if wait > 0:
                return min(wait, PROBE_CHECK)
            if held:
                state.held_probe_at = now
            else:
                state.probe_at = now
            return 0.0
        if state.tokens is None:
            return 0.0
        limit = _capacity(state)
        if not state.windowed:
            # A token bucket: tokens come back at its rate, up to its limit.
            rate = _refill(state, now)
            if state.tokens >= 1 - 1e-9:  # a sleep of (1 - tokens) / rate is enough
                state.tokens = max(state.tokens - 1, 0.0)
                return 0.0
            wait = (1 - state.tokens) / rate
            return min(max(wait, MIN_PAUSE), MAX_RATE_LIMIT_WAIT)
        if state.tokens < 1 and now >= state.reset_at:
            # Past the reset the server's bucket is full again. Until an
            # answer names the next reset, assume the API's one-second
            # window: refilling again before then is how bursts draw 429s.
            state.tokens = limit
            state.reset_at = now + RESET_GUESS
        if state.tokens >= 1:
            state.tokens -= 1
            return 0.0
        return max(state.reset_at - now, MIN_PAUSE)

    def _observe(self, slot: Slot, status: int, headers: Mapping[str, str]) -> None:
        remaining = _number(headers.get("x-ratelimit-remaining"))
        reset = _number(headers.get("x-ratelimit-reset"))
        limit = _number(headers.get("x-ratelimit-limit"))
        with self._lock:
            state = self._buckets[slot.bucket or "read"]
            now = self.clock.monotonic()
            fresh = slot.order > state.newest
            if fresh:
                state.newest = slot.order
            state.learned = True
            if fresh and limit is not None:
                state.limit = limit
            if remaining is not None and state.limit is not None:
                remaining = min(remaining, state.limit)  # never more than it holds
            if status != 429:
                state.share = min(state.share + SHARE_REGAIN, REFILL_SHARE)
            if fresh and reset is not None:
                until = min(max(reset - self.clock.wall(), 0.0), MAX_RATE_LIMIT_WAIT)
                state.reset_at = now + until
                state.rate = _refill_rate(state.limit, remaining, until)
            state.flying.pop(slot, None)
            if not state.windowed and state.tokens is not None:
                # What the bucket regained since last counted, before this
                # answer caps it (else an answer would drop that refill).
                _refill(state, now)
            if remaining is not None and fresh:
                # The newest answer's figure, less the requests in flight that
                # it may not count: those sent after it, and those sent just
                # before (under load a request can overtake another), not
                # those sent long before (held creates the server counted).
                since = slot.sent_at - OVERTAKE
                pending = sum(1 for o in state.flying.values() if o[0] >= since)
                value = remaining - pending
                if not state.windowed:
                    # The figure is from when the request arrived (a held
                    # create answers long after): the bucket refilled since.
                    credit = (now - slot.sent_at) * _spent_rate(state)
                    value = min(value + credit, _capacity(state))
                value = max(value, 0.0)
                if slot.order[1] > state.observed_seq or state.tokens is None:
                    state.tokens = value
                else:
                    # Sent before the last answer came: the server may have
                    # counted it before requests it counted after (answers
                    # reordered), so its figure may be high: it never raises
                    # the count, only caps it (at what it allows: `remaining`
                    # is a whole number, the bucket held up to one more).
                    state.tokens = min(state.tokens, value + 1)
                state.filled_at = now
                state.observed_seq = next(_SENT)  # what is sent from now on is after
            elif remaining is not None and (
                state.tokens is None or remaining < state.tokens
            ):
                # An older answer's figure is older still: keep the lower.
                state.tokens = remaining
            if status == 429:
                # Requests arrive closer together than they were sent: spend
                # less of the refill from now on (it comes back slowly).
                state.share = max(state.share * SHARE_CUT, MIN_SHARE)
                # The bucket is empty. When the server says when to come back,
                # everyone waits that long (the retry policy sleeps as much
                # before its own retry), then one request probes the bucket
                # again: a token bucket may hold just one token by then.
                # Otherwise the bucket refills at its reset.
                state.tokens = 0.0
                state.filled_at = now
                if slot.early:  # refilled too soon: does it refill at resets?
                    state.early_429s += 1
                    state.windowed = state.early_429s >= WINDOW_429S
                delay = rate_limit_delay(headers, self.clock.wall)
                if delay is None:  # no word of when: until the reset known
                    state.blocked_until = max(state.blocked_until, state.reset_at)
                else:
                    state.blocked_until = max(state.blocked_until, now + delay)
                    state.learned = False
                    state.probe_at = float("-inf")
            elif slot.early:
                state.early_429s = 0  # an early request that went through

    def _release(self, slot: Slot) -> None:
        with self._lock:
            state = self._buckets[slot.bucket or "read"]
            state.flying.pop(slot, None)
            if not state.learned:
                state.probe_at = float("-inf")  # no answer: the next may probe


def _capacity(state: _Bucket) -> float:
    """The most a bucket holds: its limit (at least one)."""
    return max(state.limit or 1.0, 1.0)


def _refill(state: _Bucket, now: float) -> float:
    """Count what a token bucket regained since last counted; its rate as spent.

    The lock is held and `state.tokens` is known.
    """
    rate = _spent_rate(state)
    assert state.tokens is not None
    state.tokens = min(_capacity(state), state.tokens + (now - state.filled_at) * rate)
    state.filled_at = now
    return rate


def _spent_rate(state: _Bucket) -> float:
    """Tokens a second the pacer spends of a bucket's refill.

    At least one a minute: no header makes a wait longer.
    """
    return max(state.rate * state.share, 1.0 / MAX_RATE_LIMIT_WAIT)


def _refill_rate(
    limit: Optional[float], remaining: Optional[float], until: float
) -> float:
    """Tokens a second a token bucket regains, from one answer's headers.

    It holds `remaining` of `limit` now and is full by `until` seconds, a
    reset rounded up to a whole second: full up to a second sooner, so the
    rate may be up to that much higher; never more than `limit` a second.
    """
    limit = max(limit or 1.0, 1.0)
    top = limit / RESET_GUESS
    if remaining is None or remaining >= limit:
        return top
    return min(top, (limit - remaining) / max(until - 1.0, 1e-3))


def free_slot(bucket: Optional[str]) -> Slot:
    """A slot of no pacer: for a client with pacing off, or an unpaced request."""
    return Slot(None, bucket, 0.0)


def _number(value: Optional[str]) -> Optional[float]:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    if number != number or number < 0 or number == float("inf"):
        return None
    return number


__all__ = [
    "MIN_PAUSE",
    "PROBE_INTERVAL",
    "REFILL_SHARE",
    "WINDOW_429S",
    "Pacer",
    "Slot",
    "free_slot",
]
