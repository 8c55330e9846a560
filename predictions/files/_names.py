"""Safe local names for output files: taken from a URL, never leaving their directory.

A name comes from the last segment of the URL's path, percent-decoded, and
is made safe for every common file system: no separator, no `..`, no NUL or
control character, none of the characters Windows refuses, no reserved
device name (`CON`, `NUL`, `COM1`...), no leading dot or trailing dot or
space, at most `MAX_NAME_BYTES` bytes of UTF-8. A name with no extension
gets one from its MIME type, when the type is known.
"""

from __future__ import annotations

import mimetypes
import os
import re
import unicodedata
from typing import Iterable, List, Optional, Set
from urllib.parse import unquote, urlsplit

from predictions.files._data_urls import has_data_scheme

MAX_NAME_BYTES = 240
"""The longest name given, in bytes: file systems take 255, and the hidden
temporary name beside it (`.NAME.xxxxxxxx.part`) needs 15 more."""

DEFAULT_NAME = "output"
"""The name of a file whose URL gives none (a `data:` URL, a path ending in /)."""

_UNSAFE = re.compile(
    r'[\x00-\x1f\x7f-\x9f/\\<>:"|?*\u200e\u200f\u202a-\u202e\u2066-\u2069]'
)
"""Separators, what Windows refuses, the C0 and C1 controls (a terminal's
escapes), and the marks that reverse the text shown ("gnp.exe" shown as
"exe.png")."""

_RESERVED = re.compile(r"(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]) *(\..*)?", re.I)
"""Device names Windows keeps, whatever the extension after them (and the
spaces before it: Windows drops those)."""

_EXTENSIONS = {
    "application/json": ".json",
    "application/octet-stream": ".bin",
    "application/pdf": ".pdf",
    "application/zip": ".zip",
    "audio/flac": ".flac",
    "audio/mpeg": ".mp3",
    "audio/ogg": ".ogg",
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "image/gif": ".gif",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/svg+xml": ".svg",
    "image/webp": ".webp",
    "text/csv": ".csv",
    "text/html": ".html",
    "text/markdown": ".md",
    "text/plain": ".txt",
    "video/mp4": ".mp4",
    "video/webm": ".webm",
}
"""The extensions of the types models make most, the same on every platform
(the `mimetypes` registry, which reads the system's files, is the fallback)."""


def name_from_url(url: str) -> str:
    """The raw name a URL gives: its path's last segment, decoded; "" for none."""
    if has_data_scheme(url):
        return ""
    try:
        path = urlsplit(url).path
    except ValueError:
        return ""
    return unquote(path.rsplit("/", 1)[-1], errors="replace")


def safe_name(raw: str, mime_type: Optional[str] = None) -> str:
    """Make a name safe to use in a directory, with an extension if it has none.

    Args:
        raw: The name as given (from a URL or a header); it may be anything.
        mime_type: The file's MIME type, if known: its extension is added to
            a name that has none.

    Returns:
        A name that is a single, ordinary file name on Linux, macOS and
        Windows, never `.` or `..`, at most `MAX_NAME_BYTES` bytes.
    """
    name = _UNSAFE.sub("_", raw).strip(" .")
    if not name:
        name = DEFAULT_NAME
    if _RESERVED.fullmatch(name):
        name = "_" + name
    stem, extension = os.path.splitext(name)
    if not extension and mime_type:
        extension = extension_for(mime_type)
    if len(extension.encode("utf-8")) > 16:  # not an extension: part of the name
        stem, extension = stem + extension, ""
    return _shorten(stem, extension)


def extension_for(mime_type: str) -> str:
    """The usual extension of a MIME type (parameters ignored), or "" if unknown."""
    bare = mime_type.split(";", 1)[0].strip().lower()
    known = _EXTENSIONS.get(bare)
    if known is not None:
        return known
    guessed = mimetypes.guess_extension(bare) or ""
    return guessed if re.fullmatch(r"\.[A-Za-z0-9]{1,10}", guessed) else ""


def unique_names(names: Iterable[str]) -> List[str]:
    """The names, each one made distinct from those before it (`name-2.ext`...).

    Names are compared without regard to case or Unicode form (é, or e and
    a combining accent), as macOS and Windows do.
    """
    taken: Set[str] = set()
    result = []
    for name in names:
        chosen = name
        stem, extension = os.path.splitext(name)
        number = 1
        while folded(chosen) in taken:
            number += 1
            chosen = _shorten(stem, f"-{number}{extension}")
        taken.add(folded(chosen))
        result.append(chosen)
    return result


def folded(name: str) -> str:
    """A name as macOS and Windows compare it: case and Unicode form ignored."""
    return unicodedata.normalize("NFC", name.casefold())


def _shorten(stem: str, tail: str) -> str:
    """`stem + tail`, the stem cut (at a character) to fit in `MAX_NAME_BYTES`."""
    room = MAX_NAME_BYTES - len(tail.encode("utf-8"))
    encoded = stem.encode("utf-8")
    if len(encoded) > room:
        stem = encoded[:room].decode("utf-8", errors="ignore").rstrip(" .") or "_"
    return stem + tail


__all__ = [
    "DEFAULT_NAME",
    "MAX_NAME_BYTES",
    "extension_for",
    "folded",
    "name_from_url",
    "safe_name",
    "unique_names",
]
