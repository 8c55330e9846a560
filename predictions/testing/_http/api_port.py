"""The API's port: request framing, faults on the wire, whole and streamed answers.

Every answer is FastAPI-style JSON with `x-request-id` and `x-ratelimit-*`,
including the ones `http.server` makes itself (431, 414, 400, 501), except
event streams (`text/event-stream`). Nothing is written to stderr unless the
server is verbose, and no traceback ever reaches a client.

An event stream is sent with chunked transfer encoding to HTTP/1.1 clients:
each event (or heartbeat) is one chunk, flushed as it comes, and the last
chunk ends the answer, so the connection stays open for the next request
(keep-alive), whether the stream ended with a terminal event or after its
idle time. An HTTP/1.0 client gets the events with no framing and the
connection closed at the end.
"""

from __future__ import annotations

import contextlib
from typing import Dict

from predictions.testing._api.app import App, Route
from predictions.testing._api.protocol import Request, Response, error
from predictions.testing._http.faults import fault_answer
from predictions.testing._http.listener import BaseHandler

MAX_BODY = 10 * 1024 * 1024
"""Largest request body accepted (10 MiB); more is answered 413 unread."""

_HEX = frozenset("0123456789abcdefABCDEF")

MAX_CHUNK_LINE = 4096
"""The longest chunk-size line (with its extensions) or trailer line, in bytes."""

MAX_TRAILERS = 32
"""The most trailer lines after the last chunk."""


class _Refused(Exception):
    """The request's framing is unusable; answer and close."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class Handler(BaseHandler[App]):
    """One connection of the API's port: read each request, pick a fault, answer."""

    def handle_expect_100(self) -> bool:
        """Refuse an oversized body before the client sends it."""
        if self.declared_length() > MAX_BODY:
            self.send_error(413, "Request body larger than 10 MiB")
            return False
        return super().handle_expect_100()

    def refusal(self, status: int, detail: str) -> Response:
        """The error as FastAPI-style JSON, with the read limit's headers."""
        response = super().refusal(status, detail)
        response.headers.update(self.srv.backend.limiter.headers("read"))
        return response

    def internal_error(self) -> Response:
        """The 500, with the limit headers of the request's route (if it has one)."""
        response = super().internal_error()
        app = self.srv.backend
        with contextlib.suppress(Exception):
            kind = app.match(self.command, self.path).rate_kind
            response.headers.update(app.limiter.headers(kind))
        return response

    # ---- one request --------------------------------------------------------

    def serve_request(self) -> None:
        """Match the route, read the body, pick a fault, answer."""
        app = self.srv.backend
        route = app.match(self.command, self.path)
        self._held = 0  # bytes of the budget for bodies this request holds
        try:
            try:
                body = self._read_body()
            except _Refused as refused:
                self.record()
                self._refuse(refused, route.rate_kind)
                return
            self._serve(route, body)
        finally:  # however it ended: a client gone mid-body too
            self.srv.bodies.give(self._held)

    def _serve(self, route: Route, body: bytes) -> None:
        app = self.srv.backend
        headers = self.record(body)
        faults = self.srv.faults
        fault = faults.pick(route.name) if faults is not None and route.name else None
        if fault is not None and fault.kind == "drop_before":
            self.close_connection = True
            return
        if fault is not None and fault.kind == "status":
            response = fault_answer(fault)
            if fault.rate_limit_headers:
                response.headers.update(app.limiter.headers(route.rate_kind))
            self.answer(response)
            return
        response = app.handle(route, Request(self.command, self.path, headers, body))
        if fault is None:
            self.answer(response)
        elif fault.kind == "drop_after":
            self.close_connection = True
            _close(response)
        elif fault.kind == "delay":
            self.srv.stopping.wait(fault.delay)
            self.answer(response)
        else:  # truncate, stall
            self.close_connection = True
            self.answer(response, truncate=True)
            if fault.kind == "stall":
                self.stall(fault.delay)

    def answer(self, response: Response, truncate: bool = False) -> None:
        """Send an answer: whole, or an event stream piece by piece."""
        if response.chunks is not None:
            self._send_stream(response, truncate)
            return
        super().answer(response, truncate)

    def _send_stream(self, response: Response, truncate: bool) -> None:
        """Send an event stream piece by piece (see the module's docstring).

        Truncated (a fault), it stops after its first piece, with no last chunk.
        """
        chunks = response.chunks
        assert chunks is not None
        chunked = self.request_version == "HTTP/1.1"
        if not chunked:
            self.close_connection = True
        framing: Dict[str, str] = {"Transfer-Encoding": "chunked"} if chunked else {}
        try:
            self.send_head(response, framing)
            for piece in chunks:
                self.write_chunk(piece, chunked)
                if truncate:
                    return
            if chunked:
                self.write_chunk(b"", chunked)
        except OSError:
            self.close_connection = True  # the client went away
        finally:
            _close(response)
        if self.srv.stopping.is_set():
            self.close_connection = True

    # ---- framing ------------------------------------------------------------

    def _hold(self, size: int) -> None:
        """Count `size` more bytes of this body in, or refuse it (503)."""
        if not self.srv.bodies.take(size):
            raise _Refused(503, "Server busy: too many request bodies in flight")
        self._held += size

    def _read_body(self) -> bytes:
        if self.chunked():
            return self._read_chunked()
        length = self.declared_length()
        if length < 0:
            raise _Refused(400, "Invalid Content-Length")
        if length > MAX_BODY:
            raise _Refused(413, "Request body larger than 10 MiB")
        self._hold(length)
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            raise ConnectionError("client sent a short body")
        return body

    def _read_chunked(self) -> bytes:
        data = bytearray()
        while True:
            line = self._chunk_line()
            # Hex digits only: int(..., 16) also takes "-5", "+5", "0x5", "5_0".
            digits = line.split(b";", 1)[0].strip().decode("latin-1")
            if not digits or not set(digits) <= _HEX or len(digits) > 8:
                raise _Refused(400, "Invalid chunked encoding")
            size = int(digits, 16)
            if size == 0:
                for _ in range(MAX_TRAILERS + 1):
                    if self._chunk_line() in (b"\r\n", b"\n"):
                        return bytes(data)  # trailers, ignored
                raise _Refused(400, "Invalid chunked encoding: too many trailers")
            if len(data) + size > MAX_BODY:
                raise _Refused(413, "Request body larger than 10 MiB")
            self._hold(size)
            chunk = self.rfile.read(size)
            if len(chunk) < size:
                raise ConnectionError("client sent a short chunk")
            data += chunk
            # RFC 9112 7.1: the data ends with CRLF, and nothing else.
            if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise _Refused(400, "Invalid chunked encoding: junk after chunk data")

    def _chunk_line(self) -> bytes:
        """A chunk-size or trailer line, whole; refused when too long or cut off.

        A line read in part would leave its rest to be read as chunk data or
        as the next request: a request smuggled in the chunk data.
        """
        line = self.rfile.readline(MAX_CHUNK_LINE + 1)
        if not line:
            raise ConnectionError("client closed the connection mid-body")
        if not line.endswith(b"\n"):
            raise _Refused(400, "Invalid chunked encoding: line too long")
        return line

    def _refuse(self, refused: _Refused, rate_kind: str) -> None:
        self.close_connection = True
        response = error(refused.status, refused.detail)
        response.headers.update(self.srv.backend.limiter.headers(rate_kind))
        self.answer(response)
        self.discard_unread()


def _close(response: Response) -> None:
    """Release what a streamed answer holds (a generator's waits)."""
    close = getattr(response.chunks, "close", None)
    if close is not None:
        close()
