r"""Server-sent events, decoded incrementally from bytes.

Bytes go in as they arrive, in pieces cut anywhere (inside a line, inside a
character, between `\r` and `\n`); events come out when their block ends
(a blank line). Lines end in `\n`, `\r\n` or `\r`, found in the bytes
before anything is decoded: a Unicode line separator inside a JSON string
(U+2028, U+0085...) is not a line break. Lines starting with `:` are
heartbeats. Several `data:` lines are joined with `\n`. Every event of the
WriftAI API has an `id`, an `event` and JSON `data`; one that lacks any, or
whose data is not JSON, raises `StreamError`. A line or an event longer than
`MAX_EVENT_BYTES` raises too, before it is held in memory whole.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Tuple

from predictions.errors import StreamError

MAX_EVENT_BYTES = 4 * 1024 * 1024
"""The largest event (or line) a stream may send, in bytes."""


class EventDecoder:
    """Turns the bytes of an event stream into events, piece by piece.

    Args:
        max_event_bytes: The largest line or event accepted.
    """

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self.max_event_bytes = max_event_bytes
        self._buffer = bytearray()
        self._fields: Dict[str, Any] = {}
        self._data: List[str] = []
        self._size = 0
        self.last_id: Optional[str] = None

    def reset(self) -> None:
        """Drop a half-received event (its connection ended); keep `last_id`."""
        self._buffer = bytearray()
        self._fields, self._data, self._size = {}, [], 0

    def feed(self, chunk: bytes) -> List[Dict[str, Any]]:
        """Take the next bytes; return the events they complete, in order.

        Raises:
            StreamError: An event is malformed or too large.
        """
        self._buffer += chunk
        events: List[Dict[str, Any]] = []
        start = 0
        buffer = self._buffer
        while True:
            end = _line_end(buffer, start)
            if end is None:
                break
            stop, after = end
            if stop == len(buffer) - 1 and buffer[stop] == 13:  # a `\r` last:
                break  # its `\n` may come in the next piece
            event = self._line(bytes(buffer[start:stop]))
            if event is not None:
                events.append(event)
            start = after
        del buffer[:start]
        if len(buffer) > self.max_event_bytes:
            raise self._error(f"a line longer than {self.max_event_bytes} bytes")
        return events

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


def _line_end(buffer: bytearray, start: int) -> Optional[Tuple[int, int]]:
    """(end of the line, start of the next) from `start`, or None if no line ends."""
    newline = buffer.find(b"\n", start)
    cr = buffer.find(b"\r", start, newline if newline >= 0 else len(buffer))
    if cr >= 0:
        after = cr + 2 if buffer[cr + 1 : cr + 2] == b"\n" else cr + 1
        return cr, after
    if newline >= 0:
        return newline, newline + 1
    return None


__all__ = ["MAX_EVENT_BYTES", "EventDecoder"]
