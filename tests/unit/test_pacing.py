"""The pacer: it learns the server's rate limit and spends it without drawing 429s."""

from __future__ import annotations

import asyncio
import time
from typing import Dict, List

import pytest
from requests.structures import CaseInsensitiveDict

from predictions._pacing import Pacer, bucket_of

WALL = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: List[float] = []

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return WALL + (self.now - 100.0)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def pacer(clock: Clock) -> Pacer:
    return Pacer(clock=clock.monotonic, wall=clock.wall, sleep=clock.sleep)


def headers(**values: str) -> CaseInsensitiveDict:  # type: ignore[type-arg]
    """Headers as requests gives them: names in any case."""
    return CaseInsensitiveDict({k.replace("_", "-"): v for k, v in values.items()})


def limits(remaining: int, reset_in: float, limit: int = 3) -> Dict[str, str]:
    return {
        "x-ratelimit-limit": str(limit),
        "x-ratelimit-remaining": str(remaining),
        "x-ratelimit-reset": str(WALL + reset_in),
    }


def test_one_request_at_a_time_until_the_first_answer(
    pacer: Pacer, clock: Clock
) -> None:
    assert pacer.reserve("read") == 0.0  # the probe
    assert pacer.reserve("read") > 0, "the others wait for its answer"
    assert pacer.reserve("create") == 0.0, "each bucket probes for itself"
    pacer.observe("read", 200, {})  # a server that announces no limit
    for _ in range(100):
        pacer.acquire("read")
    assert clock.sleeps == []


def test_a_probe_without_an_answer_lets_the_next_one_go(pacer: Pacer) -> None:
    assert pacer.reserve("read") == 0.0
    pacer.release("read")  # the request failed: no headers to learn from
    assert pacer.reserve("read") == 0.0


def test_the_remaining_budget_is_spent_then_the_reset_is_awaited(
    pacer: Pacer, clock: Clock
) -> None:
    pacer.observe("read", 200, limits(remaining=2, reset_in=1.0))
    pacer.acquire("read")
    pacer.acquire("read")
    assert clock.sleeps == []
    pacer.acquire("read")  # the third waits for the reset, when the bucket is full
    assert clock.sleeps == [1.0]
    pacer.acquire("read")
    pacer.acquire("read")
    assert clock.sleeps == [1.0], "after the reset the full limit is available"


def test_answers_in_flight_never_raise_the_count(pacer: Pacer, clock: Clock) -> None:
    pacer.observe("read", 200, limits(remaining=1, reset_in=2.0))
    pacer.acquire("read")
    pacer.observe("read", 200, limits(remaining=3, reset_in=2.0))  # an older answer
    pacer.acquire("read")
    assert clock.sleeps == [2.0]


def test_a_429_with_retry_after_blocks_every_caller_until_then(
    pacer: Pacer, clock: Clock
) -> None:
    pacer.observe(
        "read", 429, CaseInsensitiveDict({"Retry-After": "4", **limits(0, 10.0)})
    )
    pacer.acquire("read")
    assert clock.sleeps == [4.0]
    pacer.acquire("create")
    assert clock.sleeps == [4.0], "the other bucket is not blocked"


def test_a_429_without_headers_waits_for_the_known_reset(
    pacer: Pacer, clock: Clock
) -> None:
    pacer.observe("read", 200, limits(remaining=5, reset_in=3.0))
    pacer.observe("read", 429, {})
    pacer.acquire("read")
    assert clock.sleeps == [3.0]


@pytest.mark.parametrize(
    "headers",
    [
        {"x-ratelimit-remaining": "soon", "x-ratelimit-reset": "later"},
        {"x-ratelimit-remaining": "-3", "x-ratelimit-reset": "nan"},
        headers(Retry_After="garbage"),
    ],
)
def test_garbled_headers_are_ignored(
    pacer: Pacer, clock: Clock, headers: Dict[str, str]
) -> None:
    pacer.acquire("read")
    pacer.observe("read", 200, headers)
    for _ in range(10):
        pacer.acquire("read")
    assert clock.sleeps == []


def test_a_reset_a_day_away_waits_at_most_a_minute(pacer: Pacer, clock: Clock) -> None:
    pacer.observe("read", 200, limits(remaining=0, reset_in=86400))
    pacer.acquire("read")
    assert clock.sleeps == [60.0]


def test_no_wait_runs_past_the_deadline(pacer: Pacer, clock: Clock) -> None:
    pacer.observe("read", 200, limits(remaining=0, reset_in=30))
    pacer.acquire("read", deadline=clock.now + 2.5)
    assert clock.sleeps == [2.5]


def test_async_acquire_waits_on_the_event_loop() -> None:
    live = Pacer()  # the real clock: the reset must pass while the loop sleeps
    live.observe(
        "create", 200, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "0"}
    )
    live.observe("create", 429, headers(Retry_After="0.05"))
    started = time.monotonic()
    asyncio.run(live.async_acquire("create"))
    assert time.monotonic() - started >= 0.04
    assert live.waited > 0


def test_buckets() -> None:
    assert bucket_of("POST", "/models/o/n/predictions") == "create"
    assert bucket_of("POST", "/models/o/n/versions/2/predictions") == "create"
    assert bucket_of("POST", "/predictions") == "create"
    assert bucket_of("POST", "/predictions/p1/cancel") == "read"
    assert bucket_of("GET", "/predictions") == "read"


def test_one_refill_per_reset_even_before_answers_arrive(
    pacer: Pacer, clock: Clock
) -> None:
    pacer.observe("read", 200, limits(remaining=0, reset_in=1.0))
    for _ in range(3):  # waits for the reset, then the full limit of 3
        pacer.acquire("read")
    assert clock.sleeps == [1.0]
    pacer.acquire("read")  # no answer yet: the bucket is not refilled again at once
    assert clock.sleeps == [1.0, 1.0]
