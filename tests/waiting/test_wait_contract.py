"""The wait contract: deadlines, failing polls, cancel, Ctrl-C and task cancellation."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Dict, Iterator, List

import pytest
import requests
import responses

from predictions import (
    APIConnectionError,
    AsyncWaitOptions,
    ConflictError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    WaitOptions,
    WaitTimeoutError,
)
from predictions._http.api import API
from predictions._waiting.rules import POLL_FAILURE_WINDOW
from predictions.predictions import Predictions
from tests.conftest import BASE, FakeClock, prediction, settings

URL = f"{BASE}/predictions/p1"
CANCEL = f"{URL}/cancel"


class InterruptingClock(FakeClock):
    """Ctrl-C arrives while the wait sleeps."""

    def sleep(self, seconds: float) -> None:
        raise KeyboardInterrupt


@pytest.fixture
def timed(clock: FakeClock) -> Iterator[Predictions]:
    api = API(settings(clock, max_retries=0))
    yield Predictions(api)
    api.close()


def statuses(mocked: responses.RequestsMock, *names: str) -> None:
    for name in names:
        mocked.add("GET", URL, json=prediction(status=name))


@pytest.mark.parametrize("status", ["starting", "mystery", "pending"])
def test_a_status_that_never_ends_times_out_with_the_last_prediction(
    timed: Predictions, mocked: responses.RequestsMock, clock: FakeClock, status: str
) -> None:
    mocked.add("GET", URL, json=prediction(status=status))  # answered forever
    with pytest.raises(WaitTimeoutError) as info:
        timed.wait("p1", WaitOptions(poll_interval=1.0, timeout=2.5))
    assert info.value.prediction is not None
    assert info.value.prediction["status"] == status
    assert "2.5 s" in str(info.value)
    assert status in str(info.value)
    # The last sleep is cut to the time left; the last poll falls on the deadline.
    assert clock.sleeps == [1.0, 1.0, 0.5]
    assert len(mocked.calls) == 4


def test_async_wait_times_out_the_same_way(
    timed: Predictions, mocked: responses.RequestsMock, clock: FakeClock
) -> None:
    mocked.add("GET", URL, json=prediction(status="starting"))
    with pytest.raises(WaitTimeoutError) as info:
        asyncio.run(
            timed.async_wait("p1", AsyncWaitOptions(poll_interval=1.0, timeout=2.5))
        )
    assert info.value.prediction["status"] == "starting"  # type: ignore[index]
    assert clock.sleeps == [1.0, 1.0, 0.5]


def test_a_poll_interval_longer_than_the_time_left_sleeps_only_the_time_left(
    timed: Predictions, mocked: responses.RequestsMock, clock: FakeClock
) -> None:
    statuses(mocked, "started", "succeeded")
    result = timed.wait("p1", WaitOptions(poll_interval=10, timeout=3))
    assert result["status"] == "succeeded"
    assert clock.sleeps == [3.0]


def test_a_wait_that_finishes_in_time_is_not_affected(
    timed: Predictions, mocked: responses.RequestsMock, clock: FakeClock
) -> None:
    statuses(mocked, "pending", "started", "succeeded")
    assert (
        timed.wait("p1", WaitOptions(poll_interval=1, timeout=60))["status"]
        == "succeeded"
    )
    assert clock.sleeps == [1, 1]


@pytest.mark.parametrize(
    ("timeout", "error"),
    [
        (0, ValueError),
        (-1, ValueError),
        (-0.5, ValueError),
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        # a string where a number belongs is a TypeError, as everywhere (issue 11)
        ("10", TypeError),
        (True, TypeError),
        ([1], TypeError),
    ],
)
def test_a_bad_timeout_is_refused_and_nothing_is_sent(
    timed: Predictions, mocked: responses.RequestsMock, timeout: Any, error: Any
) -> None:
    with pytest.raises(error, match="timeout"):
        WaitOptions(timeout=timeout)
    with pytest.raises(error, match="timeout"):
        AsyncWaitOptions(timeout=timeout)
    options = WaitOptions()
    options.timeout = timeout
    with pytest.raises(error, match="timeout"):
        timed.wait("p1", options)
    with pytest.raises(error, match="timeout"):
        timed.create({"input": 1}, "o/n", wait=True, wait_options=options)
    assert len(mocked.calls) == 0


def test_new_fields_come_after_the_seed_fields_with_seed_defaults() -> None:
    options = WaitOptions(0.5, None)
    assert (
        options.timeout,
        options.cancel_on_timeout,
        options.cancel_on_interrupt,
    ) == (
        None,
        False,
        False,
    )
    assert AsyncWaitOptions(0.5, None, 3.0).timeout == 3.0


# Failing polls


def test_transient_poll_failures_do_not_end_the_wait(
    timed: Predictions, mocked: responses.RequestsMock, clock: FakeClock
) -> None:
    mocked.add("GET", URL, json={"detail": "busy"}, status=503)
    mocked.add("GET", URL, body="<html>proxy</html>", status=200)
    mocked.add(
        "GET", URL, json={"detail": "slow"}, status=429, headers={"Retry-After": "4"}
    )
    statuses(mocked, "succeeded")
    seen: List[str] = []
    result = timed.wait(
        "p1", WaitOptions(poll_interval=1, on_poll=lambda p: seen.append(p["status"]))
    )
    assert result["status"] == "succeeded"
    assert seen == ["succeeded"], "on_poll sees only polls that returned a prediction"
    assert len(clock.sleeps) == 3
    assert clock.sleeps[2] == 4.0, "a 429 sleeps as the server asks"


@pytest.mark.parametrize("status", [401, 403, 404])
def test_permanent_poll_errors_end_the_wait_at_once(
    timed: Predictions, mocked: responses.RequestsMock, clock: FakeClock, status: int
) -> None:
    mocked.add("GET", URL, json={"detail": "no"}, status=status)
    with pytest.raises(Exception, match="no") as info:
        timed.wait("p1", WaitOptions(timeout=100))
    assert info.value.status_code == status  # type: ignore[attr-defined]
    assert clock.sleeps == []
    assert len(mocked.calls) == 1


def test_with_no_deadline_failures_end_the_wait_after_the_failure_window(
    timed: Predictions, mocked: responses.RequestsMock, clock: FakeClock
) -> None:
    start = clock.now
    mocked.add("GET", URL, json={"detail": "down"}, status=502)  # answered forever
    with pytest.raises(InternalServerError, match="down"):
        timed.wait("p1")
    elapsed = clock.now - start
    assert POLL_FAILURE_WINDOW <= elapsed <= POLL_FAILURE_WINDOW + 8
    assert max(clock.sleeps) <= 8.0


def test_a_success_resets_the_failure_window(
    timed: Predictions, mocked: responses.RequestsMock, clock: FakeClock
) -> None:
    def answer(request: Any) -> Any:
        # Fail except once every 200 s of fake time: the wait never gives up.
        if clock.now - 1000.0 > 1500:
            return (200, {}, json.dumps(prediction(status="succeeded")))
        if int(clock.now) % 200 < 8:
            return (200, {}, json.dumps(prediction(status="started")))
        return (503, {}, json.dumps({"detail": "busy"}))

    mocked.add_callback("GET", URL, callback=answer)
    assert timed.wait("p1")["status"] == "succeeded"


def test_at_the_deadline_a_failing_poll_raises_its_own_error(
    timed: Predictions, mocked: responses.RequestsMock, clock: FakeClock
) -> None:
    statuses(mocked, "started")
    mocked.add("GET", URL, body=requests.exceptions.ConnectionError("reset"))  # forever
    with pytest.raises(APIConnectionError):
        timed.wait("p1", WaitOptions(poll_interval=1, timeout=10))
    assert sum(clock.sleeps) == pytest.approx(10)


@pytest.mark.parametrize(
    "retry_after", ["86400", "garbage", "-3", "Wed, 21 Oct 2015 07:28:00 GMT"]
)
def test_rate_limit_headers_never_push_a_sleep_past_the_deadline(
    timed: Predictions,
    mocked: responses.RequestsMock,
    clock: FakeClock,
    retry_after: str,
) -> None:
    timed._api.retry_policy.max_retries = 2
    mocked.add(
        "GET",
        URL,
        json={"detail": "slow"},
        status=429,
        headers={"Retry-After": retry_after},
    )
    with pytest.raises(RateLimitError):
        timed.wait("p1", WaitOptions(poll_interval=1, timeout=5))
    assert sum(clock.sleeps) <= 5.0 + 1e-9
    assert all(s <= 60 for s in clock.sleeps)


# cancel


def test_cancel_sends_one_request_and_returns_nothing(
    timed: Predictions, mocked: responses.RequestsMock
) -> None:
    """The hosted API answers `null` and cancels asynchronously (issue 12)."""
    mocked.add("POST", CANCEL, body="null", content_type="application/json")
    assert timed.cancel("p1") is None  # type: ignore[func-returns-value]
    assert mocked.calls[0].request.body is None
    mocked.add("POST", CANCEL, body="null", content_type="application/json")
    assert asyncio.run(timed.async_cancel("p1")) is None  # type: ignore[func-returns-value]
    assert [c.request.method for c in mocked.calls] == ["POST", "POST"]


@pytest.mark.parametrize(
    "answer",
    [
        {"status": 204},
        {"json": prediction(status="cancelled")},  # an older server's answer
        {"body": "null", "status": 202},
    ],
)
def test_cancel_takes_any_successful_answer(
    timed: Predictions, mocked: responses.RequestsMock, answer: Dict[str, Any]
) -> None:
    mocked.add("POST", CANCEL, **answer)
    assert timed.cancel("p1") is None  # type: ignore[func-returns-value]
    assert len(mocked.calls) == 1


def test_cancel_is_retried_like_a_read(
    timed: Predictions, mocked: responses.RequestsMock, clock: FakeClock
) -> None:
    timed._api.retry_policy.max_retries = 2
    mocked.add("POST", CANCEL, json={"detail": "busy"}, status=503)
    mocked.add("POST", CANCEL, body="null")
    timed.cancel("p1")
    assert len(mocked.calls) == 2
    assert len(clock.sleeps) == 1


def test_cancelling_a_finished_prediction_is_a_conflict(
    timed: Predictions, mocked: responses.RequestsMock
) -> None:
    mocked.add("POST", CANCEL, json={"detail": "already succeeded"}, status=409)
    with pytest.raises(ConflictError, match="already succeeded"):
        timed.cancel("p1")
    mocked.add(
        "POST", f"{BASE}/predictions/nope/cancel", json={"detail": "no"}, status=404
    )
    with pytest.raises(NotFoundError):
        timed.cancel("nope")


@pytest.mark.parametrize("prediction_id", ["", " ", ".", ".."])
def test_cancel_refuses_unusable_ids(
    timed: Predictions, mocked: responses.RequestsMock, prediction_id: str
) -> None:
    with pytest.raises(ValueError, match="prediction id"):
        timed.cancel(prediction_id)
    with pytest.raises(ValueError, match="prediction id"):
        asyncio.run(timed.async_cancel(prediction_id))
    assert len(mocked.calls) == 0


def test_cancel_on_timeout_asks_the_server_first(
    timed: Predictions, mocked: responses.RequestsMock
) -> None:
    mocked.add("GET", URL, json=prediction(status="started"))
    mocked.add("POST", CANCEL, json=prediction(status="cancelled"))
    with pytest.raises(WaitTimeoutError):
        timed.wait(
            "p1", WaitOptions(poll_interval=1, timeout=2, cancel_on_timeout=True)
        )
    assert mocked.calls[-1].request.method == "POST"
    assert mocked.calls[-1].request.url == CANCEL


def test_async_cancel_on_timeout(
    timed: Predictions, mocked: responses.RequestsMock
) -> None:
    mocked.add("GET", URL, json=prediction(status="started"))
    mocked.add("POST", CANCEL, json=prediction(status="cancelled"))
    options = AsyncWaitOptions(poll_interval=1, timeout=2, cancel_on_timeout=True)
    with pytest.raises(WaitTimeoutError):
        asyncio.run(timed.async_wait("p1", options))
    assert mocked.calls[-1].request.url == CANCEL


def test_a_failing_cancel_on_timeout_still_raises_the_timeout(
    timed: Predictions, mocked: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    mocked.add("GET", URL, json=prediction(status="started"))
    mocked.add("POST", CANCEL, json={"detail": "nope"}, status=409)
    with pytest.raises(WaitTimeoutError):
        timed.wait(
            "p1", WaitOptions(poll_interval=1, timeout=1, cancel_on_timeout=True)
        )
    assert "could not cancel" in caplog.text


def test_no_cancel_without_cancel_on_timeout(
    timed: Predictions, mocked: responses.RequestsMock
) -> None:
    mocked.add("GET", URL, json=prediction(status="started"))
    with pytest.raises(WaitTimeoutError):
        timed.wait("p1", WaitOptions(poll_interval=1, timeout=2))
    assert {c.request.method for c in mocked.calls} == {"GET"}


# Ctrl-C and task cancellation


def interrupt(prediction: Any) -> None:
    raise KeyboardInterrupt


def test_keyboard_interrupt_propagates_without_a_cancel_by_default(
    timed: Predictions, mocked: responses.RequestsMock
) -> None:
    statuses(mocked, "started")
    with pytest.raises(KeyboardInterrupt):
        timed.wait("p1", WaitOptions(on_poll=interrupt))
    assert len(mocked.calls) == 1


def test_cancel_on_interrupt_asks_the_server_then_reraises(
    timed: Predictions, mocked: responses.RequestsMock
) -> None:
    statuses(mocked, "started")
    mocked.add("POST", CANCEL, json=prediction(status="cancelled"))
    with pytest.raises(KeyboardInterrupt):
        timed.wait("p1", WaitOptions(on_poll=interrupt, cancel_on_interrupt=True))
    assert [c.request.method for c in mocked.calls] == ["GET", "POST"]


def test_keyboard_interrupt_during_the_sleep(
    mocked: responses.RequestsMock,
) -> None:
    api = API(settings(InterruptingClock()))
    statuses(mocked, "started")
    mocked.add("POST", CANCEL, json=prediction(status="cancelled"))
    with pytest.raises(KeyboardInterrupt):
        Predictions(api).wait("p1", WaitOptions(cancel_on_interrupt=True))
    assert [c.request.method for c in mocked.calls] == ["GET", "POST"]
    api.close()


def test_cancelling_an_async_wait_task_stops_its_polling_at_once(
    mocked: responses.RequestsMock,
) -> None:
    api = API(settings())
    mocked.add("GET", URL, json=prediction(status="started"))
    preds = Predictions(api)

    async def main() -> int:
        polled = asyncio.Event()

        async def on_poll(p: Any) -> None:
            polled.set()

        task = asyncio.ensure_future(
            preds.async_wait(
                "p1", AsyncWaitOptions(poll_interval=0.05, on_poll=on_poll)
            )
        )
        await polled.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        sent = len(mocked.calls)
        await asyncio.sleep(0.3)  # six poll intervals
        return len(mocked.calls) - sent

    assert asyncio.run(main()) == 0
    assert {c.request.method for c in mocked.calls} == {"GET"}
    api.close()
