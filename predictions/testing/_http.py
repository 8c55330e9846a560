"""The HTTP side: the threading server, request framing, faults on the wire.

Every answer is FastAPI-style JSON with `x-request-id` and `x-ratelimit-*`,
including the ones `http.server` makes itself (431, 414, 400, 501). Nothing is
written to stderr unless the server is verbose, and no traceback ever reaches
a client.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Deque, Dict, List, Optional, Tuple, cast

from ._app import App
from ._faults import Fault, Faults
from ._protocol import Request, Response, error

MAX_BODY = 10 * 1024 * 1024
"""Largest request body accepted (10 MiB); more is answered 413 unread."""

IDLE_TIMEOUT = 60.0
"""Seconds an idle keep-alive connection is kept open."""

RECORDED_BODY = 64 * 1024
"""How much of each request body `LocalServer.requests` keeps (64 KiB)."""

_HEX = frozenset("0123456789abcdefABCDEF")


@dataclass(frozen=True)
class RecordedRequest:
    """A request the server received, as `LocalServer.requests` lists it.

    Attributes:
        method: The HTTP method.
        path: The request target, query included, as sent.
        headers: The headers, names lower-cased.
        body: The body as received, cut to its first 64 KiB (the log keeps
            10,000 requests: whole 10 MiB bodies would fill the memory);
            empty when it was refused unread.
    """

    method: str
    path: str
    headers: Dict[str, str]
    body: bytes


class _Refused(Exception):
    """The request's framing is unusable; answer and close."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class HTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that knows its connections, to close them fast."""

    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog is 5: a burst of new connections (an
    # async client opening twenty at once) would be reset.
    request_queue_size = 1024

    def __init__(
        self,
        address: Tuple[str, int],
        app: App,
        faults: Optional[Faults],
        request_log: Deque[RecordedRequest],
        verbose: bool = False,
    ) -> None:
        """Bind (not serve yet).

        Args:
            address: `(host, port)`; port 0 picks a free one.
            app: The API.
            faults: Fault rules, or None.
            request_log: Where received requests are recorded.
            verbose: Log each request and server error to stderr.
        """
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        # Before binding: a failed bind calls server_close(), which closes these.
        self._wake_r, self._wake_w = socket.socketpair()
        super().__init__(address, Handler)
        self.app = app
        self.faults = faults
        self.verbose = verbose
        self.stopping = threading.Event()
        self.request_log = request_log
        self._connections: Dict[threading.Thread, socket.socket] = {}
        self._connections_lock = threading.Lock()

    def serve(self) -> None:
        """Accept connections until `wake()`; like `serve_forever`, but ends at once.

        `serve_forever` notices `shutdown()` only at its next poll; this loop
        also watches a socket pair, so stopping takes no poll interval.
        """
        with selectors.DefaultSelector() as selector:
            selector.register(self.socket, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while not self.stopping.is_set():
                for key, _ in selector.select():
                    if key.fileobj is self.socket and not self.stopping.is_set():
                        # What serve_forever calls too (not in typeshed).
                        self._handle_request_noblock()  # type: ignore[attr-defined]

    def wake(self) -> None:
        """Stop `serve()` (after `stopping` is set)."""
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def server_close(self) -> None:
        """Close the listening socket and the wake-up pair."""
        super().server_close()
        self._wake_r.close()
        self._wake_w.close()

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve a connection on a thread of its own, tracked for `close_all`."""
        if self.stopping.is_set():
            self.shutdown_request(request)
            return
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name="predictions-testing-http",
            daemon=True,
        )
        with self._connections_lock:
            self._connections[thread] = request
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._connections_lock:
                self._connections.pop(threading.current_thread(), None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Report a server error on stderr, only when verbose."""
        if self.verbose:
            super().handle_error(request, client_address)

    def close_all(self, timeout: float) -> List[threading.Thread]:
        """Shut every open connection and wait for their threads.

        Returns:
            The threads still alive after `timeout` (normally none).
        """
        deadline = time.monotonic() + timeout
        with self._connections_lock:
            connections = list(self._connections.items())
        for _, sock in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread, _ in connections:
            thread.join(max(0.0, deadline - time.monotonic()))
        return [t for t, _ in connections if t.is_alive()]


class Handler(BaseHTTPRequestHandler):
    """One connection: read each request, pick a fault, answer."""

    protocol_version = "HTTP/1.1"
    server_version = "predictions-testing"
    sys_version = ""
    default_request_version = "HTTP/1.0"
    timeout = IDLE_TIMEOUT
    # Headers and body go out in two writes; without TCP_NODELAY the second
    # waits for the client's delayed ACK (40 ms on Linux).
    disable_nagle_algorithm = True

    def version_string(self) -> str:
        """The `Server` header's value."""
        return self.server_version

    @property
    def srv(self) -> HTTPServer:
        """The server, typed."""
        return cast(HTTPServer, self.server)

    def log_message(self, format: str, *args: Any) -> None:
        """Log to stderr only when the server is verbose."""
        if self.srv.verbose:
            sys.stderr.write(f"{self.address_string()} - {format % args}\n")

    def handle_expect_100(self) -> bool:
        """Refuse an oversized body before the client sends it."""
        if self._declared_length() > MAX_BODY:
            self.send_error(413, "Request body larger than 10 MiB")
            return False
        return super().handle_expect_100()

    def send_error(
        self, code: int, message: Optional[str] = None, explain: Optional[str] = None
    ) -> None:
        """Answer an error `http.server` found itself, as FastAPI-style JSON."""
        self.close_connection = True
        phrase = self.responses.get(code, ("Error",))[0]
        response = error(code, message or phrase)
        response.headers.update(self.srv.app.limiter.headers("read"))
        self._send(response)

    def do_GET(self) -> None:
        """Answer a GET."""
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    # ---- one request --------------------------------------------------------

    def _dispatch(self) -> None:
        try:
            self._serve()
        except OSError:  # the client went away (or timed out)
            self.close_connection = True
        except Exception:  # never a traceback to the client, never a dead server
            self.close_connection = True
            if self.srv.verbose:
                import traceback

                traceback.print_exc()
            response = error(500, "Internal Server Error")
            with contextlib.suppress(Exception):
                kind = self.srv.app.match(self.command, self.path).rate_kind
                response.headers.update(self.srv.app.limiter.headers(kind))
            with contextlib.suppress(OSError):
                self._send(response)

    def _serve(self) -> None:
        app = self.srv.app
        route = app.match(self.command, self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            body = self._read_body()
        except _Refused as refused:
            self.srv.request_log.append(
                RecordedRequest(self.command, self.path, headers, b"")
            )
            self._refuse(refused, route.rate_kind)
            return
        self.srv.request_log.append(
            RecordedRequest(self.command, self.path, headers, body[:RECORDED_BODY])
        )
        faults = self.srv.faults
        fault = faults.pick(route.name) if faults is not None and route.name else None
        if fault is not None and fault.kind == "drop_before":
            self.close_connection = True
            return
        if fault is not None and fault.kind == "status":
            self._send(self._fault_response(fault, route.rate_kind))
            return
        response = app.handle(route, Request(self.command, self.path, headers, body))
        if fault is None:
            self._send(response)
        elif fault.kind == "drop_after":
            self.close_connection = True
        elif fault.kind == "delay":
            self.srv.stopping.wait(fault.delay)
            self._send(response)
        elif fault.kind == "truncate":
            self.close_connection = True
            self._send(response, truncate=True)

    def _fault_response(self, fault: Fault, rate_kind: str) -> Response:
        if fault.body is None:
            response = error(fault.status, f"Injected fault: {fault.status}")
        else:
            raw = fault.body.encode("utf-8")
            response = Response(
                fault.status, raw=raw, content_type="text/html; charset=utf-8"
            )
        if fault.rate_limit_headers:
            response.headers.update(self.srv.app.limiter.headers(rate_kind))
        if fault.retry_after is not None:
            response.headers["Retry-After"] = fault.retry_after
        return response

    def _send(self, response: Response, truncate: bool = False) -> None:
        body = response.body()
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-request-id", uuid.uuid4().hex)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if getattr(self, "command", None) != "HEAD":
            self.wfile.write(body[: len(body) // 2] if truncate else body)
        self.wfile.flush()

    # ---- framing ------------------------------------------------------------

    def _declared_length(self) -> int:
        value = self.headers.get("Content-Length")
        if value is None:
            return 0
        value = value.strip()
        if not value.isdigit() or not value.isascii():
            return -1
        return int(value)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = self._declared_length()
        if length < 0:
            raise _Refused(400, "Invalid Content-Length")
        if length > MAX_BODY:
            raise _Refused(413, "Request body larger than 10 MiB")
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            raise ConnectionError("client sent a short body")
        return body

    def _read_chunked(self) -> bytes:
        data = bytearray()
        while True:
            line = self.rfile.readline(65537)
            # Hex digits only: int(..., 16) also takes "-5", "+5", "0x5", "5_0".
            digits = line.split(b";", 1)[0].strip().decode("latin-1")
            if not digits or not set(digits) <= _HEX:
                raise _Refused(400, "Invalid chunked encoding")
            size = int(digits, 16)
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers, ignored
                return bytes(data)
            if len(data) + size > MAX_BODY:
                raise _Refused(413, "Request body larger than 10 MiB")
            chunk = self.rfile.read(size)
            if len(chunk) < size:
                raise ConnectionError("client sent a short chunk")
            data += chunk
            self.rfile.readline(65537)

    def _refuse(self, refused: _Refused, rate_kind: str) -> None:
        self.close_connection = True
        response = error(refused.status, refused.detail)
        response.headers.update(self.srv.app.limiter.headers(rate_kind))
        self._send(response)
        self._discard_unread()

    def _discard_unread(self, seconds: float = 1.0, limit: int = 4 * MAX_BODY) -> None:
        # Read and drop what the client is still sending, a little while, so
        # closing does not reset the connection before it reads our answer.
        try:
            self.connection.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + seconds
            dropped = 0
            while dropped < limit and not self.srv.stopping.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.connection.settimeout(min(left, 0.1))
                try:
                    chunk = self.connection.recv(65536)
                except socket.timeout:
                    continue
                if not chunk:
                    break
                dropped += len(chunk)
        except OSError:
            pass
