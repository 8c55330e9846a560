"""The threading HTTP server both ports run on, and what their handlers share.

`HTTPServer` knows its connections (to close them at once on stop), serves
at most `max_connections` of them (see `_limits`) and stops without a poll
interval; it holds what answers behind its port (the API's `App`, storage's
`Storage`). `BaseHandler` is HTTP/1.1 with keep-alive, quiet unless verbose;
it gives each request `request_timeout` seconds to arrive whole (line,
headers and body: a client that sends a byte now and then is answered 408
and closed), refuses a body whose framing is ambiguous (see `_framing`),
answers every method through its port's `serve_request`, answers the errors
`http.server` finds itself as JSON, never sends a traceback, sends whole
answers, knows how to discard what a refused client still sends, how to
send a body in chunks as it is made and how to stall (a fault).
"""

from __future__ import annotations

import contextlib
import io
import selectors
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Deque, Dict, Generic, List, Optional, Tuple, Type, TypeVar, cast

from predictions._http.connection import Attempt
from predictions.testing._api.protocol import Response, error
from predictions.testing._http.faults import Faults
from predictions.testing._http.framing import chunked, declared_length, framing_problem
from predictions.testing._http.limits import (
    ADMISSION_GRACE,
    Admission,
    BodyBudget,
    ConnectionLimits,
    RequestReader,
    busy_answer,
    linger,
)

B = TypeVar("B")
"""What answers behind a port: the API's `App`, storage's `Storage`."""

IDLE_TIMEOUT = 60.0
"""Seconds an idle keep-alive connection is kept open."""

RECORDED_BODY = 64 * 1024
"""How much of each request body `LocalServer.requests` keeps (64 KiB)."""

DISCARD_LIMIT = 40 * 1024 * 1024
"""The most a refused client's unread body is read and dropped (40 MiB)."""


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


class HTTPServer(ThreadingHTTPServer, Generic[B]):
    """A threading HTTP server that knows its connections, to close them fast."""

    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog is 5: a burst of new connections (an
    # async client opening twenty at once) would be reset.
    request_queue_size = 1024

    def __init__(
        self,
        address: Tuple[str, int],
        handler: Type[BaseHandler[B]],
        backend: B,
        faults: Optional[Faults],
        request_log: Deque[RecordedRequest],
        verbose: bool = False,
        limits: Optional[ConnectionLimits] = None,
    ) -> None:
        """Bind (not serve yet).

        Args:
            address: `(host, port)`; port 0 picks a free one.
            handler: Serves each connection.
            backend: What answers behind the port (the API, or the storage).
            faults: Fault rules, or None.
            request_log: Where received requests are recorded.
            verbose: Log each request and server error to stderr.
            limits: How long a request may take to arrive, how many
                connections are served at once; None for the defaults.
        """
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        # Before binding: a failed bind calls server_close(), which closes these.
        self._wake_r, self._wake_w = socket.socketpair()
        super().__init__(address, handler)
        self.backend = backend
        self.faults = faults
        self.verbose = verbose
        self.stopping = threading.Event()
        self.request_log = request_log
        self.bodies = BodyBudget()
        limits = limits or ConnectionLimits()
        self.request_timeout = limits.request_timeout
        self.admission = Admission(limits.max_connections)
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
        """Serve a connection (or turn it away) on a thread tracked for `close_all`."""
        if self.stopping.is_set():
            self.shutdown_request(request)
            return
        thread = threading.Thread(
            target=self._admit,
            args=(request, client_address),
            name="predictions-testing-http",
            daemon=True,
        )
        with self._connections_lock:
            self._connections[thread] = request
        thread.start()

    def _admit(self, request: Any, client_address: Any) -> None:
        """Serve the connection, or turn it away if no place is had in time."""
        if self.admission.admit(request, ADMISSION_GRACE):
            self._serve_connection(request, client_address)
        else:
            self._turn_away(request, client_address)

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            self.admission.release(request)
            with self._connections_lock:
                self._connections.pop(threading.current_thread(), None)

    def _turn_away(self, request: socket.socket, client_address: Any) -> None:
        """Answer 503 at once and close: every place is taken by a request."""
        try:
            request.settimeout(1.0)
            request.sendall(busy_answer())
            linger(request, 1.0, DISCARD_LIMIT, self.stopping)
        except OSError:
            pass
        finally:
            request.close()
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


class BaseHandler(BaseHTTPRequestHandler, Generic[B]):
    """One connection of either port: HTTP/1.1, quiet, with shared framing."""

    protocol_version = "HTTP/1.1"
    server_version = "predictions-testing"
    sys_version = ""
    default_request_version = "HTTP/1.0"
    timeout = IDLE_TIMEOUT
    # Headers and body go out in two writes; without TCP_NODELAY the second
    # waits for the client's delayed ACK (40 ms on Linux).
    disable_nagle_algorithm = True

    def setup(self) -> None:
        """Read the connection through a reader bounded by the request's limits."""
        super().setup()
        self.rfile.close()  # else the socket stays open until collected
        self.limits = Attempt(None, self.timeout)
        self.reader = RequestReader(self.connection, self.limits)
        self.buffered = io.BufferedReader(self.reader)
        self.rfile = self.buffered

    def handle_one_request(self) -> None:
        """Wait for a request, idle; read it within `request_timeout`; answer it.

        A per-read timeout alone lets a client that sends a byte now and then
        hold the connection forever: the whole request (line, headers, body)
        must arrive by a deadline, or it is answered 408 and closed.
        """
        if not self._next_request():
            self.close_connection = True
            return
        timeout = self.srv.request_timeout
        self.limits.deadline = time.monotonic() + timeout if timeout else None
        self.reader.timed_out = self.answered = False
        # What parse_request sets first, for a 408 before it ran.
        self.command, self.requestline = "", ""
        self.request_version = self.default_request_version
        super().handle_one_request()
        if self.reader.timed_out and not self.answered:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.answer(self.refusal(408, "The request took too long to arrive"))
            self.discard_unread()

    def _next_request(self) -> bool:
        """Wait (idle, so closable to make room) for a request's first byte."""
        self.limits.deadline = None
        self.srv.admission.idle(self.connection)
        try:
            first = self.buffered.peek(1)
        except OSError:  # the idle timeout, or the connection was closed
            return False
        return bool(first) and self.srv.admission.busy(self.connection)

    def version_string(self) -> str:
        """The `Server` header's value."""
        return self.server_version

    @property
    def srv(self) -> HTTPServer[B]:
        """The server, typed."""
        return cast("HTTPServer[B]", self.server)

    # ---- each request -------------------------------------------------------

    def serve_request(self) -> None:
        """Read the request and answer it (each port has its own)."""
        raise NotImplementedError

    def do_GET(self) -> None:
        """Answer any method (`serve_request` decides); a bug is a JSON 500."""
        try:
            self.serve()
        except OSError:  # the client went away (or timed out)
            self.close_connection = True
        except Exception:  # never a traceback to the client, never a dead server
            self.close_connection = True
            if self.srv.verbose:
                import traceback

                traceback.print_exc()
            with contextlib.suppress(OSError):
                self.answer(self.internal_error())

    def serve(self) -> None:
        """Answer the request: refused if its framing is ambiguous, else by the port."""
        problem = framing_problem(self.headers)
        if problem is None:
            self.serve_request()
            return
        self.record()
        self.close_connection = True
        self.answer(self.refusal(400, problem))
        self.discard_unread()

    def handle_expect_100(self) -> bool:
        """Send no `100 Continue` to a request that will be refused for its framing."""
        if framing_problem(self.headers) is not None:
            return True
        return super().handle_expect_100()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def send_error(
        self, code: int, message: Optional[str] = None, explain: Optional[str] = None
    ) -> None:
        """Answer an error `http.server` found itself, as JSON, and close."""
        self.close_connection = True
        phrase = self.responses.get(code, ("Error",))[0]
        self.answer(self.refusal(code, message or phrase))

    def refusal(self, status: int, detail: str) -> Response:
        """The answer to an error `http.server` found itself (ports add headers)."""
        return error(status, detail)

    def internal_error(self) -> Response:
        """The answer to a request the server failed on (ports add headers)."""
        return error(500, "Internal Server Error")

    # ---- answers ------------------------------------------------------------

    def answer(self, response: Response, truncate: bool = False) -> None:
        """Send a whole answer (its head only to HEAD).

        Args:
            response: The answer.
            truncate: Send only the first half of its body (a fault).
        """
        body = response.body()
        self.send_head(response, {"Content-Length": str(len(body))})
        if getattr(self, "command", None) != "HEAD":
            self.wfile.write(body[: len(body) // 2] if truncate else body)
        self.wfile.flush()

    def send_head(self, response: Response, framing: Dict[str, str]) -> None:
        """Send an answer's status and headers, a fresh `x-request-id` among them.

        Args:
            response: The answer (its body is not sent here).
            framing: How the body is framed (`Content-Length`, or
                `Transfer-Encoding`; none when the connection's end ends it).
        """
        self.answered = True
        # Writes are not bounded by the request's deadline: as long as a read.
        self.connection.settimeout(self.timeout)
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        for name, value in framing.items():
            self.send_header(name, value)
        self.send_header("x-request-id", uuid.uuid4().hex)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()

    def stall(self, seconds: float) -> None:
        """Send nothing more for `seconds` (0: until the server stops), then close."""
        self.close_connection = True
        self.srv.stopping.wait(seconds or None)

    # ---- framing ------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:
        """Log to stderr only when the server is verbose."""
        if self.srv.verbose:
            sys.stderr.write(f"{self.address_string()} - {format % args}\n")

    def record(self, body: bytes = b"") -> Dict[str, str]:
        """Log the request (its body cut to 64 KiB); its headers, lower-cased."""
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.srv.request_log.append(
            RecordedRequest(self.command, self.path, headers, body[:RECORDED_BODY])
        )
        return headers

    def declared_length(self) -> int:
        """The request's `Content-Length`: 0 when absent, -1 when unusable."""
        return declared_length(self.headers)

    def chunked(self) -> bool:
        """Whether the request body comes in chunks (`Transfer-Encoding`)."""
        return chunked(self.headers)

    def write_chunk(self, data: bytes, chunked: bool) -> None:
        """Send a piece of a body of unknown length, and flush it.

        Args:
            data: The piece; with `chunked`, empty ends the body.
            chunked: Frame it as a chunk; else send it as is (the body ends
                when the connection closes).
        """
        if chunked:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        else:
            self.wfile.write(data)
        self.wfile.flush()

    def discard_unread(self, seconds: float = 1.0, limit: int = DISCARD_LIMIT) -> None:
        """Read and drop what the client still sends, a while (see `linger`)."""
        linger(self.connection, seconds, limit, self.srv.stopping)
