"""The connections the transport writes on: urllib3's, with two guards added.

- Every read of an answer (status line, headers, body) is bounded by the
  attempt's total limit, not only by the read timeout: before each read from
  the socket, its timeout is set to what is left of the limit (at most the
  read timeout), so a server that trickles a byte every few seconds cannot
  stretch an attempt past it. No thread watches: each read bounds itself.
- Interim answers (1xx, such as `103 Early Hints`) are read past to the final
  one. http.client skips only `100 Continue`: it takes a 103 for the answer,
  and leaves the real one on the socket, where the next request on the
  connection would read it as its own.
"""

from __future__ import annotations

import http.client
import io
import socket
import threading
import time
from typing import Any, Dict, Optional, Type


class Attempt:
    """One attempt's limits: when it must be over, and the longest single read.

    The client makes one for each attempt; the webhook receiver one for each
    connection it serves (a deadline, no read timeout).

    Attributes:
        deadline: A `time.monotonic()` time the answer must be read by, or
            None once the answer is a stream (then only `read_timeout` holds).
        read_timeout: The longest wait for any one read, or None for no bound
            but the deadline.
    """

    __slots__ = ("deadline", "read_timeout")

    def __init__(
        self, deadline: Optional[float], read_timeout: Optional[float]
    ) -> None:
        self.deadline = deadline
        self.read_timeout = read_timeout

    def expired(self) -> bool:
        """Whether the total limit has passed."""
        return self.deadline is not None and time.monotonic() >= self.deadline


_current = threading.local()


def set_current(attempt: Optional[Attempt]) -> None:
    """Say which attempt the calling thread's next answer belongs to."""
    _current.attempt = attempt


class BoundedReader(socket.SocketIO):
    """A socket's reader, each read bounded by what is left of `limits`.

    Before each read the socket's timeout is set to the time left until
    `limits.deadline` (at most `limits.read_timeout`); past the deadline a
    read raises `socket.timeout` at once. It is the reader `sock.makefile()`
    makes, with that one step added: closing it closes only itself.
    """

    def __init__(self, sock: socket.socket, limits: Attempt) -> None:
        super().__init__(sock, "rb")
        sock._io_refs += 1  # type: ignore[attr-defined]  # as makefile() counts it
        self._socket = sock
        self._limits = limits

    def readinto(self, buffer: Any) -> Optional[int]:
        timeout = self._limits.read_timeout
        if self._limits.deadline is not None:
            left = self._limits.deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("the attempt's total time limit passed")
            timeout = left if timeout is None else min(timeout, left)
        self._socket.settimeout(timeout)
        return super().readinto(buffer)


class _BoundedSocket:
    """What http.client is given for the socket: its `makefile` bounds each read."""

    def __init__(self, sock: socket.socket, attempt: Attempt) -> None:
        self._sock = sock
        self._attempt = attempt

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> Any:
        return io.BufferedReader(BoundedReader(self._sock, self._attempt))


class FinalResponse(http.client.HTTPResponse):
    """An http.client answer read within the attempt's limit, past interim answers."""

    def __init__(self, sock: Any, *args: Any, **kwargs: Any) -> None:
        attempt: Optional[Attempt] = getattr(_current, "attempt", None)
        if attempt is not None:
            sock = _BoundedSocket(sock, attempt)
        super().__init__(sock, *args, **kwargs)

    def begin(self) -> None:
        """Read the status line and headers of the final answer."""
        super().begin()
        # 101 Switching Protocols is final; every other 1xx is interim.
        while 100 <= self.status < 200 and self.status != 101:
            self.headers = self.msg = None  # type: ignore[assignment]
            super().begin()


class GuardedConnection:
    """A mixin for urllib3's connection classes: answers are `FinalResponse`s."""

    response_class = FinalResponse

    def request(self, *args: Any, **kwargs: Any) -> Any:
        """Send a request; on a reused connection, with its own timeout again.

        The last answer's reads left the socket's timeout at what was left of
        that attempt; the body of this one must not be written under it.
        """
        sock = getattr(self, "sock", None)
        timeout = getattr(self, "timeout", None)
        if (
            sock is not None
            and isinstance(timeout, (int, float))
            and sock.gettimeout() != timeout
        ):
            sock.settimeout(timeout)
        return super().request(*args, **kwargs)  # type: ignore[misc]


_GUARDED: Dict[Type[Any], Type[Any]] = {}


def guarded_class(connection_class: Type[Any]) -> Type[Any]:
    """The guarded subclass of one of urllib3's connection classes (made once)."""
    if issubclass(connection_class, GuardedConnection):
        return connection_class
    guarded = _GUARDED.get(connection_class)
    if guarded is None:
        guarded = _GUARDED[connection_class] = type(
            "Guarded" + connection_class.__name__,
            (GuardedConnection, connection_class),
            {},
        )
    return guarded


__all__ = [
    "Attempt",
    "BoundedReader",
    "FinalResponse",
    "GuardedConnection",
    "guarded_class",
    "set_current",
]
