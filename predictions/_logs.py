"""The `predictions` logger on stderr: one format for the library and the command line.

The request lines (method, path, status, time, attempt) are DEBUG ones; they
never hold the token. `PREDICTIONS_LOG` (read with the settings) turns them
on for a library's user; `--verbose` or the same variable for the command line.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from typing import Iterator, Optional

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


__all__ = ["FORMAT", "log_to_stderr", "logging_to_stderr", "logger"]
