"""The hosted API of today (issue 12): held creates, statuses, cancel, pages, bodies."""

from __future__ import annotations

import asyncio
import json
import math
import re
from typing import Any, Dict, Iterator, List

import pytest
import requests
import responses

from predictions import (
    AsyncWaitOptions,
    Client,
    RateLimitError,
    Status,
    WaitOptions,
    WaitTimeoutError,
)
from predictions._requests import HOLD_ASSUMED, HOLD_MARGIN
from tests.conftest import BASE, TOKEN, FakeClock, prediction

CREATE = f"{BASE}/models/o/n/predictions"
LIST = f"{BASE}/predictions"


@pytest.fixture
def client(clock: FakeClock) -> Client:
    return Client(BASE, TOKEN, clock=clock, pacing=False)


@pytest.fixture
def timeouts(mocked: responses.RequestsMock) -> Iterator[List[Any]]:
    """Record the timeout each request is sent with (the adapter's argument).

    The patch goes over the mock's and is undone before the mock is (not with
    monkeypatch, whose undo would come last and leave the mock in place).
    """
    seen: List[Any] = []
    mocked_send = requests.adapters.HTTPAdapter.send

    def send(self: Any, request: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["timeout"])
        return mocked_send(self, request, **kwargs)

    requests.adapters.HTTPAdapter.send = send  # type: ignore[method-assign]
    yield seen
    requests.adapters.HTTPAdapter.send = mocked_send  # type: ignore[method-assign]


# Results without polling


@pytest.mark.parametrize(
    ("options", "prefer", "hold"),
    [
        (WaitOptions(), "wait", HOLD_ASSUMED),
        (WaitOptions(prefer_wait=30), "wait=30", 30),
        (WaitOptions(prefer_wait=2.9), "wait=2", 2),
        (WaitOptions(timeout=12.5), "wait=12", 12),
        (WaitOptions(prefer_wait=90, timeout=20), "wait=20", 20),
        (WaitOptions(prefer_wait=0), None, None),
        (WaitOptions(timeout=0.5), None, None),
        (WaitOptions(cancel_on_interrupt=True), None, None),
    ],
)
def test_create_with_wait_asks_the_server_to_hold_it(
    client: Client,
    mocked: responses.RequestsMock,
    timeouts: List[Any],
    options: WaitOptions,
    prefer: Any,
    hold: Any,
) -> None:
    mocked.add("POST", CREATE, json=prediction(status="succeeded"), status=201)
    done = client.predictions.create(
        {"input": 1}, "o/n", wait=True, wait_options=options
    )
    assert done["status"] == "succeeded"
    assert len(mocked.calls) == 1, "a prediction finished within the hold costs no poll"
    assert mocked.calls[0].request.headers.get("Prefer") == prefer
    read = timeouts[0][1]
    if hold is None:
        assert read <= client.settings.timeout[1]
    else:
        assert read > hold, "the read outlasts the hold"
        if options.timeout is None:
            assert read >= hold + HOLD_MARGIN
        else:  # and the wait's deadline (and its grace) bounds it
            assert read <= options.timeout + 0.5


def test_a_create_without_wait_is_not_held(
    client: Client, mocked: responses.RequestsMock
) -> None:
    mocked.add("POST", CREATE, json=prediction(), status=201)
    client.predictions.create({"input": 1}, "o/n")
    assert "Prefer" not in mocked.calls[0].request.headers


def test_a_prediction_not_finished_within_the_hold_is_then_polled(
    client: Client, mocked: responses.RequestsMock, clock: FakeClock
) -> None:
    mocked.add("POST", CREATE, json=prediction(status="started"), status=201)
    mocked.add("GET", f"{BASE}/predictions/p1", json=prediction(status="succeeded"))
    done = client.predictions.create({"input": 1}, "o/n", wait=True)
    assert done["status"] == "succeeded"
    assert [c.request.method for c in mocked.calls] == ["POST", "GET"]


def test_async_create_with_wait_is_held_too(
    client: Client, mocked: responses.RequestsMock
) -> None:
    mocked.add("POST", CREATE, json=prediction(status="failed"), status=201)
    done = asyncio.run(
        client.predictions.async_create(
            {"input": 1}, "o/n", wait=True, wait_options=AsyncWaitOptions(prefer_wait=7)
        )
    )
    assert done["status"] == "failed"
    assert mocked.calls[0].request.headers["Prefer"] == "wait=7"
    assert len(mocked.calls) == 1


def test_the_wait_timeout_counts_from_before_the_create(
    client: Client, mocked: responses.RequestsMock, clock: FakeClock
) -> None:
    mocked.add("GET", f"{BASE}/predictions/p1", json=prediction(status="started"))
    started = clock.now

    def held(request: Any) -> Any:
        clock.now += 4  # the server held the create 4 s
        return (201, {}, json.dumps(prediction(status="started")))

    mocked.add_callback("POST", CREATE, callback=held)
    with pytest.raises(WaitTimeoutError, match="did not finish within 5"):
        client.predictions.create(
            {"input": 1}, "o/n", wait=True, wait_options=WaitOptions(timeout=5)
        )
    assert clock.now - started <= 5 + 1e-9


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (-1, ValueError),
        (float("nan"), ValueError),
        ("10", TypeError),
        (True, TypeError),
    ],
)
def test_a_bad_hold_is_refused_and_nothing_is_sent(
    client: Client, mocked: responses.RequestsMock, value: Any, error: Any
) -> None:
    with pytest.raises(error, match="prefer_wait"):
        WaitOptions(prefer_wait=value)
    options = WaitOptions()
    options.prefer_wait = value
    with pytest.raises(error, match="prefer_wait"):
        client.predictions.create({"input": 1}, "o/n", wait=True, wait_options=options)
    assert len(mocked.calls) == 0


# Statuses


def test_starting_and_abandoned_are_statuses_after_the_seeds() -> None:
    assert [s.value for s in Status][-2:] == ["starting", "abandoned"]


def test_starting_is_waited_through_and_abandoned_ends_a_wait(
    client: Client, mocked: responses.RequestsMock
) -> None:
    for status in ("pending", "starting", "started", "abandoned"):
        mocked.add("GET", f"{BASE}/predictions/p1", json=prediction(status=status))
    assert client.predictions.wait("p1", WaitOptions(0))["status"] == "abandoned"
    assert len(mocked.calls) == 4


# Pages


@pytest.mark.parametrize(
    "page",
    [
        {"items": [], "next_cursor": None, "previous_cursor": None},
        {
            "items": [],
            "next_cursor": "c",
            "previous_cursor": None,
            "next_url": "https://x/next",
            "previous_url": None,
        },
        {"items": [], "next_cursor": None, "previous_cursor": None, "total": 0},
    ],
)
def test_pages_with_or_without_urls_and_with_extra_keys(
    client: Client, mocked: responses.RequestsMock, page: Dict[str, Any]
) -> None:
    mocked.add("GET", LIST, json=page)
    got = client.predictions.list()
    assert got.items == []
    assert got.next_cursor == page["next_cursor"]
    assert got.next_url == page.get("next_url")


def test_statuses_and_page_size_are_sent_as_given(
    client: Client, mocked: responses.RequestsMock
) -> None:
    mocked.add("GET", LIST, json={"items": [], "next_cursor": None})
    client.predictions.list({"page_size": 500, "statuses": ["failed", "cancelled"]})
    assert mocked.calls[0].request.url == (
        f"{LIST}?page_size=500&statuses=failed&statuses=cancelled"
    )


def test_iterate_keeps_the_filter_on_every_page(
    client: Client, mocked: responses.RequestsMock
) -> None:
    mocked.add("GET", LIST, json={"items": [prediction(id="a")], "next_cursor": "c2"})
    mocked.add("GET", LIST, json={"items": [prediction(id="b")], "next_cursor": None})
    items = list(client.predictions.iterate({"statuses": [Status.failed]}))
    assert [p["id"] for p in items] == ["a", "b"]
    assert mocked.calls[1].request.url == f"{LIST}?cursor=c2&statuses=failed"


@pytest.mark.parametrize(
    ("statuses", "error"),
    [
        ("failed", TypeError),
        ([1], TypeError),
        ({"failed"}, TypeError),
        ([""], ValueError),
        (["failed", "  "], ValueError),
    ],
)
def test_bad_statuses_are_refused_and_nothing_is_sent(
    client: Client, mocked: responses.RequestsMock, statuses: Any, error: Any
) -> None:
    with pytest.raises(error, match="status"):
        client.predictions.list({"statuses": statuses})
    with pytest.raises(error, match="status"):
        client.predictions.iterate({"statuses": statuses})
    with pytest.raises(error, match="status"):
        asyncio.run(client.predictions.async_list({"statuses": statuses}))
    assert len(mocked.calls) == 0


# Shapes and bodies


def test_a_prediction_without_url_or_logs_is_fine(
    client: Client, mocked: responses.RequestsMock
) -> None:
    bare = prediction()
    for key in ("metrics", "stream"):
        bare.pop(key)
    mocked.add("GET", f"{BASE}/predictions/p1", json=bare)
    assert client.predictions.get("p1") == bare


def test_create_bodies_are_compact_utf8_with_only_what_was_given(
    client: Client, mocked: responses.RequestsMock
) -> None:
    mocked.add("POST", CREATE, json=prediction(), status=201)
    client.predictions.create({"input": {"text": "héllo ✓", "n": [1, 2]}}, "o/n")
    body = mocked.calls[0].request.body
    assert body == '{"input":{"text":"héllo ✓","n":[1,2]}}'.encode()
    assert mocked.calls[0].request.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("value", "where"),
    [
        (math.nan, "['input']"),
        ({"a": [1, {"b": math.inf}]}, "['input']['a'][1]['b']"),
        ([0.5, -math.inf], "['input'][1]"),
    ],
)
def test_nan_and_infinities_are_refused_naming_where_and_nothing_is_sent(
    client: Client, mocked: responses.RequestsMock, value: Any, where: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(f"params{where}")):
        client.predictions.create({"input": value}, "o/n")
    with pytest.raises(ValueError, match="not JSON"):
        asyncio.run(client.predictions.async_create({"input": value}, "o/n"))
    assert len(mocked.calls) == 0


def test_held_async_creates_take_half_the_thread_pool_at_most(
    mocked: responses.RequestsMock,
) -> None:
    """A thousand async creates must not queue behind each other's holds."""
    client = Client(BASE, TOKEN, max_workers=4, pacing=False)
    mocked.add("POST", CREATE, json=prediction(status="succeeded"), status=201)
    with client.api.hold_place(True) as one:
        assert one
        with client.api.hold_place(True) as two:
            assert two
            with client.api.hold_place(True) as three:
                assert not three, "two of four threads are for holds"
            asyncio.run(client.predictions.async_create({"input": 1}, "o/n", True))
            headers = mocked.calls[0].request.headers
            assert "Prefer" not in headers, "no place: not held"
        asyncio.run(client.predictions.async_create({"input": 1}, "o/n", wait=True))
        assert mocked.calls[1].request.headers["Prefer"] == "wait"
        with client.api.hold_place(True) as again:
            assert again, "the held create gave its place back"
    client.close()


@pytest.mark.parametrize(
    "answer",
    [
        {
            "json": {"detail": "slow down"},
            "status": 429,
            "headers": {"Retry-After": "6"},
        },
    ],
)
def test_a_create_that_waits_never_runs_past_the_waits_timeout(
    client: Client,
    mocked: responses.RequestsMock,
    clock: FakeClock,
    answer: Dict[str, Any],
) -> None:
    """The create is bounded by the wait's deadline too: a 429 asking for 6 s
    made a wait of timeout=2 last 6 s (review finding)."""
    mocked.add("POST", CREATE, **answer)
    started = clock.now
    # The retry the server asks for would end past the deadline: not taken.
    with pytest.raises((WaitTimeoutError, RateLimitError)):
        client.predictions.create(
            {"input": 1}, "o/n", wait=True, wait_options=WaitOptions(timeout=2)
        )
    assert clock.now - started <= 2 + 1e-9
    assert len(mocked.calls) == 1, "nothing sent past the deadline"
