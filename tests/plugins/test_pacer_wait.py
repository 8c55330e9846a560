"""`predictions_on_request(paced=...)`: the seconds an attempt waited for the pacer."""

from __future__ import annotations

import asyncio
from typing import Dict, Iterator, List, Tuple

import pytest
import responses

from predictions import Client, hookimpl
from tests.conftest import BASE, TOKEN, FakeClock, prediction

URL = f"{BASE}/predictions/p1"


class Paced:
    """Writes down each attempt's number and the seconds it waited for the pacer."""

    def __init__(self) -> None:
        self.seen: List[Tuple[int, float]] = []

    @hookimpl
    def predictions_on_request(self, attempt: int, paced: float) -> None:
        assert isinstance(paced, float)
        self.seen.append((attempt, paced))


def limits(clock: FakeClock, remaining: int, reset_in: float) -> Dict[str, str]:
    """Rate-limit headers: `remaining` left until a reset `reset_in` s away."""
    return {
        "x-ratelimit-limit": "3",
        "x-ratelimit-remaining": str(remaining),
        "x-ratelimit-reset": str(int(clock.wall() + reset_in)),
    }


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def paced() -> Paced:
    return Paced()


@pytest.fixture
def client(paced: Paced, clock: FakeClock) -> Iterator[Client]:
    with Client(BASE, TOKEN, plugins=[paced], strict_plugins=True, clock=clock) as made:
        yield made


def spent_bucket(mocked: responses.RequestsMock, clock: FakeClock) -> None:
    """The first answer spends the bucket; the second request must wait for it."""
    mocked.add("GET", URL, json=prediction(), headers=limits(clock, 0, 2.0))
    mocked.add("GET", URL, json=prediction(), headers=limits(clock, 2, 2.0))


def test_the_attempt_that_waited_for_the_pacer_says_how_long(
    client: Client, paced: Paced, clock: FakeClock, mocked: responses.RequestsMock
) -> None:
    spent_bucket(mocked, clock)
    client.predictions.get("p1")
    assert paced.seen == [(1, 0.0)]
    client.predictions.get("p1")
    (first, second) = paced.seen
    assert first == (1, 0.0)
    assert second[0] == 1
    assert second[1] > 0
    assert second[1] == pytest.approx(sum(clock.sleeps)), "the pacer's waits, all"


def test_an_async_attempt_that_waited_for_the_pacer_says_how_long(
    client: Client, paced: Paced, clock: FakeClock, mocked: responses.RequestsMock
) -> None:
    spent_bucket(mocked, clock)

    async def main() -> None:
        await client.predictions.async_get("p1")
        await client.predictions.async_get("p1")

    asyncio.run(main())
    assert [attempt for attempt, _ in paced.seen] == [1, 1]
    assert paced.seen[0][1] == 0.0
    assert paced.seen[1][1] > 0
    assert paced.seen[1][1] == pytest.approx(sum(clock.sleeps))


def test_a_retry_tells_its_own_wait(
    client: Client, paced: Paced, clock: FakeClock, mocked: responses.RequestsMock
) -> None:
    """The failed attempt spent the bucket: its retry waits for the pacer after
    the backoff (the retry policy's sleep is not the pacer's)."""
    clock.jitter = 0.0  # the backoff: a quarter of a second
    mocked.add(
        "GET", URL, json={"detail": "busy"}, status=503, headers=limits(clock, 0, 3.0)
    )
    mocked.add("GET", URL, json=prediction(), headers=limits(clock, 2, 3.0))
    client.predictions.get("p1")
    (first, retry) = paced.seen
    assert first == (1, 0.0)
    assert retry[0] == 2
    backoff, *waits = clock.sleeps
    assert backoff == 0.25
    assert retry[1] > 0
    assert retry[1] == pytest.approx(sum(waits))


def test_with_pacing_off_nothing_waits(
    paced: Paced, clock: FakeClock, mocked: responses.RequestsMock
) -> None:
    spent_bucket(mocked, clock)
    with Client(BASE, TOKEN, plugins=[paced], clock=clock, pacing=False) as client:
        client.predictions.get("p1")
        client.predictions.get("p1")
    assert paced.seen == [(1, 0.0), (1, 0.0)]
    assert clock.sleeps == []
