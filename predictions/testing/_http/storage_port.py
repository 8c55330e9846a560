"""The storage port: upload parts (`PUT /parts/...`) and downloads (`GET /files/...`).

It stands for the object storage that pre-signed URLs point at: another
origin than the API, with no access token. So a request to it that carries
`Authorization` is refused (400), which catches a client that leaks its
token to another host; a part URL with a bad or missing signature is refused
(403). A part's `PUT` needs a `Content-Length` equal to the part's exact size
(else 400), is written to disk as it arrives, and is answered 200 with an
empty body and the part's `ETag`. A download is streamed from disk with the
upload's MIME type. Errors are `{"detail": ...}` JSON. Every request is
recorded (`LocalServer.storage_requests`, bodies not kept).
"""

from __future__ import annotations

from typing import Optional, Tuple

from predictions.testing._api.protocol import Response, error
from predictions.testing._api.uploads import CHUNK, UploadRefused, Uploads
from predictions.testing._http.faults import Fault, fault_answer
from predictions.testing._http.listener import BaseHandler

DRAIN_LIMIT = 16 * 1024 * 1024
"""A refused request's body up to this size is read and dropped, keeping the
connection; a larger one closes it."""

TEXT = "text/plain; charset=utf-8"


class StorageHandler(BaseHandler[Uploads]):
    """One connection of the storage port."""

    def serve_request(self) -> None:
        """Route the request (a part's `PUT` or a download), pick a fault, answer."""
        headers = self.record()
        path, _, query = self.path.partition("?")
        parts = path.split("/")
        allowed: Tuple[str, ...]
        if len(parts) == 4 and parts[1] == "parts":
            route, allowed = "part", ("PUT",)
        elif len(parts) == 3 and parts[1] == "files":
            route, allowed = "download", ("GET", "HEAD")
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
            if route == "part":
                signature = _query_value(query, "sig")
                response = self._put_part(parts[2], parts[3], signature)
            else:
                self._download(parts[2], fault)
                return
        except UploadRefused as exc:
            self._refuse(error(exc.status, exc.detail))
            return
        if fault is None:
            self.answer(response)
        elif fault.kind == "delay":
            self.srv.stopping.wait(fault.delay)
            self.answer(response)
        else:  # drop_after, truncate: stored, never answered
            self.close_connection = True

    # ---- parts --------------------------------------------------------------

    def _put_part(self, upload_id: str, index: str, signature: str) -> Response:
        upload, number = self.srv.backend.part(upload_id, index, signature)
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
        etag = self.srv.backend.store_part(upload, number, self.rfile.read)
        return Response(200, raw=b"", headers={"ETag": etag}, content_type=TEXT)

    # ---- downloads ----------------------------------------------------------

    def _download(self, token: str, fault: Optional[Fault]) -> None:
        upload = self.srv.backend.download(token)
        assert upload.path is not None
        with open(upload.path, "rb") as file:
            if fault is not None and fault.kind == "drop_after":
                self.close_connection = True
                return
            if fault is not None and fault.kind == "delay":
                self.srv.stopping.wait(fault.delay)
            truncate = fault is not None and fault.kind == "truncate"
            if truncate:
                self.close_connection = True
            head = Response(200, content_type=upload.mime_type)
            self.send_head(head, {"Content-Length": str(upload.size)})
            if self.command == "HEAD":
                return
            left = upload.size // 2 if truncate else upload.size
            while left > 0:
                chunk = file.read(min(CHUNK, left))
                if not chunk:
                    break
                self.wfile.write(chunk)
                left -= len(chunk)
            self.wfile.flush()

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
