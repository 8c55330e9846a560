"""A file host for the output-file tests: ranges, ETags and scripted misbehaviour.

Each path serves a `Hosted` file; each request to it takes the next step of
its `script` (then behaves), so a test says exactly what the host does on
the first, second... request: cut the body, stall, answer a status, ignore
the range, change the file, redirect. Every request's headers are recorded.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, Iterator, List, Optional, Tuple


@dataclass
class Hosted:
    """A file and what the host does on each request for it.

    Script steps: "ok", "cut" (headers, half the body asked, close),
    "stall:S" (half, then S seconds of nothing, then close), "status:N",
    "norange" (the whole file, 200, whatever the range), "chunked" (no
    Content-Length), "trickle:S" (the body in 16 pieces spread over S
    seconds), "gzip" (compressed, whatever was asked), "redirect:URL",
    "change" (the file's content and ETag change from now on), "always206"
    (a 206 of the whole file, even unasked).
    """

    body: bytes
    content_type: str = "application/octet-stream"
    etag: Optional[str] = None  # None: the MD5, quoted; "" for none
    script: List[str] = field(default_factory=list)
    content_md5: Optional[str] = None

    def tag(self) -> Optional[str]:
        if self.etag is None:
            return '"' + hashlib.md5(self.body).hexdigest() + '"'
        return self.etag or None


class FileHost:
    """A threaded HTTP server of `Hosted` files; use as a context manager."""

    def __init__(self) -> None:
        self.files: Dict[str, Hosted] = {}
        self.seen: List[Tuple[str, Dict[str, str]]] = []
        host = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                try:
                    host.handle(self)
                except (BrokenPipeError, ConnectionResetError):  # the client left
                    self.close_connection = True

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.handle_error = lambda request, address: None  # type: ignore[method-assign]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), daemon=True
        )

    def __enter__(self) -> FileHost:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def add(self, name: str, hosted: Hosted) -> str:
        """Serve `hosted` at /files/NAME; return its URL (with a signature)."""
        self.files[f"/files/{name}"] = hosted
        return f"{self.origin}/files/{name}?sig=secret-signature"

    def headers_of(self, name: str) -> List[Dict[str, str]]:
        return [h for path, h in self.seen if path == f"/files/{name}"]

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?", 1)[0]
        headers = {k.lower(): v for k, v in handler.headers.items()}
        self.seen.append((path, headers))
        hosted = self.files.get(path)
        if hosted is None:
            return self._status(handler, 404)
        step = hosted.script.pop(0) if hosted.script else "ok"
        kind, _, argument = step.partition(":")
        if kind == "change":
            hosted.body = hosted.body[::-1]
            kind = "ok"
        if kind == "status":
            return self._status(handler, int(argument))
        if kind == "redirect":
            handler.send_response(302)
            handler.send_header("Location", argument)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return None
        body, status, extra = hosted.body, 200, {}
        asked = re.fullmatch(r"bytes=(\d+)-", headers.get("range", ""))
        if kind == "always206" and not asked:
            asked = re.fullmatch(r"bytes=(\d+)-", "bytes=0-")
        if_range = headers.get("if-range")
        if asked and kind != "norange" and (if_range in (None, hosted.tag())):
            start = int(asked.group(1))
            if start >= len(body):
                return self._status(handler, 416)
            extra["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
            body, status = body[start:], 206
        if kind == "gzip":
            body = gzip.compress(body)
            extra["Content-Encoding"] = "gzip"
        handler.send_response(status)
        handler.send_header("Content-Type", hosted.content_type)
        if hosted.tag():
            handler.send_header("ETag", hosted.tag() or "")
        if hosted.content_md5 and status == 200:
            handler.send_header("Content-MD5", hosted.content_md5)
        for key, value in extra.items():
            handler.send_header(key, value)
        if kind == "chunked":
            handler.send_header("Transfer-Encoding", "chunked")
            handler.end_headers()
            for piece in _pieces(body, 64 * 1024):
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            handler.wfile.write(b"0\r\n\r\n")
            return None
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if kind in ("cut", "stall"):
            handler.wfile.write(body[: len(body) // 2])
            handler.wfile.flush()
            if kind == "stall":
                time.sleep(float(argument))
            handler.close_connection = True
            return None
        if kind == "trickle":
            for piece in _pieces(body, max(1, -(-len(body) // 16))):
                handler.wfile.write(piece)
                handler.wfile.flush()
                time.sleep(float(argument) / 16)
            return None
        handler.wfile.write(body)
        return None

    def _status(self, handler: BaseHTTPRequestHandler, status: int) -> None:
        body = b'{"detail": "no"}'
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        if status == 429:
            handler.send_header("Retry-After", "0")
        handler.end_headers()
        handler.wfile.write(body)


def _pieces(body: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]
