"""The connections the transport writes on: urllib3's, with two guards added.

- Each attaches itself to the attempt the calling thread is sending, so the
  watchdog can cut that attempt at its total limit (`_watchdog`).
- Each reads past interim answers (1xx, such as `103 Early Hints`) to the
  final one. http.client skips only `100 Continue`: it takes a 103 for the
  answer, and leaves the real one on the socket, where the next request on
  the connection would read it as its own.
"""

from __future__ import annotations

import http.client
import threading
from typing import Any, Dict, Optional, Type

from predictions._watchdog import WATCHDOG, Watch

_current = threading.local()
"""The attempt the calling thread is sending."""


def set_current(watch: Optional[Watch]) -> None:
    """Say which attempt the calling thread's next request belongs to."""
    _current.watch = watch


class FinalResponse(http.client.HTTPResponse):
    """An http.client answer that reads past interim (1xx) answers to the final one."""

    def begin(self) -> None:
        """Read the status line and headers of the final answer."""
        super().begin()
        # 101 Switching Protocols is final; every other 1xx is interim.
        while 100 <= self.status < 200 and self.status != 101:
            self.headers = self.msg = None  # type: ignore[assignment]
            super().begin()


class GuardedConnection:
    """A mixin for urllib3's connection classes: the two guards above."""

    response_class = FinalResponse

    def request(self, *args: Any, **kwargs: Any) -> Any:
        """Send the request, watched by the calling thread's current attempt."""
        _attach(self)
        return super().request(*args, **kwargs)  # type: ignore[misc]

    def request_chunked(self, *args: Any, **kwargs: Any) -> Any:  # urllib3 < 2
        """Send a chunked request, watched likewise."""
        _attach(self)
        return super().request_chunked(*args, **kwargs)  # type: ignore[misc]


def _attach(conn: Any) -> None:
    watch: Optional[Watch] = getattr(_current, "watch", None)
    if watch is not None:
        WATCHDOG.attach(watch, conn)


_GUARDED: Dict[Type[Any], Type[Any]] = {}


def guarded_class(connection_class: Type[Any]) -> Type[Any]:
    """The guarded subclass of one of urllib3's connection classes (made once)."""
    if issubclass(connection_class, GuardedConnection):
        return connection_class
    guarded = _GUARDED.get(connection_class)
    if guarded is None:
        guarded = _GUARDED[connection_class] = type(
            "Guarded" + connection_class.__name__,
            (GuardedConnection, connection_class),
            {},
        )
    return guarded


__all__ = ["FinalResponse", "GuardedConnection", "guarded_class", "set_current"]
