"""The one poll engine: the rules of a wait hold for single waits and batches alike.

Time is faked with the one clock fixture: retries, pacing, the poll engine
and batches all wait on it.
"""

from __future__ import annotations

import asyncio
from typing import Any, Dict, Iterator, List, Tuple

import pytest
import requests
import responses

from predictions import (
    APIConnectionError,
    Client,
    WaitOptions,
    WaitTimeoutError,
    as_completed,
    async_as_completed,
    hookimpl,
)
from predictions._waiting.rules import POLL_FAILURE_WINDOW, UNKNOWN_STATUS_LIMIT
from tests.conftest import BASE, TOKEN, FakeClock, prediction


def url(prediction_id: str) -> str:
    return f"{BASE}/predictions/{prediction_id}"


class Recorder:
    """Writes down every poll and terminal hook, by prediction."""

    def __init__(self) -> None:
        self.polls: List[Tuple[str, str]] = []
        self.terminals: List[Tuple[Any, Any]] = []

    @hookimpl
    def predictions_on_poll(self, prediction: Any, polls: int, elapsed: float) -> None:
        self.polls.append((prediction["id"], prediction["status"]))

    @hookimpl
    def predictions_on_terminal(
        self, prediction: Any, error: Any, polls: int, elapsed: float
    ) -> None:
        self.terminals.append(
            (prediction and prediction["id"], error and type(error).__name__)
        )


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def client(clock: FakeClock, recorder: Recorder) -> Iterator[Client]:
    with Client(
        BASE, TOKEN, plugins=[recorder], strict_plugins=True, clock=clock, pacing=False
    ) as client:
        yield client


def statuses(mocked: responses.RequestsMock, prediction_id: str, *names: str) -> None:
    for name in names:
        mocked.add(
            "GET", url(prediction_id), json=prediction(id=prediction_id, status=name)
        )


# Statuses the client does not know


def test_an_unknown_status_ends_a_wait_with_no_deadline_after_30_minutes(
    client: Client, mocked: responses.RequestsMock, clock: FakeClock
) -> None:
    """API.md: never wait without bound because of a status the client does
    not know (issue 11: the wait polled such a prediction forever)."""
    statuses(mocked, "p1", "warming-up")  # the mock repeats its last answer
    started = clock.now
    with pytest.raises(WaitTimeoutError, match="'warming-up'") as info:
        client.predictions.wait("p1", WaitOptions(poll_interval=60))
    assert clock.now - started == pytest.approx(UNKNOWN_STATUS_LIMIT, abs=60)
    assert info.value.prediction is not None
    assert info.value.prediction["status"] == "warming-up"


def test_a_known_running_status_keeps_the_seed_behaviour(
    client: Client, mocked: responses.RequestsMock, clock: FakeClock
) -> None:
    """`started` for longer than 30 minutes still waits (the seed's contract)."""
    for _ in range(40):
        statuses(mocked, "p1", "started")
    statuses(mocked, "p1", "succeeded")
    done = client.predictions.wait("p1", WaitOptions(poll_interval=60))
    assert done["status"] == "succeeded"
    assert sum(clock.sleeps) == pytest.approx(40 * 60)


def test_the_unknown_status_clock_restarts_when_the_status_changes(
    client: Client, mocked: responses.RequestsMock, clock: FakeClock
) -> None:
    for _ in range(25):
        statuses(mocked, "p1", "queued-elsewhere")  # 25 minutes
    for _ in range(25):
        statuses(mocked, "p1", "warming-up")  # 25 minutes more, another status
    statuses(mocked, "p1", "succeeded")
    assert client.predictions.wait("p1", WaitOptions(60))["status"] == "succeeded"


# A long outage


def test_a_wait_through_thousands_of_failures_never_overflows(
    client: Client, mocked: responses.RequestsMock, clock: FakeClock
) -> None:
    """backoff() raised OverflowError after 1,024 failures (issue 11)."""
    client.api.retry_policy.max_retries = 0
    mocked.add("GET", url("p1"), body=requests.exceptions.ConnectionError("down"))
    with pytest.raises(APIConnectionError):
        client.predictions.wait("p1", WaitOptions(poll_interval=0, timeout=20_000))
    assert len(mocked.calls) > 1100, "thousands of failed polls, each with backoff"
    assert max(clock.sleeps) <= 8.0


def test_as_completed_against_a_dead_server_ends_after_the_failure_window(
    client: Client, mocked: responses.RequestsMock, clock: FakeClock
) -> None:
    """Batches had no failure window: against a dead server they polled until
    backoff overflowed (issue 11). They follow the wait's rules now."""
    mocked.add("GET", url("p1"), body=requests.exceptions.ConnectionError("down"))
    started = clock.now
    with pytest.raises(APIConnectionError):
        list(as_completed(["p1"], client=client, poll_interval=1))
    assert POLL_FAILURE_WINDOW <= clock.now - started <= POLL_FAILURE_WINDOW + 60


# Batches see the same hooks and rules


def test_as_completed_fires_poll_and_terminal_hooks_for_each(
    client: Client, mocked: responses.RequestsMock, recorder: Recorder
) -> None:
    statuses(mocked, "a", "started", "succeeded")
    statuses(mocked, "b", "failed")
    done = [p["id"] for p in as_completed(["a", "b"], client=client, poll_interval=1)]
    assert done == ["b", "a"]
    assert recorder.polls == [
        ("a", "started"), ("b", "failed"), ("a", "succeeded"),
    ]  # fmt: skip
    assert recorder.terminals == [("b", None), ("a", None)]


def test_async_as_completed_fires_poll_and_terminal_hooks_for_each(
    client: Client, mocked: responses.RequestsMock, recorder: Recorder
) -> None:
    statuses(mocked, "a", "started", "succeeded")
    statuses(mocked, "b", "failed")

    async def main() -> List[str]:
        batch = async_as_completed(["a", "b"], client=client, poll_interval=1)
        return [p["id"] async for p in batch]

    assert asyncio.run(main()) == ["b", "a"]
    assert sorted(recorder.polls) == [
        ("a", "started"), ("a", "succeeded"), ("b", "failed"),
    ]  # fmt: skip
    assert sorted(recorder.terminals) == [("a", None), ("b", None)]


def test_a_batch_timeout_carries_the_predictions_that_did_not_finish(
    client: Client, mocked: responses.RequestsMock, recorder: Recorder
) -> None:
    statuses(mocked, "a", "succeeded")
    statuses(mocked, "b", "started")
    statuses(mocked, "c", "pending")
    batch = as_completed(["a", "b", "c"], client=client, poll_interval=1, timeout=5)
    assert next(batch)["id"] == "a"
    with pytest.raises(WaitTimeoutError, match="2 predictions") as info:
        next(batch)
    unfinished: List[Dict[str, Any]] = info.value.predictions
    assert sorted((p["id"], p["status"]) for p in unfinished) == [
        ("b", "started"), ("c", "pending"),
    ]  # fmt: skip
    assert sorted(recorder.terminals) == [
        ("a", None), ("b", "WaitTimeoutError"), ("c", "WaitTimeoutError"),
    ]  # fmt: skip


def test_a_finished_prediction_given_to_a_batch_fires_its_terminal_hook(
    client: Client, mocked: responses.RequestsMock, recorder: Recorder
) -> None:
    done = prediction(id="x", status="succeeded")
    assert list(as_completed([done], client=client)) == [done]
    assert recorder.terminals == [("x", None)]
    assert len(mocked.calls) == 0


def test_create_with_wait_that_comes_back_finished_costs_no_poll(
    client: Client, mocked: responses.RequestsMock, recorder: Recorder
) -> None:
    mocked.add(
        "POST",
        f"{BASE}/models/o/n/predictions",
        json=prediction(status="succeeded"),
        status=201,
    )
    done = client.predictions.create({"input": 1}, "o/n", wait=True)
    assert done["status"] == "succeeded"
    assert [c.request.method for c in mocked.calls] == ["POST"]
    assert recorder.terminals == [("p1", None)]


# One clock


def test_one_fake_clock_makes_every_wait_of_a_client_instant(
    mocked: responses.RequestsMock,
) -> None:
    """Retries (a 503 and a 429), pacing (an empty bucket) and polls all wait
    on the client's one clock: nothing sleeps for real."""
    clock = FakeClock()
    wall = clock.wall()
    with Client(BASE, TOKEN, clock=clock) as client:
        mocked.add("GET", url("p1"), json={"detail": "busy"}, status=503)
        mocked.add(
            "GET",
            url("p1"),
            json={"detail": "slow down"},
            status=429,
            headers={"x-ratelimit-reset": str(wall + 7)},
        )
        mocked.add(
            "GET",
            url("p1"),
            json=prediction(status="started"),
            headers={
                "x-ratelimit-limit": "3",
                "x-ratelimit-remaining": "0",
                "x-ratelimit-reset": str(wall + 20),
            },
        )
        mocked.add("GET", url("p1"), json=prediction(status="succeeded"))
        done = client.predictions.wait("p1", WaitOptions(poll_interval=2))
    assert done["status"] == "succeeded"
    assert len(clock.sleeps) >= 3
    # The 429 waited for its reset (7 s); the empty bucket then waited for one
    # token, full at 20 s: 3 come back in the 12 to 13 s left, one in 4 s.
    assert sum(clock.sleeps) >= 7 + (20 - 7 - 1) / 3 - 0.5, "the pacer waited"


@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_batch_left_while_its_finished_ones_come_ends_every_wait(
    client: Client,
    mocked: responses.RequestsMock,
    recorder: Recorder,
    asynchronous: bool,
) -> None:
    """on_terminal exactly once for every prediction, however early the caller
    leaves (leaving during the already-finished ones skipped the pending)."""
    done = prediction(id="a", status="succeeded")
    if asynchronous:

        async def first() -> Any:
            batch = async_as_completed([done, "b"], client=client)
            async for item in batch:
                await batch.aclose()  # type: ignore[attr-defined]
                return item

        assert asyncio.run(first())["id"] == "a"
    else:
        batch = as_completed([done, "b"], client=client)
        assert next(batch)["id"] == "a"
        batch.close()  # type: ignore[attr-defined]
    assert sorted(recorder.terminals, key=repr) == [
        ("a", None),
        (None, "GeneratorExit"),
    ]
    assert len(mocked.calls) == 0
