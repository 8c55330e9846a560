"""Conveniences: `run` and `async_run`, `async with Client`, `wait(prediction_id=)`."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
from typing import Any, Iterator, List

import pytest
import responses

import predictions
from predictions import (
    AsyncWaitOptions,
    Client,
    PredictionFailedError,
    PredictionsError,
    WaitOptions,
    _run,
)
from predictions.predictions import Predictions
from predictions.testing import LocalServer
from tests.conftest import BASE, TOKEN, prediction

CREATE = f"{BASE}/models/o/n/predictions"


@pytest.fixture(autouse=True)
def default_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[_run.DefaultClient]:
    """A fresh process-wide client for `run` in each test, closed after it."""
    fresh = _run.DefaultClient()
    monkeypatch.setattr(_run, "DEFAULT_CLIENT", fresh)
    monkeypatch.setenv("WRIFTAI_API_BASE_URL", BASE)
    monkeypatch.setenv("WRIFTAI_ACCESS_TOKEN", TOKEN)
    yield fresh
    made = fresh._made
    if made is not None:
        made[1].close()


def predictions_threads() -> List[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("predictions")]


# run and async_run, against responses


def test_run_sends_the_input_and_returns_the_output(
    mocked: responses.RequestsMock,
) -> None:
    done = prediction(status="succeeded", output={"answer": 42})
    mocked.add("POST", CREATE, json=done, status=201)
    assert predictions.run("o/n", {"prompt": "hi"}) == {"answer": 42}
    request = mocked.calls[0].request
    assert json.loads(request.body) == {"input": {"prompt": "hi"}}
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Prefer"].startswith("wait")  # a create that waits


def test_run_polls_until_the_prediction_ends(mocked: responses.RequestsMock) -> None:
    mocked.add("POST", CREATE, json=prediction(status="pending"), status=202)
    mocked.add("GET", f"{BASE}/predictions/p1", json=prediction(status="started"))
    done = prediction(status="succeeded", output="hello")
    mocked.add("GET", f"{BASE}/predictions/p1", json=done)
    polled: List[str] = []
    options = WaitOptions(poll_interval=0, on_poll=lambda p: polled.append(p["status"]))
    assert predictions.run("o/n", "hi", wait_options=options) == "hello"
    assert polled == ["started", "succeeded"]


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [
        ("failed", {"source": "internal", "message": "boom", "detail": None}, "boom"),
        ("failed", None, "prediction p1 failed"),
        ("cancelled", None, "prediction p1 cancelled"),
        ("canceled", None, "prediction p1 canceled"),
        ("abandoned", None, "prediction p1 abandoned"),
    ],
)
def test_run_raises_when_the_prediction_did_not_succeed(
    mocked: responses.RequestsMock, status: str, error: Any, message: str
) -> None:
    ended = prediction(status=status, error=error)
    mocked.add("POST", CREATE, json=ended, status=201)
    with pytest.raises(PredictionFailedError, match=message) as caught:
        predictions.run("o/n", 1)
    assert caught.value.prediction == ended
    assert isinstance(caught.value, PredictionsError)
    assert str(caught.value) == (
        f"prediction p1 {status}: {message}" if error else message
    )


def test_run_passes_max_retries_on(mocked: responses.RequestsMock) -> None:
    mocked.add("POST", CREATE, status=429, json={"detail": "slow down"})
    with pytest.raises(predictions.RateLimitError):
        predictions.run("o/n", 1, max_retries=0)
    assert len(mocked.calls) == 1  # the client's 2 retries would make it 3


def test_run_refuses_what_create_refuses() -> None:
    with pytest.raises(ValueError, match="model"):
        predictions.run("not a model", 1)
    with pytest.raises(TypeError):
        predictions.run("o/n", 1, stream=True)  # type: ignore[call-arg]


def test_async_run_shares_the_decision(mocked: responses.RequestsMock) -> None:
    mocked.add("POST", CREATE, json=prediction(status="succeeded", output=[1, 2]))
    mocked.add("POST", CREATE, json=prediction(status="failed"))
    assert asyncio.run(predictions.async_run("o/n", {"x": 1})) == [1, 2]
    assert json.loads(mocked.calls[0].request.body) == {"input": {"x": 1}}
    with pytest.raises(PredictionFailedError, match="prediction p1 failed"):
        asyncio.run(predictions.async_run("o/n", {"x": 1}))


def test_async_run_takes_async_wait_options(mocked: responses.RequestsMock) -> None:
    mocked.add("POST", CREATE, json=prediction(status="pending"), status=202)
    mocked.add("GET", f"{BASE}/predictions/p1", json=prediction(status="succeeded"))
    seen: List[str] = []

    async def on_poll(p: Any) -> None:
        seen.append(p["status"])

    options = AsyncWaitOptions(poll_interval=0, on_poll=on_poll)
    assert asyncio.run(predictions.async_run("o/n", 1, wait_options=options)) is None
    assert seen == ["succeeded"]


# the default client


def test_the_default_client_is_made_once_and_shared_by_threads(
    default_client: _run.DefaultClient,
) -> None:
    barrier = threading.Barrier(8)
    got: List[Client] = []

    def get() -> None:
        barrier.wait()
        got.append(default_client.get())

    threads = [threading.Thread(target=get) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 8
    assert all(client is got[0] for client in got)
    assert default_client.get() is got[0]
    assert got[0].base_url == BASE


def test_the_default_client_follows_the_environment(
    default_client: _run.DefaultClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = default_client.get()
    monkeypatch.setenv("WRIFTAI_API_BASE_URL", "https://elsewhere.test/v1")
    second = default_client.get()
    assert second is not first
    assert second.base_url == "https://elsewhere.test/v1"
    first.close()
    monkeypatch.setenv("WRIFTAI_ACCESS_TOKEN", "another")
    third = default_client.get()
    assert third is not second
    assert third.settings.access_token == "another"
    second.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_makes_its_own_default_client(
    default_client: _run.DefaultClient,
) -> None:
    parent = default_client.get()
    read, write = os.pipe()
    # The parent's lock is held at the fork: the child must not wait for it.
    with default_client._lock:
        pid = os.fork()
    if pid == 0:  # the child: report, and leave without running pytest's exit
        try:
            signal.alarm(10)  # a deadlock ends the child, and the test fails
            child = default_client.get()
            answer = b"own" if child is not parent else b"parent's"
            os.write(write, answer + b" " + child.base_url.encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        answer = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status), status
    assert answer == b"own " + BASE.encode()
    assert default_client.get() is parent  # the parent keeps its own


# run against the local server


def test_run_and_async_run_against_the_local_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with LocalServer() as server:
        monkeypatch.setenv("WRIFTAI_API_BASE_URL", server.base_url)
        monkeypatch.delenv("WRIFTAI_ACCESS_TOKEN")
        assert predictions.run("demo/echo", {"text": "hi"}) == {"text": "hi"}
        with pytest.raises(PredictionFailedError, match="oops") as caught:
            predictions.run("demo/fail", {"message": "oops"})
        failed = caught.value.prediction
        assert failed["status"] == "failed"
        assert server.prediction(failed["id"]) is not None

        async def both() -> None:
            assert await predictions.async_run("demo/echo", [1, 2]) == [1, 2]
            with pytest.raises(PredictionFailedError, match="demo/fail always fails"):
                await predictions.async_run("demo/fail", {})

        asyncio.run(both())


# async with Client


def test_async_with_closes_the_client_and_leaves_no_thread(
    mocked: responses.RequestsMock,
) -> None:
    mocked.add("GET", f"{BASE}/predictions/p1", json=prediction())
    before = predictions_threads()

    async def main() -> Client:
        async with Client(BASE, TOKEN) as client:
            assert await client.predictions.async_get("p1") == prediction()
            assert len(predictions_threads()) > len(before)  # the pool ran it
        return client

    client = asyncio.run(main())
    assert predictions_threads() == before
    with pytest.raises(PredictionsError, match="closed"):
        client.predictions.get("p1")


def test_async_with_closes_on_an_error_and_lets_it_through() -> None:
    client = Client(BASE, TOKEN)

    async def main() -> None:
        async with client:
            raise KeyError("mine")

    with pytest.raises(KeyError, match="mine"):
        asyncio.run(main())
    with pytest.raises(PredictionsError, match="closed"):
        client.predictions.get("p1")


def test_async_with_closes_off_the_loop(mocked: responses.RequestsMock) -> None:
    """Closing waits for a request in flight; the event loop keeps running meanwhile."""
    started, release = threading.Event(), threading.Event()

    def slow(request: Any) -> Any:
        started.set()
        release.wait(5)  # if closing blocked the loop, only this would end it
        return 200, {}, json.dumps(prediction())

    mocked.add_callback("GET", f"{BASE}/predictions/p1", callback=slow)
    ticks: List[bool] = []

    async def tick() -> None:
        await asyncio.sleep(0.05)
        ticks.append(True)
        release.set()

    async def main() -> None:
        async with Client(BASE, TOKEN) as client:
            request = asyncio.ensure_future(client.predictions.async_get("p1"))
            while not started.is_set():
                await asyncio.sleep(0.01)
            request.cancel()  # its request goes on in its thread
            ticker = asyncio.ensure_future(tick())
        assert ticks == [True]  # the loop ran the ticker while the client closed
        await ticker

    asyncio.run(main())
    assert predictions_threads() == []


# wait(prediction_id=)


def test_wait_takes_the_id_by_either_name(
    preds: Predictions, mocked: responses.RequestsMock
) -> None:
    done = prediction(status="succeeded")
    for _ in range(4):
        mocked.add("GET", f"{BASE}/predictions/p1", json=done)
    assert preds.wait("p1") == done  # the seed's call
    assert preds.wait(predictionID="p1") == done
    assert preds.wait(prediction_id="p1") == done
    assert preds.wait(prediction_id="p1", options=WaitOptions(poll_interval=0)) == done


def test_async_wait_takes_the_id_by_either_name(
    preds: Predictions, mocked: responses.RequestsMock
) -> None:
    done = prediction(status="succeeded")
    for _ in range(2):
        mocked.add("GET", f"{BASE}/predictions/p1", json=done)
    assert asyncio.run(preds.async_wait("p1")) == done
    assert asyncio.run(preds.async_wait(prediction_id="p1")) == done


@pytest.mark.parametrize(
    ("args", "kwargs", "word"),
    [
        ((), {}, "neither"),
        (("p1",), {"prediction_id": "p1"}, "both"),
        ((), {"predictionID": "p1", "prediction_id": "p2"}, "both"),
    ],
)
def test_wait_refuses_neither_or_both_ids(
    preds: Predictions, args: Any, kwargs: Any, word: str
) -> None:
    # The mocked transport is not active: nothing may be sent.
    with pytest.raises(TypeError, match=word):
        preds.wait(*args, **kwargs)
    with pytest.raises(TypeError, match=word):
        asyncio.run(preds.async_wait(*args, **kwargs))
