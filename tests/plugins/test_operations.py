"""Operations and the hooks that tell of them, against mocks: sequences, retries, ends.

Each operation starts and ends exactly once, whatever ends it; the hooks
called meanwhile are told of it, with each attempt's number, its route's
template and its wall-clock start.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import warnings
from typing import Any, Iterator, List

import pytest
import requests
import responses

from predictions import (
    APIStatusError,
    AsyncWaitOptions,
    Client,
    PluginWarning,
    WaitOptions,
    WaitTimeoutError,
    current_operation,
    hookimpl,
)
from predictions._http import operations
from predictions.plugins import PluginHost
from tests.conftest import BASE, TOKEN, FakeClock, prediction
from tests.plugins.recording import Recording

URL = f"{BASE}/predictions/p1"
CREATE = f"{BASE}/models/o/n/predictions"
GET = "/predictions/{id}"
POST = "/models/{owner}/{name}/predictions"


@pytest.fixture
def recording() -> Recording:
    return Recording()


@pytest.fixture
def client(recording: Recording) -> Iterator[Client]:
    with Client(
        BASE, TOKEN, plugins=[recording], strict_plugins=True, clock=FakeClock()
    ) as made:
        yield made


def test_create_that_waits_is_one_operation_from_its_request_to_its_terminal(
    client: Client, recording: Recording, mocked: responses.RequestsMock
) -> None:
    mocked.add("POST", CREATE, json=prediction(), status=201)
    mocked.add("GET", URL, json=prediction(status="started"))
    mocked.add("GET", URL, json=prediction(status="succeeded"))
    client.predictions.create(
        {"input": 1}, "o/n", wait=True, wait_options=WaitOptions(0)
    )
    op = "prediction:create#0"
    assert [(e.hook, e.operation, e.detail) for e in recording.events] == [
        ("start", op, None),
        ("headers", op, ("POST", CREATE, 1)),
        ("request", op, ("POST", POST, 1)),
        ("response", op, (201, POST, 1)),
        ("create", op, ("p1", "o/n")),
        ("headers", op, ("GET", URL, 1)),
        ("request", op, ("GET", GET, 1)),
        ("response", op, (200, GET, 1)),
        ("poll", op, ("started", 1)),
        ("headers", op, ("GET", URL, 1)),
        ("request", op, ("GET", GET, 1)),
        ("response", op, (200, GET, 1)),
        ("poll", op, ("succeeded", 2)),
        ("terminal", op, ("succeeded", None)),
        ("end", op, None),
    ]
    inside = [e.current for e in recording.events if e.hook not in ("start", "end")]
    assert set(inside) == {op}, "current while it runs"
    assert recording.events[0].current is None
    assert recording.events[-1].current is None
    (operation,) = recording.operations
    assert (operation.kind, operation.name, operation.parent) == (
        "prediction",
        "create",
        None,
    )
    assert operation.model == "o/n:1", "the caller's name, then the prediction's model"
    assert (operation.prediction_id, operation.polls) == ("p1", 2)
    assert operation.prediction is not None
    assert operation.prediction["status"] == "succeeded"
    assert current_operation() is None, "nothing left current in the caller's context"


def test_create_then_wait_are_two_operations(
    client: Client, recording: Recording, mocked: responses.RequestsMock
) -> None:
    mocked.add("POST", CREATE, json=prediction(), status=201)
    mocked.add("GET", URL, json=prediction(status="failed"))
    created = client.predictions.create({"input": 1}, "o/n")
    client.predictions.wait(created["id"], WaitOptions(0))
    assert [(e.hook, e.operation) for e in recording.events if e.hook != "headers"] == [
        ("start", "prediction:create#0"),
        ("request", "prediction:create#0"),
        ("response", "prediction:create#0"),
        ("create", "prediction:create#0"),
        ("end", "prediction:create#0"),
        ("start", "prediction:wait#1"),
        ("request", "prediction:wait#1"),
        ("response", "prediction:wait#1"),
        ("poll", "prediction:wait#1"),
        ("terminal", "prediction:wait#1"),
        ("end", "prediction:wait#1"),
    ]
    wait = recording.operations[1]
    assert wait.model == "o/n:1"
    assert wait.prediction_id == "p1"
    assert recording.of("end")[1].detail is None, "a failed status is no error"


def test_a_refused_connection_is_one_request_error_then_a_retry(
    client: Client, recording: Recording, mocked: responses.RequestsMock
) -> None:
    mocked.add("GET", URL, body=requests.exceptions.ConnectionError("refused"))
    mocked.add("GET", URL, json=prediction())
    client.predictions.get("p1")
    assert [(e.hook, e.detail) for e in recording.events if e.hook != "headers"] == [
        ("request", ("GET", GET, 1)),
        ("error", ("APIConnectionError", GET, 1)),
        ("retry", ("GET", 1)),
        ("request", ("GET", GET, 2)),
        ("response", (200, GET, 2)),
    ]
    assert {e.operation for e in recording.events} == {None}, "a get is no operation"


def test_a_wait_that_times_out_ends_once_with_the_timeout(
    client: Client, recording: Recording, mocked: responses.RequestsMock
) -> None:
    mocked.add("GET", URL, json=prediction(status="started"))
    with pytest.raises(WaitTimeoutError):
        client.predictions.wait("p1", WaitOptions(1, timeout=2.5))
    assert recording.of("end")[-1].detail == "WaitTimeoutError"
    assert recording.each_ended_once()


def test_keyboard_interrupt_ends_the_operation_once(
    client: Client, recording: Recording, mocked: responses.RequestsMock
) -> None:
    mocked.add("POST", CREATE, json=prediction(), status=201)
    mocked.add("GET", URL, json=prediction(status="started"))

    def on_poll(p: Any) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        client.predictions.create(
            {"input": 1}, "o/n", wait=True, wait_options=WaitOptions(0, on_poll)
        )
    assert [e.detail for e in recording.of("end")] == ["KeyboardInterrupt"]
    assert recording.each_ended_once()
    assert current_operation() is None


def test_a_cancelled_async_wait_ends_once_with_the_cancellation(
    client: Client, recording: Recording, mocked: responses.RequestsMock
) -> None:
    mocked.add("GET", URL, json=prediction(status="started"))

    async def on_poll(p: Any) -> None:
        if recording.hooks("poll") == ["poll", "poll"]:
            asyncio.current_task().cancel()  # type: ignore[union-attr]

    async def main() -> None:
        with pytest.raises(asyncio.CancelledError):
            await client.predictions.async_wait("p1", AsyncWaitOptions(0, on_poll))

    asyncio.run(main())
    assert [e.detail for e in recording.of("end")] == ["CancelledError"]
    assert recording.each_ended_once()


def test_async_create_runs_its_requests_under_it_on_pool_threads(
    client: Client, recording: Recording, mocked: responses.RequestsMock
) -> None:
    mocked.add("POST", CREATE, json=prediction(status="succeeded"), status=201)

    async def main() -> None:
        await client.predictions.async_create({"input": 1}, "o/n", wait=True)

    asyncio.run(main())
    request = recording.of("request")[0]
    assert request.operation == request.current == "prediction:create#0"
    assert request.thread != threading.current_thread().name
    assert recording.hooks() == [
        "start", "headers", "request", "response", "create", "terminal", "end",
    ]  # fmt: skip


def test_a_streaming_create_never_iterated_still_ends_once(
    client: Client, recording: Recording, mocked: responses.RequestsMock
) -> None:
    stream = "id: 1\nevent: init\ndata: " + '{"id": "p1", "status": "starting"}\n\n'
    mocked.add(
        "POST",
        CREATE,
        body=stream,
        status=201,
        content_type="text/event-stream",
    )
    events = client.predictions.create({"input": 1}, "o/n", wait=True, stream=True)
    assert recording.hooks("start") == ["start"]
    assert not recording.of("end")
    assert recording.of("start")[0].operation == "stream:create#0"
    del events
    gc.collect()
    assert [e.detail for e in recording.of("end")] == ["GeneratorExit"]
    assert recording.each_ended_once()


def test_request_headers_are_added_but_never_replace_the_clients(
    mocked: responses.RequestsMock,
) -> None:
    adds = Recording({"traceparent": "00-abc-01", "Authorization": "Bearer evil"})
    mocked.add("GET", URL, json=prediction())
    mocked.add("GET", URL, json=prediction())
    client = Client(BASE, TOKEN, plugins=[adds], clock=FakeClock())
    with client, warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        client.predictions.get("p1")
        client.predictions.get("p1")
    assert [str(w.message) for w in warned if w.category is PluginWarning] == [
        "plugin 'tests.plugins.recording.Recording': header 'Authorization' not "
        "added (the client sets it itself); this plugin's headers are checked so "
        "from now on, without another warning"
    ], "once per plugin"
    for call in mocked.calls:
        assert call.request.headers["traceparent"] == "00-abc-01"
        assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"


class Broken:
    @hookimpl
    def predictions_request_headers(self) -> Any:
        return {"X-Ok": "1", "X-Bad": "two\r\nlines", 3: "x"}


def test_headers_that_are_not_headers_are_dropped_and_the_request_goes(
    mocked: responses.RequestsMock,
) -> None:
    mocked.add("GET", URL, json=prediction())
    client = Client(BASE, TOKEN, plugins=[Broken()], clock=FakeClock())
    with client, pytest.warns(PluginWarning, match="not added"):
        client.predictions.get("p1")
    headers = mocked.calls[0].request.headers
    assert headers["X-Ok"] == "1"
    assert "X-Bad" not in headers


def test_a_redirect_to_another_origin_asks_for_no_headers(
    client: Client, recording: Recording, mocked: responses.RequestsMock
) -> None:
    elsewhere = "https://elsewhere.test/files/out.txt"
    done = prediction(status="succeeded", output=f"{BASE}/files/out.txt")
    mocked.add(
        "GET", f"{BASE}/files/out.txt", status=302, headers={"Location": elsewhere}
    )
    mocked.add("GET", elsewhere, body=b"data", headers={"Content-Length": "4"})
    assert client.predictions.output_files(done)[0].read() == b"data"
    assert recording.of("headers") == [], "an output file's URL is another's"
    assert [e.detail for e in recording.of("request")] == [
        ("GET", None, 1),
        ("GET", None, 1),
    ], "no template outside the API's routes"


def test_no_operation_is_made_without_a_plugin(
    mocked: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an Operation was made with no plugin active")

    monkeypatch.setattr(operations, "Operation", refuse)
    mocked.add("POST", CREATE, json=prediction(), status=201)
    mocked.add("GET", URL, json=prediction(status="succeeded"))
    seen: List[Any] = []
    with Client(BASE, TOKEN, clock=FakeClock()) as client:
        client.predictions.create(
            {"input": 1},
            "o/n",
            wait=True,
            wait_options=WaitOptions(0, lambda p: seen.append(current_operation())),
        )
    assert seen == [None]
    assert operations.scope(PluginHost(entry_points=False), "batch", "batch") is (
        operations.NOTHING
    )


def test_an_api_redirect_elsewhere_is_not_followed_nor_asked_for_headers(
    client: Client, recording: Recording, mocked: responses.RequestsMock
) -> None:
    moved = f"{BASE}/predictions/p2"
    mocked.add("GET", URL, status=307, headers={"Location": moved})
    mocked.add("GET", moved, status=307, headers={"Location": "https://evil.test/x"})
    with pytest.raises(APIStatusError, match="another origin"):
        client.predictions.get("p1", max_retries=0)
    assert [e.detail[1] for e in recording.of("headers")] == [URL, moved]
    assert [e.detail[1] for e in recording.of("request")] == [GET, None]
    assert [e.detail for e in recording.of("error")] == [("APIStatusError", None, 1)]


class Raising:
    @hookimpl
    def predictions_request_headers(self) -> Any:
        raise RuntimeError("the tracer is down")


def test_a_request_headers_hook_that_raises_costs_the_request_nothing(
    mocked: responses.RequestsMock,
) -> None:
    mocked.add("GET", URL, json=prediction())
    client = Client(BASE, TOKEN, plugins=[Raising()], clock=FakeClock())
    with client, pytest.warns(PluginWarning, match="the tracer is down"):
        assert client.predictions.get("p1")["id"] == "p1"
