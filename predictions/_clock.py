"""Time and chance: the one object every part that waits asks, and sleeps with.

The client owns one `Clock` and hands it to the retry policy, the pacer, the
poll engine, streams and batches. A test fakes time by replacing that one
object (`Client(clock=...)`), so every wait in the client moves on the same
fake time, and pins the jitter of backoffs by overriding `random`.
"""

from __future__ import annotations

import random as _random
import time
from typing import Awaitable


class Clock:
    """Monotonic time, wall time, the sleeps that let them pass, and jitter.

    Subclass it to fake time: a fake `sleep` that advances a fake `monotonic`
    makes every wait of the client instant and exact; a fake `random` makes
    every backoff's jitter known.
    """

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (deadlines, intervals)."""
        return time.monotonic()

    def wall(self) -> float:
        """The Unix time in seconds (to read `x-ratelimit-reset` and the like)."""
        return time.time()

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for `seconds`."""
        time.sleep(seconds)

    def async_sleep(self, seconds: float) -> Awaitable[None]:
        """Sleep on the running event loop for `seconds`."""
        import asyncio  # a sync-only program never pays for it

        return asyncio.sleep(seconds)

    def random(self) -> float:
        """A float in [0, 1): the jitter of every backoff."""
        return _random.random()


SYSTEM_CLOCK = Clock()
"""The real time, shared by every client that was not given a clock."""


__all__ = ["SYSTEM_CLOCK", "Clock"]
