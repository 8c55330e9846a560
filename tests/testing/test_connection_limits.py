"""A request must arrive within `request_timeout`; connections are bounded.

A client that trickles a byte at a time is answered 408 and cut off at the
request's total limit, on both ports; idle keep-alive connections never
lock new clients out of a full port. Raw sockets on 127.0.0.1, every read
bounded in time; the limits are made short so that the tests are too.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.parse
from typing import Any, Callable, List, Tuple

import pytest
import requests

from predictions.testing import LocalServer
from predictions.testing._http.limits import Admission

from .raw_stream import RawConnection, request_bytes
from .uploads import start_upload

LIMIT = 1.0
"""The request timeout of these tests' servers, in seconds."""

LIST = request_bytes("GET", "/v1/predictions")


def trickle(
    port: int, head: bytes, drip: bytes, every: float = 0.2
) -> Tuple[float, bytes]:
    """Send `head`, then `drip` every `every` seconds until the server answers.

    Returns:
        Seconds from the first byte to the server closing, and all it sent.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(head)
        received = b""
        while time.monotonic() - started < 10:
            sock.settimeout(every)
            try:
                data = sock.recv(65536)
            except socket.timeout:
                with contextlib.suppress(OSError):  # closed: its answer comes next
                    sock.sendall(drip)
                continue
            except ConnectionResetError:
                break
            if not data:
                break
            received += data
        return time.monotonic() - started, received


def answer_of(data: bytes) -> Tuple[int, str, Any]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split(" ")[1]), headers.get("connection", ""), json.loads(body)


@pytest.mark.parametrize(
    ("head", "drip"),
    [
        (b"GET /v1/predictions HTTP/1.1\r\n", b"X-Slow: 1\r\n"),  # headers
        (b"GET /v1/predictions HTTP/1.1\r\nX-Slow: ", b"a"),  # one header line
        (b"GET /v1/predic", b"t"),  # the request line
        (
            b"POST /v1/models/demo/echo/predictions HTTP/1.1\r\n"
            b"Content-Length: 1000\r\n\r\n{",
            b" ",
        ),  # the body
        (
            b"POST /v1/predictions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"1\r\n \r\n",
        ),  # a chunked body
    ],
)
def test_a_trickled_request_is_cut_off_with_a_408(
    make_server: Callable[..., LocalServer], head: bytes, drip: bytes
) -> None:
    server = make_server(request_timeout=LIMIT)
    elapsed, received = trickle(server.port, head, drip)
    status, connection, body = answer_of(received)
    assert status == 408
    assert connection == "close"
    assert "too long" in body["detail"]
    # The limit, not a per-read timeout (each byte came in 0.2 s), nor
    # never; plus at most the second the answer lingers for the client.
    assert LIMIT * 0.9 <= elapsed < LIMIT + 2.5


def test_a_trickled_part_is_cut_off_with_a_408(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(request_timeout=LIMIT)
    started = start_upload(session, server, 1000)
    url = urllib.parse.urlsplit(started["urls"][0])
    head = (
        f"PUT {url.path}?{url.query} HTTP/1.1\r\nHost: x\r\n"
        "Content-Length: 1000\r\n\r\n"
    ).encode("ascii")
    elapsed, received = trickle(url.port or 80, head, b"x")
    assert answer_of(received)[:2] == (408, "close")
    assert LIMIT * 0.9 <= elapsed < LIMIT + 2.5


def test_the_limit_counts_from_a_requests_first_byte_not_from_idle_time(
    make_server: Callable[..., LocalServer],
) -> None:
    server = make_server(request_timeout=LIMIT)
    with RawConnection(server.port) as conn:
        for _ in range(2):
            time.sleep(LIMIT * 1.2)  # idle, before the first and between
            conn.send(LIST)
            assert conn.head()[0] == 200
            conn.body()


def test_a_request_arriving_in_time_is_served(
    make_server: Callable[..., LocalServer],
) -> None:
    server = make_server(request_timeout=LIMIT)
    with RawConnection(server.port) as conn:
        for byte in LIST:  # slowly, but whole within the limit
            conn.send(bytes([byte]))
            time.sleep(LIMIT / 2 / len(LIST))
        assert conn.head()[0] == 200


def keep_alive(port: int) -> RawConnection:
    """A connection that has been answered once and now waits, idle."""
    conn = RawConnection(port)
    conn.send(LIST)
    assert conn.head()[0] == 200
    conn.body()
    return conn


def counted_idle(server: LocalServer, count: int) -> None:
    """Wait until the server counts `count` connections idle.

    A client reads its answer just before the server's thread counts the
    connection idle: on a loaded machine, the next connection can come first,
    and which connection has waited longest is then not the one that was made
    first.
    """
    admission = server._parts.ports.api.admission  # type: ignore[union-attr]
    deadline = time.monotonic() + 10
    while len(admission._idle) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(admission._idle) >= count


def test_idle_connections_make_room_for_a_new_client(
    make_server: Callable[..., LocalServer],
) -> None:
    server = make_server(max_connections=3)
    idle: List[RawConnection] = []
    try:
        for number in range(1, 4):
            idle.append(keep_alive(server.port))
            counted_idle(server, number)
        idle.append(RawConnection(server.port))  # connected, nothing sent yet
        started = time.monotonic()
        newcomer = keep_alive(server.port)  # served at once, not after 60 s
        idle.append(newcomer)
        assert time.monotonic() - started < 2
        # The two idle the longest were closed to make room; the others work.
        assert idle[0].until_closed() == b""
        assert idle[1].until_closed() == b""
        for conn in idle[2:]:
            conn.send(LIST)
            assert conn.head()[0] == 200
            conn.body()
    finally:
        for conn in idle:
            conn.close()


def test_a_port_full_of_requests_in_progress_answers_503_at_once(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(max_connections=2, request_timeout=LIMIT * 3)
    busy = [RawConnection(server.port) for _ in range(2)]
    try:
        for conn in busy:
            conn.send(b"GET /v1/predictions HTTP/1.1\r\n")  # and no more, yet
        time.sleep(0.2)  # both are read as requests in progress
        started = time.monotonic()
        with RawConnection(server.port) as turned_away:
            turned_away.send(LIST)
            status, headers = turned_away.head()
            assert status == 503
            assert headers["retry-after"] == "1"
            assert headers["connection"] == "close"
            assert "connections" in json.loads(turned_away.body())["detail"]
            assert turned_away.until_closed() == b""
        assert time.monotonic() - started < 2
        busy[0].send(b"Host: x\r\n\r\n")  # one finishes its request
        assert busy[0].head()[0] == 200
        busy[0].body()
        # Now idle, so room for the next client.
        assert session.get(server.base_url + "/predictions", timeout=10).ok
    finally:
        for conn in busy:
            conn.close()


def test_the_storage_port_is_bounded_too(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(max_connections=1)
    port = urllib.parse.urlsplit(server.storage_url).port or 80
    with RawConnection(port) as busy:
        busy.send(b"GET /files/x HTTP/1.1\r\n")
        time.sleep(0.2)
        with RawConnection(port) as turned_away:
            turned_away.send(b"GET /files/x HTTP/1.1\r\nHost: x\r\n\r\n")
            assert turned_away.head()[0] == 503


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("request_timeout", -1, ValueError),
        ("request_timeout", float("inf"), ValueError),
        ("request_timeout", "30", TypeError),
        ("max_connections", 0, ValueError),
        ("max_connections", 2.5, TypeError),
    ],
)
def test_bad_limits_are_refused_naming_the_option(
    name: str, value: object, error: type
) -> None:
    with pytest.raises(error, match=name):
        LocalServer(**{name: value})  # type: ignore[arg-type]


def test_a_newcomer_to_a_full_port_gets_the_place_freed_as_it_arrives() -> None:
    # The race CI met: a client reads its whole answer and connects anew
    # before the server's thread has counted its connection idle again.
    admission = Admission(2)
    served = [socket.socket() for _ in range(3)]
    try:
        for sock in served[:2]:  # both in the middle of a request
            assert admission.admit(sock)
            assert admission.busy(sock)
        assert not admission.admit(served[2])  # no grace: full, turned away
        freeing = threading.Timer(0.05, admission.idle, (served[0],))
        freeing.start()
        assert admission.admit(served[2], grace=10.0)
        freeing.join()
        assert not admission.busy(served[0])  # closed to make room
    finally:
        for sock in served:
            sock.close()
