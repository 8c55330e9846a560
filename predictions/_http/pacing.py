"""Pacing: a client-side limiter that learns the server's rate limit.

Every answer carries `x-ratelimit-limit`, `x-ratelimit-remaining` and
`x-ratelimit-reset` (a Unix time); a 429 may carry `Retry-After`. The pacer
keeps, per bucket ("read" or "create"), how many requests the server will
still take before its reset, counts down as requests go out, and makes a
request that would overdraw the bucket wait for the reset instead of drawing
a 429. All threads and tasks of a client share one pacer, so a batch of waits
spends one budget. Each bucket's arithmetic is a `Bucket` (`bucket`); the
pacer is the lock around them, the slots in flight, and the waiting.

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

import threading
from typing import Dict, Mapping, Optional, Tuple

from predictions._clock import Clock
from predictions._http.bucket import SEND_ORDER, Bucket, Order
from predictions.errors import APITimeoutError


class Slot:
    """A request's place in a bucket, given back once (`observe` or `release`)."""

    __slots__ = ("bucket", "early", "order", "paced", "pacer", "sent_at", "settled")

    def __init__(
        self, pacer: Optional[Pacer], bucket: Optional[str], sent_at: float
    ) -> None:
        self.pacer = pacer
        self.bucket = bucket
        self.sent_at = sent_at
        # Which was sent first, even when two clock readings are the same
        # (a coarse monotonic clock ticks every 16 ms on some systems).
        self.order: Order = (sent_at, next(SEND_ORDER))
        self.early = False  # sent on a refill before the announced reset
        self.settled = pacer is None
        self.paced = 0.0
        """Seconds the request waited for its place (the client's clock)."""

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
        self._buckets: Dict[str, Bucket] = {"read": Bucket(), "create": Bucket()}
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

        Returns:
            The place, with the seconds it was waited for (`Slot.paced`).

        Raises:
            APITimeoutError: The wait would pass the deadline (nothing sent).
        """
        bucket = "read" if self.one_bucket else bucket
        began: Optional[float] = None  # read only once a wait begins
        while True:
            delay, slot = self._claim(bucket, deadline, held)
            if slot is not None:
                return _waited(slot, began)
            if began is None:
                began = self.clock.monotonic()
            self.clock.sleep(delay)

    async def async_take(
        self, bucket: str, deadline: Optional[float] = None, held: bool = False
    ) -> Slot:
        """Wait on the event loop until a request may go; see `take`."""
        bucket = "read" if self.one_bucket else bucket
        began: Optional[float] = None
        while True:
            delay, slot = self._claim(bucket, deadline, held)
            if slot is not None:
                return _waited(slot, began)
            if began is None:
                began = self.clock.monotonic()
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
            now = self.clock.monotonic()
            delay, early = state.take(now, held)
            if delay == 0:
                slot = Slot(self, bucket, now)
                slot.early = early
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
            held: The server will hold the request (see `Bucket.take`).

        Returns:
            0.0 when a place was taken; else the seconds to wait before
            asking again (no place was taken).
        """
        with self._lock:
            return self._buckets[bucket].reserve(self.clock.monotonic(), held)

    def _observe(self, slot: Slot, status: int, headers: Mapping[str, str]) -> None:
        wall = self.clock.wall()
        with self._lock:
            self._buckets[slot.bucket or "read"].observe(
                slot, status, headers, self.clock.monotonic(), wall
            )

    def _release(self, slot: Slot) -> None:
        with self._lock:
            self._buckets[slot.bucket or "read"].release(slot)


def _waited(slot: Slot, began: Optional[float]) -> Slot:
    """The slot, with the seconds waited for it since `began` (None: no wait)."""
    if began is not None:
        slot.paced = max(0.0, slot.sent_at - began)
    return slot


def free_slot(bucket: Optional[str]) -> Slot:
    """A slot of no pacer: for a client with pacing off, or an unpaced request."""
    return Slot(None, bucket, 0.0)


__all__ = ["Pacer", "Slot", "free_slot"]
