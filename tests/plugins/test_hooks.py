"""Hooks fire at the right moments, sync and async: a plugin registered in the test."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any, Iterator, List, Optional, Tuple

import pytest
import responses

from predictions import (
    AsyncWaitOptions,
    Client,
    NotFoundError,
    WaitOptions,
    WaitTimeoutError,
    hookimpl,
)
from tests.conftest import BASE, TOKEN, FakeClock, prediction

URL = f"{BASE}/predictions/p1"
CREATE = f"{BASE}/models/o/n/predictions"


class Recorder:
    """Implements every hook and writes down what it saw, and on which thread."""

    def __init__(self) -> None:
        self.events: List[Tuple[str, Any]] = []
        self.threads: List[Tuple[str, str]] = []

    def _note(self, hook: str, detail: Any) -> None:
        self.events.append((hook, detail))
        self.threads.append((hook, threading.current_thread().name))

    @hookimpl
    def predictions_on_request(self, request: Any, attempt: int) -> None:
        request.headers["traceparent"] = f"00-trace-{attempt}"
        self._note("request", (request.method, attempt))

    @hookimpl
    def predictions_on_response(
        self, request: Any, response: Any, elapsed: float
    ) -> None:
        assert elapsed >= 0
        self._note("response", response.status_code)

    @hookimpl
    def predictions_on_retry(
        self, method: str, attempt: int, delay: float, error: Any
    ) -> None:
        self._note("retry", (method, attempt, delay >= 0, type(error).__name__))

    @hookimpl
    def predictions_on_create(self, prediction: Any, model: str, params: Any) -> None:
        self._note("create", (prediction["id"], model, dict(params)))

    @hookimpl
    def predictions_on_poll(self, prediction: Any, polls: int, elapsed: float) -> None:
        self._note("poll", (prediction["status"], polls))

    @hookimpl
    def predictions_on_terminal(
        self, prediction: Optional[Any], error: Optional[BaseException], polls: int
    ) -> None:
        status = prediction["status"] if prediction else None
        self._note("terminal", (status, type(error).__name__ if error else None, polls))

    def hooks(self) -> List[str]:
        return [hook for hook, _ in self.events]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def client(recorder: Recorder) -> Iterator[Client]:
    with Client(
        BASE, TOKEN, plugins=[recorder], strict_plugins=True, clock=FakeClock()
    ) as client:
        yield client


def test_create_and_wait_fire_every_hook_in_order(
    client: Client, recorder: Recorder, mocked: responses.RequestsMock
) -> None:
    mocked.add("POST", CREATE, json=prediction(), status=201)
    mocked.add("GET", URL, json=prediction(status="started"))
    mocked.add("GET", URL, json=prediction(status="succeeded"))
    callback: List[str] = []

    def on_poll(p: Any) -> None:
        callback.append(p["status"])
        recorder.events.append(("callback", p["status"]))

    client.predictions.create(
        {"input": 1}, "o/n", wait=True, wait_options=WaitOptions(0, on_poll)
    )
    assert recorder.hooks() == [
        "request", "response", "create",
        "request", "response", "poll", "callback",
        "request", "response", "poll", "callback",
        "terminal",
    ]  # fmt: skip
    polls = [detail for hook, detail in recorder.events if hook == "poll"]
    assert polls == [("started", 1), ("succeeded", 2)]
    assert [status for status, _ in polls] == callback
    assert ("create", ("p1", "o/n", {"input": 1})) in recorder.events
    assert recorder.events[-1] == ("terminal", ("succeeded", None, 2))


def test_on_request_may_add_headers(
    client: Client, recorder: Recorder, mocked: responses.RequestsMock
) -> None:
    mocked.add("GET", URL, json=prediction())
    client.predictions.get("p1")
    assert mocked.calls[0].request.headers["traceparent"] == "00-trace-1"
    assert mocked.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_on_retry_before_each_retry_with_attempt_and_delay(
    client: Client, recorder: Recorder, mocked: responses.RequestsMock
) -> None:
    mocked.add("GET", URL, json={"detail": "busy"}, status=503)
    mocked.add("GET", URL, json={"detail": "busy"}, status=503)
    mocked.add("GET", URL, json=prediction())
    client.predictions.get("p1")
    assert [d for h, d in recorder.events if h == "retry"] == [
        ("GET", 1, True, "InternalServerError"),
        ("GET", 2, True, "InternalServerError"),
    ]
    assert [d for h, d in recorder.events if h == "request"] == [
        ("GET", 1),
        ("GET", 2),
        ("GET", 3),
    ]
    assert mocked.calls[2].request.headers["traceparent"] == "00-trace-3"


def test_async_hooks_and_their_threads(
    client: Client, recorder: Recorder, mocked: responses.RequestsMock
) -> None:
    mocked.add("POST", CREATE, json=prediction(), status=201)
    mocked.add("GET", URL, json=prediction(status="started"))
    mocked.add("GET", URL, json=prediction(status="succeeded"))
    seen: List[str] = []

    async def on_poll(p: Any) -> None:
        seen.append(p["status"])
        recorder.events.append(("callback", p["status"]))

    result = asyncio.run(
        client.predictions.async_create(
            {"input": 1}, "o/n", wait=True, wait_options=AsyncWaitOptions(0, on_poll)
        )
    )
    assert result["status"] == "succeeded"
    assert [h for h in recorder.hooks() if h in ("poll", "callback", "terminal")] == [
        "poll", "callback", "poll", "callback", "terminal",
    ]  # fmt: skip
    loop_thread = threading.current_thread().name
    for hook, thread in recorder.threads:
        if hook in ("request", "response"):
            assert thread.startswith("predictions"), (hook, thread)
        else:
            assert thread == loop_thread, (hook, thread)


@pytest.mark.parametrize(
    ("answers", "options", "expected"),
    [
        (["failed"], WaitOptions(0), ("failed", None, 1)),
        (
            ["started"],
            WaitOptions(0.01, timeout=0.05),
            ("started", "WaitTimeoutError", None),
        ),
        ([404], WaitOptions(0), (None, "NotFoundError", 0)),
    ],
)
def test_on_terminal_fires_exactly_once_however_the_wait_ends(
    client: Client,
    recorder: Recorder,
    mocked: responses.RequestsMock,
    answers: List[Any],
    options: WaitOptions,
    expected: Tuple[Any, Any, Any],
) -> None:
    for answer in answers:
        if answer == 404:
            mocked.add("GET", URL, json={"detail": "gone"}, status=404)
        else:
            mocked.add("GET", URL, json=prediction(status=answer))
    with contextlib.suppress(WaitTimeoutError, NotFoundError):
        client.predictions.wait("p1", options)
    terminals = [d for h, d in recorder.events if h == "terminal"]
    assert len(terminals) == 1
    status, error, polls = terminals[0]
    assert (status, error) == expected[:2]
    if expected[2] is not None:
        assert polls == expected[2]


class SlowClock(FakeClock):
    """Every sleep between polls lasts ten seconds on the event loop."""

    async def async_sleep(self, seconds: float) -> None:
        await asyncio.sleep(10)


def test_on_terminal_fires_once_when_an_async_wait_is_cancelled(
    recorder: Recorder, mocked: responses.RequestsMock
) -> None:
    mocked.add("GET", URL, json=prediction(status="started"))
    client = Client(BASE, TOKEN, plugins=[recorder], clock=SlowClock())

    async def main() -> None:
        polled = asyncio.Event()

        async def on_poll(p: Any) -> None:
            polled.set()

        task = asyncio.ensure_future(
            client.predictions.async_wait("p1", AsyncWaitOptions(1, on_poll))
        )
        await polled.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert [d for h, d in recorder.events if h == "terminal"] == [
        ("started", "CancelledError", 1)
    ]


def test_no_plugin_means_no_hook_work(mocked: responses.RequestsMock) -> None:
    mocked.add("GET", URL, json=prediction())
    with Client(BASE) as client:
        assert client.plugins.active is False
        client.predictions.get("p1")
