"""A file host that writes raw bytes: for answers no honest server library sends.

Each connection reads one request, then the next of the host's `answers`
writes its bytes (an answer is a function of the request's headers, giving
the bytes, or an iterable of byte strings and pauses in seconds), and the
connection is closed. So a test can lie in any header: a `Content-Length`
beside a chunked body, a `Content-Range` of another total, a 204 or a 3xx
with no `Location`.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Callable, Dict, Iterable, Iterator, List, Mapping, Union

Piece = Union[bytes, float]
Answer = Callable[[Dict[str, str]], Union[bytes, Iterable[Piece]]]


def answer(status: int, headers: Mapping[str, object], body: bytes = b"") -> bytes:
    """The bytes of an answer, exactly these headers (and `Connection: close`)."""
    lines = [f"HTTP/1.1 {status} Whatever"]
    lines += [f"{key}: {value}" for key, value in headers.items()]
    lines += ["Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1") + body


def chunked(pieces: Iterable[bytes]) -> Iterator[bytes]:
    """A chunked body of these pieces, its last chunk included."""
    for piece in pieces:
        yield b"%x\r\n%s\r\n" % (len(piece), piece)
    yield b"0\r\n\r\n"


class RawHost:
    """A server of scripted raw answers; use as a context manager.

    Attributes:
        seen: The headers of each request (lower-case names; `:path` too).
    """

    def __init__(self, answers: Iterable[Answer]) -> None:
        self.answers: List[Answer] = list(answers)
        self.seen: List[Dict[str, str]] = []
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> RawHost:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._sock.close()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(connection,), daemon=True).start()

    def _one(self, connection: socket.socket) -> None:
        with connection:
            try:
                self._answer(connection)
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:  # the client left
                pass

    def _answer(self, connection: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            got = connection.recv(65536)
            if not got:
                return
            data += got
        head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        headers[":path"] = head[0].split(" ")[1]
        self.seen.append(headers)
        if not self.answers:
            connection.sendall(answer(599, {"Content-Length": 0}))
            return
        made = self.answers.pop(0)(headers)
        for piece in [made] if isinstance(made, bytes) else made:
            if isinstance(piece, bytes):
                connection.sendall(piece)
            else:
                time.sleep(piece)
