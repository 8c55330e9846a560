"""The `predictions` logger on stderr: one format for the library and the command line.

The request lines (method, path, status, time, attempt) are DEBUG ones; they
never hold the token. `PREDICTIONS_LOG` (read with the settings) turns them
on for a library's user; `--verbose` or the same variable for the command line.
The command line shows a plugin's warning in the same format.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import warnings
from typing import Any, Iterator, Optional

from predictions.errors import PluginWarning

logger = logging.getLogger("predictions")

FORMAT = "predictions: %(message)s"
"""What a line on stderr looks like."""


def _stderr_handler() -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    return handler


def log_to_stderr(level: Optional[str]) -> None:
    """Turn the logger on at `level` (`debug`, `info`), once per process.

    Nothing happens for None, or when the logger has a handler already: a
    program's own logging set-up wins.
    """
    if level is None or logger.handlers:
        return
    logger.addHandler(_stderr_handler())
    logger.setLevel(level.upper())


@contextlib.contextmanager
def logging_to_stderr(level: str) -> Iterator[None]:
    """The logger on stderr at `level` for the time of a block; undone after."""
    handler = _stderr_handler()
    before = logger.level
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before)


@contextlib.contextmanager
def plugin_warnings_to_stderr() -> Iterator[None]:
    """Show each `PluginWarning` as one `predictions: warning: ...` line on stderr.

    For the time of a block (the command line's run): Python's own format
    would name a module of this package and quote its source line. The
    warning filters are untouched, so `-W` and `PYTHONWARNINGS` still apply.
    """
    with warnings.catch_warnings():
        shown = warnings.showwarning

        def show(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
            if not issubclass(category, PluginWarning):
                shown(message, category, *args, **kwargs)
                return
            print(FORMAT % {"message": f"warning: {message}"}, file=sys.stderr)

        warnings.showwarning = show
        yield


__all__ = [
    "FORMAT",
    "log_to_stderr",
    "logging_to_stderr",
    "logger",
    "plugin_warnings_to_stderr",
]
