"""Raw-socket servers and a bounded runner for the attack tests.

`RawServer` listens on 127.0.0.1 (port 0) and runs a handler per connection,
each in its own thread; it tracks its threads and sockets and closes them all
at teardown, so a trickling or endless handler never outlives its test.
`run_bounded` runs a call in a daemon thread and gives up waiting after a
limit, so a client that hangs shows as a failure, not a stuck suite.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple

import pytest

from predictions.testing import LocalServer

Handler = Callable[["RawServer", socket.socket], None]
"""A connection handler: `handler(server, conn)`, in a thread of its own."""

HOST = "127.0.0.1"


class RawServer:
    """A TCP server on 127.0.0.1 that hands each connection to `handler`.

    The handler is called as `handler(server, conn)` in a thread of its own;
    socket errors (the client went away) end it quietly. Handlers that wait
    should use `server.pause(seconds)`, which returns False once the server
    is stopping.
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.stopping = threading.Event()
        self.connections = 0
        self.errors: List[BaseException] = []
        self._lock = threading.Lock()
        self._threads: List[threading.Thread] = []
        self._conns: List[socket.socket] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((HOST, 0))
        self._listener.listen(64)
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]

    @property
    def base_url(self) -> str:
        """The API base URL of this server."""
        return f"http://{HOST}:{self.port}/v1"

    def start(self) -> RawServer:
        """Start accepting connections."""
        self._spawn(self._accept_loop, "raw-accept")
        return self

    def pause(self, seconds: float) -> bool:
        """Sleep; False if the server is stopping (the handler should return)."""
        return not self.stopping.wait(seconds)

    def _spawn(self, target: Callable[..., None], name: str, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(10.0)
            with self._lock:
                if self.stopping.is_set():
                    conn.close()
                    return
                self._conns.append(conn)
                self.connections += 1
            self._spawn(self._serve, "raw-conn", conn)

    def _serve(self, conn: socket.socket) -> None:
        try:
            self.handler(self, conn)
        except OSError:
            pass  # the client went away, or teardown closed the socket
        except BaseException as exc:  # a bug in a handler: keep it for the test
            self.errors.append(exc)
        finally:
            _close(conn)

    def stop(self) -> None:
        """Stop accepting, close every connection and join every thread."""
        self.stopping.set()
        _close(self._listener)
        with self._lock:
            conns, threads = list(self._conns), list(self._threads)
        for conn in conns:
            _close(conn)
        deadline = time.monotonic() + 5.0
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


class Request(NamedTuple):
    """A request as a raw server read it."""

    method: str
    path: str
    headers: Dict[str, str]
    body: bytes


def read_request(conn: socket.socket, buffer: bytearray) -> Optional[Request]:
    """Read one request from `conn` (leftover bytes stay in `buffer`).

    Returns None when the client closed the connection before a full request.
    """
    while b"\r\n\r\n" not in buffer:
        data = conn.recv(65536)
        if not data:
            return None
        buffer += data
    head, _, _ = bytes(buffer).partition(b"\r\n\r\n")
    del buffer[: len(head) + 4]
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers: Dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length") or 0)
    while len(buffer) < length:
        data = conn.recv(65536)
        if not data:
            return None
        buffer += data
    body = bytes(buffer[:length])
    del buffer[:length]
    return Request(method, path, headers, body)


def response_head(
    status: str = "200 OK", headers: Tuple[Tuple[str, str], ...] = ()
) -> bytes:
    """The status line and headers of an answer, blank line included."""
    lines = [f"HTTP/1.1 {status}"] + [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def json_answer(body: bytes, *extra: Tuple[str, str]) -> bytes:
    """A whole 200 JSON answer with an honest Content-Length."""
    headers = (
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        *extra,
    )
    return response_head("200 OK", headers) + body


StartRawServer = Callable[[Handler], RawServer]
"""The `raw_server` fixture: `raw_server(handler)` starts a server."""


@pytest.fixture
def raw_server() -> Iterator[StartRawServer]:
    """Start raw servers with `raw_server(handler)`; all stop at teardown."""
    servers: List[RawServer] = []

    def start(handler: Handler) -> RawServer:
        server = RawServer(handler).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
    for server in servers:
        assert not server.errors, f"a raw server handler failed: {server.errors!r}"


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    """A started LocalServer on 127.0.0.1, port 0."""
    with LocalServer(host=HOST, port=0) as server:
        yield server


class Outcome(NamedTuple):
    """What a bounded call did: its value or error, and how long it took."""

    finished: bool
    value: Any
    error: Optional[BaseException]
    elapsed: float


def run_bounded(fn: Callable[[], Any], limit: float) -> Outcome:
    """Run `fn()` in a daemon thread; stop waiting for it after `limit` seconds.

    A call still running at the limit gives `finished=False`; its thread is
    left behind (daemon) and ends when the test's servers close its sockets.
    """
    box: Dict[str, Any] = {}

    def target() -> None:
        start = time.monotonic()
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc
        box["elapsed"] = time.monotonic() - start

    thread = threading.Thread(target=target, name="bounded-call", daemon=True)
    start = time.monotonic()
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        return Outcome(False, None, None, time.monotonic() - start)
    return Outcome(True, box.get("value"), box.get("error"), box["elapsed"])


def describe(outcome: Outcome) -> str:
    """A one-line account of an outcome, for assertion messages."""
    if not outcome.finished:
        return f"still running after {outcome.elapsed:.1f} s (hang)"
    if outcome.error is not None:
        error = outcome.error
        what = f"{type(error).__name__}: {str(error)[:300]}"
        return f"raised {what} after {outcome.elapsed:.2f} s"
    return f"returned {str(outcome.value)[:300]} after {outcome.elapsed:.2f} s"


def names_limit(message: str, limit: int) -> bool:
    """Whether an error message names the byte limit (digits, any separators)."""
    digits = re.sub(r"(?<=\d)[,_ '](?=\d{3})", "", message)
    return str(limit) in digits
