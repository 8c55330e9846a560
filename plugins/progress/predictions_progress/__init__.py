"""predictions-progress: a live status line on stderr for each prediction waited on.

A batch (`run_batch`) gets one line for all its rows, as `predictions batch`
draws it: its rows' predictions get none.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional, TextIO

from predictions import hookimpl
from predictions.types import TERMINAL_STATUSES

__version__ = "0.1.0"

_ERASE_BELOW = "\x1b[J"

TICK = 0.5
"""Seconds between redraws of the live lines between polls, so their times move."""

PLAIN_EVERY = 10.0
"""Off a terminal, seconds of a batch between two of its lines (then its last)."""


class _Line:
    """What one live line shows."""

    def __init__(self, prediction: Any) -> None:
        self.id = str(prediction.get("id", "?"))
        self.model = _model(prediction)
        self.status = ""
        self.polls = 0
        self.elapsed = 0.0
        self.seen = 0.0
        self.log = ""

    def update(self, prediction: Any, polls: int, elapsed: float, now: float) -> bool:
        """Take the latest poll, seen at `now`; tell whether the status changed."""
        changed = bool(prediction.get("status") != self.status)
        self.status = str(prediction.get("status"))
        self.polls = polls
        self.elapsed = elapsed
        self.seen = now
        logs = prediction.get("logs") or []
        self.log = str(logs[-1]) if logs else self.log
        return changed

    def render(self, now: float) -> str:
        """The line's text at the clock time `now`: the time waited goes on."""
        elapsed = self.elapsed + max(0.0, now - self.seen)
        text = f"{self.id[:8]} {self.model} {self.status}"
        text += f" {elapsed:.1f}s, {_polls(self.polls)}"
        return f"{text} | {self.log}" if self.log else text


class _Batch:
    """What a batch's line shows, and when it is next written off a terminal."""

    def __init__(self) -> None:
        self.text = ""
        self.next_plain = PLAIN_EVERY


class Progress:
    """The plugin: the lines of the predictions being waited on, on one stream.

    On a terminal, a daemon thread redraws the live lines every `tick`
    seconds between polls; it runs only while a line is shown.

    A batch has one line for all its rows: redrawn on a terminal; elsewhere
    written every `PLAIN_EVERY` seconds of the batch, and as it ends. Its
    rows' polls come on the thread iterating it, between its first progress
    and its last: they draw nothing of their own.

    Args:
        stream: Where to draw; `sys.stderr` (looked up at each draw) if None.
        tick: Seconds between redraws between polls.
        clock: The monotonic clock the times shown are taken from.
    """

    def __init__(
        self,
        stream: Optional[TextIO] = None,
        tick: float = TICK,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._tick = tick
        self._clock = clock
        self._lock = threading.Lock()
        self._lines: Dict[str, _Line] = {}
        self._batches: Dict[int, _Batch] = {}  # by the thread iterating each
        self._drawn = 0
        self._ticker: Optional[threading.Thread] = None
        self._stop = threading.Event()

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
            if threading.get_ident() in self._batches:
                return  # a batch's row: the batch's line tells of it
            line = self._lines.get(key)
            if line is None:
                line = self._lines[key] = _Line(prediction)
            changed = line.update(prediction, polls, elapsed, self._clock())
            if self.live():
                self._redraw([])
                self._start_ticker()
            elif changed and line.status not in TERMINAL_STATUSES:
                # The end is written once, by on_terminal, with its times.
                self._write([line.render(self._clock())])

    @hookimpl
    def predictions_on_terminal(
        self,
        prediction: Any,
        error: Optional[BaseException],
        polls: int,
        elapsed: float,
    ) -> None:
        """Replace the prediction's line with its outcome and times.

        A wait that never saw its prediction (a wrong id) writes nothing: the
        error is the caller's to tell, once.
        """
        with self._lock:
            if threading.get_ident() in self._batches:
                return  # a batch's row: the batch's line tells of it
            line = self._lines.pop(str((prediction or {}).get("id")), None)
            ticker = self._stop_ticker() if not self._lines else None
            if prediction is None and line is None:
                return
            final = _final(prediction, error, polls, elapsed, line)
            if self.live():
                self._redraw([final])
            else:
                self._write([final])
        if ticker is not None:  # outside the lock, which its last tick may want
            ticker.join(timeout=1.0)

    @hookimpl
    def predictions_on_batch_progress(self, progress: Any, final: bool) -> None:
        """Draw the batch's one line: redrawn, or now and then; and its last."""
        thread = threading.get_ident()
        text = progress.describe()
        with self._lock:
            batch = self._batches.get(thread)
            if batch is None:
                batch = self._batches[thread] = _Batch()
            if final:
                del self._batches[thread]
            if self.live():
                batch.text = text
                self._redraw([text] if final else [])
            elif final or progress.elapsed >= batch.next_plain:
                batch.next_plain = (progress.elapsed // PLAIN_EVERY + 1) * PLAIN_EVERY
                self._write([text])

    def _start_ticker(self) -> None:
        """Start the thread that redraws between polls, unless it runs (lock held)."""
        if self._ticker is not None:
            return
        self._stop = threading.Event()
        self._ticker = threading.Thread(
            target=self._ticking,
            args=(self._stop,),
            name="predictions-progress",
            daemon=True,  # never keeps the program alive
        )
        self._ticker.start()

    def _stop_ticker(self) -> Optional[threading.Thread]:
        """Tell the ticker to stop (lock held); the thread, to join outside the lock."""
        ticker, self._ticker = self._ticker, None
        self._stop.set()
        return ticker

    def _ticking(self, stop: threading.Event) -> None:
        while not stop.wait(self._tick):
            with self._lock:
                if stop.is_set():  # stopped while this tick waited for the lock
                    return
                self._redraw([])

    def _redraw(self, finished: List[str]) -> None:
        width = max(20, shutil.get_terminal_size((100, 24)).columns - 1)
        parts = [f"\x1b[{self._drawn}F{_ERASE_BELOW}"] if self._drawn else []
        parts += [text + "\n" for text in finished]
        # Cut to the width: a wrapped line would throw the cursor arithmetic off.
        now = self._clock()
        live = [line.render(now) for line in self._lines.values()]
        live += [batch.text for batch in self._batches.values()]
        parts += ["\x1b[2K" + text[:width] + "\n" for text in live]
        self._drawn = len(live)
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
    outcome = _sentence(error) if error is not None else str(prediction.get("status"))
    times = f"waited {elapsed:.1f}s, {_polls(polls)}"
    for key in ("setup_time", "execution_time"):
        value = (prediction or {}).get(key)
        if value is not None:
            times += f", {key.replace('_time', '')} {value}s"
    return f"{ident} {_model(prediction)} {outcome} ({times})"


def _sentence(error: BaseException) -> str:
    """What ended a wait, as words: its message, never its class's name."""
    if isinstance(error, KeyboardInterrupt):
        return "interrupted (Ctrl-C)"
    text = str(error).strip()
    return f"stopped: {text}" if text else "stopped by an error with no message"


def _polls(count: int) -> str:
    return "1 poll" if count == 1 else f"{count} polls"


def _plain(text: str) -> str:
    """No control characters in plain output: they belong to terminals."""
    return "".join(ch if ch.isprintable() else " " for ch in text)


plugin = Progress()
"""The instance the `predictions.plugins` entry point names: it draws on stderr."""
