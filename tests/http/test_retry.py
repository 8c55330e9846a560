"""The retry policy: what is retried, the sleeps, one key per create call."""

from __future__ import annotations

import email.utils
from typing import Any, List

import pytest
import requests
import responses
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from predictions import (
    APIConnectionError,
    APITimeoutError,
    InternalServerError,
    RateLimitError,
)
from predictions._http.api import API
from predictions._http.retry import (
    BACKOFF_MAX,
    MAX_RATE_LIMIT_WAIT,
    RetryPolicy,
    backoff,
    rate_limit_delay,
)
from predictions.predictions import Predictions
from tests.conftest import BASE, FakeClock, prediction, settings

URL = f"{BASE}/predictions/p1"
CREATE = f"{BASE}/models/o/n/predictions"
NOW = 1_800_000_000.0


def refused() -> requests.exceptions.ConnectionError:
    reason = NewConnectionError(None, "Connection refused")  # type: ignore[arg-type]
    return requests.exceptions.ConnectionError(MaxRetryError(None, URL, reason))  # type: ignore[arg-type]


def dropped() -> requests.exceptions.ConnectionError:
    return requests.exceptions.ConnectionError(
        ProtocolError("Connection aborted.", ConnectionResetError())
    )


def keys(mocked: responses.RequestsMock) -> List[str]:
    return [call.request.headers["Idempotency-Key"] for call in mocked.calls]


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_get_is_retried_on_transient_statuses(
    preds: Predictions, mocked: responses.RequestsMock, sleeps: List[float], status: int
) -> None:
    mocked.add("GET", URL, json={"detail": "busy"}, status=status)
    mocked.add("GET", URL, json={"detail": "busy"}, status=status)
    mocked.add("GET", URL, json=prediction())
    assert preds.get("p1") == prediction()
    assert len(mocked.calls) == 3
    assert len(sleeps) == 2


@pytest.mark.parametrize("error", [refused, dropped, requests.exceptions.ReadTimeout])
def test_get_is_retried_on_connection_errors_and_timeouts(
    preds: Predictions, mocked: responses.RequestsMock, error: Any
) -> None:
    mocked.add("GET", URL, body=error())
    mocked.add("GET", URL, json=prediction())
    assert preds.get("p1") == prediction()
    assert len(mocked.calls) == 2


def test_get_gives_up_after_max_retries_with_the_last_error(
    preds: Predictions, mocked: responses.RequestsMock, sleeps: List[float]
) -> None:
    for _ in range(3):
        mocked.add("GET", URL, json={"detail": "down"}, status=503)
    with pytest.raises(InternalServerError, match="down"):
        preds.get("p1")
    assert len(mocked.calls) == 3
    assert len(sleeps) == 2
    assert 0.25 <= sleeps[0] <= 0.5
    assert 0.5 <= sleeps[1] <= 1.0


def test_timeouts_raise_a_typed_timeout(
    preds: Predictions, mocked: responses.RequestsMock
) -> None:
    preds._api.retry_policy.max_retries = 0
    mocked.add("GET", URL, body=requests.exceptions.ReadTimeout())
    with pytest.raises(APITimeoutError, match=r"no answer within 2 s") as info:
        preds.get("p1")
    assert isinstance(info.value, requests.exceptions.Timeout)
    assert info.value.request_sent


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_permanent_statuses_are_never_retried(
    preds: Predictions, mocked: responses.RequestsMock, sleeps: List[float], status: int
) -> None:
    mocked.add("GET", URL, json={"detail": "no"}, status=status)
    with pytest.raises(Exception, match="no"):
        preds.get("p1")
    assert len(mocked.calls) == 1
    assert sleeps == []


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_create_is_not_retried_on_5xx_by_default(
    preds: Predictions, mocked: responses.RequestsMock, status: int
) -> None:
    mocked.add("POST", CREATE, json={"detail": "oops"}, status=status)
    with pytest.raises(InternalServerError):
        preds.create({"input": 1}, "o/n")
    assert len(mocked.calls) == 1


@pytest.mark.parametrize("error", [dropped, requests.exceptions.ReadTimeout])
def test_create_is_not_retried_once_the_request_may_have_arrived(
    preds: Predictions, mocked: responses.RequestsMock, error: Any
) -> None:
    mocked.add("POST", CREATE, body=error())
    with pytest.raises(APIConnectionError) as info:
        preds.create({"input": 1}, "o/n")
    assert info.value.request_sent
    assert len(mocked.calls) == 1


def test_create_is_retried_when_the_request_never_left(
    preds: Predictions, mocked: responses.RequestsMock
) -> None:
    mocked.add("POST", CREATE, body=refused())
    mocked.add("POST", CREATE, body=requests.exceptions.ConnectTimeout())
    mocked.add("POST", CREATE, json=prediction(), status=201)
    assert preds.create({"input": 1}, "o/n") == prediction()
    assert len(mocked.calls) == 3
    assert len(set(keys(mocked))) == 1, "one Idempotency-Key for every attempt"


def test_create_is_retried_on_429_as_the_server_asks(
    preds: Predictions, mocked: responses.RequestsMock, sleeps: List[float]
) -> None:
    mocked.add(
        "POST",
        CREATE,
        json={"detail": "slow down"},
        status=429,
        headers={"Retry-After": "3"},
    )
    mocked.add("POST", CREATE, json=prediction(), status=201)
    preds.create({"input": 1}, "o/n")
    assert sleeps == [3.0]
    assert len(set(keys(mocked))) == 1


def test_429_without_headers_backs_off(
    preds: Predictions, mocked: responses.RequestsMock, sleeps: List[float]
) -> None:
    mocked.add("GET", URL, json={"detail": "slow"}, status=429)
    mocked.add("GET", URL, json=prediction())
    preds.get("p1")
    assert len(sleeps) == 1
    assert 0.25 <= sleeps[0] <= 0.5


def test_idempotent_mode_retries_create_after_5xx_and_broken_connections(
    clock: FakeClock, mocked: responses.RequestsMock
) -> None:
    api = API(settings(clock, max_retries=3, retry_create="idempotent"))
    mocked.add("POST", CREATE, json={"detail": "oops"}, status=502)
    mocked.add("POST", CREATE, body=dropped())
    mocked.add("POST", CREATE, body=requests.exceptions.ReadTimeout())
    mocked.add("POST", CREATE, json=prediction(), status=201)
    assert Predictions(api).create({"input": 1}, "o/n") == prediction()
    assert len(set(keys(mocked))) == 1
    assert len(mocked.calls) == 4


def test_rate_limit_error_after_retries(
    preds: Predictions, mocked: responses.RequestsMock, sleeps: List[float]
) -> None:
    for _ in range(3):
        mocked.add(
            "GET",
            URL,
            json={"detail": "slow"},
            status=429,
            headers={"Retry-After": "1"},
        )
    with pytest.raises(RateLimitError):
        preds.get("p1")
    assert sleeps == [1.0, 1.0]


# The policy itself


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    assert backoff(1, lambda: 0.0) == 0.25
    assert backoff(1, lambda: 0.999999) == pytest.approx(0.5, abs=1e-5)
    assert backoff(2, lambda: 1.0) == 1.0
    assert backoff(3, lambda: 1.0) == 2.0
    assert backoff(10, lambda: 1.0) == BACKOFF_MAX
    assert backoff(100, lambda: 0.0) == BACKOFF_MAX / 2


def http_date(when: float) -> str:
    return email.utils.formatdate(when, usegmt=True)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": " 2.5 "}, 2.5),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after": http_date(NOW + 20)}, 20.0),
        ({"retry-after": http_date(NOW - 100)}, 0.0),
        ({"retry-after": http_date(NOW + 86400)}, MAX_RATE_LIMIT_WAIT),
        ({"retry-after": "86400"}, MAX_RATE_LIMIT_WAIT),
        ({"retry-after": "garbage"}, None),
        ({"retry-after": "-5"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": ""}, None),
        ({"x-ratelimit-reset": str(int(NOW) + 4)}, 4.0),
        ({"x-ratelimit-reset": str(int(NOW) - 4)}, 0.0),
        ({"x-ratelimit-reset": "soon"}, None),
        ({"x-ratelimit-reset": "-1"}, None),
        ({"retry-after": "1", "x-ratelimit-reset": str(int(NOW) + 30)}, 1.0),
        ({"retry-after": "junk", "x-ratelimit-reset": str(int(NOW) + 30)}, 30.0),
        ({}, None),
    ],
)
def test_rate_limit_delay(headers: Any, expected: Any) -> None:
    assert (
        rate_limit_delay(requests.structures.CaseInsensitiveDict(headers), lambda: NOW)
        == expected
    )


def test_no_sleep_runs_past_the_deadline(clock: FakeClock, sleeps: List[float]) -> None:
    clock.now = 100.0
    clock.jitter = 1.0
    policy = RetryPolicy(5, clock=clock)
    attempts: List[int] = []

    def attempt() -> None:
        attempts.append(1)
        raise APIConnectionError("down", request_sent=False)

    with pytest.raises(APIConnectionError):
        policy.call(attempt, idempotent=True, deadline=101.0)
    # 0.5 fits before the deadline; the next backoff (1.0) would run past it.
    assert sleeps == [0.5]
    assert len(attempts) == 2


def test_max_retries_per_call(clock: FakeClock) -> None:
    policy = RetryPolicy(5, clock=clock)
    calls: List[int] = []

    def attempt() -> None:
        calls.append(1)
        raise APIConnectionError("down", request_sent=False)

    with pytest.raises(APIConnectionError):
        policy.call(attempt, idempotent=True, max_retries=1)
    assert len(calls) == 2


def test_errors_from_the_callers_code_are_not_retried(
    clock: FakeClock, sleeps: List[float]
) -> None:
    policy = RetryPolicy(5, clock=clock)
    calls: List[int] = []

    def attempt() -> None:
        calls.append(1)
        raise KeyError("mine")

    with pytest.raises(KeyError):
        policy.call(attempt, idempotent=True)
    assert len(calls) == 1
    assert sleeps == []


def test_before_sleep_sees_attempt_and_delay(clock: FakeClock) -> None:
    clock.jitter = 0.0
    policy = RetryPolicy(2, clock=clock)
    seen: List[Any] = []
    outcomes = iter([APIConnectionError("x", request_sent=False), None])

    def attempt() -> str:
        error = next(outcomes)
        if error:
            raise error
        return "ok"

    result = policy.call(
        attempt,
        idempotent=True,
        before_sleep=lambda n, d, e: seen.append((n, d, type(e))),
    )
    assert result == "ok"
    assert seen == [(1, 0.25, APIConnectionError)]


def test_a_cut_off_answer_to_a_read_is_retried(
    preds: Predictions, mocked: responses.RequestsMock
) -> None:
    mocked.add("GET", URL, body='{"id": "p1", "sta', status=200)
    mocked.add("GET", URL, json=prediction())
    assert preds.get("p1") == prediction()


def test_a_cut_off_answer_to_a_create_is_not_retried_by_default(
    preds: Predictions, mocked: responses.RequestsMock
) -> None:
    from predictions import InvalidResponseError

    mocked.add("POST", CREATE, body='{"id": "p1", "sta', status=201)
    with pytest.raises(InvalidResponseError):
        preds.create({"input": 1}, "o/n")
    assert len(mocked.calls) == 1


def test_max_retries_per_call_on_the_public_methods(
    preds: Predictions, mocked: responses.RequestsMock, sleeps: List[float]
) -> None:
    mocked.add("GET", URL, json={"detail": "down"}, status=503)
    with pytest.raises(InternalServerError):
        preds.get("p1", max_retries=0)
    assert len(mocked.calls) == 1
    for _ in range(4):
        mocked.add("GET", URL, json={"detail": "down"}, status=503)
    mocked.add("GET", URL, json=prediction())
    assert preds.get("p1", max_retries=4) == prediction()
    assert len(sleeps) == 4


@pytest.mark.parametrize(
    ("value", "error"), [(-1, ValueError), (1.5, TypeError), (True, TypeError)]
)
def test_bad_max_retries_per_call_sends_nothing(
    preds: Predictions, mocked: responses.RequestsMock, value: Any, error: type
) -> None:
    with pytest.raises(error, match="max_retries"):
        preds.get("p1", max_retries=value)
    with pytest.raises(error, match="max_retries"):
        preds.create({"input": 1}, "o/n", max_retries=value)
    assert len(mocked.calls) == 0


@pytest.mark.parametrize("failures", [1024, 1025, 5000, 10**9])
def test_backoff_never_overflows(failures: int) -> None:
    """A wait through a long outage counts thousands of failures (issue 11)."""
    delay = backoff(failures, rand=lambda: 1.0)
    assert delay == BACKOFF_MAX


@pytest.mark.parametrize(("jitter", "slept"), [(0.0, 0.25), (1.0, 0.5)])
def test_the_clock_pins_the_jitter_of_every_backoff(
    preds: Predictions,
    mocked: responses.RequestsMock,
    clock: FakeClock,
    jitter: float,
    slept: float,
) -> None:
    """Jitter came from `random.random` itself: no test could pin it (issue 18)."""
    clock.jitter = jitter
    mocked.add("GET", URL, json={"detail": "busy"}, status=503)
    mocked.add("GET", URL, json=prediction())
    assert preds.get("p1") == prediction()
    assert clock.sleeps == [slept]
