"""`early_polls`: the first polls come sooner, within the API's read limit (issue 21).

`predictions run` on a model done in a quarter of a second took 1.25 s when
its first poll found it still starting: the next poll was a whole
`poll_interval` later. The sleeps asked for are read from the fake clock.
"""

from __future__ import annotations

import asyncio
from typing import Iterator, List

import pytest
import responses

from predictions import AsyncWaitOptions, WaitOptions, WaitTimeoutError
from predictions._http.api import API
from predictions._waiting.rules import EARLY_POLLS
from predictions.predictions import Predictions
from tests.conftest import BASE, FakeClock, prediction, settings

URL = f"{BASE}/predictions/p1"


@pytest.fixture
def preds(clock: FakeClock) -> Iterator[Predictions]:
    api = API(settings(clock))
    yield Predictions(api)
    api.close()


def statuses(mocked: responses.RequestsMock, *names: str) -> None:
    for name in names:
        mocked.add("GET", URL, json=prediction(status=name))


def test_early_polls_come_sooner_then_every_poll_interval(
    preds: Predictions, mocked: responses.RequestsMock, clock: FakeClock
) -> None:
    statuses(mocked, *["starting"] * 5, "succeeded")
    done = preds.wait("p1", WaitOptions(early_polls=True))
    assert done["status"] == "succeeded"
    assert clock.sleeps == pytest.approx([0.1, 0.3, 0.7, 1.0, 1.0])


def test_a_quick_prediction_found_starting_is_seen_done_a_tenth_of_a_second_later(
    preds: Predictions, mocked: responses.RequestsMock, clock: FakeClock
) -> None:
    statuses(mocked, "starting", "succeeded")
    preds.wait("p1", WaitOptions(early_polls=True))
    assert clock.sleeps == pytest.approx([0.1])  # not the whole poll_interval (1.0)


def test_the_async_wait_polls_early_the_same_way(
    preds: Predictions, mocked: responses.RequestsMock, clock: FakeClock
) -> None:
    statuses(mocked, *["started"] * 4, "succeeded")
    asyncio.run(preds.async_wait("p1", AsyncWaitOptions(early_polls=True)))
    assert clock.sleeps == pytest.approx([0.1, 0.3, 0.7, 1.0])


def test_no_early_poll_is_further_apart_than_poll_interval(
    preds: Predictions, mocked: responses.RequestsMock, clock: FakeClock
) -> None:
    statuses(mocked, *["started"] * 5, "succeeded")
    preds.wait("p1", WaitOptions(poll_interval=0.25, early_polls=True))
    assert clock.sleeps == pytest.approx([0.1, 0.25, 0.25, 0.25, 0.25])


def test_without_early_polls_every_poll_waits_poll_interval_as_the_reference(
    preds: Predictions, mocked: responses.RequestsMock, clock: FakeClock
) -> None:
    """The default keeps the seed's meaning: `poll_interval` between polls."""
    statuses(mocked, "starting", "started", "succeeded")
    preds.wait("p1", WaitOptions(poll_interval=2.0))
    assert clock.sleeps == pytest.approx([2.0, 2.0])
    assert WaitOptions().early_polls is False


def test_early_polls_keep_the_deadline(
    preds: Predictions, mocked: responses.RequestsMock, clock: FakeClock
) -> None:
    mocked.add("GET", URL, json=prediction(status="starting"))
    with pytest.raises(WaitTimeoutError, match=r"did not finish within 0\.25 s"):
        preds.wait("p1", WaitOptions(early_polls=True, timeout=0.25))
    assert clock.sleeps == pytest.approx([0.1, 0.15])


def polls_in_any_second(times: List[float]) -> int:
    return max(sum(1 for t in times if start <= t < start + 1.0) for start in times)


@pytest.mark.parametrize("poll_interval", [0.7, 1.0, 2.0, 5.0])
def test_early_polls_stay_within_three_reads_a_second(poll_interval: float) -> None:
    """API.md: 3 requests a second for an authenticated client's reads."""
    sleeps = [min(poll_interval, s) for s in EARLY_POLLS] + [poll_interval] * 5
    times = [0.0]
    for sleep in sleeps:
        times.append(times[-1] + sleep)
    assert polls_in_any_second(times) <= 3
