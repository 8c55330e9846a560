"""The pacer: it learns the server's rate limit and spends it without drawing 429s."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Dict, Mapping

import pytest
from requests.structures import CaseInsensitiveDict

from predictions._clock import SYSTEM_CLOCK
from predictions._http.bucket import (
    PROBE_INTERVAL,
    REFILL_SHARE,
    WINDOW_429S,
    Bucket,
    refill_rate,
)
from predictions._http.pacing import Pacer, Slot
from predictions._http.retry import header_number
from predictions._requests import (
    cancel_request,
    create_request,
    get_request,
    list_request,
    prediction_path,
)
from predictions.errors import APITimeoutError
from tests.conftest import FakeClock

WALL = FakeClock.WALL_OFFSET + 1000.0  # the fake clock's wall time at its start

TOKEN = 1 / (3 * REFILL_SHARE)
"""Seconds a token of a 3-a-second bucket takes to come back, as spent."""


@pytest.fixture
def pacer(clock: FakeClock) -> Pacer:
    return Pacer(clock)


def headers(**values: str) -> CaseInsensitiveDict:  # type: ignore[type-arg]
    """Headers as requests gives them: names in any case."""
    return CaseInsensitiveDict({k.replace("_", "-"): v for k, v in values.items()})


def limits(remaining: Any, reset_in: float, limit: Any = 3) -> Dict[str, str]:
    """The rate-limit headers of an answer (the values as given: a lie too)."""
    return {
        "x-ratelimit-limit": str(limit),
        "x-ratelimit-remaining": str(remaining),
        "x-ratelimit-reset": str(WALL + reset_in),
    }


def answer(
    pacer: Pacer, bucket: str, status: int, values: Mapping[str, str], sent_at: float
) -> None:
    """An answer to a request of the bucket sent at `sent_at`."""
    Slot(pacer, bucket, sent_at).observe(status, values)


def test_one_request_a_second_until_the_first_answer(
    pacer: Pacer, clock: FakeClock
) -> None:
    first = pacer.take("read")  # the probe
    assert 0 < pacer.reserve("read") <= PROBE_INTERVAL, (
        "the next waits a second at most"
    )
    assert pacer.reserve("create") == 0.0, "each bucket probes for itself"
    first.observe(200, {})  # a server that announces no limit
    for _ in range(100):
        pacer.take("read")
    assert clock.sleeps == []


def test_a_slow_first_request_holds_the_others_one_second_at_most(
    pacer: Pacer, clock: FakeClock
) -> None:
    """A create the server holds for a minute must not hold every create (issue 11)."""
    pacer.take("create")  # out, and its answer is a minute away
    for _ in range(5):
        pacer.take("create")
    assert sum(clock.sleeps) == pytest.approx(5 * PROBE_INTERVAL)


def test_the_first_answer_lets_the_waiting_requests_go_at_once(
    pacer: Pacer, clock: FakeClock
) -> None:
    probe = pacer.take("read")
    assert pacer.reserve("read") <= 0.05, "a waiting request looks again soon"
    probe.observe(200, limits(remaining=10, reset_in=1.0))
    assert pacer.reserve("read") == 0.0


def test_a_probe_without_an_answer_lets_the_next_one_go(pacer: Pacer) -> None:
    pacer.take("read").release()  # the request failed: no headers to learn from
    assert pacer.reserve("read") == 0.0


def test_the_remaining_budget_is_spent_then_tokens_come_back_at_the_limit(
    pacer: Pacer, clock: FakeClock
) -> None:
    """A token bucket (the API allows short bursts): 3 a second come back."""
    answer(pacer, "read", 200, limits(remaining=2, reset_in=1.0), clock.now)
    pacer.take("read")
    pacer.take("read")
    assert clock.sleeps == []
    pacer.take("read")  # the third waits for one token: a third of a second
    pacer.take("read")
    assert clock.sleeps == pytest.approx([TOKEN, TOKEN])
    clock.now += 5  # idle: the bucket fills up to its limit, no further
    for _ in range(3):
        pacer.take("read")
    assert len(clock.sleeps) == 2
    pacer.take("read")
    assert clock.sleeps[2] == pytest.approx(TOKEN)


def test_a_fixed_window_is_learned_from_a_429_and_its_resets_awaited(
    pacer: Pacer, clock: FakeClock
) -> None:
    """A server whose bucket refills at its resets only answers 429 to requests
    sent on refills before them: from then on the pacer waits for the
    announced reset, as for any fixed window, and spends the full limit then."""
    for _ in range(WINDOW_429S):
        answer(pacer, "read", 200, limits(remaining=0, reset_in=10.0), clock.now)
        early = pacer.take("read")  # a token bucket would have one by now
        early.observe(429, limits(remaining=0, reset_in=0.0))
    assert pacer._buckets["read"].windowed
    clock.sleeps.clear()
    elapsed = clock.now - 1000.0  # `limits` counts from the clock's start
    answer(pacer, "read", 200, limits(remaining=0, reset_in=elapsed + 1.0), clock.now)
    for _ in range(3):  # the reset, then all 3 at once
        pacer.take("read")
    assert clock.sleeps == pytest.approx([1.0])
    pacer.take("read")  # no answer yet: the bucket is not refilled again at once
    assert clock.sleeps[1:] == pytest.approx([1.0])


def test_one_early_429_is_not_taken_for_a_fixed_window(
    pacer: Pacer, clock: FakeClock
) -> None:
    """A request may arrive sooner after the one before than it was sent."""
    answer(pacer, "read", 200, limits(remaining=0, reset_in=10.0), clock.now)
    pacer.take("read").observe(429, limits(remaining=0, reset_in=0.0))
    assert not pacer._buckets["read"].windowed


def test_answers_in_flight_never_raise_the_count(
    pacer: Pacer, clock: FakeClock
) -> None:
    answer(pacer, "read", 200, limits(remaining=1, reset_in=2.0), clock.now)
    pacer.take("read")
    answer(pacer, "read", 200, limits(remaining=3, reset_in=2.0), clock.now - 1)
    pacer.take("read")  # the older 3 did not count: a token at 2 a second
    assert clock.sleeps == pytest.approx([0.5 / REFILL_SHARE])


def test_a_429_with_retry_after_blocks_every_caller_until_then(
    pacer: Pacer, clock: FakeClock
) -> None:
    retry_after = CaseInsensitiveDict({"Retry-After": "4", **limits(0, 10.0)})
    answer(pacer, "read", 429, retry_after, clock.now)
    pacer.take("read")
    assert clock.sleeps == [4.0]
    pacer.take("create")
    assert clock.sleeps == [4.0], "the other bucket is not blocked"


def test_a_429_without_headers_waits_for_the_known_reset(
    pacer: Pacer, clock: FakeClock
) -> None:
    answer(pacer, "read", 200, limits(remaining=5, reset_in=3.0), clock.now)
    answer(pacer, "read", 429, {}, clock.now)
    pacer.take("read")
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
    pacer: Pacer, clock: FakeClock, headers: Dict[str, str]
) -> None:
    pacer.take("read")
    answer(pacer, "read", 200, headers, clock.now)
    for _ in range(10):
        pacer.take("read")
    assert clock.sleeps == []


def test_a_reset_a_day_away_waits_at_most_a_minute(
    pacer: Pacer, clock: FakeClock
) -> None:
    answer(pacer, "read", 200, limits(remaining=0, reset_in=86400), clock.now)
    pacer.take("read")
    assert len(clock.sleeps) == 1
    assert clock.sleeps[0] <= 60.0


def test_a_wait_past_the_deadline_sends_nothing(pacer: Pacer, clock: FakeClock) -> None:
    """A request that may only go after its deadline is not sent (issue 11: a
    wait with a short deadline ended in RateLimitError instead of a timeout)."""
    answer(pacer, "read", 200, limits(remaining=0, reset_in=30), clock.now)
    with pytest.raises(APITimeoutError) as info:
        pacer.take("read", deadline=clock.now + 2.5)
    assert info.value.deadline_reached
    assert not info.value.request_sent
    assert clock.sleeps == []


def test_async_take_waits_on_the_event_loop() -> None:
    live = Pacer(SYSTEM_CLOCK)  # the real clock: the reset must pass while it sleeps
    answer(live, "create", 200, limits(remaining=0, reset_in=-1e9), 0.0)
    answer(live, "create", 429, headers(Retry_After="0.05"), time.monotonic())
    started = time.monotonic()
    asyncio.run(live.async_take("create"))
    assert time.monotonic() - started >= 0.04
    assert live.waited > 0


def test_buckets() -> None:
    """Creates draw from the create bucket; reads and cancels from the read one."""
    assert (
        create_request({"input": 1}, "o/n", idempotent=False, max_retries=None).bucket
        == "create"
    )
    assert (
        create_request({"input": 1}, "o/n:2", idempotent=False, max_retries=None).bucket
        == "create"
    )
    assert cancel_request(prediction_path("p1"), None).bucket == "read"
    assert get_request(prediction_path("p1")).bucket == "read"
    assert list_request(None, None).bucket == "read"


def test_a_limit_of_zero_never_blocks_past_the_cap(
    pacer: Pacer, clock: FakeClock
) -> None:
    """`x-ratelimit-limit: 0` once blocked every later request forever (issue 11)."""
    answer(pacer, "read", 200, limits(remaining=0, reset_in=1.0, limit=0), clock.now)
    for _ in range(5):
        pacer.take("read")
    assert sum(clock.sleeps) <= 60.0 * 5
    assert all(s <= 60.0 for s in clock.sleeps)


@pytest.mark.parametrize(
    "values",
    [
        {
            "x-ratelimit-limit": "0",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": "inf",
        },
        {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1e308"},
        {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(WALL + 10**9)},
        {"retry-after": "1e12", "x-ratelimit-remaining": "0"},
    ],
)
def test_no_header_value_makes_a_request_wait_past_the_cap(
    pacer: Pacer, clock: FakeClock, values: Dict[str, str]
) -> None:
    answer(
        pacer,
        "read",
        429,
        headers(**{k.replace("-", "_"): v for k, v in values.items()}),
        clock.now,
    )
    pacer.take("read")
    pacer.take("read")
    assert clock.sleeps
    assert all(s <= 60.0 for s in clock.sleeps)


def test_an_older_answer_never_brings_the_reset_forward(
    pacer: Pacer, clock: FakeClock
) -> None:
    """Answers arrive out of order: the one to an older request told of the
    previous window; trusting its reset sent a read before the announced one,
    and a fixed-window server answered 429 (issue 11)."""
    fixed_window(pacer, clock)
    sent_first = clock.now
    clock.now += 0.5
    answer(pacer, "read", 200, limits(remaining=0, reset_in=2.0), clock.now)
    answer(pacer, "read", 200, limits(remaining=0, reset_in=0.5), sent_first)
    pacer.take("read")
    assert clock.sleeps == [2.0 - 0.5]


def test_one_refill_per_reset_even_before_answers_arrive(
    pacer: Pacer, clock: FakeClock
) -> None:
    fixed_window(pacer, clock)
    answer(pacer, "read", 200, limits(remaining=0, reset_in=1.0), clock.now)
    for _ in range(3):  # waits for the reset, then the full limit of 3
        pacer.take("read")
    assert clock.sleeps == [1.0]
    pacer.take("read")  # no answer yet: the bucket is not refilled again at once
    assert clock.sleeps == [1.0, 1.0]


def fixed_window(pacer: Pacer, clock: FakeClock) -> None:
    """The read bucket refills at its resets only, as the pacer learns from a
    429 to a request sent on an early refill (see the test of that)."""
    pacer._buckets["read"].windowed = True


def test_an_anonymous_client_spends_one_bucket(clock: FakeClock) -> None:
    """Unauthenticated, the API limits every request together (1/s)."""
    pacer = Pacer(clock, one_bucket=True)
    answer(pacer, "read", 200, limits(remaining=1, reset_in=1.0, limit=1), clock.now)
    pacer.take("create")
    pacer.take("read")  # the create took the last token: this waits for one
    assert clock.sleeps == pytest.approx([1 / REFILL_SHARE])


def test_a_held_request_does_not_make_the_quick_ones_wait(
    pacer: Pacer, clock: FakeClock
) -> None:
    """A held create (its answer a minute away) is no probe for the others:
    the next quick request probes at once and teaches the limit."""
    pacer.take("create", held=True)
    probe = pacer.take("create")
    assert clock.sleeps == []
    probe.observe(200, limits(remaining=10, reset_in=1.0, limit=15))
    for _ in range(5):
        pacer.take("create", held=True)
    assert clock.sleeps == []


def test_a_bucket_that_refills_as_it_goes_is_used_before_its_reset(
    pacer: Pacer, clock: FakeClock
) -> None:
    """A token bucket (the local server's; its reset is a whole second, rounded
    up) tells of its refill in `remaining`: the pacer kept the lowest figure
    and waited for the reset; a batch of creates ran at 0.55x the limit."""
    sent_first = clock.now
    clock.now += 0.5
    answer(
        pacer, "create", 200, limits(remaining=0, reset_in=2.0, limit=15), sent_first
    )
    # The answer to a request sent after that answer came: 6 tokens came back.
    clock.now += 0.01
    answer(pacer, "create", 200, limits(remaining=6, reset_in=1.5, limit=15), clock.now)
    for _ in range(6):
        pacer.take("create")
    assert clock.sleeps == []
    pacer.take("create")  # the seventh waits
    assert clock.sleeps


def test_requests_sent_after_an_answer_are_not_in_its_remaining(
    pacer: Pacer, clock: FakeClock
) -> None:
    answer(pacer, "create", 200, limits(remaining=9, reset_in=1.0, limit=15), clock.now)
    probe_sent = clock.now
    clock.now += 0.1
    later = [pacer.take("create") for _ in range(4)]  # the server has not seen them
    answer(
        pacer,
        "create",
        200,
        limits(remaining=6, reset_in=1.0, limit=15),
        probe_sent + 0.05,
    )
    for _ in range(2):  # 6 - 4 in flight
        pacer.take("create")
    assert clock.sleeps == []
    pacer.take("create")  # the third waits for the reset
    assert clock.sleeps
    for slot in later:
        slot.release()


def test_a_request_sent_before_an_answered_one_may_not_be_counted_in_it(
    pacer: Pacer, clock: FakeClock
) -> None:
    """Under load a request can overtake one sent before it: the answer to the
    second does not count the first, still in flight. Both are kept out."""
    answer(pacer, "read", 200, limits(remaining=3, reset_in=1.0, limit=3), clock.now)
    first = pacer.take("read")
    second = pacer.take("read")
    second.observe(200, limits(remaining=2, reset_in=1.0, limit=3))  # not `first`
    pacer.take("read")  # 2 - 1 in flight: one goes
    assert clock.sleeps == []
    pacer.take("read")  # the next waits for a token
    assert clock.sleeps
    first.release()


def test_each_429_spends_less_of_the_refill_then_it_comes_back(
    pacer: Pacer, clock: FakeClock
) -> None:
    from predictions._http.bucket import MIN_SHARE, SHARE_CUT

    answer(pacer, "read", 200, limits(remaining=0, reset_in=1.0), clock.now)
    state = pacer._buckets["read"]
    pacer.take("read").observe(429, {})
    assert state.share == pytest.approx(REFILL_SHARE * SHARE_CUT)
    for _ in range(20):
        pacer.take("read").observe(429, {})
    assert state.share == MIN_SHARE
    for _ in range(1000):
        answer(pacer, "read", 200, {}, clock.now)
    assert state.share == pytest.approx(REFILL_SHARE)


# ------------------------------------------------ the bucket's arithmetic, alone


def sent(at: float, early: bool = False) -> Slot:
    """A request sent at `at`, as a bucket counts it (a slot of no pacer)."""
    slot = Slot(None, "read", at)
    slot.early = early
    return slot


def test_header_numbers_are_non_negative_and_finite_or_not_said() -> None:
    assert header_number("3") == 3.0
    assert header_number(" 2.5 ") == 2.5
    assert header_number("0") == 0.0
    for garbled in (None, "", "x", "-1", "nan", "inf", "1e400", "-inf"):
        assert header_number(garbled) is None, garbled


def test_a_bucket_probes_once_an_interval_until_it_learns() -> None:
    bucket = Bucket()
    assert bucket.reserve(10.0, held=False) == 0.0
    assert 0 < bucket.reserve(10.5, held=False) <= PROBE_INTERVAL
    assert bucket.reserve(10.5, held=True) == 0.0, "held requests probe apart"
    assert bucket.reserve(11.0, held=False) == 0.0


def test_a_bucket_counts_the_answer_less_the_requests_in_flight() -> None:
    """remaining=5 from the newest answer, two requests sent after it: 3 left."""
    bucket = Bucket()
    first = sent(10.0)
    later = [sent(10.5), sent(10.6)]
    for request in (first, *later):
        bucket.flying[request] = request.order
    bucket.windowed = True  # no refill credit: the count alone
    headers = {"x-ratelimit-remaining": "5", "x-ratelimit-limit": "10"}
    bucket.observe(first, 200, headers, now=10.7, wall=WALL)
    assert bucket.tokens == 3.0
    assert bucket.limit == 10.0
    assert set(bucket.flying) == set(later)


def test_a_token_bucket_refills_at_the_rate_its_answer_implies() -> None:
    """0 of 3 left, full by a reset 2 s away (rounded up: 1 s or more): 3/s,
    of which REFILL_SHARE is spent."""
    assert refill_rate(3.0, 0.0, 2.0) == 3.0
    assert refill_rate(10.0, 0.0, 6.0) == 2.0
    assert refill_rate(None, None, 5.0) == 1.0, "unknown: the lowest limit"
    bucket = Bucket()
    request = sent(10.0)
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-limit": "3"}
    bucket.observe(
        request, 200, {**headers, "x-ratelimit-reset": str(WALL + 2)}, 10.0, WALL
    )
    assert bucket.tokens == 0.0
    assert bucket.reserve(10.0, held=False) == pytest.approx(TOKEN)
    assert bucket.reserve(10.0 + TOKEN, held=False) == 0.0


def test_a_429_that_names_a_wait_blocks_the_bucket_then_probes() -> None:
    bucket = Bucket()
    request = sent(10.0)
    bucket.observe(request, 429, {"retry-after": "7"}, now=10.0, wall=WALL)
    assert bucket.tokens == 0.0
    assert bucket.reserve(10.0, held=False) == pytest.approx(7.0)
    assert not bucket.learned, "after the wait, one request probes again"
    assert bucket.reserve(17.0, held=False) == 0.0


def test_a_token_taken_on_a_refill_before_the_reset_is_early() -> None:
    bucket = Bucket()
    request = sent(10.0)
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-limit": "3"}
    bucket.observe(
        request, 200, {**headers, "x-ratelimit-reset": str(WALL + 2)}, 10.0, WALL
    )
    assert bucket.take(10.0 + TOKEN, held=False) == (0.0, True)
    assert bucket.take(12.5, held=False)[1] is False, "past the reset: not early"
