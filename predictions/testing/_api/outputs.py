"""Output files: what models save, their signed, time-limited URLs, expiry.

A model saves a file with `PredictionContext.save_file`: its bytes are
streamed to a file of a temporary directory as they come (never held whole),
with their MD5 (the file's `ETag`, as S3 gives it), and the model gets a URL
of the storage port::

    http://127.0.0.1:<port>/outputs/<token>/<name>?expires=<unix time>&sig=<hmac>

as the hosted API's file hosts give them: absolute, needing no
authentication, signed in the query string, the file's name as the last path
segment (percent-encoded). `expires` is the Unix time (seconds, to the
millisecond) when the URL stops working, `output_lifetime` seconds after the
file was saved; `sig` signs the token, the name and `expires` with a key of
this server. A request with a bad signature is refused (403), an expired one
is gone (410), an unknown file not found (404). Expired files are deleted as
new ones are saved or asked for, and all of them when the server is reset or
stops.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import IO, Callable, Dict, Iterable, Tuple, Union

from predictions.testing._api.protocol import DiskStore, Refused

DEFAULT_OUTPUT_LIFETIME = 3600.0
"""Seconds an output URL works (an hour, as on the hosted API)."""

MAX_NAME_BYTES = 255
"""The longest file name, in UTF-8 bytes (what most file systems take)."""

Content = Union[bytes, bytearray, memoryview, Iterable[bytes]]
"""A file's content: bytes, or an iterable of bytes chunks (written as they come)."""

_BYTES = (bytes, bytearray, memoryview)

# RFC 6838's restricted names, with `;name=value` parameters (no quoted
# strings, so the type also fits in a `data:` URL as it is).
_TOKEN = r"[A-Za-z0-9!#$&^_.+-]+"
_MIME_TYPE = re.compile(rf"{_TOKEN}/{_TOKEN}(?:\s*;\s*{_TOKEN}={_TOKEN})*\Z")


def check_mime_type(mime_type: str) -> str:
    """A MIME type as a header and a `data:` URL show it (spaces dropped).

    Raises:
        ValueError: It is not `type/subtype[;name=value...]`.
        TypeError: It is not a string.
    """
    if not isinstance(mime_type, str):
        raise TypeError(f"mime_type must be a string, not {mime_type!r}")
    if not _MIME_TYPE.match(mime_type):
        raise ValueError(f"mime_type must be type/subtype, not {mime_type!r}")
    return ";".join(part.strip() for part in mime_type.split(";"))


def check_name(name: str) -> None:
    """Refuse a file name that cannot be the last segment of a path.

    Raises:
        ValueError: It is empty, `.` or `..`, holds a slash, a backslash or
            a control character, or is longer than 255 bytes in UTF-8.
        TypeError: It is not a string.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, not {name!r}")
    bad = any(c in "/\\" or ord(c) < 32 or ord(c) == 127 for c in name)
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate
        bad = True
        size = 0
    if bad or name in ("", ".", "..") or size > MAX_NAME_BYTES:
        raise ValueError(
            f"name must be a file name (1 to {MAX_NAME_BYTES} bytes, no slash,"
            f" backslash or control character, not . or ..), not {name!r}"
        )


@dataclass(frozen=True)
class OutputFile:
    """One saved file: where it is on disk and what the storage port says of it."""

    token: str
    name: str
    mime_type: str
    path: str
    size: int
    etag: str
    """The MD5 of its bytes, hex (unquoted)."""
    expires: float
    """The Unix time its URL stops working."""


class Outputs(DiskStore):
    """Every output file of a server, and the directory behind them."""

    PREFIX = "predictions-outputs-"

    def __init__(
        self,
        lifetime: float = DEFAULT_OUTPUT_LIFETIME,
        ranges: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Create the store (no directory until `open`).

        Args:
            lifetime: Seconds an output URL works.
            ranges: Whether the storage port answers `Range` requests (206);
                False answers them 200 with the whole file.
            clock: Unix time (injectable for tests): URLs carry it.
        """
        self.lifetime = lifetime
        self.ranges = ranges
        self._clock = clock
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._files: Dict[str, OutputFile] = {}  # in the order they expire

    # ---- life ---------------------------------------------------------------

    def clear(self) -> None:
        """Forget every file and delete it."""
        with self._lock:
            gone = list(self._files.values())
            self._files.clear()
        _delete(gone)

    def sweep(self) -> None:
        """Delete the files whose URLs have expired."""
        now = self._clock()
        with self._lock:
            gone = []
            for file in self._files.values():
                if file.expires > now:
                    break  # the rest expire later
                gone.append(file)
            for file in gone:
                del self._files[file.token]
        _delete(gone)

    # ---- the models' side ---------------------------------------------------

    def save(self, content: Content, name: str, mime_type: str) -> str:
        """Write a file, chunk by chunk as `content` gives them; its URL.

        Args:
            content: Bytes, or an iterable of bytes chunks.
            name: The file's name, the URL's last segment.
            mime_type: Its MIME type, the storage port's `Content-Type`.

        Returns:
            Its signed URL on the storage port.

        Raises:
            ValueError: A bad name or MIME type, or the server is not running.
            TypeError: The content (or a chunk of it) is not bytes.
            Exception: Whatever iterating `content` raised (nothing is kept).
        """
        check_name(name)
        mime_type = check_mime_type(mime_type)
        if isinstance(content, str) or not isinstance(content, Iterable):
            kind = type(content).__name__
            raise TypeError(f"content must be bytes or bytes chunks, not {kind}")
        if self._dir is None:
            raise ValueError("The server is not running: it cannot save files")
        self.sweep()
        token = secrets.token_urlsafe(18)
        path = os.path.join(self._dir.name, token)
        size, etag = self._write(path, content)
        expires = round(self._clock() + self.lifetime, 3)
        file = OutputFile(token, name, mime_type, path, size, etag, expires)
        with self._lock:
            self._files[token] = file
        shown = f"{expires:.3f}".rstrip("0").rstrip(".")
        quoted = urllib.parse.quote(name, safe="")
        signature = self._signature(token, name, shown)
        query = f"expires={shown}&sig={signature}"
        return f"{self.base_url}/outputs/{token}/{quoted}?{query}"

    def _write(self, path: str, content: Content) -> Tuple[int, str]:
        """Stream `content` to `path`: its size and MD5 (hex); nothing left on error."""
        chunks = [content] if isinstance(content, _BYTES) else content
        digest = hashlib.md5()
        size = 0
        try:
            with open(path, "wb") as file:
                for chunk in chunks:
                    if not isinstance(chunk, _BYTES):
                        kind = type(chunk).__name__
                        raise TypeError(f"a chunk of content is {kind}, not bytes")
                    file.write(chunk)
                    digest.update(chunk)
                    size += memoryview(chunk).nbytes
        except BaseException:
            _delete_path(path)
            raise
        return size, digest.hexdigest()

    # ---- the storage port's side --------------------------------------------

    def _signature(self, token: str, name: str, expires: str) -> str:
        message = f"{token}\n{name}\n{expires}".encode("utf-8", "surrogatepass")
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def open_file(
        self, token: str, name: str, expires: str, signature: str
    ) -> Tuple[OutputFile, IO[bytes]]:
        """Open the file a signed output URL names, for reading.

        Args:
            token: The URL's token.
            name: Its last segment, percent-decoded.
            expires: The query's `expires`, as sent.
            signature: The query's `sig`, as sent.

        Returns:
            The file and its bytes, open (close them).

        Raises:
            Refused: 403 a bad or missing signature; 410 the URL has
                expired; 404 no such file (the server was reset since).
        """
        expected = self._signature(token, name, expires)
        given = signature.encode("utf-8", "replace")
        if not hmac.compare_digest(expected.encode(), given):
            raise Refused(403, "Bad or missing signature for this output URL")
        if self._clock() >= float(expires):
            self.sweep()
            raise Refused(410, "This output URL has expired")
        with self._lock:  # opened before a sweep can delete it
            file = self._files.get(token)
            if file is None or file.name != name:
                raise Refused(404, "File not found")
            return file, open(file.path, "rb")


def _delete(files: Iterable[OutputFile]) -> None:
    for file in files:
        _delete_path(file.path)


def _delete_path(path: str) -> None:
    # Gone already; or open (Windows): the directory's cleanup removes it.
    with contextlib.suppress(OSError):
        os.remove(path)
