"""Files in a prediction's input: `File`, and uploading them before the create.

A `File` is bytes, a path or a binary file object whose size and MIME type
are known when it is made: a bad one fails there, before anything is sent.
`prepare_input` uploads every `File` found in an input and returns a new
input with each replaced by its `download_url` (API.md, "Uploads"); the
caller's input is never changed.

An upload is three steps: `POST /uploads` gives the part URLs; each part is
`PUT` to its pre-signed URL with no credential, `MAX_PARALLEL_PARTS` at most
at once, read by itself afresh for every attempt (never the whole file in
memory); `POST /uploads/{id}/complete` names the parts' ETags in order and
gives the URL. The sync and async twins share every step but the sending.
"""

from __future__ import annotations

import errno
import functools
import io
import mimetypes
import os
import re
import shutil
import stat
import tempfile
import threading
from typing import (
    TYPE_CHECKING,
    Any,
    BinaryIO,
    Callable,
    Dict,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Set,
    Tuple,
    Union,
    cast,
)
from urllib.parse import urlsplit

from predictions._decode import decode_nothing, decode_object, excerpt
from predictions._request import Request, json_body
from predictions._resource import path_segment
from predictions.errors import InvalidResponseError, PredictionsError

if TYPE_CHECKING:
    from concurrent.futures import Future

    import requests

    from predictions._api import API

MAX_PARALLEL_PARTS = 4
"""The most parts of one file sent at once."""

DEFAULT_MIME_TYPE = "application/octet-stream"
"""The MIME type of a file whose type is neither given nor guessed."""

Progress = Callable[[int, int], Any]
"""Called with (bytes sent so far, total bytes) after each part."""

Content = Union[bytes, bytearray, memoryview, str, "os.PathLike[Any]", BinaryIO]
"""What `File` takes: bytes, a path, or a binary file object."""

_TEXT_HINT = "to send a text's contents, pass text.encode() or put the string itself"
# mimetypes names the compression of "x.tar.gz" apart from the type of what it holds.
_COMPRESSED = {"gzip": "application/gzip", "bzip2": "application/x-bzip2"}
_COMPRESSED.update(xz="application/x-xz", br="application/x-brotli")
_MIME_TYPE = re.compile(r"[\w.+-]+/[\w.+-]+(;[^\x00-\x1f\x7f]*)?", re.ASCII)


class UploadError(PredictionsError):
    """A file in the input could not be uploaded, so nothing was created with it.

    Its `__cause__` is the error underneath, if any (an `APIStatusError`, an
    `APIConnectionError`, an `InvalidResponseError`).

    Attributes:
        file: The `File`.
        part: The number (from 0) of the part that failed, or None if it was
            not a part but the creating or the completing of the upload.
    """

    def __init__(self, message: str, *, file: File, part: Optional[int] = None) -> None:
        super().__init__(message)
        self.file = file
        self.part = part


class File:
    """A file to send in a prediction's input: it is uploaded, and its URL sent.

    Args:
        content: Bytes (`bytes`, `bytearray` or `memoryview`: not copied,
            so leave them unchanged until the upload is done); a path (a `str`
            or an `os.PathLike`: a `str` is always a path, never the text to
            send); or a binary file object, sent from its current position to
            its end (the upload moves its position). A file object that
            cannot seek (a pipe, a socket) is read once, here, into a
            temporary file.
        mime_type: The content's MIME type; if None, it is guessed from the
            file's name, else `application/octet-stream`.

    Attributes:
        name: The path, or the file object's name; None for bytes.
        size: The exact size in bytes.
        mime_type: The MIME type sent with it.

    Raises:
        TypeError: `content` is none of these (an int, an `io.StringIO`, a
            file opened in text mode or not for reading), or `mime_type` is
            not a string.
        FileNotFoundError: The path does not exist.
        IsADirectoryError: The path is a directory.
        PermissionError: The path cannot be read.
        ValueError: The path is not a regular file, the file object is
            closed, or `mime_type` is not a MIME type.
    """

    def __init__(self, content: Content, mime_type: Optional[str] = None) -> None:
        self.name: Optional[str] = None
        self._lock = threading.Lock()
        self._source: _Source
        if isinstance(content, (bytes, bytearray, memoryview)):
            view = memoryview(content)
            if not view.c_contiguous:
                raise TypeError("File() takes contiguous bytes: pass bytes(content)")
            self._source = _BytesSource(view.cast("B"))
            self.size = view.nbytes
        elif isinstance(content, (str, os.PathLike)):
            path = os.fspath(content)
            self.name = os.fsdecode(path)
            self._source = _PathSource(path)
            self.size = _path_size(path, self.name)
        elif callable(getattr(content, "read", None)):
            self.name = _stream_name(content)
            self._source, self.size = _stream_source(content, self._lock)
        else:
            raise TypeError(
                "File() takes bytes, a path (str or os.PathLike) or a binary file "
                f"opened with 'rb', not {type(content).__name__}; {_TEXT_HINT} "
                "in the input"
            )
        if mime_type is None:
            self.mime_type = _guess_mime_type(self.name)
        elif not isinstance(mime_type, str):
            raise TypeError(f"mime_type must be a string or None, not {mime_type!r}")
        elif not _MIME_TYPE.fullmatch(mime_type):
            raise ValueError(
                f"mime_type must be a MIME type such as 'image/png', not {mime_type!r}"
            )
        else:
            self.mime_type = mime_type

    def __repr__(self) -> str:
        what = f"<{self.size} bytes>" if self.name is None else repr(self.name)
        return f"File({what}, size={self.size}, mime_type={self.mime_type!r})"

    def __copy__(self) -> File:
        return self

    def __deepcopy__(self, memo: Any) -> File:
        return self  # a copied input names the same file, as a copied path would


def upload(api: API, file: File, progress: Optional[Progress] = None) -> str:
    """Upload one file: create the upload, send its parts, complete it.

    Parts go `MAX_PARALLEL_PARTS` at once: the calling thread sends some,
    and threads of the client's pool the others (the caller's thread alone
    finishes them if the pool is busy, so an upload run from the pool itself
    cannot deadlock). A part that fails transiently is retried by the
    client's retry policy, read afresh. The async twin, `async_upload`,
    sends them from the event loop through `API.async_request`.

    Args:
        api: The client's API.
        file: The file.
        progress: Called with (bytes sent so far, total bytes) after each
            part, from whichever thread sent it, one call at a time; never for
            an empty file. An exception it raises stops the upload (the
            upload is not completed) and is raised as it is.

    Returns:
        The file's `download_url`.

    Raises:
        TypeError: `file` is not a `File`, or `progress` is not callable.
        UploadError: A step failed, or the file changed size during the
            upload; the upload was not completed.
    """
    _check(file, progress)
    return _upload(api, file, _Tracker(file.size, progress))


async def async_upload(
    api: API, file: File, progress: Optional[Progress] = None
) -> str:
    """Upload one file without blocking the event loop; see `upload`."""
    _check(file, progress)
    return await _async_upload(api, file, _Tracker(file.size, progress))


def prepare_input(api: API, value: Any, progress: Optional[Progress] = None) -> Any:
    """Upload every `File` in an input, and return it with their URLs in their place.

    Dicts, lists and tuples are searched at any depth; other values are left
    as they are. A `File` found twice is uploaded once. The files go one
    after another (each one's parts in parallel; see `upload`).

    Args:
        api: The client's API.
        value: The input.
        progress: As for `upload`, counting the bytes of every file in the input.

    Returns:
        `value` itself if it holds no `File` (nothing is copied); else a new
        value: each dict, list and tuple that holds a `File` is rebuilt (as a
        dict, list or tuple), and the rest is shared with `value`, which is
        never changed.

    Raises:
        TypeError: `progress` is not callable.
        ValueError: The input is nested too deep to be sent.
        UploadError: A file could not be uploaded.
    """
    files = _files_in(value, progress)
    if not files:
        return value
    tracker = _Tracker(sum(file.size for file in files), progress)
    urls = {id(file): _upload(api, file, tracker) for file in files}
    return _map_files(value, lambda file: urls[id(file)], set())


async def async_prepare_input(
    api: API, value: Any, progress: Optional[Progress] = None
) -> Any:
    """Upload every `File` in an input, without blocking; see `prepare_input`."""
    files = _files_in(value, progress)
    if not files:
        return value
    tracker = _Tracker(sum(file.size for file in files), progress)
    urls = {id(file): await _async_upload(api, file, tracker) for file in files}
    return _map_files(value, lambda file: urls[id(file)], set())


def prepare_params(api: API, params: Any, progress: Optional[Progress] = None) -> Any:
    """Upload the files of a create's `params["input"]`; see `prepare_input`.

    Returns:
        `params` itself if its input holds no `File` (or it is not a mapping
        with an input: `create` refuses it); else a new dict whose `input`
        holds the files' URLs.
    """
    if not _has_input(params):
        return params
    value = prepare_input(api, params["input"], progress)
    return params if value is params["input"] else {**params, "input": value}


async def async_prepare_params(
    api: API, params: Any, progress: Optional[Progress] = None
) -> Any:
    """Upload the files of a create's input, without blocking; see `prepare_params`."""
    if not _has_input(params):
        return params
    value = await async_prepare_input(api, params["input"], progress)
    return params if value is params["input"] else {**params, "input": value}


# Where a File's bytes are.


class _Source:
    """Reads a file's bytes at any offset; `open` first checks the size."""

    def open(self, file: File, part: int) -> _Source:
        """The reader of one attempt at one part."""
        return self

    def readinto_at(self, offset: int, buffer: memoryview) -> int:
        """Read at `offset` into `buffer`; return how many bytes (0 at the end)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what `open` took."""


class _BytesSource(_Source):
    def __init__(self, view: memoryview) -> None:
        self._view = view

    def readinto_at(self, offset: int, buffer: memoryview) -> int:
        with self._view[offset : offset + len(buffer)] as chunk:
            buffer[: len(chunk)] = chunk
            return len(chunk)


class _StreamSource(_Source):
    """A seekable binary file, from `start`; shared by parts under `lock`."""

    def __init__(
        self, stream: Any, start: int, lock: threading.Lock, owned: bool = False
    ) -> None:
        self._stream, self._start, self._lock, self._owned = stream, start, lock, owned

    def open(self, file: File, part: int) -> _Source:
        with self._lock:
            self._stream.seek(0, io.SEEK_END)
            size = self._stream.tell() - self._start
        if size != file.size:
            raise _changed(file, part, f"is now {size} bytes, not {file.size}")
        return self

    def readinto_at(self, offset: int, buffer: memoryview) -> int:
        with self._lock:
            self._stream.seek(self._start + offset)
            readinto = getattr(self._stream, "readinto", None)
            if readinto is not None:
                return int(readinto(buffer) or 0)
            data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if self._owned:
            self._owned = False
            self._stream.close()


class _PathSource(_Source):
    """A path: each attempt at a part opens the file itself."""

    def __init__(self, path: Union[str, bytes]) -> None:
        self._path = path

    def open(self, file: File, part: int) -> _Source:
        try:
            handle = open(self._path, "rb", buffering=0)  # noqa: SIM115 (the part closes it)
        except OSError as exc:
            raise _changed(file, part, f"cannot be opened: {exc}") from exc
        size = os.fstat(handle.fileno()).st_size
        if size != file.size:
            handle.close()
            raise _changed(file, part, f"is now {size} bytes, not {file.size}")
        return _StreamSource(handle, 0, threading.Lock(), owned=True)


def _path_size(path: Union[str, bytes], name: str) -> int:
    try:
        info = os.stat(path)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in it
        missing = (FileNotFoundError, NotADirectoryError, ValueError)
        if not isinstance(exc, missing) and exc.errno != errno.ENAMETOOLONG:
            raise
        raise FileNotFoundError(
            errno.ENOENT,
            f"No such file (File() reads a str as a path; {_TEXT_HINT})",
            name,
        ) from None
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(errno.EISDIR, "Is a directory, not a file", name)
    if not stat.S_ISREG(info.st_mode):
        raise ValueError(
            f"{name!r} is not a regular file (a pipe, a device?): "
            "pass File(open(path, 'rb')) to read it once into a temporary file"
        )
    with open(path, "rb") as handle:  # a file that cannot be read fails here
        return os.fstat(handle.fileno()).st_size


def _stream_name(stream: Any) -> Optional[str]:
    name = getattr(stream, "name", None)
    return os.fsdecode(name) if isinstance(name, (str, bytes)) else None


def _stream_source(stream: Any, lock: threading.Lock) -> Tuple[_Source, int]:
    """Check a binary file object; return its source and size."""
    mode = getattr(stream, "mode", "b")
    if isinstance(stream, io.TextIOBase) or (isinstance(mode, str) and "b" not in mode):
        raise TypeError(
            f"File() takes a binary file, not one opened in text mode ({stream!r}): "
            f"open it with 'rb', or pass the path itself; {_TEXT_HINT} in the input"
        )
    if getattr(stream, "closed", False):
        raise ValueError(f"the file is closed: {stream!r}")
    readable = getattr(stream, "readable", None)
    if readable is not None and not readable():
        raise TypeError(
            f"File() takes a file opened for reading ('rb'), not {stream!r}"
        )
    if isinstance(stream.read(0), str):
        raise TypeError(f"File() takes a binary file, not a text stream; {_TEXT_HINT}")
    seekable = getattr(stream, "seekable", None)
    if seekable is not None and seekable():
        start = stream.tell()
        stream.seek(0, io.SEEK_END)
        size = stream.tell() - start
        stream.seek(start)
        return _StreamSource(stream, start, lock), size
    # It cannot be read twice: keep one copy, on disk (removed with the File).
    spool = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the File)
    shutil.copyfileobj(stream, spool, 1024 * 1024)
    return _StreamSource(spool, 0, lock), spool.tell()


def _guess_mime_type(name: Optional[str]) -> str:
    if name is None:
        return DEFAULT_MIME_TYPE
    # "./" + the base name: the name is never read as a URL ("data:x.png").
    mime_type, encoding = mimetypes.guess_type("./" + os.path.basename(name))
    if encoding is not None:
        return _COMPRESSED.get(encoding, DEFAULT_MIME_TYPE)
    return mime_type or DEFAULT_MIME_TYPE


class _PartStream(io.RawIOBase):
    """One attempt's body: exactly one part's bytes, read as they are sent."""

    def __init__(
        self, file: File, part: int, reader: _Source, start: int, length: int
    ) -> None:
        super().__init__()
        self._file, self._part, self._reader = file, part, reader
        self._offset, self._left = start, length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._left == 0:
            return 0
        try:
            with memoryview(buffer) as whole, whole[: self._left] as view:
                count = self._reader.readinto_at(self._offset, view)
        except OSError as exc:  # the file's, not the connection's: not retried
            raise _changed(self._file, self._part, f"cannot be read: {exc}") from exc
        if count <= 0:
            raise _changed(self._file, self._part, f"ended {self._left} bytes early")
        self._offset += count
        self._left -= count
        if self._left == 0:
            self._reader.close()
        return count

    def close(self) -> None:
        if not self.closed:
            self._reader.close()
        super().close()


def _open_part(file: File, part: int, start: int, length: int) -> BinaryIO:
    reader = file._source.open(file, part)
    return cast(BinaryIO, _PartStream(file, part, reader, start, length))


def _changed(file: File, part: int, how: str) -> UploadError:
    return UploadError(
        f"could not upload {file!r}: part {part}: the file {how} (it changed "
        "during the upload); the upload was not completed",
        file=file,
        part=part,
    )


# The upload's requests and their answers.


class _Upload(NamedTuple):
    id: str
    segment: str
    urls: List[str]
    part_size: int


def _create_request(file: File) -> Request:
    return Request(
        "POST",
        "/uploads",
        body=json_body({"size": file.size, "mime_type": file.mime_type}),
        headers={"Content-Type": "application/json"},
        # Sent twice, it makes at most one more upload, never completed nor
        # used: as safe to retry as a read.
        idempotent=True,
        decode=functools.partial(_decode_upload, file.size),
    )


def _part_request(file: File, upload: _Upload, part: int) -> Request:
    start = part * upload.part_size
    length = min(upload.part_size, file.size - start)
    return Request(
        "PUT",
        upload.urls[part],
        body=functools.partial(_open_part, file, part, start, length),
        headers={"Content-Length": str(length), "Content-Type": file.mime_type},
        bucket=None,  # storage: the API's rate limits do not count it
        idempotent=True,  # the same bytes to the same URL
        credentials=False,  # pre-signed: no Authorization, wherever it points
        decode=functools.partial(_decode_part, part),
    )


def _complete_request(upload: _Upload, etags: List[str]) -> Request:
    return Request(
        "POST",
        f"/uploads/{upload.segment}/complete",
        body=json_body({"etags": etags}),
        headers={"Content-Type": "application/json"},
        # Completing again creates nothing more; a server that refuses the
        # repeat fails the call, as not retrying would have.
        idempotent=True,
        decode=_decode_completed,
    )


def _decode_upload(size: int, response: requests.Response) -> _Upload:
    data = decode_object(response)
    upload_id, urls, part_size = data.get("id"), data.get("urls"), data.get("part_size")
    try:
        segment = path_segment(upload_id, "id")  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise _invalid(
            response, f"an upload whose id is not usable: {upload_id!r}"
        ) from None
    if isinstance(part_size, bool) or not isinstance(part_size, int) or part_size < 1:
        raise _invalid(response, f"an upload whose part_size is {part_size!r}")
    if not isinstance(urls, list) or not all(_is_http_url(url) for url in urls):
        raise _invalid(response, "an upload whose urls are not a list of http(s) URLs")
    parts = -(-size // part_size)
    if len(urls) != parts:
        raise _invalid(
            response,
            f"{len(urls)} part URLs for {size} bytes in parts of {part_size} "
            f"(expected {parts})",
        )
    return _Upload(cast(str, upload_id), segment, urls, part_size)


def _decode_part(part: int, response: requests.Response) -> str:
    decode_nothing(response)
    etag = response.headers.get("ETag")
    if not etag:
        raise _invalid(response, f"no ETag header for part {part}", who="the storage")
    return str(etag)


def _decode_completed(response: requests.Response) -> str:
    url = decode_object(response).get("download_url")
    if not _is_http_url(url):
        raise _invalid(response, "a completed upload without an http(s) download_url")
    return cast(str, url)


def _is_http_url(value: Any) -> bool:
    if not isinstance(value, str) or re.search(r"[\s\x00-\x1f\x7f]", value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _invalid(
    response: requests.Response, what: str, who: str = "the API"
) -> InvalidResponseError:
    return InvalidResponseError(
        f"{who} answered {response.status_code} with {excerpt(what)}", response=response
    )


# Sending: shared by the twins but for how the parts are sent.


def _check(file: Any, progress: Any) -> None:
    if not isinstance(file, File):
        raise TypeError(f"upload() takes a File, not {type(file).__name__}")
    _check_progress(progress)


def _check_progress(progress: Any) -> None:
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be a function or None, not {progress!r}")


def _has_input(params: Any) -> bool:
    return isinstance(params, Mapping) and "input" in params


class _Tracker:
    """Counts the bytes sent and tells `progress`, one call at a time."""

    def __init__(self, total: int, progress: Optional[Progress]) -> None:
        self._sent, self._total, self._progress = 0, total, progress
        self._lock = threading.Lock()

    def add(self, count: int) -> None:
        if self._progress is not None:
            with self._lock:
                self._sent += count
                self._progress(self._sent, self._total)


class _Parts:
    """One file's parts on their way: the next to send, the ETags, the first failure."""

    def __init__(self, file: File, upload: _Upload, tracker: _Tracker) -> None:
        self.file, self.upload, self._tracker = file, upload, tracker
        count = len(upload.urls)
        self.requests = [_part_request(file, upload, part) for part in range(count)]
        self._lengths = [
            min(upload.part_size, file.size - part * upload.part_size)
            for part in range(count)
        ]
        self.workers = min(MAX_PARALLEL_PARTS, count)
        self._etags: List[str] = [""] * count
        self._failure: Optional[BaseException] = None
        self._next = 0
        self._lock = threading.Lock()

    def take(self) -> Optional[int]:
        """The next part to send; None when none is left or one has failed."""
        with self._lock:
            if self._failure is not None or self._next == len(self.requests):
                return None
            self._next += 1
            return self._next - 1

    def stop(self) -> None:
        """Let no part start from now on."""
        with self._lock:
            self._next = len(self.requests)

    def done(self, part: int, etag: str) -> None:
        self._etags[part] = etag
        try:
            self._tracker.add(self._lengths[part])
        except Exception as exc:  # the caller's own: raised as it is
            self._fail(exc)

    def failed(self, part: int, exc: Exception) -> None:
        if not isinstance(exc, UploadError):
            start = part * self.upload.part_size
            end = start + self._lengths[part]
            error = UploadError(
                f"could not upload {self.file!r}: part {part} "
                f"(bytes {start}-{end - 1}) failed: {exc}",
                file=self.file,
                part=part,
            )
            error.__cause__ = exc
            exc = error
        self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        with self._lock:
            if self._failure is None:
                self._failure = exc

    def etags(self) -> List[str]:
        """The ETags in part order, or the first failure raised."""
        if self._failure is not None:
            raise self._failure
        return self._etags


def _step_failed(file: File, what: str, exc: Exception) -> UploadError:
    error = UploadError(f"could not upload {file!r}: {what} failed: {exc}", file=file)
    error.__cause__ = exc
    return error


def _upload(api: API, file: File, tracker: _Tracker) -> str:
    try:
        upload = api.request(_create_request(file))
    except Exception as exc:
        raise _step_failed(file, "POST /uploads", exc) from exc
    parts = _Parts(file, upload, tracker)
    _send_parts(api, parts)
    request = _complete_request(upload, parts.etags())
    try:
        return cast(str, api.request(request))
    except Exception as exc:
        raise _step_failed(file, f"completing upload {upload.id!r}", exc) from exc


async def _async_upload(api: API, file: File, tracker: _Tracker) -> str:
    try:
        upload = await api.async_request(_create_request(file))
    except Exception as exc:
        raise _step_failed(file, "POST /uploads", exc) from exc
    parts = _Parts(file, upload, tracker)
    await _async_send_parts(api, parts)
    request = _complete_request(upload, parts.etags())
    try:
        return cast(str, await api.async_request(request))
    except Exception as exc:
        raise _step_failed(file, f"completing upload {upload.id!r}", exc) from exc


def _send_parts(api: API, parts: _Parts) -> None:
    def work() -> None:
        part = parts.take()
        while part is not None:
            try:
                etag = api.request(parts.requests[part])
            except Exception as exc:
                parts.failed(part, exc)
                return
            parts.done(part, etag)
            part = parts.take()

    helpers: List[Future[None]] = []
    try:
        if parts.workers > 1:
            pool = api.executor()
            helpers = [pool.submit(work) for _ in range(parts.workers - 1)]
        work()
    finally:
        parts.stop()  # however the caller's share ended, no other part starts
        for helper in helpers:
            if not helper.cancel():  # one still queued behind a busy pool is dropped
                helper.result()


async def _async_send_parts(api: API, parts: _Parts) -> None:
    import asyncio

    async def work() -> None:
        part = parts.take()
        while part is not None:
            try:
                etag = await api.async_request(parts.requests[part])
            except Exception as exc:
                parts.failed(part, exc)
                return
            parts.done(part, etag)
            part = parts.take()

    try:
        await asyncio.gather(*(work() for _ in range(parts.workers)))
    finally:
        parts.stop()


# Finding the files in an input.


def _files_in(value: Any, progress: Any) -> List[File]:
    """The distinct files in an input, in the order found."""
    _check_progress(progress)
    found: Dict[int, File] = {}
    try:
        _map_files(value, lambda file: found.setdefault(id(file), file), set())
    except RecursionError:
        raise ValueError(
            "the input is nested too deep to be sent; nothing was sent"
        ) from None
    return list(found.values())


def _map_files(value: Any, replace: Callable[[File], Any], active: Set[int]) -> Any:
    """The value with each File replaced; only a container that changes is rebuilt."""
    if isinstance(value, File):
        return replace(value)
    if not isinstance(value, (dict, list, tuple)) or not value or id(value) in active:
        return value  # (one that holds itself: the JSON encoder refuses it later)
    active.add(id(value))
    try:
        if isinstance(value, dict):
            pairs = [
                (key, _map_files(item, replace, active)) for key, item in value.items()
            ]
            same = all(new is old for (_, new), old in zip(pairs, value.values()))
            return value if same else dict(pairs)
        items = [_map_files(item, replace, active) for item in value]
        if all(new is old for new, old in zip(items, value)):
            return value
        return items if isinstance(value, list) else tuple(items)
    finally:
        active.discard(id(value))


__all__ = [
    "DEFAULT_MIME_TYPE",
    "MAX_PARALLEL_PARTS",
    "Content",
    "File",
    "Progress",
    "UploadError",
    "async_prepare_input",
    "async_prepare_params",
    "async_upload",
    "prepare_input",
    "prepare_params",
    "upload",
]
