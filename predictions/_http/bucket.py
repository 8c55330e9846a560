"""The arithmetic of one rate-limit bucket, as the answers' headers tell it.

A `Bucket` mirrors one of the server's buckets ("read" or "create"): how many
requests it will still take, how fast it refills, when it resets, and
whether it refills only at its resets (a fixed window). It is pure: it holds
no lock and reads no clock; the pacer (`pacing`) holds the lock, reads the
clock, gives it the times, and does the waiting.

The rules it keeps (the pacer's docstring says why):

- no header value makes a request wait past `MAX_RATE_LIMIT_WAIT`;
- it refills as a token bucket, at the rate the newest answer implies (never
  faster than `x-ratelimit-limit` a second), of which `share` is spent;
  after `WINDOW_429S` 429s to requests sent on early refills, it refills at
  its resets only;
- an answer to an older request never moves a reset;
- until an answer tells its state, one request goes a `PROBE_INTERVAL`.
"""

from __future__ import annotations

import itertools
from typing import Dict, Mapping, Optional, Protocol, Tuple

from predictions._http.retry import (
    MAX_RATE_LIMIT_WAIT,
    header_number,
    rate_limit_delay,
)

SEND_ORDER = itertools.count()
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

Order = Tuple[float, int]
"""When a request was sent, and its place in `SEND_ORDER` (ties broken)."""


class Sent(Protocol):
    """A request sent to a bucket, as its answer is counted (the pacer's slot)."""

    sent_at: float
    order: Order
    early: bool


class Bucket:
    """One bucket's state and arithmetic; every time is given (`now`, `wall`).

    Attributes:
        tokens: Requests the server will still take, as counted here; None
            until an answer says.
        limit: The bucket's `x-ratelimit-limit`, once said.
        reset_at: When (monotonic) the bucket is full again, as last said.
        blocked_until: No request goes before this (after a 429).
        learned: An answer has told this bucket's state.
        flying: The requests in flight (sent, not answered), with their order.
        rate: Tokens a second the bucket regains, as the newest answer implies.
        share: The share of the refill that is spent.
        windowed: 429s showed the server refills at resets only.
    """

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
        self.tokens: Optional[float] = None
        self.limit: Optional[float] = None
        self.reset_at = 0.0
        self.blocked_until = 0.0
        self.learned = False
        self.probe_at = float("-inf")  # when the last request went unlearned
        self.held_probe_at = float("-inf")  # the same, for held requests
        self.newest: Order = (float("-inf"), -1)  # the newest answered
        self.flying: Dict[Sent, Order] = {}
        self.filled_at = 0.0  # when `tokens` was last refilled
        self.rate = 1.0
        self.windowed = False
        self.early_429s = 0
        self.share = REFILL_SHARE
        self.observed_seq = -1  # the order of sends when the newest answer came

    def take(self, now: float, held: bool) -> Tuple[float, bool]:
        """Take a token if one is free; say whether it is an early one.

        Args:
            now: The monotonic time.
            held: The server will hold the request: until the limit is known,
                held requests probe on a clock of their own, so that a slow
                one never makes the quick ones wait for its answer.

        Returns:
            (0.0, early) when a token was taken, early when the bucket was
            empty and refilled before the announced reset; else (the seconds
            to wait before asking again, False), and none was taken.
        """
        refilled = self.tokens is not None and self.tokens < 1
        if self.blocked_until > now:
            return self.blocked_until - now, False
        if not self.learned:
            # A burst sent blind is how a batch draws its 429s; waiting
            # for the first answer would hold everyone behind one slow
            # request. One a second is the lowest limit the API has.
            last = self.held_probe_at if held else self.probe_at
            wait = last + PROBE_INTERVAL - now
            if wait > 0:
                return min(wait, PROBE_CHECK), False
            if held:
                self.held_probe_at = now
            else:
                self.probe_at = now
            return 0.0, refilled and now < self.reset_at
        if self.tokens is None:
            return 0.0, False
        if not self.windowed:
            # A token bucket: tokens come back at its rate, up to its limit.
            rate = self._refill(now)
            if self.tokens >= 1 - 1e-9:  # a sleep of (1 - tokens) / rate is enough
                self.tokens = max(self.tokens - 1, 0.0)
                return 0.0, refilled and now < self.reset_at
            wait = (1 - self.tokens) / rate
            return min(max(wait, MIN_PAUSE), MAX_RATE_LIMIT_WAIT), False
        if self.tokens < 1 and now >= self.reset_at:
            # Past the reset the server's bucket is full again. Until an
            # answer names the next reset, assume the API's one-second
            # window: refilling again before then is how bursts draw 429s.
            self.tokens = self._capacity()
            self.reset_at = now + RESET_GUESS
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0, refilled and now < self.reset_at
        return max(self.reset_at - now, MIN_PAUSE), False

    def reserve(self, now: float, held: bool) -> float:
        """Take a token if one is free (`take`); the seconds to wait, or 0.0."""
        return self.take(now, held)[0]

    def observe(
        self,
        sent: Sent,
        status: int,
        headers: Mapping[str, str],
        now: float,
        wall: float,
    ) -> None:
        """Count what the answer to a request says of the bucket; it lands.

        Args:
            sent: The request answered.
            status: The answer's status.
            headers: The answer's headers (a case-insensitive mapping).
            now: The monotonic time.
            wall: The Unix time (to read `x-ratelimit-reset`).
        """
        remaining = header_number(headers.get("x-ratelimit-remaining"))
        reset = header_number(headers.get("x-ratelimit-reset"))
        limit = header_number(headers.get("x-ratelimit-limit"))
        fresh = sent.order > self.newest
        if fresh:
            self.newest = sent.order
        self.learned = True
        if fresh and limit is not None:
            self.limit = limit
        if remaining is not None and self.limit is not None:
            remaining = min(remaining, self.limit)  # never more than it holds
        if status != 429:
            self.share = min(self.share + SHARE_REGAIN, REFILL_SHARE)
        if fresh and reset is not None:
            until = min(max(reset - wall, 0.0), MAX_RATE_LIMIT_WAIT)
            self.reset_at = now + until
            self.rate = refill_rate(self.limit, remaining, until)
        self.flying.pop(sent, None)
        if not self.windowed and self.tokens is not None:
            # What the bucket regained since last counted, before this
            # answer caps it (else an answer would drop that refill).
            self._refill(now)
        if remaining is not None and fresh:
            # The newest answer's figure, less the requests in flight that
            # it may not count: those sent after it, and those sent just
            # before (under load a request can overtake another), not
            # those sent long before (held creates the server counted).
            since = sent.sent_at - OVERTAKE
            pending = sum(1 for o in self.flying.values() if o[0] >= since)
            value = remaining - pending
            if not self.windowed:
                # The figure is from when the request arrived (a held
                # create answers long after): the bucket refilled since.
                credit = (now - sent.sent_at) * self._spent_rate()
                value = min(value + credit, self._capacity())
            value = max(value, 0.0)
            if sent.order[1] > self.observed_seq or self.tokens is None:
                self.tokens = value
            else:
                # Sent before the last answer came: the server may have
                # counted it before requests it counted after (answers
                # reordered), so its figure may be high: it never raises
                # the count, only caps it (at what it allows: `remaining`
                # is a whole number, the bucket held up to one more).
                self.tokens = min(self.tokens, value + 1)
            self.filled_at = now
            self.observed_seq = next(SEND_ORDER)  # what is sent from now on is after
        elif remaining is not None and (self.tokens is None or remaining < self.tokens):
            # An older answer's figure is older still: keep the lower.
            self.tokens = remaining
        if status == 429:
            self._refuse(sent, headers, now, wall)
        elif sent.early:
            self.early_429s = 0  # an early request that went through

    def _refuse(
        self, sent: Sent, headers: Mapping[str, str], now: float, wall: float
    ) -> None:
        """Count a 429: the bucket is empty."""
        # Requests arrive closer together than they were sent: spend less
        # of the refill from now on (it comes back slowly).
        self.share = max(self.share * SHARE_CUT, MIN_SHARE)
        # When the server says when to come back, everyone waits that long
        # (the retry policy sleeps as much before its own retry), then one
        # request probes the bucket again: a token bucket may hold just one
        # token by then. Otherwise the bucket refills at its reset.
        self.tokens = 0.0
        self.filled_at = now
        if sent.early:  # refilled too soon: does it refill at resets?
            self.early_429s += 1
            self.windowed = self.early_429s >= WINDOW_429S
        delay = rate_limit_delay(headers, lambda: wall)
        if delay is None:  # no word of when: until the reset known
            self.blocked_until = max(self.blocked_until, self.reset_at)
        else:
            self.blocked_until = max(self.blocked_until, now + delay)
            self.learned = False
            self.probe_at = float("-inf")

    def release(self, sent: Sent) -> None:
        """Forget a request in flight that got no answer."""
        self.flying.pop(sent, None)
        if not self.learned:
            self.probe_at = float("-inf")  # no answer: the next may probe

    def _capacity(self) -> float:
        """The most the bucket holds: its limit (at least one)."""
        return max(self.limit or 1.0, 1.0)

    def _refill(self, now: float) -> float:
        """Count what the token bucket regained since last counted; its rate as spent.

        `tokens` is known.
        """
        rate = self._spent_rate()
        assert self.tokens is not None
        self.tokens = min(self._capacity(), self.tokens + (now - self.filled_at) * rate)
        self.filled_at = now
        return rate

    def _spent_rate(self) -> float:
        """Tokens a second spent of the bucket's refill.

        At least one a minute: no header makes a wait longer.
        """
        return max(self.rate * self.share, 1.0 / MAX_RATE_LIMIT_WAIT)


def refill_rate(
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


__all__ = [
    "MIN_PAUSE",
    "MIN_SHARE",
    "OVERTAKE",
    "PROBE_CHECK",
    "PROBE_INTERVAL",
    "REFILL_SHARE",
    "RESET_GUESS",
    "SEND_ORDER",
    "SHARE_CUT",
    "SHARE_REGAIN",
    "WINDOW_429S",
    "Bucket",
    "Order",
    "Sent",
    "refill_rate",
]
