"""Over real sockets: credentials, keys and bodies never follow a redirect elsewhere."""

from __future__ import annotations

import http.server
import threading
from typing import Any, Callable, Iterator, List, Tuple

import pytest

from predictions import APIStatusError, Client


def serve(
    handler: Callable[[http.server.BaseHTTPRequestHandler], None],
) -> Tuple[Any, str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def handle_any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.body = self.rfile.read(length)
            handler(self)

        do_GET = do_POST = handle_any

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def other_origin() -> Iterator[Tuple[str, List[Any]]]:
    seen: List[Any] = []

    def record(request: Any) -> None:
        seen.append((request.command, dict(request.headers), request.body))
        request.send_response(200)
        request.send_header("Content-Type", "application/json")
        request.end_headers()
        request.wfile.write(b"{}")

    server, url = serve(record)
    yield url, seen
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("status", [302, 307])
def test_nothing_reaches_a_second_origin(
    other_origin: Tuple[str, List[Any]], status: int
) -> None:
    target, seen = other_origin

    def redirect(request: Any) -> None:
        request.send_response(status)
        request.send_header("Location", f"{target}{request.path}")
        request.send_header("Content-Length", "0")
        request.end_headers()

    api, url = serve(redirect)
    try:
        with Client(f"{url}/v1", "tok-123") as client:
            with pytest.raises(APIStatusError, match="another origin"):
                client.predictions.create({"input": {"secret": "s"}}, "demo/echo")
            with pytest.raises(APIStatusError, match="another origin"):
                client.predictions.get("p1")
    finally:
        api.shutdown()
        api.server_close()
    assert seen == [], "the second origin received a request"
