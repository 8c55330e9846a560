r"""Server-sent events, decoded incrementally from bytes.

Bytes go in as they arrive, in pieces cut anywhere (inside a line, inside a
character, between `\r` and `\n`); events come out when their block ends
(a blank line). Lines end in `\n`, `\r\n` or `\r`, found in the bytes
before anything is decoded: a Unicode line separator inside a JSON string
(U+2028, U+0085...) is not a line break. Lines starting with `:` are
heartbeats. Several `data:` lines are joined with `\n`. A byte-order mark
at the start of a stream is dropped. Every event of the WriftAI API has an
`id`, an `event` and JSON `data`; one that lacks any, or whose data is not
JSON, raises `StreamError`, but only once the events decoded before it have
been handed out (the error's `last_event_id` is the last of them). A line or
an event longer than `MAX_EVENT_BYTES` raises too, before it is held in
memory whole. Each byte is searched for a line end once: a line that comes
a byte at a time costs time in proportion to its length, not its square.
"""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional, Tuple

from predictions.errors import StreamError

MAX_EVENT_BYTES = 4 * 1024 * 1024
"""The largest event (or line) a stream may send, in bytes."""

_BOM = b"\xef\xbb\xbf"


class EventDecoder:
    """Turns the bytes of an event stream into events, piece by piece.

    Args:
        max_event_bytes: The largest line or event accepted.
    """

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self.max_event_bytes = max_event_bytes
        self.last_id: Optional[str] = None
        self._failure: Optional[StreamError] = None
        self.reset()

    def reset(self) -> None:
        """Drop a half-received event (its connection ended); keep `last_id`.

        A new connection's stream may start with a byte-order mark again.
        """
        self._buffer = bytearray()
        self._scanned = 0  # bytes of the buffer known to hold no line end
        self._after_cr = False  # a `\n` first in the next piece ends no line
        self._at_start = True
        self._fields: Dict[str, Any] = {}
        self._data: List[str] = []
        self._size = 0

    def feed(self, chunk: bytes) -> List[Dict[str, Any]]:
        """Take the next bytes; return the events they complete, in order.

        Raises:
            StreamError: An event is malformed or too large. Events decoded
                before it are returned first; it is raised by the next call.
        """
        if self._failure is not None:
            raise self._failure
        buffer = self._buffer
        buffer += chunk
        if self._after_cr and buffer:
            if buffer[:1] == b"\n":
                del buffer[:1]  # the `\n` of a `\r\n` cut between two pieces
            self._after_cr = False
        if self._at_start:
            if len(buffer) < len(_BOM) and _BOM.startswith(bytes(buffer)):
                return []  # a mark, or not, once more bytes come
            if buffer.startswith(_BOM):
                del buffer[: len(_BOM)]
            self._at_start = False
        events: List[Dict[str, Any]] = []
        try:
            self._lines(buffer, events)
        except StreamError as failure:
            if not events:
                raise
            self._failure = failure  # the events before it are the caller's
        return events

    def _lines(self, buffer: bytearray, events: List[Dict[str, Any]]) -> None:
        """Decode the whole lines in `buffer` into `events`, and drop them."""
        start = 0
        try:
            while True:
                end = _line_end(buffer, max(start, self._scanned))
                if end is None:
                    break
                stop, after = end
                line = bytes(buffer[start:stop])
                if after == len(buffer) and buffer[stop] == 13:  # a `\r` last:
                    self._after_cr = True  # its `\n` may come in the next piece
                start = after
                event = self._line(line)
                if event is not None:
                    events.append(event)
        finally:
            del buffer[:start]
            self._scanned = len(buffer)  # no line end in what is left
        if len(buffer) > self.max_event_bytes:
            raise self._error(f"a line longer than {self.max_event_bytes} bytes")

    def _line(self, line: bytes) -> Optional[Dict[str, Any]]:
        if not line:
            return self._dispatch()
        self._size += len(line)
        if self._size > self.max_event_bytes:
            raise self._error(f"an event longer than {self.max_event_bytes} bytes")
        if line.startswith(b":"):
            return None  # a heartbeat
        name, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            raise self._error("a line that is not UTF-8") from None
        field = name.decode("ascii", "replace")
        if field == "data":
            self._data.append(text)
        elif field in ("id", "event"):
            self._fields[field] = text
        return None  # `retry` and unknown fields are ignored, as the spec says

    def _dispatch(self) -> Optional[Dict[str, Any]]:
        fields, data = self._fields, self._data
        self._fields, self._data, self._size = {}, [], 0
        if not fields and not data:
            return None
        for name in ("id", "event"):
            if not fields.get(name):
                raise self._error(f"an event without {name!r}")
        if not data:
            raise self._error(f"event {fields['id']} has no data")
        try:
            payload = json.loads("\n".join(data))
        except (ValueError, RecursionError):
            raise self._error(
                f"event {fields['id']} has data that is not JSON"
            ) from None
        self.last_id = fields["id"]
        return {"id": fields["id"], "event": fields["event"], "data": payload}

    def _error(self, what: str) -> StreamError:
        return StreamError(f"the event stream sent {what}", last_event_id=self.last_id)


_LINE_END = re.compile(rb"\r\n?|\n")
"""A line's end: `\r\n`, `\r` or `\n`, whichever comes first."""


def _line_end(buffer: bytearray, start: int) -> Optional[Tuple[int, int]]:
    """(end of the line, start of the next) from `start`, or None if no line ends.

    The search stops at the first line end, so each byte is looked at once.
    """
    found = _LINE_END.search(buffer, start)
    return None if found is None else (found.start(), found.end())


__all__ = ["MAX_EVENT_BYTES", "EventDecoder"]
