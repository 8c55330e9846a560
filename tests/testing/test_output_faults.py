"""Output files under faults (route `output`, kind `stall`), the store, the ranges."""

from __future__ import annotations

import os
import socket
import time
import urllib.parse
from typing import Callable, Dict, Iterator, Optional, Tuple

import pytest
import requests

from predictions.testing import Fault, LocalServer
from predictions.testing._api.outputs import Outputs
from predictions.testing._api.protocol import Refused
from predictions.testing._http.ranges import Span, choose_span

from .outputs import DATA, MODELS, saved_url
from .raw_stream import RawConnection, request_bytes

HALF = len(DATA) // 2


def storage_port(server: LocalServer) -> int:
    return int(server.storage_url.rsplit(":", 1)[1])


def target(url: str) -> str:
    """The request target of a URL: its path and query."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.path}?{parts.query}"


def ask(
    server: LocalServer,
    url: str,
    headers: Optional[Dict[str, str]] = None,
) -> RawConnection:
    """Send a GET for an output file on a raw connection (the answer unread)."""
    conn = RawConnection(storage_port(server))
    conn.send(request_bytes("GET", target(url), headers))
    return conn


@pytest.fixture
def faulty(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> Callable[[Fault], Tuple[LocalServer, str]]:
    """A server with one fault rule on route `output`, and a file saved on it."""

    def make(fault: Fault) -> Tuple[LocalServer, str]:
        server = make_server(models=MODELS, faults=[fault])
        return server, saved_url(session, server)

    return make


def get(url: str) -> requests.Response:
    """GET with no proxy from the environment, on a fresh connection."""
    with requests.Session() as session:
        session.trust_env = False
        return session.get(url, timeout=30)


def test_status_faults(faulty: Callable[[Fault], Tuple[LocalServer, str]]) -> None:
    server, url = faulty(Fault.parse("503@output,seq=1"))
    assert get(url).status_code == 503
    assert get(url).content == DATA
    server, url = faulty(Fault.parse("410@output"))
    gone = get(url)
    assert gone.status_code == 410
    assert gone.json() == {"detail": "Injected fault: 410"}
    assert server.faults is not None
    assert server.faults.counts == {"status:410": 1}


@pytest.mark.parametrize("kind", ["drop_before", "drop_after"])
def test_drops_close_without_an_answer(
    faulty: Callable[[Fault], Tuple[LocalServer, str]], kind: str
) -> None:
    server, url = faulty(Fault(kind, route="output", sequence=[1]))
    with ask(server, url) as conn:
        assert conn.until_closed() == b""
    assert get(url).content == DATA


def test_delay(faulty: Callable[[Fault], Tuple[LocalServer, str]]) -> None:
    _, url = faulty(Fault("delay", route="output", sequence=[1], delay=0.2))
    started = time.monotonic()
    answer = get(url)
    assert time.monotonic() - started >= 0.19  # a timer may round down a tick
    assert answer.content == DATA


@pytest.mark.parametrize(
    ("headers", "status", "length", "body"),
    [
        ({}, 200, len(DATA), DATA[:HALF]),
        ({"Range": "bytes=100-299"}, 206, 200, DATA[100:200]),
    ],
)
def test_truncate_sends_half_of_what_it_announces(
    faulty: Callable[[Fault], Tuple[LocalServer, str]],
    headers: Dict[str, str],
    status: int,
    length: int,
    body: bytes,
) -> None:
    server, url = faulty(Fault("truncate", route="output", sequence=[1]))
    with ask(server, url, headers) as conn:
        assert conn.head()[0] == status
        assert conn.headers["content-length"] == str(length)
        assert conn.until_closed() == body


def test_a_stall_sends_half_then_nothing_until_the_server_stops(
    faulty: Callable[[Fault], Tuple[LocalServer, str]],
) -> None:
    server, url = faulty(Fault.parse("stall@output,seq=1"))
    with ask(server, url) as conn:
        assert conn.head()[0] == 200
        assert conn.headers["content-length"] == str(len(DATA))
        assert conn.exactly(HALF) == DATA[:HALF]
        assert conn.buffer == b""
        conn.sock.settimeout(0.3)
        with pytest.raises(socket.timeout):  # nothing more comes, however long
            conn.sock.recv(1)
        conn.sock.settimeout(10)
        server.stop()
        assert conn.sock.recv(1) == b""
    assert server.faults is not None
    assert server.faults.counts == {"stall": 1}


def test_a_stall_ends_after_its_delay(
    faulty: Callable[[Fault], Tuple[LocalServer, str]],
) -> None:
    server, url = faulty(Fault("stall", route="output", sequence=[1], delay=0.2))
    started = time.monotonic()
    with ask(server, url, {"Range": "bytes=0-99"}) as conn:
        assert conn.head()[0] == 206
        assert conn.until_closed() == DATA[:50]
    assert time.monotonic() - started >= 0.19  # a timer may round down a tick
    assert get(url).content == DATA  # the next is whole


def test_a_stall_on_the_api_port(make_server: Callable[..., LocalServer]) -> None:
    server = make_server(faults=[Fault("stall", route="get", sequence=[1], delay=0.2)])
    with RawConnection(server.port) as conn:
        started = time.monotonic()
        conn.send(request_bytes("GET", "/v1/predictions/nope"))
        assert conn.head()[0] == 404
        length = int(conn.headers["content-length"])
        assert len(conn.until_closed()) == length // 2
        assert time.monotonic() - started >= 0.19  # a timer may round down a tick


def test_download_faults_leave_outputs_alone(
    faulty: Callable[[Fault], Tuple[LocalServer, str]],
) -> None:
    server, url = faulty(Fault("status", route="download", probability=1.0))
    assert get(url).content == DATA
    assert server.faults is not None
    assert server.faults.history == []


def test_fault_specs_of_outputs() -> None:
    fault = Fault.parse("stall@output,seq=1,delay=5")
    assert (fault.kind, fault.route, fault.sequence, fault.delay) == (
        "stall",
        "output",
        (1,),
        5.0,
    )
    with pytest.raises(ValueError, match="route"):
        Fault.parse("stall@outputs")


# ---- the store, on a clock of its own ----------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def open_url(outputs: Outputs, url: str) -> Tuple[str, bytes]:
    """The path on disk and the bytes of the file a URL names."""
    parts = urllib.parse.urlsplit(url)
    _, _, token, segment = parts.path.split("/")
    query = dict(urllib.parse.parse_qsl(parts.query))
    file, handle = outputs.open_file(
        token, urllib.parse.unquote(segment), query["expires"], query["sig"]
    )
    with handle:
        return file.path, handle.read()


def test_expired_files_are_deleted() -> None:
    clock = Clock()
    outputs = Outputs(lifetime=10, clock=clock)
    outputs.open("http://storage")
    try:
        first = outputs.save(b"one", "1.txt", "text/plain")
        assert "expires=1700000010&" in first
        clock.now += 5
        second = outputs.save([b"tw", b"o"], "2.txt", "text/plain")
        path, data = open_url(outputs, first)
        assert data == b"one"
        clock.now += 5  # the first has expired, the second not yet
        with pytest.raises(Refused) as gone:
            open_url(outputs, first)
        assert gone.value.status == 410
        assert not os.path.exists(path)
        second_path, data = open_url(outputs, second)
        assert data == b"two"
        outputs.clear()
        assert not os.path.exists(second_path)
        with pytest.raises(Refused) as unknown:
            open_url(outputs, second)
        assert unknown.value.status == 404
        folder = os.path.dirname(second_path)
        assert os.listdir(folder) == []
    finally:
        outputs.close()
    assert not os.path.exists(folder)


def test_a_failed_save_leaves_nothing() -> None:
    outputs = Outputs()
    outputs.open("http://storage")

    def broken() -> Iterator[bytes]:
        yield b"some"
        raise OSError("the model's source failed")

    try:
        path, _ = open_url(outputs, outputs.save(b"", "kept", "text/plain"))
        with pytest.raises(OSError, match="source failed"):
            outputs.save(broken(), "lost", "text/plain")
        with pytest.raises(TypeError, match="not bytes"):
            outputs.save([b"a", 1], "lost", "text/plain")  # type: ignore[list-item]
        assert os.listdir(os.path.dirname(path)) == [os.path.basename(path)]
    finally:
        outputs.close()
    with pytest.raises(ValueError, match="not running"):
        outputs.save(b"x", "late", "text/plain")


# ---- which bytes a Range asks for --------------------------------------------


@pytest.mark.parametrize(
    ("range_", "if_range", "size", "span"),
    [
        (None, None, 10, Span(0, 10, False)),
        ("bytes=2-4", None, 10, Span(2, 5, True)),
        ("BYTES = 2-4", None, 10, Span(2, 5, True)),
        ("bytes=2-", None, 10, Span(2, 10, True)),
        ("bytes=-3", None, 10, Span(7, 10, True)),
        ("bytes=-30", None, 10, Span(0, 10, True)),
        ("bytes=8-30", None, 10, Span(8, 10, True)),
        ("bytes=10-", None, 10, None),
        ("bytes=-0", None, 10, None),
        ("bytes=0-", None, 0, None),
        ("bytes=-1", None, 0, None),
        ("bytes=0-1,3-4", None, 10, Span(0, 10, False)),
        ("bytes=4-2", None, 10, Span(0, 10, False)),
        ("bytes=1-x", None, 10, Span(0, 10, False)),
        ("bytes=\u0661-2", None, 10, Span(0, 10, False)),  # an Arabic-Indic 1
        ("bytes=", None, 10, Span(0, 10, False)),
        ("bytes=2-4", '"e"', 10, Span(2, 5, True)),
        ("bytes=2-4", '"f"', 10, Span(0, 10, False)),
        ("bytes=2-4", 'W/"e"', 10, Span(0, 10, False)),
    ],
)
def test_choose_span(
    range_: Optional[str], if_range: Optional[str], size: int, span: Optional[Span]
) -> None:
    assert choose_span(range_, if_range, '"e"', size) == span
