"""predictions-progress: a live status line on stderr for each prediction waited on."""

from __future__ import annotations

import shutil
import sys
import threading
from typing import Any, Dict, List, Optional, TextIO

from predictions import hookimpl

__version__ = "0.1.0"

_ERASE_BELOW = "\x1b[J"


class _Line:
    """What one live line shows."""

    def __init__(self, prediction: Any) -> None:
        self.id = str(prediction.get("id", "?"))
        self.model = _model(prediction)
        self.status = ""
        self.polls = 0
        self.elapsed = 0.0
        self.log = ""

    def update(self, prediction: Any, polls: int, elapsed: float) -> bool:
        """Take the latest poll; tell whether the status changed."""
        changed = bool(prediction.get("status") != self.status)
        self.status = str(prediction.get("status"))
        self.polls = polls
        self.elapsed = elapsed
        logs = prediction.get("logs") or []
        self.log = str(logs[-1]) if logs else self.log
        return changed

    def render(self) -> str:
        """The line's text."""
        text = f"{self.id[:8]} {self.model} {self.status}"
        text += f" {self.elapsed:.1f}s polls={self.polls}"
        return f"{text} | {self.log}" if self.log else text


class Progress:
    """The plugin: the lines of the predictions being waited on, on one stream.

    Args:
        stream: Where to draw; `sys.stderr` (looked up at each draw) if None.
    """

    def __init__(self, stream: Optional[TextIO] = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._lines: Dict[str, _Line] = {}
        self._drawn = 0

    @property
    def stream(self) -> TextIO:
        """The stream drawn on."""
        return self._stream if self._stream is not None else sys.stderr

    def live(self) -> bool:
        """Whether the stream is a terminal, where lines are redrawn in place."""
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    @hookimpl
    def predictions_on_poll(self, prediction: Any, polls: int, elapsed: float) -> None:
        """Redraw the prediction's line (or write one when its status changed)."""
        key = str(prediction.get("id"))
        with self._lock:
            line = self._lines.get(key)
            if line is None:
                line = self._lines[key] = _Line(prediction)
            changed = line.update(prediction, polls, elapsed)
            if self.live():
                self._redraw([])
            elif changed:
                self._write([line.render()])

    @hookimpl
    def predictions_on_terminal(
        self,
        prediction: Any,
        error: Optional[BaseException],
        polls: int,
        elapsed: float,
    ) -> None:
        """Replace the prediction's line with its outcome and times."""
        with self._lock:
            line = self._lines.pop(str((prediction or {}).get("id")), None)
            final = _final(prediction, error, polls, elapsed, line)
            if self.live():
                self._redraw([final])
            else:
                self._write([final])

    def _redraw(self, finished: List[str]) -> None:
        width = max(20, shutil.get_terminal_size((100, 24)).columns - 1)
        parts = [f"\x1b[{self._drawn}F{_ERASE_BELOW}"] if self._drawn else []
        parts += [text + "\n" for text in finished]
        # Cut to the width: a wrapped line would throw the cursor arithmetic off.
        parts += [
            "\x1b[2K" + line.render()[:width] + "\n" for line in self._lines.values()
        ]
        self._drawn = len(self._lines)
        self.stream.write("".join(parts))
        self.stream.flush()

    def _write(self, texts: List[str]) -> None:
        self.stream.write("".join(_plain(text) + "\n" for text in texts))
        self.stream.flush()


def _model(prediction: Any) -> str:
    model = (prediction or {}).get("model") or {}
    if not isinstance(model, dict):
        return "?"
    ref = f"{model.get('owner', '?')}/{model.get('name', '?')}"
    version = model.get("version_number")
    return f"{ref}:{version}" if version is not None else ref


def _final(
    prediction: Any,
    error: Optional[BaseException],
    polls: int,
    elapsed: float,
    line: Optional[_Line],
) -> str:
    ident = str((prediction or {}).get("id", line.id if line else "?"))[:8]
    if error is not None:
        outcome = (
            f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        )
    else:
        outcome = str(prediction.get("status"))
    times = f"waited {elapsed:.1f}s, {polls} polls"
    for key in ("setup_time", "execution_time"):
        value = (prediction or {}).get(key)
        if value is not None:
            times += f", {key.replace('_time', '')} {value}s"
    return f"{ident} {_model(prediction)} {outcome} ({times})"


def _plain(text: str) -> str:
    """No control characters in plain output: they belong to terminals."""
    return "".join(ch if ch.isprintable() else " " for ch in text)


plugin = Progress()
"""The instance the `predictions.plugins` entry point names: it draws on stderr."""
