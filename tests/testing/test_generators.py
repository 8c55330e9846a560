"""Generator models: pieces as events, the output they make, failures, cancels."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, AsyncIterator, Callable, Iterator

import pytest
import requests

from predictions.testing import LocalServer, PredictionContext

from .raw_stream import get_stream, parse_events, stream_path


def run(session: requests.Session, server: LocalServer, model: str, input: Any) -> Any:
    """Create a streamed prediction, wait for its end; (prediction, events)."""
    response = session.post(
        server.base_url + "/predictions",
        json={"model": model, "input": input, "stream": True},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    pid = response.json()["id"]
    done = server.wait(pid)
    with get_stream(server.port, stream_path(pid)) as conn:
        events = parse_events(b"".join(data for _, data in conn.chunks()))
    return done, events


def outputs(events: Any) -> Any:
    return [data for _, kind, data in events if kind == "output"]


def test_a_sync_generator_of_values_outputs_their_list(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    def counts(input: Any) -> Iterator[Any]:
        for n in range(input["n"]):
            yield {"n": n}

    server = make_server(models={"me/counts": counts})
    done, events = run(session, server, "me/counts", {"n": 3})
    assert done["status"] == "succeeded"
    assert done["output"] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert outputs(events) == done["output"]
    assert events[-1][1] == "done"
    assert events[-1][2] == done


def test_an_async_generator_of_strings_outputs_their_text(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    async def tokens(input: Any, ctx: PredictionContext) -> AsyncIterator[str]:
        for token in ("to", "ken", "s"):
            await asyncio.sleep(0)
            ctx.log(token)
            yield token

    server = make_server(models={"me/tokens": tokens})
    done, events = run(session, server, "me/tokens", {})
    assert done["output"] == "tokens"
    assert outputs(events) == ["to", "ken", "s"]
    assert done["logs"] == ["to", "ken", "s"]


def test_a_generator_that_yields_nothing_outputs_an_empty_string(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    def nothing(input: Any) -> Iterator[str]:
        yield from ()

    server = make_server(models={"me/nothing": nothing})
    done, events = run(session, server, "me/nothing", {})
    assert done["output"] == ""
    assert [kind for _, kind, _ in events] == ["init", "done"]


def test_a_generator_without_stream_still_makes_its_output(
    server: LocalServer, session: requests.Session
) -> None:
    created = session.post(
        server.base_url + "/predictions",
        json={"model": "demo/stream-words", "input": {"text": "a b"}},
        timeout=10,
    ).json()
    assert server.wait(created["id"])["output"] == "a b"
    assert server.wait(created["id"])["stream"] is False


def test_a_failing_generator_ends_with_an_error_event(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    def breaks(input: Any) -> Iterator[str]:
        yield "partial"
        raise RuntimeError("broke after one piece")

    server = make_server(models={"me/breaks": breaks})
    done, events = run(session, server, "me/breaks", {})
    assert done["status"] == "failed"
    assert [kind for _, kind, _ in events] == ["init", "output", "error"]
    assert events[-1][2] == done["error"]
    assert done["error"]["message"] == "broke after one piece"
    assert done["error"]["source"] == "external"


def test_a_piece_that_is_not_json_fails_the_prediction(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    def odd(input: Any) -> Iterator[Any]:
        yield 1
        yield {1, 2}

    server = make_server(models={"me/odd": odd})
    done, events = run(session, server, "me/odd", {})
    assert done["status"] == "failed"
    assert done["error"]["source"] == "internal"
    assert done["error"]["message"].startswith("Output is not JSON serialisable")
    assert outputs(events) == [1]


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_cancelled_stream_ends_with_done_and_the_generator_stops(
    make_server: Callable[..., LocalServer], session: requests.Session, kind: str
) -> None:
    stopped = threading.Event()
    first = threading.Event()

    def endless(input: Any, ctx: PredictionContext) -> Iterator[int]:
        n = 0
        try:
            while not ctx.cancelled:
                yield n
                first.set()
                n += 1
                time.sleep(0.01)
        finally:
            stopped.set()

    async def endless_async(input: Any) -> AsyncIterator[int]:
        n = 0
        try:
            while True:
                yield n
                first.set()
                n += 1
                await asyncio.sleep(0.01)
        finally:
            stopped.set()

    model = endless if kind == "sync" else endless_async
    server = make_server(models={"me/endless": model}, cancel_delay=0)
    created = session.post(
        server.base_url + "/predictions",
        json={"model": "me/endless", "input": {}, "stream": True},
        timeout=10,
    ).json()
    assert first.wait(10)
    cancel = session.post(
        f"{server.base_url}/predictions/{created['id']}/cancel", timeout=10
    )
    assert cancel.status_code == 200
    assert server.wait(created["id"])["status"] == "cancelled"
    assert stopped.wait(10)
    with get_stream(server.port, stream_path(created["id"])) as conn:
        events = parse_events(b"".join(data for _, data in conn.chunks()))
    assert events[-1][1] == "done"
    assert events[-1][2]["status"] == "cancelled"
    ns = outputs(events)
    assert ns == list(range(len(ns)))  # in order, none after the end


def test_stream_words_validates_its_input(
    server: LocalServer, session: requests.Session
) -> None:
    for input, loc in (
        ({}, ["body", "input", "text"]),
        ({"text": "a", "delay": 11}, ["body", "input", "delay"]),
        ({"text": 5}, ["body", "input", "text"]),
    ):
        answer = session.post(
            server.base_url + "/predictions",
            json={"model": "demo/stream-words", "input": input, "stream": True},
            headers={"Validate-Input": "true"},
            timeout=10,
        )
        assert answer.status_code == 422, input
        assert answer.json()["detail"][0]["loc"] == loc


def test_stream_words_keeps_every_space(
    server: LocalServer, session: requests.Session
) -> None:
    text = "  two  spaces\tand a tab \n"
    done, events = run(session, server, "demo/stream-words", {"text": text})
    assert outputs(events) == ["  two  ", "spaces\t", "and ", "a ", "tab \n"]
    assert done["output"] == text
    done, events = run(session, server, "demo/stream-words", {"text": "   "})
    assert outputs(events) == ["   "]
    done, events = run(session, server, "demo/stream-words", {"text": ""})
    assert outputs(events) == []
    assert done["output"] == ""
