"""A streamed answer, read as its bytes come: the one way a stream is read.

An answer to a `Request(stream=True)` comes back with its body unread.
`StreamReader` reads it: `read()` returns the next bytes as they arrive
(http.client's own reader, which takes a chunked body piece by piece; each
read keeps the read timeout and the caller's deadline, see `connection`),
`async_read()` waits for them on the API's stream threads, never on its
request pool, and `close()` releases the connection at once, even while a
thread is blocked reading it.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
from concurrent.futures import Executor
from typing import Any, Callable

import requests

from predictions._http.threads import run_in

READ_SIZE = 65536
"""Bytes asked of the socket at a time."""

DROPPED = (OSError, http.client.HTTPException, ValueError)
"""What a read raises when the connection breaks (ValueError: a read on an
answer that was closed)."""


def is_event_stream(response: requests.Response) -> bool:
    """Whether an answer is an event stream (rather than a JSON prediction)."""
    content_type = response.headers.get("content-type", "")
    return content_type.split(";")[0].strip().lower() == "text/event-stream"


class StreamReader:
    """Reads a streamed answer as its bytes come.

    Args:
        response: The answer, its body unread.
        pool: The threads an async read waits on (the API's stream threads).
    """

    def __init__(self, response: requests.Response, pool: Callable[[], Executor]):
        self._response = response
        self._raw: Any = response.raw._fp  # http.client's reader: chunks as they come
        self._pool = pool

    def read(self, size: int = READ_SIZE) -> bytes:
        """The next bytes, as many as came (`size` at most); empty at the end.

        A body cut short of its `Content-Length` ends early, with no error:
        the caller compares what it got with what was announced.
        """
        return bytes(self._raw.read1(size))

    async def async_read(self) -> bytes:
        """The next bytes, waited for on a stream thread (in the caller's context)."""
        return await run_in(self._pool(), self.read)

    def close(self) -> None:
        """Release the connection at once; see `close_answer`."""
        close_answer(self._response)


def close_answer(response: requests.Response) -> None:
    """Release a streamed answer's connection at once, even while a thread reads it."""
    connection = getattr(response.raw, "_connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # wakes a read blocked on it
    response.close()


__all__ = ["DROPPED", "READ_SIZE", "StreamReader", "close_answer", "is_event_stream"]
