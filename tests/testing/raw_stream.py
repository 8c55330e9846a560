"""A raw HTTP/1.1 reader for the stream and storage tests: exact bytes, exact framing.

`http.client` and `requests` undo chunked framing and buffer; these tests must
see each chunk as the server sent it, when it sent it, and whether the
answer ended cleanly (last chunk) or the connection just closed.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any, Dict, List, Optional, Tuple

TIMEOUT = 10.0
"""Seconds any read may take before the test fails (only a failing test waits)."""


def request_bytes(
    method: str,
    path: str,
    headers: Optional[Dict[str, str]] = None,
    body: bytes = b"",
    version: str = "HTTP/1.1",
) -> bytes:
    """One request, as bytes (Host and Content-Length added)."""
    lines = [f"{method} {path} {version}", "Host: 127.0.0.1"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


class RawConnection:
    """One TCP connection to a port; answers read chunk by chunk."""

    def __init__(self, port: int, timeout: float = TIMEOUT) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""
        self.status = 0
        self.headers: Dict[str, str] = {}

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("the server closed the connection")
        self.buffer += data

    def _take_line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            self._fill()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def _take(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._fill()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def head(self) -> Tuple[int, Dict[str, str]]:
        """Read an answer's status line and headers (names lower-cased)."""
        status_line = self._take_line().decode("latin-1")
        headers: Dict[str, str] = {}
        while True:
            line = self._take_line().decode("latin-1")
            if not line:
                break
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        self.status = int(status_line.split(" ", 2)[1])
        self.headers = headers
        return self.status, headers

    def chunk(self) -> bytes:
        """The next chunk's data; b"" for the last chunk.

        Raises:
            EOFError: The connection closed first.
        """
        size = int(self._take_line().split(b";")[0], 16)
        data = self._take(size)
        assert self._take(2) == b"\r\n", "a chunk must end with CRLF"
        return data

    def chunks(self) -> List[Tuple[float, bytes]]:
        """Every chunk up to the last one, each with the time it came."""
        got = []
        while True:
            data = self.chunk()
            if not data:
                return got
            got.append((time.monotonic(), data))

    def exactly(self, size: int) -> bytes:
        """The next `size` bytes (EOFError when the connection closes first)."""
        return self._take(size)

    def body(self) -> bytes:
        """A whole answer's body, by its Content-Length."""
        return self._take(int(self.headers.get("content-length", "0")))

    def until_closed(self) -> bytes:
        """Everything until the server closes the connection."""
        while True:
            try:
                self._fill()
            except EOFError:
                data, self.buffer = self.buffer, b""
                return data


def get_stream(
    port: int, path: str, headers: Optional[Dict[str, str]] = None
) -> RawConnection:
    """Open a connection, send a GET and read the answer's head."""
    conn = RawConnection(port)
    conn.send(request_bytes("GET", path, headers))
    conn.head()
    return conn


def parse_events(data: bytes) -> List[Tuple[str, str, Any]]:
    """`(id, event, data)` of each SSE block; heartbeats left out.

    Checks the exact shape the server promises: `id:`, `event:`, one `data:`
    line of JSON, in that order, lines ending in `\\n`.
    """
    events = []
    for block in data.split(b"\n\n"):
        if not block or block.startswith(b":"):
            continue
        lines = block.split(b"\n")
        assert len(lines) == 3, block
        assert lines[0].startswith(b"id: "), block
        assert lines[1].startswith(b"event: "), block
        assert lines[2].startswith(b"data: "), block
        events.append(
            (
                lines[0][4:].decode(),
                lines[1][7:].decode(),
                json.loads(lines[2][6:].decode("utf-8")),
            )
        )
    return events


def stream_path(prediction_id: str, after_id: Optional[int] = None) -> str:
    """`/v1/predictions/{id}/stream[?after_id=N]`."""
    path = f"/v1/predictions/{prediction_id}/stream"
    return path if after_id is None else f"{path}?after_id={after_id}"
