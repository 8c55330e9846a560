"""What bounds a port's connections: how many at once, how long a request takes.

A request (its line, headers and body) must arrive within `request_timeout`
seconds of its first byte: every read of it goes through a `RequestReader`,
bounded by what is left of that deadline (see `BaseHandler`).

A port serves at most `max_connections` connections. One waiting for its
next request (an idle keep-alive connection, or a new one that has sent
nothing yet) holds its place only until the place is wanted: when the port
is full, a new connection closes the one idle the longest. Only when every
connection is in the middle of a request is a new one turned away, at once
(after `ADMISSION_GRACE` at most, the moment a connection whose answer is
written takes to be counted idle): answered 503 with `Retry-After: 1` and
closed. So idle connections never
lock new clients out, and a request's connection holds its place while the
request arrives for at most `request_timeout` seconds (see `BaseHandler`).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Dict, Optional, Set

from predictions._http.connection import BoundedReader
from predictions.testing._api.protocol import error

MAX_CONNECTIONS = 256
"""Connections each port serves at once, by default."""

REQUEST_TIMEOUT = 30.0
"""Seconds a request's line, headers and body may take to arrive, by default."""

ADMISSION_GRACE = 0.25
"""Seconds a new connection to a full port waits for a place before a 503.

A connection's answer reaches its client just before its thread counts it
idle again: a client that reads its answer and connects anew at once must
not be turned away for that instant.
"""


@dataclass(frozen=True)
class ConnectionLimits:
    """What bounds a port's connections.

    Attributes:
        request_timeout: Seconds a request (line, headers and body) may take
            to arrive; past it the server answers 408 and closes. 0: no
            limit but the idle timeout of each read.
        max_connections: Connections served at once (see the module).
    """

    request_timeout: float = REQUEST_TIMEOUT
    max_connections: int = MAX_CONNECTIONS


MAX_BODIES_IN_FLIGHT = 64 * 1024 * 1024
"""The most bytes of request bodies a port holds at once (64 MiB)."""


class BodyBudget:
    """The bytes of request bodies held in memory at once, across connections.

    A body is counted before it is read; one that does not fit is refused
    (503), so many large bodies at once cannot take the server's memory.
    """

    def __init__(self, limit: int = MAX_BODIES_IN_FLIGHT) -> None:
        self.limit = limit
        self._held = 0
        self._lock = threading.Lock()

    def take(self, size: int) -> bool:
        """Count `size` more bytes in, if they fit; False (nothing taken) if not."""
        with self._lock:
            if self._held + size > self.limit:
                return False
            self._held += size
            return True

    def give(self, size: int) -> None:
        """Give back bytes taken."""
        with self._lock:
            self._held -= size


class Admission:
    """The connections a port serves: how many, and which wait idle (oldest first)."""

    def __init__(self, limit: int) -> None:
        """Start with none.

        Args:
            limit: The most connections served at once.
        """
        self.limit = limit
        self._lock = threading.Lock()
        self._freed = threading.Condition(self._lock)  # a place may be had
        self._served: Set[socket.socket] = set()
        self._idle: Dict[socket.socket, None] = {}  # insertion order: oldest first

    def admit(self, sock: socket.socket, grace: float = 0.0) -> bool:
        """Count a new connection in, closing the longest idle one if full.

        Args:
            sock: The new connection.
            grace: Seconds to wait, when every place is taken by a request
                in progress, for one to be freed or to turn idle.

        Returns:
            False when the port stays full of requests in progress: turn it
            away.
        """
        deadline = time.monotonic() + grace
        with self._lock:
            while len(self._served) >= self.limit and not self._idle:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._freed.wait(left)
            if len(self._served) >= self.limit:
                oldest = next(iter(self._idle))
                self._forget(oldest)
                # Its thread, waiting for a request, reads the end and leaves.
                with contextlib.suppress(OSError):
                    oldest.shutdown(socket.SHUT_RDWR)
            self._served.add(sock)
            return True

    def idle(self, sock: socket.socket) -> None:
        """Say that a connection waits for its next request (it may be closed)."""
        with self._lock:
            if sock in self._served:
                self._idle.pop(sock, None)
                self._idle[sock] = None
                self._freed.notify()

    def busy(self, sock: socket.socket) -> bool:
        """Say that a connection's request has begun.

        Returns:
            False when it was closed to make room meanwhile.
        """
        with self._lock:
            self._idle.pop(sock, None)
            return sock in self._served

    def release(self, sock: socket.socket) -> None:
        """Forget a connection that has ended."""
        with self._lock:
            self._forget(sock)
            self._freed.notify()

    def _forget(self, sock: socket.socket) -> None:
        self._served.discard(sock)
        self._idle.pop(sock, None)


def busy_answer() -> bytes:
    """The 503 a connection turned away gets, whole, with `Connection: close`."""
    response = error(503, "The server is serving as many connections as it may")
    body = response.body()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        f"Content-Type: {response.content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"x-request-id: {uuid.uuid4().hex}\r\n"
        "Retry-After: 1\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def linger(
    sock: socket.socket, seconds: float, limit: int, stop: threading.Event
) -> None:
    """Shut our side, then read and drop what the client still sends, a while.

    So that closing does not reset the connection before the client has read
    our answer.

    Args:
        sock: The connection.
        seconds: How long to read at most.
        limit: How many bytes to read at most.
        stop: Ends the reading early (the server stops).
    """
    try:
        sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + seconds
        dropped = 0
        while dropped < limit and not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            sock.settimeout(min(left, 0.1))
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                break
            dropped += len(chunk)
    except OSError:
        pass


class RequestReader(BoundedReader):
    """A `BoundedReader` that notes when a read ran out of time (for a 408)."""

    timed_out = False

    def readinto(self, buffer: Any) -> Optional[int]:
        """Read as `BoundedReader` does; note a timeout before raising it."""
        try:
            return super().readinto(buffer)
        except socket.timeout:
            self.timed_out = True
            raise
