"""Rate limits: token buckets per access token, and the `x-ratelimit-*` headers."""

from __future__ import annotations

import collections
import math
import threading
import time
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

UNLIMITED = 1000
"""What `x-ratelimit-limit` and `-remaining` say when limits are off."""

MAX_BUCKETS = 10000
"""Buckets kept at most; the least recently used go first (they refill)."""

_Key = Tuple[Optional[str], str]


@dataclass(frozen=True)
class RateLimit:
    """Rate limits to enforce; `LocalServer(rate_limit=RateLimit())` turns them on.

    The defaults are the hosted API's (its reference's rate limits). Each access
    token has two buckets: creates (both create routes) draw from one, every
    other request (get, list, cancel, unknown routes) from the other.
    Requests without a token all share one bucket, creates included (ours:
    the reference gives the unauthenticated rate, not how creates count in it).
    Each bucket holds `burst` tokens (default: its rate rounded up, at
    least 1), starts full, and refills at its rate.

    Attributes:
        reads_per_second: Refill rate of a token's reads bucket (the API: 3).
        creates_per_second: Refill rate of a token's creates bucket (the API: 15).
        burst: Capacity of each bucket; None for the rate rounded up.
        anonymous_per_second: Refill rate of the bucket shared by requests
            without a token (the API: 1).
        retry_after: Add `Retry-After` (whole seconds) to a 429, as a proxy
            might; the hosted API sends none.
    """

    reads_per_second: float = 3.0
    creates_per_second: float = 15.0
    burst: Optional[int] = None
    anonymous_per_second: float = 1.0
    retry_after: bool = False

    def __post_init__(self) -> None:
        """Reject rates and bursts that cannot work."""
        for rate in (
            self.reads_per_second,
            self.creates_per_second,
            self.anonymous_per_second,
        ):
            # Not NaN (no comparison holds), not infinite (no bucket size).
            if not (math.isfinite(rate) and rate > 0):
                raise ValueError(f"rates must be positive finite numbers, not {rate}")
        if self.burst is not None and self.burst < 1:
            raise ValueError("burst must be at least 1")

    def rate(self, kind: str) -> float:
        """The refill rate of a bucket: `"read"`, `"create"` or `"anonymous"`."""
        if kind == "create":
            return self.creates_per_second
        if kind == "anonymous":
            return self.anonymous_per_second
        return self.reads_per_second

    @classmethod
    def parse(cls, spec: str) -> RateLimit:
        """Read the command line's form, e.g. `reads=3,creates=15,burst=5`.

        Args:
            spec: Comma-separated `key=value` pairs, each optional: `reads`,
                `creates`, `anonymous` (rates), `burst` (an integer) and
                `retry_after` (0 or 1).

        Returns:
            The rate limit.

        Raises:
            ValueError: An unknown key or a bad number.
        """
        keys = ("reads", "creates", "anonymous", "burst", "retry_after")
        values: Dict[str, str] = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            key, eq, value = part.partition("=")
            if not eq or key.strip() not in keys:
                raise ValueError(
                    f"bad rate limit {part!r}: use reads=N,creates=N,anonymous=N,"
                    "burst=N,retry_after=0|1"
                )
            values[key.strip()] = value.strip()
        default = cls()
        try:
            reads = float(values.get("reads", default.reads_per_second))
            creates = float(values.get("creates", default.creates_per_second))
            anonymous = float(values.get("anonymous", default.anonymous_per_second))
            burst = int(values["burst"]) if "burst" in values else None
        except ValueError:
            raise ValueError(f"bad rate limit {spec!r}: not a number") from None
        retry_after = values.get("retry_after", "0")
        if retry_after not in ("0", "1"):
            raise ValueError(f"bad rate limit {spec!r}: retry_after is 0 or 1")
        return cls(
            reads_per_second=reads,
            creates_per_second=creates,
            burst=burst,
            anonymous_per_second=anonymous,
            retry_after=retry_after == "1",
        )


class _Bucket:
    def __init__(self, rate: float, capacity: int, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = float(capacity)
        self.stamp = now

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now


class RateLimiter:
    """Applies a `RateLimit` (or none) and gives the headers for each answer."""

    def __init__(
        self,
        limit: Optional[RateLimit],
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        """Create a limiter.

        Args:
            limit: What to enforce; None enforces nothing.
            clock: Monotonic seconds, for the buckets (injectable for tests).
            wall: Unix seconds, for `x-ratelimit-reset`.
        """
        self.limit = limit
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()
        self._buckets: collections.OrderedDict[_Key, _Bucket] = (
            collections.OrderedDict()
        )

    def reset(self) -> None:
        """Fill every bucket again."""
        with self._lock:
            self._buckets.clear()

    def take(
        self, kind: str, token: Optional[str] = None
    ) -> Tuple[bool, Dict[str, str]]:
        """Spend a token from the caller's bucket, if limits are on.

        Args:
            kind: `"create"` or `"read"`.
            token: The caller's access token; None for an unauthenticated one.

        Returns:
            `(allowed, headers)`; when not allowed and the limit asks for it,
            the headers include `Retry-After` (whole seconds, at least 1).
        """
        return self._apply(kind, token, spend=True)

    def headers(self, kind: str, token: Optional[str] = None) -> Dict[str, str]:
        """The `x-ratelimit-*` headers for an answer that spent no token."""
        return self._apply(kind, token, spend=False)[1]

    def _apply(
        self, kind: str, token: Optional[str], spend: bool
    ) -> Tuple[bool, Dict[str, str]]:
        limit = self.limit
        if limit is None:
            return True, {
                "x-ratelimit-limit": str(UNLIMITED),
                "x-ratelimit-remaining": str(UNLIMITED),
                "x-ratelimit-reset": str(math.ceil(self._wall())),
            }
        key: _Key = (token, kind) if token else (None, "anonymous")
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(key)
            if bucket is None:
                rate = limit.rate(key[1])
                capacity = limit.burst or max(1, math.ceil(rate))
                bucket = self._buckets[key] = _Bucket(rate, capacity, now)
                while len(self._buckets) > MAX_BUCKETS:
                    self._buckets.popitem(last=False)
            else:
                self._buckets.move_to_end(key)
            bucket.refill(now)
            allowed = bucket.tokens >= 1
            if spend and allowed:
                bucket.tokens -= 1
            tokens = bucket.tokens
        until_full = (bucket.capacity - tokens) / bucket.rate
        headers = {
            "x-ratelimit-limit": str(bucket.capacity),
            "x-ratelimit-remaining": str(int(tokens)),
            "x-ratelimit-reset": str(math.ceil(self._wall() + until_full)),
        }
        if spend and not allowed and limit.retry_after:
            headers["Retry-After"] = str(max(1, math.ceil((1 - tokens) / bucket.rate)))
        return allowed, headers
