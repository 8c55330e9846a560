"""`File`: bytes, a path or a binary file object to send in an input.

A `File` is bytes, a path or a binary file object whose size and MIME type
are known when it is made: a bad one fails there, before anything is sent.
Its bytes are read a part at a time, afresh for every attempt at a part, and
never the whole file in memory.
"""

from __future__ import annotations

import errno
import io
import mimetypes
import os
import re
import shutil
import stat
import tempfile
import threading
from typing import Any, BinaryIO, Optional, Tuple, Union, cast

from predictions.errors import UploadError

DEFAULT_MIME_TYPE = "application/octet-stream"
"""The MIME type of a file whose type is neither given nor guessed."""

Content = Union[bytes, bytearray, memoryview, str, "os.PathLike[Any]", BinaryIO]
"""What `File` takes: bytes, a path, or a binary file object."""

_UNKNOWN_SIZE = (
    "{name} is not a file whose size can be known (a device, or a file of "
    "/proc that says 0 bytes yet holds more): copy what to send into a file, "
    "or pass bytes"
)
_TEXT_HINT = "to send a text's contents, pass text.encode() or put the string itself"
# mimetypes names the compression of "x.tar.gz" apart from the type of what it holds.
_COMPRESSED = {"gzip": "application/gzip", "bzip2": "application/x-bzip2"}
_COMPRESSED.update(xz="application/x-xz", br="application/x-brotli")
_MIME_TYPE = re.compile(r"[\w.+-]+/[\w.+-]+(;[^\x00-\x1f\x7f]*)?", re.ASCII)


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
            if isinstance(content, str) and _looks_like_text(content):
                raise TypeError(
                    "File() takes bytes, a path or a binary file, and this str "
                    f"looks like text, not a path; {_TEXT_HINT}"
                )
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

    def size(self) -> Optional[int]:
        """The source's size now; None where it cannot change (bytes)."""
        return None


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
        size = self.size()
        if size != file.size:
            raise _changed(file, part, f"is now {size} bytes, not {file.size}")
        return self

    def size(self) -> int:
        with self._lock:
            self._stream.seek(0, io.SEEK_END)
            return int(self._stream.tell()) - self._start

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

    def size(self) -> int:
        return os.stat(self._path).st_size


def _looks_like_text(value: str) -> bool:
    """Whether a str is text rather than a path: a line break, or too long."""
    return "\n" in value or "\r" in value or len(value) > 4096


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
        size = os.fstat(handle.fileno()).st_size
        if size == 0 and handle.read(1):  # /proc/...: says 0, yet holds bytes
            raise ValueError(_UNKNOWN_SIZE.format(name=repr(name)))
        return size


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
        if not _regular(stream):  # /dev/zero seeks, and says its end is at 0
            raise ValueError(_UNKNOWN_SIZE.format(name=repr(stream)))
        try:
            start = stream.tell()
            stream.seek(0, io.SEEK_END)
            size = stream.tell() - start
            stream.seek(start)
            if size == 0 and stream.read(1):  # /proc/...: says 0, yet holds bytes
                raise ValueError(_UNKNOWN_SIZE.format(name=repr(stream)))
        except OSError:  # /proc/cpuinfo will not seek to its end
            raise ValueError(_UNKNOWN_SIZE.format(name=repr(stream))) from None
        return _StreamSource(stream, start, lock), size
    # It cannot be read twice: keep one copy, on disk (removed with the File).
    spool = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the File)
    shutil.copyfileobj(stream, spool, 1024 * 1024)
    return _StreamSource(spool, 0, lock), spool.tell()


def _regular(stream: Any) -> bool:
    """Whether a file object is a regular file, as far as can be told."""
    try:
        mode = os.fstat(stream.fileno()).st_mode
    except (AttributeError, OSError, ValueError):  # no descriptor: BytesIO and kin
        return True
    return stat.S_ISREG(mode)


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
            # A file that grew (or shrank) while this part was read: the
            # upload would complete with what it was, not what it is.
            size = self._reader.size()
            self._reader.close()
            if size is not None and size != self._file.size:
                how = f"is now {size} bytes, not {self._file.size}"
                raise _changed(self._file, self._part, how)
        return count

    def close(self) -> None:
        if not self.closed:
            self._reader.close()
        super().close()


def _open_part(file: File, part: int, start: int, length: int) -> BinaryIO:
    reader = file._source.open(file, part)
    return cast(BinaryIO, _PartStream(file, part, reader, start, length))


def check_unchanged(file: File) -> None:
    """Refuse to complete the upload of a file whose size changed since it was made.

    Raises:
        UploadError: The file is now larger or smaller (or cannot be read).
    """
    try:
        size = file._source.size()
    except OSError as exc:
        raise _changed(file, None, f"cannot be read: {exc}") from exc
    if size is not None and size != file.size:
        raise _changed(file, None, f"is now {size} bytes, not {file.size}")


def described(file: File) -> str:
    """A file as a message names it: its name, else its size (never a repr)."""
    return repr(file.name) if file.name is not None else f"{file.size} bytes"


def _changed(file: File, part: Optional[int], how: str) -> UploadError:
    where = "" if part is None else f"part {part}: "
    return UploadError(
        f"could not upload {described(file)}: {where}the file {how} (it changed "
        "during the upload); the upload was not completed",
        file=file,
        part=part,
    )


__all__ = ["DEFAULT_MIME_TYPE", "Content", "File", "described"]
