"""Which bytes of a file a `GET` asks for: `Range` and `If-Range` (RFC 9110 14).

One range is served: `bytes=a-b`, `bytes=a-` or `bytes=-n` (the last n
bytes); an end past the file is cut to its last byte. A range that starts
past the end (or `-0`, or any range of an empty file) cannot be satisfied:
416. What a file host may ignore is ignored, and the whole file is sent:
several ranges, another unit than `bytes`, a malformed header, and an
`If-Range` that does not name the file's current `ETag` (strong comparison:
a weak tag or a date never matches).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Span:
    """The bytes to send: `[start, stop)`, and whether that is a part (206)."""

    start: int
    stop: int
    partial: bool

    @property
    def length(self) -> int:
        """How many bytes."""
        return self.stop - self.start

    def content_range(self, size: int) -> str:
        """The `Content-Range` of a 206: `bytes a-b/size`."""
        return f"bytes {self.start}-{self.stop - 1}/{size}"


def _number(text: str) -> Optional[int]:
    text = text.strip()
    return int(text) if text.isdigit() and text.isascii() else None


def choose_span(
    range_header: Optional[str], if_range: Optional[str], etag: str, size: int
) -> Optional[Span]:
    """The bytes a request asks for (see the module's docstring).

    Args:
        range_header: The `Range` header, or None.
        if_range: The `If-Range` header, or None.
        etag: The file's `ETag`, quoted.
        size: The file's size.

    Returns:
        The span to send (the whole file when the range is ignored), or None
        when the range cannot be satisfied (416).
    """
    whole = Span(0, size, False)
    if range_header is None:
        return whole
    if if_range is not None and if_range.strip() != etag:
        return whole
    unit, equals, spec = range_header.partition("=")
    if not equals or unit.strip().lower() != "bytes" or "," in spec:
        return whole
    first, dash, last = spec.partition("-")
    if not dash:
        return whole
    start, end = _number(first), _number(last)
    if first.strip() == "":  # the last `end` bytes
        if end is None:
            return whole
        if end == 0 or size == 0:
            return None
        return Span(max(0, size - end), size, True)
    if start is None or (last.strip() and (end is None or end < start)):
        return whole
    if start >= size:
        return None
    stop = size if end is None else min(end + 1, size)
    return Span(start, stop, True)
