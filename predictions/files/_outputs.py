"""The files in a prediction's output: found, read, opened and saved one by one.

A model's output holds its files as URLs, anywhere in its JSON: absolute
`http(s)://` URLs (pre-signed, time-limited) or `data:` URLs. `find_files`
returns an `OutputFile` for each, in document order; the output itself is
never changed (`with_local_paths` makes a copy with local paths in their
place).
"""

from __future__ import annotations

import copy
import io
import os
import threading
from typing import (
    TYPE_CHECKING,
    Any,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Tuple,
    TypeVar,
)

from predictions._http.request import is_http_url
from predictions.errors import DownloadError
from predictions.files._data_urls import data_url_type, has_data_scheme, is_data_url
from predictions.files._fetch import Fetch
from predictions.files._names import name_from_url, safe_name

if TYPE_CHECKING:
    from predictions._http.api import API

T = TypeVar("T")

PathKey = Tuple[Any, ...]
"""Where a value stands in the output: its keys and indexes, from the top."""


class OutputFile:
    """A file in a prediction's output, fetched only when asked.

    Made by `client.predictions.output_files(prediction)`. Nothing is sent
    when it is made. Every fetch sends no credential of the client (no
    `Authorization`, no cookie, none of its extra headers) to the URL or to
    any it redirects to, follows at most 5 redirects (http and https only),
    and is bounded: by `max_download_bytes` in size, by the read timeout for
    each wait for bytes (a slow file that keeps coming is never cut for
    being long). A `data:` URL is decoded here, with no request.

    Attributes:
        url: The URL, as the output has it.
        path: Where it stands in the output, as keys and indexes:
            `("images", 0)` for `output["images"][0]`; `()` when the output
            is the URL itself.
        prediction_id: The id of the prediction, if known (for messages).
    """

    def __init__(
        self,
        api: API,
        url: str,
        path: PathKey = (),
        prediction_id: Optional[str] = None,
    ) -> None:
        self._api = api
        self.url = url
        self.path = path
        self.prediction_id = prediction_id
        self._mime_type = data_url_type(url)

    @property
    def mime_type(self) -> Optional[str]:
        """The file's MIME type: a `data:` URL's own, else the host's once fetched."""
        return self._mime_type

    @property
    def name(self) -> str:
        """A safe file name: the URL's, else `output`, with an extension from its type.

        It never holds a separator, `..`, a control character or a reserved
        device name, and is at most 240 bytes (so the temporary name beside
        it fits in 255 too). A name with no extension gets one from
        `mime_type` (so it may gain one once the file was fetched).
        """
        return safe_name(name_from_url(self.url), self._mime_type)

    @property
    def where(self) -> str:
        """The URL for messages: its query (a signature) and fragment left out."""
        if has_data_scheme(self.url):
            return f"data:{self._mime_type or ''},..."
        return self.url.split("?", 1)[0].split("#", 1)[0]

    def __repr__(self) -> str:
        return f"OutputFile(name={self.name!r}, path={self.path!r}, url={self.where!r})"

    def describe(self) -> str:
        """The file in words, for messages: its name, place and prediction."""
        place = "output" + "".join(f"[{key!r}]" for key in self.path)
        of = f" of prediction {self.prediction_id}" if self.prediction_id else ""
        return f"output file {self.name!r} ({place}{of}, {self.where})"

    def error_fields(self, status: Optional[int] = None) -> Dict[str, Any]:
        """The fields of a `DownloadError` about this file."""
        return {
            "url": self.where,
            "path": self.path,
            "prediction_id": self.prediction_id,
            "status_code": status,
        }

    def fetch(
        self,
        limit: Optional[int] = None,
        offset: int = 0,
        etag: Optional[str] = None,
        stop: Optional[threading.Event] = None,
    ) -> Fetch:
        """The file's body, from `offset` on (see `Fetch`)."""
        limit = self._api.settings.max_download_bytes if limit is None else limit
        return Fetch(self._api, self, limit, offset, etag, stop)

    def read(self, max_bytes: Optional[int] = None) -> bytes:
        """Fetch the whole file into memory.

        Bounded by `max_bytes` in memory and by the read timeout for each
        wait for bytes; sends no credential of the client (see the class).

        Args:
            max_bytes: The most bytes to hold; by default the client's
                `max_response_bytes` (64 MiB) or `max_download_bytes`,
                whichever is smaller. Use `save` or `open` for larger files.

        Returns:
            The file's bytes.

        Raises:
            OutputExpiredError: The URL expired (403, 404 or 410).
            DownloadError: It is larger than `max_bytes`, or could not be
                had whole after the client's retries.
        """
        return self._read(max_bytes, None)

    def _read(self, max_bytes: Optional[int], stop: Optional[threading.Event]) -> bytes:
        settings = self._api.settings
        if max_bytes is None:
            max_bytes = min(settings.max_response_bytes, settings.max_download_bytes)
        fetch = self.fetch(max_bytes, stop=stop)
        parts: List[bytes] = []
        for chunk in fetch.chunks():
            if not chunk:  # the host sends it from its start again
                parts.clear()
            parts.append(chunk)
        return b"".join(parts)

    async def async_read(self, max_bytes: Optional[int] = None) -> bytes:
        """Fetch the whole file without blocking the event loop; see `read`.

        Cancelling the task stops the download at its next chunk.
        """
        stop = threading.Event()
        return await self._api.in_pool(self._read, max_bytes, stop, stop=stop)

    def open(self) -> io.BufferedReader:
        """Open the file for reading as it downloads: a binary file object.

        Nothing is held but the chunk being read (1 MiB at most); the file is
        bounded by `max_download_bytes`, each wait for bytes by the read
        timeout; no credential of the client is sent. A broken
        connection is resumed where the host allows it, as `save` does. Use
        it as a context manager, or close it: that releases the connection.

        Returns:
            A readable binary file object (not seekable). A read raises
            `DownloadError` if the host, after a break, could only send the
            file from its start again (or another version of it): the bytes
            already read cannot be taken back.
        """
        return io.BufferedReader(_Reader(self, self.fetch()), buffer_size=1 << 20)

    def save(self, path: str, *, overwrite: bool = False) -> str:
        """Save the file: streamed to a temporary name, renamed when whole and checked.

        The body goes to disk a chunk at a time (memory stays flat whatever
        its size), bounded by `max_download_bytes` and, for each wait for
        bytes, by the read timeout; no credential of the client is sent.
        The file gets its final name only once its size matches what the
        host announced and, where the host gives one, its MD5
        (`Content-MD5`); until then it is a hidden `.NAME.*.part` beside
        it, removed if the download fails.

        Args:
            path: The file to write; or an existing directory, to save into
                it under `name`.
            overwrite: Replace a file already there; else `FileExistsError`.

        Returns:
            The path written.

        Raises:
            FileExistsError: The file exists and `overwrite` is False
                (checked before anything is fetched, and again at the end).
            OSError: The directory does not exist or cannot be written.
            OutputExpiredError: The URL expired (403, 404 or 410).
            DownloadError: Too large, or not had whole after the retries.
        """
        return self._save(path, overwrite, None)

    def _save(self, path: str, overwrite: bool, stop: Optional[threading.Event]) -> str:
        from predictions.files._saving import check_target, save_file

        target = os.path.join(path, self.name) if os.path.isdir(path) else path
        check_target(target, overwrite)
        return save_file(self, target, overwrite=overwrite, stop=stop).path

    async def async_save(self, path: str, *, overwrite: bool = False) -> str:
        """Save the file without blocking the event loop; see `save`.

        Cancelling the task stops the download at its next chunk: no file
        is left, under its name or a temporary one.
        """
        stop = threading.Event()
        return await self._api.in_pool(self._save, path, overwrite, stop, stop=stop)

    def learnt(self, mime_type: Optional[str]) -> None:
        """Keep the MIME type the host gave (`name` may gain an extension)."""
        if mime_type and not self._mime_type:
            self._mime_type = mime_type.split(";", 1)[0].strip() or None


class _Reader(io.RawIOBase):
    """A raw binary file over a fetch's chunks."""

    def __init__(self, file: OutputFile, fetch: Fetch) -> None:
        self._file, self._fetch = file, fetch
        self._chunks: Optional[Iterator[bytes]] = fetch.chunks()
        self._left = memoryview(b"")
        self._read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._left:
            if self._chunks is None:
                return 0
            try:
                self._left = memoryview(next(self._chunks))
            except StopIteration:
                self._chunks = None
                return 0
            if not self._left and self._read:  # the host started over
                self.close()
                raise DownloadError(
                    f"{self._file.describe()} could not be resumed after a "
                    f"break at byte {self._read} (the host sent it from the "
                    "start, or another version): open it again",
                    **self._file.error_fields(),
                )
        count = min(len(buffer), len(self._left))
        buffer[:count] = self._left[:count]
        self._left = self._left[count:]
        self._read += count
        return count

    def close(self) -> None:
        chunks, self._chunks = self._chunks, None
        if chunks is not None and hasattr(chunks, "close"):
            chunks.close()  # the connection goes at once
        super().close()


def find_files(
    api: API, prediction: Mapping[str, Any], prediction_id: Optional[str] = None
) -> List[OutputFile]:
    """Every file URL in a prediction's output, at any depth, in document order.

    Raises:
        TypeError: `prediction` is not a prediction (a mapping).
    """
    if not isinstance(prediction, Mapping):
        raise TypeError(
            f"expected a prediction (a dict), not {type(prediction).__name__}"
        )
    if prediction_id is None and isinstance(prediction.get("id"), str):
        prediction_id = prediction["id"]
    return [
        OutputFile(api, url, path, prediction_id)
        for path, url in _urls(prediction.get("output"))
    ]


def is_file_url(value: Any) -> bool:
    """Whether an output value is a file: an absolute http(s) URL or a `data:` URL.

    A `data:` URL is one by its form (RFC 2397: a media type or none, its
    parameters, then a comma), not by its first five letters: a model's
    text that begins "Data: ..." is text.
    """
    return isinstance(value, str) and (is_data_url(value) or is_http_url(value))


def with_local_paths(output: Any, paths: Mapping[PathKey, str]) -> Any:
    """A copy of the output with the value at each path replaced by its local path."""
    if () in paths:
        return paths[()]
    result = _copy(output)
    for path, local in paths.items():
        holder = result
        for key in path[:-1]:
            holder = holder[key]
        holder[path[-1]] = local
    return result


def _copy(value: Any) -> Any:
    """A deep copy of an output, made without recursion (at any depth).

    Its dicts and lists (JSON's) are copied level by level; anything else
    in it is left to `copy.deepcopy`.
    """
    if type(value) not in (dict, list):
        return copy.deepcopy(value)
    top: Any = type(value)()
    left = [(value, top)]
    while left:
        source, made = left.pop()
        pairs = source.items() if isinstance(source, dict) else enumerate(source)
        for key, item in pairs:
            if type(item) in (dict, list):
                inner: Any = type(item)()
                left.append((item, inner))
            else:
                inner = copy.deepcopy(item)
            if isinstance(made, dict):
                made[key] = inner
            else:
                made.append(inner)
    return top


def _urls(output: Any) -> Iterator[Tuple[PathKey, str]]:
    """Each file URL in `output` with its path, in document order, at any depth.

    Walked without recursion, as `_copy` copies: an output is as deep as the
    JSON decoder allows (some 10,000 levels on Python 3.13).
    """
    left: List[Tuple[PathKey, Any]] = [((), output)]
    while left:
        path, value = left.pop()
        if isinstance(value, str):
            if is_file_url(value):
                yield path, value
            continue
        if isinstance(value, dict):
            pairs: Iterable[Tuple[Any, Any]] = value.items()
        elif isinstance(value, (list, tuple)):
            pairs = enumerate(value)
        else:
            continue
        inner = [((*path, key), item) for key, item in pairs]
        left.extend(reversed(inner))  # the first on top: document order


__all__ = ["OutputFile", "PathKey", "find_files", "is_file_url", "with_local_paths"]
