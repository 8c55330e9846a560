"""Uploading the files of an input: `upload`, `prepare_input` and their twins.

An upload is three steps: `POST /uploads` gives the part URLs; each part is
`PUT` to its pre-signed URL with no credential, `MAX_PARALLEL_PARTS` at most
at once, read by itself afresh for every attempt (never the whole file in
memory); `POST /uploads/{id}/complete` names the parts' ETags in order and
gives the URL. The sync and async twins share every step but the sending.

`predictions.files` hands these names on: import them from there.
"""

from __future__ import annotations

import threading
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    List,
    Mapping,
    Optional,
    Set,
    cast,
)

from predictions._http import operations
from predictions.errors import UploadError
from predictions.files._file import File, check_unchanged, described
from predictions.files._upload_requests import (
    Upload,
    complete_request,
    create_request,
    part_request,
)

if TYPE_CHECKING:
    from predictions._http.api import API
    from predictions._http.request import Request
    from predictions.hookspecs import Operation

MAX_PARALLEL_PARTS = 4
"""The most parts of one file sent at once."""

Progress = Callable[[int, int], Any]
"""Called with (bytes sent so far, total bytes) after each part."""


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

    def __init__(self, file: File, upload: Upload, tracker: _Tracker) -> None:
        self.file, self.upload, self._tracker = file, upload, tracker
        self._count = count = len(upload.urls)
        self.workers = min(MAX_PARALLEL_PARTS, count)
        self._etags: List[str] = [""] * count
        self._failure: Optional[BaseException] = None
        self._next = 0
        self._lock = threading.Lock()

    def take(self) -> Optional[int]:
        """The next part to send; None when none is left or one has failed."""
        with self._lock:
            if self._failure is not None or self._next == self._count:
                return None
            self._next += 1
            return self._next - 1

    def stop(self) -> None:
        """Let no part start from now on."""
        with self._lock:
            self._next = self._count

    def request(self, part: int) -> Request:
        """The part's request, built as it is sent (never all of them first)."""
        return part_request(self.file, self.upload, part)

    def _length(self, part: int) -> int:
        return min(self.upload.part_size, self.file.size - part * self.upload.part_size)

    def done(self, part: int, etag: str) -> None:
        self._etags[part] = etag
        try:
            self._tracker.add(self._length(part))
        except Exception as exc:  # the caller's own: raised as it is
            self._fail(exc)

    def fail_part(self, part: int, exc: Exception) -> None:
        if not isinstance(exc, UploadError):
            start = part * self.upload.part_size
            end = start + self._length(part)
            error = UploadError(
                f"could not upload {described(self.file)}: part {part} "
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
    error = UploadError(
        f"could not upload {described(file)}: {what} failed: {exc}", file=file
    )
    error.__cause__ = exc
    return error


def _operation(api: API, file: File) -> operations.AnyScope:
    """The upload's operation, as a `with` block (its parts' requests under it)."""
    scope = operations.scope(api.hooks, "upload", "upload")
    if scope.operation is not None:
        scope.operation.attributes.update(
            {"file.name": file.name, "file.size": file.size}
        )
    return scope


def _parts_are(operation: Optional[Operation], upload: Upload) -> None:
    if operation is not None:
        operation.attributes["parts"] = len(upload.urls)


def _upload(api: API, file: File, tracker: _Tracker) -> str:
    with _operation(api, file) as operation:
        try:
            upload = api.request(create_request(file))
        except Exception as exc:
            raise _step_failed(file, "POST /uploads", exc) from exc
        _parts_are(operation, upload)
        parts = _Parts(file, upload, tracker)
        _send_parts(api, parts)
        request = complete_request(upload, parts.etags())
        check_unchanged(file)
        try:
            return cast(str, api.request(request))
        except Exception as exc:
            raise _step_failed(file, f"completing upload {upload.id!r}", exc) from exc


async def _async_upload(api: API, file: File, tracker: _Tracker) -> str:
    with _operation(api, file) as operation:
        try:
            upload = await api.async_request(create_request(file))
        except Exception as exc:
            raise _step_failed(file, "POST /uploads", exc) from exc
        _parts_are(operation, upload)
        parts = _Parts(file, upload, tracker)
        await _async_send_parts(api, parts)
        request = complete_request(upload, parts.etags())
        check_unchanged(file)
        try:
            return cast(str, await api.async_request(request))
        except Exception as exc:
            raise _step_failed(file, f"completing upload {upload.id!r}", exc) from exc


def _send_parts(api: API, parts: _Parts) -> None:
    def work() -> None:
        part = parts.take()
        while part is not None:
            try:
                etag = api.request(parts.request(part))
            except Exception as exc:
                parts.fail_part(part, exc)
                return
            parts.done(part, etag)
            part = parts.take()

    # However the caller's share ended, no other part starts after it.
    api.in_parallel(work, parts.workers, parts.stop)


async def _async_send_parts(api: API, parts: _Parts) -> None:
    import asyncio

    async def work() -> None:
        part = parts.take()
        while part is not None:
            try:
                etag = await api.async_request(parts.request(part))
            except Exception as exc:
                parts.fail_part(part, exc)
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
    "MAX_PARALLEL_PARTS",
    "Progress",
    "async_prepare_input",
    "async_prepare_params",
    "async_upload",
    "prepare_input",
    "prepare_params",
    "upload",
]
