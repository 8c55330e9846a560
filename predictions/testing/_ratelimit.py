"""Rate limits: two token buckets (reads, creates) and the `x-ratelimit-*` headers."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

UNLIMITED = 1000
"""What `x-ratelimit-limit` and `-remaining` say when limits are off."""


@dataclass(frozen=True)
class RateLimit:
    """Rate limits to enforce; `LocalServer(rate_limit=RateLimit())` turns them on.

    Creates (both create routes) draw from one bucket, every other request
    (get, list, cancel, unknown routes) from the other. Each bucket holds
    `burst` tokens (default: its rate rounded up, at least 1), starts full,
    and refills at its rate. The buckets are per server, not per token.

    Attributes:
        reads_per_second: Refill rate of the reads bucket (the API: 3).
        creates_per_second: Refill rate of the creates bucket (the API: 15).
        burst: Capacity of each bucket; None for the rate rounded up.
    """

    reads_per_second: float = 3.0
    creates_per_second: float = 15.0
    burst: Optional[int] = None

    def __post_init__(self) -> None:
        """Reject rates and bursts that cannot work."""
        for rate in (self.reads_per_second, self.creates_per_second):
            # Not NaN (no comparison holds), not infinite (no bucket size).
            if not (math.isfinite(rate) and rate > 0):
                raise ValueError(f"rates must be positive finite numbers, not {rate}")
        if self.burst is not None and self.burst < 1:
            raise ValueError("burst must be at least 1")

    @classmethod
    def parse(cls, spec: str) -> RateLimit:
        """Read the command line's form, e.g. `reads=3,creates=15,burst=5`.

        Args:
            spec: Comma-separated `key=value` pairs; keys `reads`, `creates`,
                `burst`, each optional.

        Returns:
            The rate limit.

        Raises:
            ValueError: An unknown key or a bad number.
        """
        values: Dict[str, str] = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            key, eq, value = part.partition("=")
            if not eq or key.strip() not in ("reads", "creates", "burst"):
                raise ValueError(
                    f"bad rate limit {part!r}: use reads=N,creates=N,burst=N"
                )
            values[key.strip()] = value.strip()
        default = cls()
        try:
            reads = float(values.get("reads", default.reads_per_second))
            creates = float(values.get("creates", default.creates_per_second))
            burst = int(values["burst"]) if "burst" in values else None
        except ValueError:
            raise ValueError(f"bad rate limit {spec!r}: not a number") from None
        return cls(reads_per_second=reads, creates_per_second=creates, burst=burst)


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
        self._buckets: Dict[str, _Bucket] = {}
        self.reset()

    def reset(self) -> None:
        """Fill the buckets again."""
        with self._lock:
            self._buckets.clear()
            if self.limit is not None:
                now = self._clock()
                for kind, rate in (
                    ("read", self.limit.reads_per_second),
                    ("create", self.limit.creates_per_second),
                ):
                    capacity = self.limit.burst or max(1, math.ceil(rate))
                    self._buckets[kind] = _Bucket(rate, capacity, now)

    def take(self, kind: str) -> Tuple[bool, Dict[str, str]]:
        """Spend a token from a bucket, if there is one.

        Args:
            kind: `"create"` or `"read"`.

        Returns:
            `(allowed, headers)`; when not allowed the headers include
            `Retry-After` (whole seconds, at least 1).
        """
        return self._apply(kind, spend=True)

    def headers(self, kind: str) -> Dict[str, str]:
        """The `x-ratelimit-*` headers for an answer that spent no token."""
        return self._apply(kind, spend=False)[1]

    def _apply(self, kind: str, spend: bool) -> Tuple[bool, Dict[str, str]]:
        bucket = self._buckets.get(kind)
        if bucket is None:
            return True, {
                "x-ratelimit-limit": str(UNLIMITED),
                "x-ratelimit-remaining": str(UNLIMITED),
                "x-ratelimit-reset": str(math.ceil(self._wall())),
            }
        with self._lock:
            bucket.refill(self._clock())
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
        if spend and not allowed:
            headers["Retry-After"] = str(max(1, math.ceil((1 - tokens) / bucket.rate)))
        return allowed, headers
