"""Uploads: pre-signed part URLs, parts on disk, completion, download URLs.

An upload of `size` bytes has `ceil(size / part_size)` parts (none for an
empty file: it is completed with `{"etags": []}`); part `i` is bytes
`[i * part_size, min((i + 1) * part_size, size))`, sent to `urls[i]`, a URL
of the storage port signed with a key of this server. Each part is streamed
to a file of a temporary directory as it arrives, never held in memory, and
named by the quoted MD5 of its bytes (its `ETag`). Completing joins the parts
into one file, which a time-limited download URL serves. Everything is
removed when the server stops.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import shutil
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Dict, List, Optional, Tuple

from predictions.testing._api.protocol import DiskStore, Refused

DEFAULT_PART_SIZE = 8 * 1024 * 1024
"""Bytes per part (8 MiB; ours)."""

DEFAULT_DOWNLOAD_LIFETIME = 3600.0
"""Seconds a download URL works (an hour; ours)."""

MAX_PARTS = 10000
"""The most parts an upload may have (as S3 allows): it caps the size."""

CHUNK = 64 * 1024
"""Bytes read or written at a time."""


class UploadRefused(Refused):
    """A request about an upload cannot be served; `status` and `detail` say why."""


def quoted(etag: str) -> str:
    """An ETag as the `ETag` header shows it: in double quotes."""
    return f'"{etag}"'


@dataclass
class Upload:
    """One upload: what was announced, the parts stored, the file once complete."""

    id: str
    size: int
    mime_type: str
    part_size: int
    etags: Dict[int, str] = field(default_factory=dict)
    """MD5 (hex) of each part stored, by index."""
    completed: Optional[List[str]] = None
    """The ETags it was completed with (unquoted)."""
    path: Optional[str] = None
    """The whole file, once completed."""
    token: Optional[str] = None
    """Its download URL's token, once completed."""
    expires: float = 0.0
    """When the download URL stops working (the clock's time)."""

    @property
    def parts(self) -> int:
        """How many parts it has."""
        return -(-self.size // self.part_size)

    def part_length(self, index: int) -> int:
        """The exact size of part `index`."""
        return min(self.part_size, self.size - index * self.part_size)


class Uploads(DiskStore):
    """Every upload of a server, and the files on disk behind them."""

    PREFIX = "predictions-uploads-"

    def __init__(
        self,
        part_size: int = DEFAULT_PART_SIZE,
        download_lifetime: float = DEFAULT_DOWNLOAD_LIFETIME,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Create the registry (no directory until `open`).

        Args:
            part_size: Bytes per part.
            download_lifetime: Seconds a download URL works.
            clock: Monotonic seconds (injectable for tests).
        """
        self.part_size = part_size
        self.download_lifetime = download_lifetime
        self._clock = clock
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._uploads: Dict[str, Upload] = {}
        self._tokens: Dict[str, Upload] = {}

    @property
    def max_size(self) -> int:
        """The largest upload: `MAX_PARTS` parts."""
        return self.part_size * MAX_PARTS

    # ---- life ---------------------------------------------------------------

    def clear(self) -> None:
        """Forget every upload and remove its files."""
        with self._lock:
            ids = list(self._uploads)
            self._uploads.clear()
            self._tokens.clear()
        for upload_id in ids:
            shutil.rmtree(self._folder(upload_id), ignore_errors=True)

    def _folder(self, upload_id: str) -> str:
        if self._dir is None:
            raise UploadRefused(503, "The server is not running")
        return os.path.join(self._dir.name, upload_id)

    # ---- the API's side -----------------------------------------------------

    def create(self, size: int, mime_type: str) -> Dict[str, Any]:
        """Start an upload.

        Returns:
            The API's answer: `{"id", "urls", "part_size"}`.
        """
        upload = Upload(str(uuid.uuid4()), size, mime_type, self.part_size)
        os.makedirs(self._folder(upload.id))
        with self._lock:
            self._uploads[upload.id] = upload
        urls = [self._part_url(upload.id, index) for index in range(upload.parts)]
        return {"id": upload.id, "urls": urls, "part_size": upload.part_size}

    def complete(self, upload_id: str, etags: List[str]) -> str:
        """Finish an upload whose parts are all stored, as the ETags say.

        Completing again with the same ETags gives the same URL (a fresh one
        once it expired).

        Returns:
            The download URL.

        Raises:
            UploadRefused: 404 unknown upload; 400 a part missing or another
                count or ETag than the parts stored; 409 completed already
                with other ETags.
        """
        given = [etag.strip().strip('"') for etag in etags]
        with self._lock:
            upload = self._uploads.get(upload_id)
            if upload is None:
                raise UploadRefused(404, "Upload not found")
            if upload.completed is not None:
                if upload.completed != given:
                    raise UploadRefused(
                        409, "Upload already completed with other ETags"
                    )
            else:
                self._check_parts(upload, given)
                self._join(upload)
                upload.completed = given
            if upload.token is None or self._clock() >= upload.expires:
                self._tokens.pop(upload.token or "", None)
                upload.token = secrets.token_urlsafe(24)
                upload.expires = self._clock() + self.download_lifetime
                self._tokens[upload.token] = upload
            return f"{self.base_url}/files/{upload.token}"

    def _check_parts(self, upload: Upload, given: List[str]) -> None:
        if len(given) != upload.parts:
            raise UploadRefused(
                400, f"The upload has {upload.parts} parts; {len(given)} ETags given"
            )
        for index, etag in enumerate(given):
            stored = upload.etags.get(index)
            if stored is None:
                raise UploadRefused(400, f"Part {index} was never uploaded")
            if not hmac.compare_digest(stored, etag):
                raise UploadRefused(
                    400,
                    f"ETag of part {index} does not match the part stored:"
                    f" {etag!r} given, {quoted(stored)!r} stored",
                )

    def _join(self, upload: Upload) -> None:
        """Join the parts into the whole file (chunk by chunk), then drop them."""
        folder = self._folder(upload.id)
        path = os.path.join(folder, "file")
        with open(path, "wb") as whole:
            for index in range(upload.parts):
                part = os.path.join(folder, str(index))
                with open(part, "rb") as piece:
                    shutil.copyfileobj(piece, whole, CHUNK)
                os.remove(part)
        upload.path = path

    # ---- the storage port's side --------------------------------------------

    def _signature(self, upload_id: str, index: str) -> str:
        message = f"PUT /parts/{upload_id}/{index}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def _part_url(self, upload_id: str, index: int) -> str:
        signature = self._signature(upload_id, str(index))
        return f"{self.base_url}/parts/{upload_id}/{index}?sig={signature}"

    def part(self, upload_id: str, index: str, signature: str) -> Tuple[Upload, int]:
        """Find the part a signed part URL names.

        Args:
            upload_id: The upload's id, from the path.
            index: The part's index, from the path.
            signature: The `sig` of the query.

        Returns:
            `(upload, index)`.

        Raises:
            UploadRefused: 403 a bad or missing signature; 404 no such upload
                or part; 409 the upload is completed.
        """
        expected = self._signature(upload_id, index)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise UploadRefused(403, "Bad or missing signature for this part URL")
        with self._lock:
            upload = self._uploads.get(upload_id)
        number = int(index) if index.isdigit() and index.isascii() else -1
        if upload is None or not 0 <= number < upload.parts:
            raise UploadRefused(404, "No such upload part")
        if upload.completed is not None:
            raise UploadRefused(409, "Upload already completed; its parts are final")
        return upload, number

    def store_part(
        self, upload: Upload, index: int, read: Callable[[int], bytes]
    ) -> str:
        """Stream a part's bytes to disk, then make it the part stored.

        Args:
            upload: The upload.
            index: The part's index.
            read: Reads up to n bytes of the body (b"" when it ends early).

        Returns:
            Its ETag, quoted (the MD5 of its bytes).

        Raises:
            ConnectionError: The body ended early (nothing is stored).
            UploadRefused: 404 the upload was forgotten, 409 it was completed,
                meanwhile.
        """
        folder = self._folder(upload.id)
        temporary = os.path.join(folder, f"{index}.{uuid.uuid4().hex}.tmp")
        digest = hashlib.md5()
        left = upload.part_length(index)
        try:
            with open(temporary, "wb") as file:
                while left:
                    chunk = read(min(CHUNK, left))
                    if not chunk:
                        raise ConnectionError("the client sent a short part")
                    file.write(chunk)
                    digest.update(chunk)
                    left -= len(chunk)
            with self._lock:
                if self._uploads.get(upload.id) is not upload:
                    raise UploadRefused(404, "No such upload part")
                if upload.completed is not None:
                    raise UploadRefused(409, "Upload already completed")
                os.replace(temporary, os.path.join(folder, str(index)))
                upload.etags[index] = digest.hexdigest()
        finally:
            if os.path.exists(temporary):
                os.remove(temporary)
        return quoted(digest.hexdigest())

    def download(self, token: str) -> Upload:
        """The completed upload a download URL's token names.

        Raises:
            UploadRefused: 404 unknown token; 403 the URL has expired.
        """
        with self._lock:
            upload = self._tokens.get(token)
            if upload is None or upload.path is None:
                raise UploadRefused(404, "File not found")
            if self._clock() >= upload.expires:
                raise UploadRefused(403, "This download URL has expired")
            return upload

    def open_file(self, url: str) -> IO[bytes]:
        """Open the file behind a download URL of this server (for models).

        Raises:
            ValueError: Another URL, an unknown file, or an expired URL.
        """
        prefix = f"{self.base_url}/files/"
        token = url[len(prefix) :] if self.base_url and url.startswith(prefix) else ""
        if not token or urllib.parse.quote(token, safe="-_") != token:
            raise ValueError(
                f"{url!r} is not a download URL of this server"
                f" (they start with {prefix})"
            )
        try:
            upload = self.download(token)
        except UploadRefused as exc:
            raise ValueError(f"{url!r}: {exc.detail}") from None
        assert upload.path is not None
        return open(upload.path, "rb")
