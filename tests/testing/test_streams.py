"""Event streams: the SSE bytes, ids and `after_id`, idle ends, keep-alive."""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable, Iterator, List, Optional

import pytest
import requests

from predictions.testing import Fault, LocalServer, PredictionContext
from predictions.testing._api.events import EventLog, sse_chunks

from .helpers import fetch
from .raw_stream import (
    RawConnection,
    get_stream,
    parse_events,
    request_bytes,
    stream_path,
)

CREATE = "/v1/predictions"


def start_stream(
    session: requests.Session, server: LocalServer, model: str, input: Any
) -> str:
    """Create a streamed prediction (answered at once); its id."""
    response = session.post(
        server.base_url + "/predictions",
        json={"model": model, "input": input, "stream": True},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    assert response.json()["stream"] is True
    return str(response.json()["id"])


def read_all(server: LocalServer, prediction_id: str, after_id: int = 0) -> bytes:
    """A whole stream's body, which must end with its last chunk."""
    with get_stream(server.port, stream_path(prediction_id, after_id)) as conn:
        assert conn.status == 200
        return b"".join(data for _, data in conn.chunks())


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """Holds a model until the test sets it (set at the end in any case)."""
    event = threading.Event()
    yield event
    event.set()


def test_the_sse_bytes_of_a_small_stream(
    server: LocalServer, session: requests.Session
) -> None:
    pid = start_stream(
        session, server, "demo/stream-words", {"text": "hello big world"}
    )
    server.wait(pid)
    with get_stream(server.port, stream_path(pid)) as conn:
        assert conn.status == 200
        assert conn.headers["content-type"] == "text/event-stream"
        assert conn.headers["cache-control"] == "no-cache"
        assert conn.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in conn.headers
        assert "content-encoding" not in conn.headers
        assert conn.headers["x-request-id"]
        assert conn.headers["x-ratelimit-remaining"]
        body = b"".join(data for _, data in conn.chunks())
        # The last chunk ended the answer; the connection serves the next one.
        conn.send(request_bytes("GET", f"/v1/predictions/{pid}"))
        assert conn.head()[0] == 200
        assert json.loads(conn.body())["id"] == pid
    blocks = body.split(b"\n\n")
    assert blocks[-1] == b""  # every block ends with a blank line
    init, *outputs, done = blocks[:-1]
    created = json.loads(init.split(b"\ndata: ", 1)[1])
    assert init == b"id: 1\nevent: init\ndata: " + compact(created)
    assert created["id"] == pid
    assert created["status"] == "pending"
    assert created["stream"] is True
    assert outputs == [
        b'id: 2\nevent: output\ndata: "hello "',
        b'id: 3\nevent: output\ndata: "big "',
        b'id: 4\nevent: output\ndata: "world"',
    ]
    final = session.get(f"{server.base_url}/predictions/{pid}", timeout=10)
    # The data of `done` is the final prediction, as GET shows it.
    assert done == b"id: 5\nevent: done\ndata: " + final.content
    assert final.json()["output"] == "hello big world"


def compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def test_each_event_is_sent_as_it_comes_then_the_last_chunk(
    server: LocalServer, session: requests.Session
) -> None:
    pid = start_stream(
        session, server, "demo/stream-words", {"text": "a b c", "delay": 0.3}
    )
    with get_stream(server.port, stream_path(pid)) as conn:
        chunks = conn.chunks()
    events = [e for _, data in chunks for e in parse_events(data)]
    assert [(i, kind) for i, kind, _ in events] == [
        ("1", "init"),
        ("2", "output"),
        ("3", "output"),
        ("4", "output"),
        ("5", "done"),
    ]
    # The words came apart, about 0.2 s from one another.
    times = [t for t, data in chunks if b"event: output" in data]
    assert len(times) >= 2
    assert times[-1] - times[0] >= 0.2


def test_after_id_resumes_with_no_repeat_and_no_gap(
    server: LocalServer, session: requests.Session
) -> None:
    text = " ".join(f"w{n}" for n in range(12))
    pid = start_stream(session, server, "demo/stream-words", {"text": text})
    server.wait(pid)
    whole = parse_events(read_all(server, pid))
    assert [e[0] for e in whole] == [str(n) for n in range(1, 15)]
    for after in (0, 1, 5, 13, 14, 99):
        tail = parse_events(read_all(server, pid, after))
        assert tail == whole[after:]


def test_a_live_stream_closed_by_the_client_resumes_exactly(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server()
    text = " ".join(f"w{n}" for n in range(8))
    pid = start_stream(
        session, server, "demo/stream-words", {"text": text, "delay": 0.05}
    )
    seen = []
    with get_stream(server.port, stream_path(pid)) as conn:
        while len(seen) < 3:
            seen.extend(parse_events(conn.chunk()))
    last_id = int(seen[-1][0])
    rest = parse_events(read_all(server, pid, last_id))
    ids = [int(e[0]) for e in seen + rest]
    assert ids == list(range(1, 11))
    assert "".join(e[2] for e in seen + rest if e[1] == "output") == text
    assert rest[-1][1] == "done"


def held_words(
    gate: threading.Event,
) -> Callable[[Any, PredictionContext], Iterator[str]]:
    """A streaming model held after its first word until `gate` is set.

    It ends early when cancelled, as a well-behaved plain model does: else
    `stop()` would wait for its thread (at most `STOP_TIMEOUT`) whenever its
    cold start (20 ms) ended before the test stopped the server.
    """

    def model(input: Any, ctx: PredictionContext) -> Iterator[str]:
        yield "first "
        deadline = time.monotonic() + 10  # a failing test must not hang the run
        while not gate.wait(0.005):
            if ctx.cancelled or time.monotonic() > deadline:
                return
        yield "second"

    return model


def test_an_idle_stream_ends_after_prefer_wait_then_resumes(
    make_server: Callable[..., LocalServer],
    session: requests.Session,
    gate: threading.Event,
) -> None:
    server = make_server(models={"me/held": held_words(gate)}, stream_heartbeat=0)
    pid = start_stream(session, server, "me/held", {})
    begun = time.monotonic()
    with get_stream(server.port, stream_path(pid), {"Prefer": "wait=0.4"}) as conn:
        chunks = conn.chunks()  # ends with the last chunk: a clean end
        ended = time.monotonic()
        # Keep-alive: the connection serves the next request.
        conn.send(request_bytes("GET", f"/v1/predictions/{pid}"))
        assert conn.head()[0] == 200
        assert json.loads(conn.body())["status"] == "started"
    first = parse_events(b"".join(data for _, data in chunks))
    assert [(e[0], e[1]) for e in first] == [("1", "init"), ("2", "output")]
    last_event = chunks[-1][0]
    assert 0.3 <= ended - last_event <= 5
    assert ended - begun < 8
    gate.set()
    rest = parse_events(read_all(server, pid, 2))
    assert [(e[0], e[1], e[2] if e[1] == "output" else None) for e in rest] == [
        ("3", "output", "second"),
        ("4", "done", None),
    ]
    assert rest[-1][2]["output"] == "first second"


def test_heartbeats_while_idle_and_the_cap_on_prefer_wait(
    make_server: Callable[..., LocalServer],
    session: requests.Session,
    gate: threading.Event,
) -> None:
    server = make_server(
        models={"me/held": held_words(gate)},
        stream_heartbeat=0.1,
        stream_idle_max=0.6,
    )
    pid = start_stream(session, server, "me/held", {})
    server_side = time.monotonic()
    with get_stream(server.port, stream_path(pid), {"Prefer": "wait=600"}) as conn:
        chunks = conn.chunks()
    assert time.monotonic() - server_side < 8  # capped at 0.6 s, not 600
    pings = [data for _, data in chunks if data == b": ping\n\n"]
    assert len(pings) >= 2
    assert all(data.startswith((b"id: ", b": ping")) for _, data in chunks)


def test_no_heartbeat_when_turned_off_and_prefer_wait_0_sends_what_there_is(
    make_server: Callable[..., LocalServer],
    session: requests.Session,
    gate: threading.Event,
) -> None:
    server = make_server(models={"me/held": held_words(gate)}, stream_heartbeat=0)
    pid = start_stream(session, server, "me/held", {})
    # Until the first piece is in, so that the answer is known.
    deadline = time.monotonic() + 10
    while len(parse_events(read_all_now(server, pid))) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    with get_stream(server.port, stream_path(pid), {"Prefer": "wait=0"}) as conn:
        chunks = conn.chunks()
    assert [e[0] for _, d in chunks for e in parse_events(d)] == ["1", "2"]
    assert not any(data.startswith(b":") for _, data in chunks)


def read_all_now(server: LocalServer, pid: str) -> bytes:
    with get_stream(server.port, stream_path(pid), {"Prefer": "wait=0"}) as conn:
        return b"".join(data for _, data in conn.chunks())


def test_a_create_with_stream_and_prefer_wait_answers_the_stream(
    server: LocalServer,
) -> None:
    body = json.dumps(
        {"model": "demo/stream-words", "input": {"text": "one two"}, "stream": True}
    ).encode()
    headers = {"Content-Type": "application/json", "Prefer": "wait=5"}
    with RawConnection(server.port) as conn:
        conn.send(request_bytes("POST", CREATE, headers, body))
        status, head = conn.head()
        assert status == 201
        assert head["content-type"] == "text/event-stream"
        assert head["transfer-encoding"] == "chunked"
        events = parse_events(b"".join(data for _, data in conn.chunks()))
    kinds = [(e[0], e[1]) for e in events]
    assert kinds == [("1", "init"), ("2", "output"), ("3", "output"), ("4", "done")]
    pid = events[0][2]["id"]
    assert head["location"] == f"{server.base_url}/predictions/{pid}"
    assert [e[2] for e in events[1:3]] == ["one ", "two"]
    assert events[-1][2]["status"] == "succeeded"


def test_a_create_stream_ends_when_idle_and_get_resumes_it(
    make_server: Callable[..., LocalServer], gate: threading.Event
) -> None:
    server = make_server(models={"me/held": held_words(gate)}, stream_heartbeat=0)
    body = json.dumps({"model": "me/held", "input": {}, "stream": True}).encode()
    headers = {"Content-Type": "application/json", "Prefer": "wait=0.3"}
    with RawConnection(server.port) as conn:
        conn.send(request_bytes("POST", CREATE, headers, body))
        assert conn.head()[0] == 201
        first = parse_events(b"".join(data for _, data in conn.chunks()))
    assert [e[1] for e in first] == ["init", "output"]
    gate.set()
    rest = parse_events(read_all(server, first[0][2]["id"], 2))
    assert [e[1] for e in rest] == ["output", "done"]


def test_without_prefer_a_streamed_create_answers_its_prediction(
    server: LocalServer, session: requests.Session
) -> None:
    pid = start_stream(session, server, "demo/echo", {"x": 1})
    events = parse_events(read_all(server, pid))
    assert [e[1] for e in events] == ["init", "done"]  # echo yields nothing
    assert events[-1][2]["output"] == {"x": 1}


def test_a_prediction_without_stream_has_no_events(
    server: LocalServer, session: requests.Session
) -> None:
    created = session.post(
        server.base_url + "/predictions",
        json={"model": "demo/echo", "input": 1},
        timeout=10,
    ).json()
    assert created["stream"] is False
    url = f"{server.base_url}/predictions/{created['id']}/stream"
    answer = session.get(url, timeout=10)
    assert answer.status_code == 409
    assert answer.json() == {"detail": "Prediction was not created with stream: true"}
    assert session.get(
        f"{server.base_url}/predictions/nope/stream", timeout=10
    ).json() == {"detail": "Prediction not found"}


def test_expired_events_turn_stream_false_and_answer_409(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(events_expire_after=0.2)
    pid = start_stream(session, server, "demo/echo", 1)
    assert server.wait(pid)["stream"] is True
    deadline = time.monotonic() + 10
    while fetch(session, server, pid)["stream"]:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    answer = session.get(f"{server.base_url}/predictions/{pid}/stream", timeout=10)
    assert answer.status_code == 409
    assert answer.json() == {"detail": "The prediction's events have expired"}


@pytest.mark.parametrize("after_id", ["x", "-1", "1.5", "", "%C2%B2"])
def test_a_bad_after_id_is_a_422(
    server: LocalServer, session: requests.Session, after_id: str
) -> None:
    pid = start_stream(session, server, "demo/echo", 1)
    answer = session.get(
        f"{server.base_url}/predictions/{pid}/stream?after_id={after_id}", timeout=10
    )
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["query", "after_id"]


def test_line_separators_pass_through_and_newlines_are_escaped(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    def pieces(input: Any) -> Iterator[Any]:
        yield "a\u2028b"
        yield {"k": "x\u2029y\u0085z", "n": "line\nbreak\r"}

    server = make_server(models={"me/lines": pieces})
    pid = start_stream(session, server, "me/lines", {"t": "\u2028"})
    server.wait(pid)
    body = read_all(server, pid)
    assert b'data: "a\xe2\x80\xa8b"\n' in body
    assert "x\u2029y\u0085z".encode() in body
    assert b"line\\nbreak\\r" in body
    events = parse_events(body)  # exactly 3 lines a block: no raw \n in data
    assert events[1][2] == "a\u2028b"
    assert events[2][2] == {"k": "x\u2029y\u0085z", "n": "line\nbreak\r"}


def test_an_http_1_0_client_gets_the_stream_close_delimited(
    server: LocalServer, session: requests.Session
) -> None:
    pid = start_stream(session, server, "demo/stream-words", {"text": "a b"})
    server.wait(pid)
    with RawConnection(server.port) as conn:
        conn.send(request_bytes("GET", stream_path(pid), version="HTTP/1.0"))
        conn.head()
        assert "transfer-encoding" not in conn.headers
        assert conn.headers["connection"] == "close"
        events = parse_events(conn.until_closed())
    assert [e[1] for e in events] == ["init", "output", "output", "done"]


def test_a_truncated_stream_closes_after_its_first_piece(
    make_server: Callable[..., LocalServer],
    session: requests.Session,
    gate: threading.Event,
) -> None:
    yielded = threading.Event()

    def model(input: Any) -> Iterator[str]:
        yield "first "
        yielded.set()  # the first piece has been emitted
        gate.wait(10)
        yield "second"

    server = make_server(
        models={"me/held": model},
        faults=[Fault("truncate", route="stream", sequence=[1])],
    )
    pid = start_stream(session, server, "me/held", {})
    assert yielded.wait(10)
    with get_stream(server.port, stream_path(pid)) as conn:
        first = parse_events(conn.chunk())
        with pytest.raises(EOFError):
            conn.chunk()  # closed with no last chunk
    assert [(e[0], e[1]) for e in first] == [("1", "init"), ("2", "output")]
    gate.set()
    rest = parse_events(read_all(server, pid, 2))
    assert [(e[0], e[1]) for e in rest] == [("3", "output"), ("4", "done")]


def test_stop_ends_open_streams_at_once(
    make_server: Callable[..., LocalServer],
    session: requests.Session,
    gate: threading.Event,
) -> None:
    server = make_server(models={"me/held": held_words(gate)}, stream_heartbeat=0)
    pid = start_stream(session, server, "me/held", {})
    with get_stream(server.port, stream_path(pid)) as conn:
        # Until its first word: the model runs (held), and no event is due.
        events = parse_events(conn.chunk())
        while events[-1][1] != "output":
            events += parse_events(conn.chunk())
        begun = time.monotonic()
        server.stop()
        assert time.monotonic() - begun < 1.5
        data = conn.until_closed()
    # The last chunk, unless the socket was shut first: no event either way.
    assert data in (b"", b"0\r\n\r\n")


def test_a_stop_just_before_a_stream_waits_is_not_missed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The server stops (the store closes and wakes every log) just after the
    # stream has looked and seen it running, before it waits for the next
    # event: the wake-up comes before the wait, so the stream must see the
    # stop as it begins to wait, or it waits its whole idle limit (30 s) and
    # holds stop() up.
    log = EventLog()
    log.append("init", {})
    closed: List[bool] = []

    def stopping() -> bool:
        if not closed:
            closed.append(True)
            log.wake()  # what Store.close() does, on another thread
            return False
        return True

    def no_wait(timeout: Optional[float] = None) -> bool:
        raise AssertionError(f"waited {timeout} s after the server stopped")

    monkeypatch.setattr(log._changed, "wait", no_wait)
    chunks = list(sse_chunks(log, 0, idle=30, heartbeat=0, stopping=stopping))
    assert chunks == [b"id: 1\nevent: init\ndata: {}\n\n"]


def test_reset_ends_the_streams_of_forgotten_predictions(
    make_server: Callable[..., LocalServer],
    session: requests.Session,
    gate: threading.Event,
) -> None:
    server = make_server(models={"me/held": held_words(gate)}, stream_heartbeat=0)
    pid = start_stream(session, server, "me/held", {})
    with get_stream(server.port, stream_path(pid)) as conn:
        parse_events(conn.chunk())
        server.reset()
        assert conn.chunks() == []  # ended cleanly, no terminal event
    answer = session.get(f"{server.base_url}/predictions/{pid}/stream", timeout=10)
    assert answer.status_code == 404
