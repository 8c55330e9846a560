"""Malformed answers: anything but the promised shape is an InvalidResponseError."""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Dict, Iterator

import pytest
import responses

from predictions import (
    AsyncWaitOptions,
    Client,
    InvalidResponseError,
    PredictionsError,
    WaitOptions,
)
from tests.attacks.conftest import describe, run_bounded
from tests.conftest import BASE, prediction

MODEL = "o/n"
CREATE_URL = f"{BASE}/models/o/n/predictions"
GET_URL = f"{BASE}/predictions/p1"
LIST_URL = f"{BASE}/predictions"
LIMIT = 10.0

DEEP_ARRAYS = "[" * 1100 + "]" * 1100
DEEP_OBJECTS = '{"a":' * 1100 + "1" + "}" * 1100


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WRIFTAI_ACCESS_TOKEN", "WRIFTAI_API_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def client() -> Iterator[Client]:
    client = Client(BASE, access_token="tok", pacing=False)
    yield client
    client.close()


def expect_invalid(call: Callable[[], Any]) -> InvalidResponseError:
    """Run `call` bounded; it must raise InvalidResponseError (a PredictionsError)."""
    outcome = run_bounded(call, LIMIT)
    assert outcome.finished, describe(outcome)
    assert isinstance(outcome.error, InvalidResponseError), describe(outcome)
    assert isinstance(outcome.error, PredictionsError)
    return outcome.error


def sync_and_async(
    client: Client, name: str, *args: Any
) -> Dict[str, Callable[[], Any]]:
    """The sync call and its async twin (run with asyncio.run), by mode."""
    sync = getattr(client.predictions, name)
    twin = getattr(client.predictions, f"async_{name}")
    return {
        "sync": lambda: sync(*args),
        "async": lambda: asyncio.run(twin(*args)),
    }


MODES = ["sync", "async"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("body", [DEEP_ARRAYS, DEEP_OBJECTS], ids=["arrays", "objects"])
def test_deeply_nested_get_answer_is_invalid_not_a_recursion_error(
    mocked: responses.RequestsMock, client: Client, body: str, mode: str
) -> None:
    """Models JSON nested 1,100 deep, which blows the decoder's recursion limit."""
    mocked.add("GET", GET_URL, body=body, content_type="application/json")
    expect_invalid(sync_and_async(client, "get", "p1")[mode])


def without(key: str) -> Dict[str, Any]:
    data = prediction()
    del data[key]
    return data


BAD_CREATES = {
    "no-id": without("id"),
    "id-is-a-number": prediction(id=5),
    "status-is-a-list": prediction(status=["pending"]),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("answer", list(BAD_CREATES), ids=list(BAD_CREATES))
def test_malformed_create_answer_is_invalid_and_not_sent_twice(
    mocked: responses.RequestsMock, client: Client, answer: str, mode: str
) -> None:
    """Models a create answer missing its id or with wrong types."""
    mocked.add("POST", CREATE_URL, json=BAD_CREATES[answer], status=201)
    expect_invalid(sync_and_async(client, "create", {"input": {"a": 1}}, MODEL)[mode])
    posts = [call for call in mocked.calls if call.request.method == "POST"]
    assert len(posts) == 1


@pytest.mark.parametrize("mode", MODES)
def test_malformed_create_answer_with_wait_is_invalid_and_not_sent_twice(
    mocked: responses.RequestsMock, client: Client, mode: str
) -> None:
    """Models create(wait=True) meeting an answer without an id (today a KeyError)."""
    mocked.add("POST", CREATE_URL, json=without("id"), status=201)

    def sync_call() -> Any:
        options = WaitOptions(poll_interval=0.01, timeout=2)
        return client.predictions.create(
            {"input": {"a": 1}}, MODEL, wait=True, wait_options=options
        )

    def async_call() -> Any:
        options = AsyncWaitOptions(poll_interval=0.01, timeout=2)
        return asyncio.run(
            client.predictions.async_create(
                {"input": {"a": 1}}, MODEL, wait=True, wait_options=options
            )
        )

    expect_invalid(sync_call if mode == "sync" else async_call)
    posts = [c for c in mocked.calls if c.request.method == "POST"]
    assert len(posts) == 1


@pytest.mark.parametrize("mode", MODES)
def test_get_answer_with_a_status_object_is_invalid(
    mocked: responses.RequestsMock, client: Client, mode: str
) -> None:
    """Models a get answer whose status is a dict."""
    mocked.add("GET", GET_URL, json=prediction(status={"state": "succeeded"}))
    expect_invalid(sync_and_async(client, "get", "p1")[mode])


def page(**changes: Any) -> Dict[str, Any]:
    data: Dict[str, Any] = {
        "items": [prediction()],
        "next_cursor": None,
        "previous_cursor": None,
    }
    data.update(changes)
    return data


BAD_PAGES = {
    "next-cursor-is-a-list": page(next_cursor=["c2"]),
    "item-not-an-object": page(items=[prediction(), "p2"]),
    "previous-cursor-is-a-number": page(previous_cursor=7),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("answer", list(BAD_PAGES), ids=list(BAD_PAGES))
def test_malformed_list_page_is_invalid(
    mocked: responses.RequestsMock, client: Client, answer: str, mode: str
) -> None:
    """Models a list page with wrongly typed cursors or items."""
    mocked.add("GET", LIST_URL, json=BAD_PAGES[answer])
    expect_invalid(sync_and_async(client, "list")[mode])


@pytest.mark.parametrize("mode", MODES)
def test_wait_on_a_poll_answer_with_a_status_list_is_invalid_not_a_type_error(
    mocked: responses.RequestsMock, client: Client, mode: str
) -> None:
    """Models a poll answer whose status is a list (today TypeError: unhashable)."""
    mocked.add("GET", GET_URL, json=prediction(status=["succeeded"]))

    def sync_call() -> Any:
        return client.predictions.wait("p1", WaitOptions(poll_interval=0.01, timeout=2))

    def async_call() -> Any:
        options = AsyncWaitOptions(poll_interval=0.01, timeout=2)
        return asyncio.run(client.predictions.async_wait("p1", options))

    expect_invalid(sync_call if mode == "sync" else async_call)
