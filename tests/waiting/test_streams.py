"""Streaming a prediction's events: decode, resume, end once, release (fake sources)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from typing import Any, Dict, Iterator, List

import pytest
import responses

from predictions import Client, StreamError, WaitTimeoutError, hookimpl
from predictions._waiting.streams import Following
from tests.conftest import BASE, TOKEN, FakeClock, prediction

STREAM = f"{BASE}/predictions/p1/stream"
CREATE = f"{BASE}/models/o/n/predictions"


def block(event_id: int, kind: str, data: Any) -> bytes:
    return f"id: {event_id}\nevent: {kind}\ndata: {json.dumps(data)}\n\n".encode()


INIT = block(1, "init", prediction(status="starting", stream=True))
WORDS = [block(2, "output", "one "), block(3, "output", "two")]
DONE = block(4, "done", prediction(status="succeeded", output="one two"))
ALL = INIT + b"".join(WORDS) + b": ping\n\n" + DONE


class Ends:
    """Writes down the terminal and create hooks."""

    def __init__(self) -> None:
        self.terminals: List[Any] = []
        self.creates: List[Any] = []

    @hookimpl
    def predictions_on_terminal(self, prediction: Any, error: Any) -> None:
        self.terminals.append(
            (prediction and prediction["status"], error and type(error).__name__)
        )

    @hookimpl
    def predictions_on_create(self, prediction: Any) -> None:
        self.creates.append(prediction["id"])


@pytest.fixture
def ends() -> Ends:
    return Ends()


@pytest.fixture
def client(clock: FakeClock, ends: Ends) -> Iterator[Client]:
    with Client(
        BASE, TOKEN, clock=clock, pacing=False, plugins=[ends], strict_plugins=True
    ) as client:
        yield client


def events(items: List[Dict[str, Any]]) -> List[Any]:
    return [(e["id"], e["event"], e["data"]) for e in items]


def add_stream(mocked: responses.RequestsMock, body: bytes, **kw: Any) -> None:
    mocked.add("GET", STREAM, body=body, content_type="text/event-stream", **kw)


def test_stream_yields_every_event_until_the_terminal_one(
    client: Client, mocked: responses.RequestsMock, ends: Ends
) -> None:
    add_stream(mocked, ALL + block(5, "output", "after the end"))
    got = list(client.predictions.stream("p1"))
    assert [e["event"] for e in got] == ["init", "output", "output", "done"]
    assert got[1]["data"] == "one "
    assert ends.terminals == [("succeeded", None)]
    sent = mocked.calls[0].request
    assert sent.headers["Accept"] == "text/event-stream"
    assert sent.headers["Accept-Encoding"] == "identity"


def test_a_stream_closed_without_a_terminal_event_resumes_from_the_last_id(
    client: Client, mocked: responses.RequestsMock, clock: FakeClock
) -> None:
    """An idle close: resumed from the last id, nothing lost or repeated."""
    add_stream(mocked, INIT + WORDS[0])
    add_stream(mocked, WORDS[1])
    add_stream(mocked, DONE)
    clock_before = list(clock.sleeps)
    got = list(client.predictions.stream("p1", wait=5))
    assert [e["id"] for e in got] == ["1", "2", "3", "4"]
    urls = [c.request.url for c in mocked.calls]
    assert urls == [STREAM, f"{STREAM}?after_id=2", f"{STREAM}?after_id=3"]
    assert all(c.request.headers["Prefer"] == "wait=5" for c in mocked.calls)
    assert len(clock.sleeps) - len(clock_before) <= 2


def test_an_event_cut_off_by_a_dropped_connection_is_taken_whole_on_resume(
    client: Client, mocked: responses.RequestsMock
) -> None:
    """Half an event on a dead connection must not be glued to the next one."""
    add_stream(mocked, INIT + WORDS[0][:9])
    add_stream(mocked, b"".join(WORDS) + DONE)
    got = list(client.predictions.stream("p1"))
    assert [e["id"] for e in got] == ["1", "2", "3", "4"]
    assert got[1]["data"] == "one "
    assert mocked.calls[1].request.url == f"{STREAM}?after_id=1"


def test_an_error_event_ends_the_stream_with_a_failed_prediction(
    client: Client, mocked: responses.RequestsMock, ends: Ends
) -> None:
    error = {"source": "external", "message": "boom", "detail": None}
    add_stream(mocked, INIT + block(2, "error", error))
    got = list(client.predictions.stream("p1"))
    assert got[-1]["event"] == "error"
    assert got[-1]["data"] == error
    assert ends.terminals == [("failed", None)]


def test_a_stream_that_keeps_closing_at_once_ends_with_the_last_id(
    client: Client, mocked: responses.RequestsMock, ends: Ends
) -> None:
    add_stream(mocked, INIT)  # then nothing more, ever
    with pytest.raises(StreamError) as info:
        list(client.predictions.stream("p1"))
    assert info.value.last_event_id == "1"
    assert len(mocked.calls) == client.settings.max_retries + 2
    assert ends.terminals == [("starting", "StreamError")]


def test_a_failed_resume_is_a_stream_error_carrying_the_last_id(
    client: Client, mocked: responses.RequestsMock
) -> None:
    add_stream(mocked, INIT + WORDS[0])
    mocked.add("GET", STREAM, json={"detail": "gone"}, status=404)
    with pytest.raises(StreamError, match="could not be resumed") as info:
        list(client.predictions.stream("p1"))
    assert info.value.last_event_id == "2"


@pytest.mark.parametrize(
    ("body", "what"),
    [
        (b"event: output\ndata: 1\n\n", "without 'id'"),
        (b"id: 1\nevent: output\ndata: {not json\n\n", "not JSON"),
        (
            b"id: 1\nevent: output\ndata: " + b"x" * (5 * 1024 * 1024) + b"\n\n",
            "longer",
        ),
    ],
)
def test_a_malformed_stream_is_a_typed_error(
    client: Client, mocked: responses.RequestsMock, body: bytes, what: str
) -> None:
    add_stream(mocked, body)
    with pytest.raises(StreamError, match=what):
        list(client.predictions.stream("p1"))


def test_an_answer_that_is_not_an_event_stream_is_a_clear_error(
    client: Client, mocked: responses.RequestsMock
) -> None:
    mocked.add("GET", STREAM, json=prediction())
    with pytest.raises(StreamError, match="not an event stream"):
        list(client.predictions.stream("p1"))


def test_closing_a_stream_early_releases_its_connection(
    client: Client, mocked: responses.RequestsMock, ends: Ends
) -> None:
    add_stream(mocked, INIT + b"".join(WORDS))
    with contextlib.closing(client.predictions.stream("p1")) as stream:
        first = next(stream)
    assert first["event"] == "init"
    assert len(mocked.calls) == 1
    raw = mocked.calls[0].response.raw
    assert raw.closed, "the connection was released at once"
    assert ends.terminals == [(first["data"]["status"], "GeneratorExit")]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"after_id": 3}, TypeError),
        ({"wait": "5"}, TypeError),
        ({"wait": -1}, ValueError),
    ],
)
def test_bad_stream_arguments_send_nothing(
    client: Client, mocked: responses.RequestsMock, kwargs: Dict[str, Any], error: Any
) -> None:
    with pytest.raises(error):
        client.predictions.stream("p1", **kwargs)
    with pytest.raises(error):
        client.predictions.async_stream("p1", **kwargs)
    with pytest.raises(ValueError, match="prediction id"):
        client.predictions.stream("..")
    assert len(mocked.calls) == 0


# Creates that stream


def test_create_with_wait_and_stream_follows_the_creates_own_stream(
    client: Client, mocked: responses.RequestsMock, ends: Ends
) -> None:
    mocked.add("POST", CREATE, body=INIT + WORDS[0], content_type="text/event-stream")
    add_stream(mocked, WORDS[1] + DONE)
    got = list(
        client.predictions.create(
            {"input": {"text": "one two"}}, "o/n", True, stream=True
        )
    )
    assert [e["id"] for e in got] == ["1", "2", "3", "4"]
    post = mocked.calls[0].request
    assert json.loads(post.body) == {"input": {"text": "one two"}, "stream": True}
    assert post.headers["Prefer"] == "wait"
    assert "text/event-stream" in post.headers["Accept"]
    assert mocked.calls[1].request.url == f"{STREAM}?after_id=2"
    assert ends.creates == ["p1"]
    assert ends.terminals == [("succeeded", None)]


def test_create_with_stream_and_no_wait_returns_the_prediction(
    client: Client, mocked: responses.RequestsMock
) -> None:
    mocked.add("POST", CREATE, json=prediction(stream=True), status=201)
    created = client.predictions.create({"input": 1}, "o/n", stream=True)
    assert created["stream"] is True
    post = mocked.calls[0].request
    assert json.loads(post.body) == {"input": 1, "stream": True}
    assert "Prefer" not in post.headers


def test_a_server_answering_a_streamed_create_with_json_is_followed_by_stream(
    client: Client, mocked: responses.RequestsMock, ends: Ends
) -> None:
    """Never a hang: the prediction it answered is followed with stream()."""
    mocked.add("POST", CREATE, json=prediction(stream=True), status=201)
    add_stream(mocked, ALL)
    got = list(client.predictions.create({"input": 1}, "o/n", True, stream=True))
    assert got[-1]["event"] == "done"
    assert ends.creates == ["p1"]


# Async


def test_async_stream_and_async_create_with_stream(
    client: Client, mocked: responses.RequestsMock, ends: Ends
) -> None:
    add_stream(mocked, INIT + WORDS[0])
    add_stream(mocked, WORDS[1] + DONE)
    mocked.add("POST", CREATE, body=ALL, content_type="text/event-stream")

    async def main() -> List[List[Any]]:
        first = [e async for e in client.predictions.async_stream("p1")]
        stream = await client.predictions.async_create(
            {"input": 1}, "o/n", wait=True, stream=True
        )
        second = [e async for e in stream]
        return [events(first), events(second)]

    first, second = asyncio.run(main())
    assert [e[0] for e in first] == ["1", "2", "3", "4"]
    assert first == second
    assert ends.terminals == [("succeeded", None), ("succeeded", None)]


def test_an_async_stream_reads_on_threads_of_its_own(
    client: Client, mocked: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its waits for bytes never take a thread of the request pool."""
    add_stream(mocked, ALL)
    from predictions._http.stream import StreamReader

    threads: List[str] = []
    read = StreamReader.read

    def reading(self: StreamReader) -> bytes:
        threads.append(threading.current_thread().name)
        return read(self)

    monkeypatch.setattr(StreamReader, "read", reading)

    async def main() -> int:
        return len([e async for e in client.predictions.async_stream("p1")])

    assert asyncio.run(main()) == 4
    assert threads
    assert all(name.startswith("predictions-stream") for name in threads), threads


# Bounded (issue 19, item 10)


def test_reconnects_after_idle_closes_back_off_until_an_event_comes(
    client: Client, clock: FakeClock
) -> None:
    """A server that closes every idle stream after a second was asked again
    at once, forever: 12 reconnects in 12 s."""
    clock.jitter = 1.0
    following = Following(client.api, "p1")

    def idle_close() -> float:
        following.opened_at = clock.monotonic() - 5  # open a while: not a failure
        following.progressed = False
        return following.drop_connection(None)

    assert [idle_close() for _ in range(5)] == [0.5, 1.0, 2.0, 4.0, 8.0]
    following.progressed = True
    assert following.drop_connection(None) == 0.0  # events came: at once
    assert idle_close() == 0.5  # and the backoff starts over


def test_a_stream_of_heartbeats_only_ends_after_the_run_limit(
    client: Client, clock: FakeClock
) -> None:
    """A stream that only ever sent heartbeats had no bound at all."""
    from predictions._waiting.streams import SILENCE_LIMIT

    following = Following(client.api, "p1", after_id="3")
    clock.now += SILENCE_LIMIT - 1
    assert following.take(b": ping\n\n") == []
    assert [e["id"] for e in following.take(block(4, "output", "x"))] == ["4"]
    clock.now += SILENCE_LIMIT - 1  # an event restarts the count
    assert following.take(b": ping\n\n") == []
    clock.now += 1
    with pytest.raises(StreamError, match="no event for 1800 s") as caught:
        following.take(b": ping\n\n")
    assert caught.value.last_event_id == "4"
    following.progressed = False
    with pytest.raises(StreamError):  # nor does a reconnect count
        following.drop_connection(None)


def test_a_stream_keeps_the_callers_deadline(client: Client, clock: FakeClock) -> None:
    following = Following(client.api, "p1", deadline=clock.monotonic() + 5)
    assert following.request().deadline == clock.monotonic() + 5
    clock.now += 5
    with pytest.raises(WaitTimeoutError, match="did not end within"):
        following.take(b": ping\n\n")


# Unkind, made kind (issue 19)


def test_a_streamed_create_cut_before_init_says_how_to_find_its_prediction(
    client: Client, mocked: responses.RequestsMock
) -> None:
    """The caller was never told the prediction's id."""
    mocked.add("POST", CREATE, body=b": ping\n\n", content_type="text/event-stream")
    events = client.predictions.create({"input": 1}, "o/n", wait=True, stream=True)
    with pytest.raises(StreamError, match=r"predictions\.list\(\)") as caught:
        list(events)
    key = mocked.calls[0].request.headers["Idempotency-Key"]
    assert key in str(caught.value)
    assert len(mocked.calls) == 1, "a server may ignore the key: not sent again"


def test_a_streamed_create_cut_before_init_is_sent_again_where_creates_repeat(
    clock: FakeClock, mocked: responses.RequestsMock
) -> None:
    mocked.add("POST", CREATE, body=b": ping\n\n", content_type="text/event-stream")
    mocked.add("POST", CREATE, body=ALL, content_type="text/event-stream")
    with Client(
        BASE, TOKEN, clock=clock, pacing=False, retry_create="idempotent"
    ) as client:
        got = list(client.predictions.create({"input": 1}, "o/n", True, stream=True))
    assert [e["event"] for e in got] == ["init", "output", "output", "done"]
    keys = {call.request.headers["Idempotency-Key"] for call in mocked.calls}
    assert len(mocked.calls) == 2
    assert len(keys) == 1, "the same key: the server answers the same prediction"


def test_an_init_event_naming_an_unusable_id_is_an_invalid_response(
    client: Client, mocked: responses.RequestsMock
) -> None:
    """It raised a ValueError about an argument the caller never gave."""
    from predictions import InvalidResponseError

    bad = block(1, "init", prediction(id="..", status="starting", stream=True))
    mocked.add("POST", CREATE, body=bad, content_type="text/event-stream")
    events = client.predictions.create({"input": 1}, "o/n", wait=True, stream=True)
    with pytest.raises(InvalidResponseError, match=r"cannot be used: '\.\.'") as caught:
        list(events)
    assert not isinstance(caught.value, ValueError)
