"""The storage port: upload parts, downloads of uploads, output files.

It stands for the object storage that pre-signed URLs point at: another
origin than the API, with no access token. So a request to it that carries
`Authorization` is refused (400), which catches a client that leaks its
token to another host; a part URL with a bad or missing signature is refused
(403). A part's `PUT /parts/...` needs a `Content-Length` equal to the
part's exact size (else 400), is written to disk as it arrives, and is
answered 200 with an empty body and the part's `ETag`. A download (`GET
/files/...`) is streamed from disk with the upload's MIME type.

An output file (`GET` or `HEAD /outputs/<token>/<name>?expires=..&sig=..`,
see `_api.outputs`) is answered as S3 answers an object: 200 with its MIME
type, `ETag` (the quoted MD5 of the whole file) and `Accept-Ranges: bytes`,
streamed from disk; one range asked for (see `ranges`) is a 206 with
`Content-Range` and the same `ETag`; a range past the end, 416 with
`Content-Range: bytes */size`. With `output_ranges=False` it ignores `Range`,
as some hosts do (200, the whole file, no `Accept-Ranges`). A bad signature
is 403, an expired URL 410, an unknown file 404.

Errors are `{"detail": ...}` JSON. Every request is recorded
(`LocalServer.storage_requests`, bodies not kept).
"""

from __future__ import annotations

import io
import urllib.parse
from dataclasses import dataclass
from typing import IO, Optional, Tuple

from predictions.testing._api.outputs import Outputs
from predictions.testing._api.protocol import Refused, Response, error
from predictions.testing._api.uploads import CHUNK, UploadRefused, Uploads
from predictions.testing._http.faults import Fault, fault_answer
from predictions.testing._http.listener import BaseHandler
from predictions.testing._http.ranges import Span, choose_span

DRAIN_LIMIT = 16 * 1024 * 1024
"""A refused request's body up to this size is read and dropped, keeping the
connection; a larger one closes it."""

TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Storage:
    """What the storage port serves: uploads (parts, downloads) and output files."""

    uploads: Uploads
    outputs: Outputs


class StorageHandler(BaseHandler[Storage]):
    """One connection of the storage port."""

    def serve_request(self) -> None:
        """Route the request (part, download, output file), pick a fault, answer."""
        headers = self.record()
        path, _, query = self.path.partition("?")
        parts = path.split("/")
        allowed: Tuple[str, ...] = ("GET", "HEAD")
        if len(parts) == 4 and parts[1] == "parts":
            route, allowed = "part", ("PUT",)
        elif len(parts) == 3 and parts[1] == "files":
            route = "download"
        elif len(parts) == 4 and parts[1] == "outputs":
            route = "output"
        else:
            self._refuse(error(404, "Not Found"))
            return
        if self.command not in allowed:
            allow = {"Allow": ", ".join(allowed)}
            self._refuse(error(405, "Method Not Allowed", allow))
            return
        faults = self.srv.faults
        fault = faults.pick(route) if faults is not None else None
        if fault is not None and fault.kind == "drop_before":
            self.close_connection = True
            return
        if fault is not None and fault.kind == "status":
            self._refuse(fault_answer(fault))
            return
        if "authorization" in headers:
            self._refuse(
                error(400, "Pre-signed URLs take no Authorization header: remove it")
            )
            return
        try:
            if route == "download":
                self._download(parts[2], fault)
                return
            if route == "output":
                self._output(parts[2], parts[3], query, fault)
                return
            signature = _query_value(query, "sig")
            response = self._put_part(parts[2], parts[3], signature)
        except Refused as exc:
            self._refuse(error(exc.status, exc.detail))
            return
        if fault is None:
            self.answer(response)
        elif fault.kind == "delay":
            self.srv.stopping.wait(fault.delay)
            self.answer(response)
        elif fault.kind == "stall":  # stored, then silence
            self.stall(fault.delay)
        else:  # drop_after, truncate: stored, never answered
            self.close_connection = True

    # ---- parts --------------------------------------------------------------

    def _put_part(self, upload_id: str, index: str, signature: str) -> Response:
        upload, number = self.srv.backend.uploads.part(upload_id, index, signature)
        expected = upload.part_length(number)
        length = self.declared_length()
        if self.chunked() or self.headers.get("Content-Length") is None:
            raise UploadRefused(
                400, f"Send Content-Length: {expected} (part {number}'s size)"
            )
        if length != expected:
            raise UploadRefused(
                400,
                f"Part {number} is {expected} bytes; Content-Length says"
                f" {self.headers.get('Content-Length')}",
            )
        etag = self.srv.backend.uploads.store_part(upload, number, self.rfile.read)
        return Response(200, raw=b"", headers={"ETag": etag}, content_type=TEXT)

    # ---- downloads and outputs ---------------------------------------------

    def _download(self, token: str, fault: Optional[Fault]) -> None:
        upload = self.srv.backend.uploads.download(token)
        assert upload.path is not None
        with open(upload.path, "rb") as file:
            head = Response(200, content_type=upload.mime_type)
            self._send_file(file, head, Span(0, upload.size, False), fault)

    def _output(
        self, token: str, segment: str, query: str, fault: Optional[Fault]
    ) -> None:
        """Serve an output file: whole, or the one range asked for."""
        outputs = self.srv.backend.outputs
        name = urllib.parse.unquote(segment)
        expires, signature = _query_value(query, "expires"), _query_value(query, "sig")
        output, file = outputs.open_file(token, name, expires, signature)
        with file:
            etag = f'"{output.etag}"'
            headers = {"ETag": etag}
            span: Optional[Span] = Span(0, output.size, False)
            if outputs.ranges:
                headers["Accept-Ranges"] = "bytes"
                if self.command == "GET":  # Range means nothing to HEAD
                    span = choose_span(
                        self.headers.get("Range"),
                        self.headers.get("If-Range"),
                        etag,
                        output.size,
                    )
            if span is None:
                headers["Content-Range"] = f"bytes */{output.size}"
                detail = f"Range Not Satisfiable: the file has {output.size} bytes"
                refusal = error(416, detail, headers)
                body = refusal.body()
                self._send_file(
                    io.BytesIO(body), refusal, Span(0, len(body), False), fault
                )
                return
            if span.partial:
                headers["Content-Range"] = span.content_range(output.size)
            status = 206 if span.partial else 200
            head = Response(status, headers=headers, content_type=output.mime_type)
            self._send_file(file, head, span, fault)

    def _send_file(
        self, file: IO[bytes], head: Response, span: Span, fault: Optional[Fault]
    ) -> None:
        """Send `head`, then the file's bytes in `span`, as a fault (if any) says."""
        kind, delay = (fault.kind, fault.delay) if fault is not None else ("", 0.0)
        if kind == "drop_after":
            self.close_connection = True
            return
        if kind == "delay":
            self.srv.stopping.wait(delay)
        cut = kind in ("truncate", "stall")
        if cut:
            self.close_connection = True
        self.send_head(head, {"Content-Length": str(span.length)})
        if self.command != "HEAD":
            file.seek(span.start)
            left = span.length // 2 if cut else span.length
            while left > 0:
                chunk = file.read(min(CHUNK, left))
                if not chunk:
                    break
                self.wfile.write(chunk)
                left -= len(chunk)
        self.wfile.flush()
        if kind == "stall":
            self.stall(delay)

    # ---- answers ------------------------------------------------------------

    def _refuse(self, response: Response) -> None:
        """Answer before reading the body; drop the body to keep the connection."""
        length = self.declared_length()
        if self.chunked() or not 0 <= length <= DRAIN_LIMIT:
            self.close_connection = True
        self.answer(response)
        if self.close_connection:
            self.discard_unread()
            return
        while length > 0:  # read and dropped, so the connection can be reused
            chunk = self.rfile.read(min(CHUNK, length))
            if not chunk:
                self.close_connection = True
                return
            length -= len(chunk)


def _query_value(query: str, name: str) -> str:
    """One value of a query string, as sent ("" when absent)."""
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if key == name:
            return value
    return ""
