"""A total time limit for each attempt, that a server trickling bytes cannot stretch.

requests' read timeout bounds each socket read, not the whole answer: a server
that sends a byte every few seconds holds a call forever. The transport
registers every attempt here with its limit; the connection the attempt is
written on attaches itself (`_connection`); if the limit passes before
the attempt is done, the one watchdog thread shuts the socket down, so the
read blocked on it returns at once, and the transport raises a timeout.

One thread per process, started on first use and made anew in a child after
`fork` (the parent's thread does not exist there). Registering an attempt
costs a lock and a heap push; the thread sleeps until the earliest limit.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import socket
import threading
import time
from typing import Any, List, Optional, Tuple

_RECHECK = 0.05
"""Seconds before trying again to cut an attempt whose socket is not open yet."""


class Watch:
    """One attempt's limit. `fired` tells whether the watchdog cut it short."""

    __slots__ = ("conn", "done", "due", "fired")

    def __init__(self, due: float) -> None:
        self.due = due
        self.conn: Any = None
        self.done = False
        self.fired = False


class Watchdog:
    """Cuts the attempts that pass their limit; see the module's docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._heap: List[Tuple[float, int, Watch]] = []
        self._count = 0
        self._finished = 0
        self._thread: Optional[threading.Thread] = None

    def watch(self, seconds: float) -> Watch:
        """Start watching an attempt that may take `seconds` at most."""
        watch = Watch(time.monotonic() + seconds)
        with self._lock:
            self._count += 1
            heapq.heappush(self._heap, (watch.due, self._count, watch))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="predictions-watchdog", daemon=True
                )
                self._thread.start()
            elif self._heap[0][2] is watch:
                self._wake.notify()
        return watch

    def attach(self, watch: Watch, conn: Any) -> None:
        """Record the connection an attempt is written on."""
        with self._lock:
            watch.conn = conn
            if watch.fired and not watch.done:
                _shut(conn)

    def done(self, watch: Watch) -> None:
        """The attempt is over: its connection may go on to serve another."""
        with self._lock:
            watch.done = True
            watch.conn = None
            self._finished += 1
            # Done entries are dropped lazily; rebuild once they are most of it.
            if self._finished > 1024 and self._finished * 2 > len(self._heap):
                self._heap = [entry for entry in self._heap if not entry[2].done]
                heapq.heapify(self._heap)
                self._finished = 0

    def _run(self) -> None:
        with self._lock:
            while True:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                    self._finished = max(self._finished - 1, 0)
                if not self._heap:
                    self._wake.wait()
                    continue
                due, _, watch = self._heap[0]
                delay = due - time.monotonic()
                if delay > 0:
                    self._wake.wait(delay)
                    continue
                heapq.heappop(self._heap)
                watch.fired = True
                if not _shut(watch.conn):
                    # Not connected yet: try again shortly, until it is done.
                    self._count += 1
                    watch.due = time.monotonic() + _RECHECK
                    heapq.heappush(self._heap, (watch.due, self._count, watch))

    def _after_fork(self) -> None:
        self.__init__()  # type: ignore[misc]


def _shut(conn: Any) -> bool:
    """Shut a connection's socket down; False if it has none yet."""
    sock = getattr(conn, "sock", None)
    if sock is None:
        return False
    with contextlib.suppress(OSError):  # already closed: nothing waits on it
        sock.shutdown(socket.SHUT_RDWR)
    return True


WATCHDOG = Watchdog()
"""The process's watchdog."""

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=WATCHDOG._after_fork)

__all__ = ["WATCHDOG", "Watch", "Watchdog"]
