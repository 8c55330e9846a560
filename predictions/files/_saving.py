"""Saving one output file: a temporary name, the checks, then its final name.

A file is written under a hidden temporary name beside its target and gets
its final name only once whole: its size is the host's, and its MD5 the
host's where the host gives one. So a file under its final name is always
whole, whatever stopped the program. With `part` (a batch's downloads), the
temporary name is fixed and kept on failure, with the ETag it came with in
`part + ".etag"`, so a later run resumes it from its last byte instead of
fetching it again in full.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import threading
from typing import (
    TYPE_CHECKING,
    Any,
    BinaryIO,
    Callable,
    List,
    NamedTuple,
    Optional,
    Tuple,
)

from predictions.errors import DownloadError, OutputExpiredError
from predictions.files._fetch import CHUNK

if TYPE_CHECKING:
    from predictions.files._outputs import OutputFile

_BINARY = getattr(os, "O_BINARY", 0)
"""Windows: a descriptor that translates no line ending (the default would)."""

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
"""Open a name, not the file a symbolic link there points to (POSIX)."""

_ETAG_BYTES = 1024
"""The most of a part's `.etag` file read (an ETag is short)."""

FileProgress = Callable[["OutputFile", int, Optional[int]], Any]
"""Called with (the file, bytes saved so far, its size if known) as it saves."""


class Saved(NamedTuple):
    """A file saved whole: where, how large, and its SHA-256 (hex) if asked."""

    path: str
    size: int
    sha256: Optional[str]


def check_target(target: str, overwrite: bool) -> None:
    """Refuse a target that exists (unless `overwrite`) or whose directory is not one.

    Raises:
        FileExistsError: It exists and `overwrite` is False.
        NotADirectoryError: Its directory is not a directory.
        FileNotFoundError: Its directory does not exist.
        PermissionError: Its directory cannot be written.
    """
    check_directory(os.path.dirname(target) or ".")
    if not overwrite and os.path.lexists(target):
        raise FileExistsError(
            errno.EEXIST,
            "a file is already there; pass overwrite=True to replace it",
            target,
        )


def check_directory(directory: str) -> None:
    """Refuse a directory that does not exist, is not one, or cannot be written."""
    if not os.path.exists(directory):
        raise FileNotFoundError(errno.ENOENT, "no such directory", directory)
    if not os.path.isdir(directory):
        raise NotADirectoryError(errno.ENOTDIR, "not a directory", directory)
    if not os.access(directory, os.W_OK | os.X_OK):
        raise PermissionError(
            errno.EACCES, "the directory cannot be written", directory
        )


def save_file(
    file: OutputFile,
    target: str,
    *,
    overwrite: bool,
    part: Optional[str] = None,
    sha256: bool = False,
    durable: bool = False,
    progress: Optional[FileProgress] = None,
    stop: Optional[threading.Event] = None,
) -> Saved:
    """Fetch `file` into `target`, through a temporary name; see the module.

    Args:
        file: The output file.
        target: Its final path.
        overwrite: Replace a file at `target`; else `FileExistsError`.
        part: A fixed temporary path, kept on failure and resumed from;
            None for a fresh hidden one, removed on failure.
        sha256: Compute the file's SHA-256.
        durable: Flush the file to the disk (`fsync`) before it is named,
            and its directory after (where the system allows it).
        progress: Called as the file is saved.
        stop: Set to stop at the next chunk.

    Raises:
        FileExistsError: `target` exists and `overwrite` is False.
        OutputExpiredError: The URL expired.
        DownloadError: Too large, not had whole, or not what the host's MD5 says.
        OSError: The disk refused.
    """
    if part is None:
        temporary, handle = _new_temporary(target)
        offset, etag = 0, None
    else:
        temporary = part
    try:
        if part is not None:
            handle = _open_own(part, os.O_RDWR | os.O_CREAT)
            offset, etag = _resume_state(part, handle)
        with os.fdopen(handle, "r+b") as out:
            saved = _write(file, out, offset, etag, part, sha256, progress, stop)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        _place(temporary, target, overwrite)
        if durable:  # the new name is on the disk too, before anyone is told
            _sync_directory(os.path.dirname(target) or ".")
    except BaseException as exc:
        if part is None or not _resumable(exc):
            _remove(temporary)
            if part is not None:
                _remove(part + ".etag")
        raise
    if part is not None:
        _remove(part + ".etag")
    return Saved(target, saved[0], saved[1])


def _new_temporary(target: str) -> Tuple[str, int]:
    """Make a new hidden file beside `target`, with the mode any new file gets.

    Returns its path and its open descriptor: it is written through that,
    never opened again by its name (which another could have made a link
    meanwhile). (Not `tempfile.mkstemp`: its files are 0600, for secrets.)
    """
    directory, name = os.path.split(target)
    while True:
        path = os.path.join(directory, f".{name}.{secrets.token_hex(4)}.part")
        try:
            flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | _BINARY
            handle = os.open(path, flags, 0o666)
        except FileExistsError:
            continue
        return path, handle


def _open_own(path: str, flags: int) -> int:
    """Open a file of ours by its fixed name (a part, its ETag), never through a link.

    A symbolic link there is none of ours: it is removed, so the file it
    points to (anywhere) is neither written nor read. One made meanwhile
    fails the open (`O_NOFOLLOW`, where the system has it).
    """
    if os.path.islink(path):
        os.unlink(path)
    return os.open(path, flags | _BINARY | _NOFOLLOW, 0o666)


def _write(
    file: OutputFile,
    out: BinaryIO,
    offset: int,
    etag: Optional[str],
    part: Optional[str],
    sha256: bool,
    progress: Optional[FileProgress],
    stop: Optional[threading.Event],
) -> Tuple[int, Optional[str]]:
    """Write the body from `offset`; check it; return (size, SHA-256 hex)."""
    fetch = file.fetch(offset=offset, etag=etag, stop=stop)
    out.seek(offset)
    out.truncate()
    md5: Optional[Any] = None
    sha: Optional[Any] = hashlib.sha256() if sha256 else None
    if sha is not None and offset:
        _hash_existing(out, offset, [sha])
    noted = etag
    for chunk in fetch.chunks():
        if not chunk:  # the host sends the file from its start again
            out.seek(0)
            out.truncate()
            md5, sha = None, (hashlib.sha256() if sha256 else None)
        if md5 is None and fetch.md5 is not None:
            md5 = hashlib.md5()
            _hash_existing(out, out.tell(), [md5])
        if part is not None and fetch.etag != noted:
            noted = fetch.etag
            _note_etag(part, noted)
        out.write(chunk)
        for digest in (md5, sha):
            if digest is not None:
                digest.update(chunk)
        if progress is not None:
            progress(file, fetch.offset, fetch.size)
    size = out.tell()
    if md5 is not None and fetch.md5 is not None and md5.digest() != fetch.md5:
        raise DownloadError(
            f"{file.describe()} is not what the host's checksum says (MD5 "
            f"{md5.hexdigest()}, expected {fetch.md5.hex()}); it was not kept",
            **file.error_fields(),
        )
    return size, (sha.hexdigest() if sha is not None else None)


def _hash_existing(out: BinaryIO, length: int, digests: List[Any]) -> None:
    """Hash the first `length` bytes in `out` (a resumed part); seek back."""
    position = out.tell()
    out.seek(0)
    left = length
    while left > 0:
        block = out.read(min(CHUNK, left))
        if not block:
            break
        for digest in digests:
            digest.update(block)
        left -= len(block)
    out.seek(position)


def _resume_state(part: str, handle: int) -> Tuple[int, Optional[str]]:
    """(bytes saved, their ETag) of a part an earlier run left; (0, None) if none.

    A part without its ETag cannot be resumed safely: it starts over.
    """
    try:
        with os.fdopen(_open_own(part + ".etag", os.O_RDONLY), "rb") as noted:
            etag = noted.read(_ETAG_BYTES).decode("utf-8").strip()
        size = os.fstat(handle).st_size
    except (OSError, ValueError):
        return 0, None
    return (size, etag) if etag else (0, None)


def _note_etag(part: str, etag: Optional[str]) -> None:
    if etag is None:
        _remove(part + ".etag")
        return
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    with os.fdopen(_open_own(part + ".etag", flags), "w", encoding="utf-8") as noted:
        noted.write(etag)


def _place(temporary: str, target: str, overwrite: bool) -> None:
    """Give the whole file its final name: atomically, never over another unasked."""
    if overwrite:
        os.replace(temporary, target)
        return
    try:
        os.link(temporary, target)  # fails if the target exists, unlike rename
    except FileExistsError:
        raise FileExistsError(
            errno.EEXIST,
            "a file appeared there meanwhile; pass overwrite=True",
            target,
        ) from None
    except OSError:  # a file system without hard links
        if os.path.lexists(target):
            raise FileExistsError(
                errno.EEXIST, "a file is already there", target
            ) from None
        os.rename(temporary, target)
        return
    os.unlink(temporary)


def _sync_directory(directory: str) -> None:
    """Flush a directory's entries to the disk (where the system allows it)."""
    with contextlib.suppress(OSError, AttributeError):  # Windows: no such thing
        handle = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def _resumable(exc: BaseException) -> bool:
    """Whether a part is worth keeping after `exc` (not after a bad checksum)."""
    if isinstance(exc, OutputExpiredError):
        return True  # fresh URLs to the same file may finish it
    return not isinstance(exc, DownloadError) or exc.__cause__ is not None


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


__all__ = ["FileProgress", "Saved", "check_directory", "check_target", "save_file"]
