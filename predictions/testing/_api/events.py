"""A streamed prediction's events, and the server-sent-events answer that reads them.

A prediction created with `"stream": true` has an `EventLog`: `init` first,
then one `output` per piece its model yields, then exactly one terminal
event, `done` or `error`. Event ids are "1", "2", ... in order. Each event is
kept as the SSE block it is sent as (`id:`, `event:`, one `data:` line of
JSON, a blank line), so every reader gets the same bytes.

`sse_chunks` is one answer: the events after `after_id`, then each new one as
it comes, a `: ping` heartbeat while idle, and the end after a terminal
event, after `idle` seconds without one, or when the log is dropped.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from predictions.testing._api.protocol import Response, dumps, prefer_wait

HEARTBEAT = b": ping\n\n"
"""What is sent while a stream is idle (an SSE comment line)."""

DEFAULT_STREAM_IDLE = 30.0
"""How long a stream stays open without an event, when `Prefer` says nothing."""

MAX_STREAM_IDLE = 60.0
"""The longest idle time `Prefer: wait=N` may ask of a stream (ours)."""

DEFAULT_HEARTBEAT = 5.0
"""Seconds between heartbeats of an idle stream (ours)."""

TERMINAL_EVENTS = frozenset({"done", "error"})


def text_json(value: Any) -> bytes:
    r"""Encode a value as one line of JSON, with non-ASCII text left as it is.

    JSON escapes every control character, so the line holds no raw `\n` or
    `\r`; but U+2028, U+2029 and U+0085 stay raw, as the hosted API sends
    them (a client must not take them for line breaks). A string with a lone
    surrogate, which UTF-8 cannot carry, is sent with `\u` escapes instead.

    Raises:
        ValueError: NaN or an infinity, or a cycle.
        TypeError: Something JSON cannot represent.
    """
    try:
        text = json.dumps(
            value, separators=(",", ":"), allow_nan=False, ensure_ascii=False
        )
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return dumps(value)


class EventLog:
    """The events of one prediction, appended by the server, read by streams."""

    def __init__(self) -> None:
        """Create an empty log."""
        self._changed = threading.Condition(threading.Lock())
        self._blocks: List[bytes] = []
        self._finished = False
        self._dropped = False

    def append(self, kind: str, data: Any) -> bool:
        """Add an event (a terminal one ends the log).

        Args:
            kind: `init`, `output`, `done` or `error`.
            data: Its data, a JSON value.

        Returns:
            Whether it was added: nothing is added after a terminal event.

        Raises:
            ValueError: `data` is not JSON (NaN, an infinity, a cycle).
            TypeError: `data` holds something JSON cannot represent.
        """
        encoded = text_json(data)
        with self._changed:
            if self._finished or self._dropped:
                return False
            number = len(self._blocks) + 1
            block = b"id: %d\nevent: %s\ndata: %s\n\n" % (
                number,
                kind.encode("ascii"),
                encoded,
            )
            self._blocks.append(block)
            self._finished = kind in TERMINAL_EVENTS
            self._changed.notify_all()
            return True

    @property
    def finished(self) -> bool:
        """Whether the terminal event is in."""
        with self._changed:
            return self._finished

    def drop(self) -> None:
        """End the log without a terminal event (its prediction is forgotten)."""
        with self._changed:
            self._dropped = True
            self._changed.notify_all()

    def wake(self) -> None:
        """Wake the streams waiting on this log (the server is stopping)."""
        with self._changed:
            self._changed.notify_all()

    def read(
        self, after: int, timeout: float, stopping: Callable[[], bool] = lambda: False
    ) -> Tuple[List[bytes], bool]:
        """Wait up to `timeout` seconds for events after the id `after`.

        Args:
            after: The id of the last event already read (0 for none).
            timeout: Seconds to wait, at most.
            stopping: Tells that the server is stopping: then no wait. Asked
                under the log's lock, which `wake()` takes after the server
                says so: a stop that comes just before the wait is never
                missed (the wait would last the whole idle limit).

        Returns:
            `(blocks, over)`: the SSE blocks of the events after `after`
            (possibly none), and whether no event will ever follow them.
        """
        with self._changed:
            if len(self._blocks) <= after and not self._over() and not stopping():
                self._changed.wait(max(0.0, timeout))
            return self._blocks[after:], self._over()

    def _over(self) -> bool:
        return self._finished or self._dropped


def sse_chunks(
    log: EventLog,
    after: int,
    idle: float,
    heartbeat: float,
    stopping: Callable[[], bool],
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[bytes]:
    """The pieces of one event-stream answer, each to be sent as it comes.

    Args:
        log: The prediction's events.
        after: Send only the events after this id (0 for all).
        idle: End after this many seconds without an event (0: send what
            there is, then end).
        heartbeat: Seconds of silence before a `: ping` line; 0 for none.
        stopping: Tells that the server is stopping (the answer ends).
        clock: Monotonic seconds.

    Yields:
        Byte strings: the blocks of new events (several at once when they
        are there already), or a heartbeat.
    """
    last_event = last_sent = clock()
    while True:
        now = clock()
        wait = last_event + idle - now
        if heartbeat > 0:
            wait = min(wait, last_sent + heartbeat - now)
        blocks, over = log.read(after, wait, stopping)
        if blocks:
            after += len(blocks)
            yield b"".join(blocks)
            last_event = last_sent = clock()
        if over or stopping():
            return
        if blocks:
            continue
        now = clock()
        if now >= last_event + idle:
            return
        if heartbeat > 0 and now >= last_sent + heartbeat:
            yield HEARTBEAT
            last_sent = now


@dataclass(frozen=True)
class StreamSettings:
    """How long streams stay open without an event, and how often they ping.

    Attributes:
        idle_default: Seconds without an event before a stream ends, when
            `Prefer` has no `wait=N` (`wait` alone also asks for this).
        idle_max: The cap on `Prefer: wait=N`.
        heartbeat: Seconds of silence before a `: ping` line; 0 for none.
    """

    idle_default: float = DEFAULT_STREAM_IDLE
    idle_max: float = MAX_STREAM_IDLE
    heartbeat: float = DEFAULT_HEARTBEAT

    def idle(self, prefer: Optional[str]) -> float:
        """The idle limit a `Prefer` header asks for (see the attributes)."""
        return prefer_wait(
            prefer, self.idle_default, self.idle_max, otherwise=self.idle_default
        )


def stream_response(
    status: int,
    log: EventLog,
    after: int,
    prefer: Optional[str],
    settings: StreamSettings,
    stopping: Callable[[], bool],
    headers: Optional[Dict[str, str]] = None,
) -> Response:
    """An event-stream answer: `text/event-stream`, not cached, sent as it comes.

    Args:
        status: Its status code.
        log: The prediction's events.
        after: Send the events after this id.
        prefer: The request's `Prefer` header: its `wait` is the idle limit.
        settings: Idle limits and the heartbeat interval.
        stopping: Tells that the server is stopping.
        headers: More headers (`Location`...).
    """
    idle = settings.idle(prefer)
    chunks = sse_chunks(log, after, idle, settings.heartbeat, stopping)
    return Response(
        status,
        headers={"Cache-Control": "no-cache", **(headers or {})},
        content_type="text/event-stream",
        chunks=chunks,
    )


DEFAULT_STREAMS = StreamSettings()
"""The stream settings of a server with the defaults."""
