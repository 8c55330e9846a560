"""predictions-jsonlog: prediction lifecycle events appended to a file as JSON lines."""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any, Dict, Mapping, Optional
from urllib.parse import urlsplit

from predictions import hookimpl

__version__ = "0.1.0"

PATH_ENV = "PREDICTIONS_JSONLOG"
"""The variable naming the file to append to; unset or empty: no log."""

_lock = threading.Lock()
_statuses: Dict[str, str] = {}


def write_event(event: str, **fields: Any) -> None:
    """Append one event as one JSON line, in a single write (O_APPEND).

    The file stays open in append mode: every write lands at its end, whole,
    whatever other threads and processes write to it.

    Args:
        event: The event's name.
        **fields: Its fields; values JSON cannot hold are written as text.
    """
    path = os.environ.get(PATH_ENV)
    if not path:
        return
    record = {"event": event, "time": round(time.time(), 6), "pid": os.getpid()}
    record.update(fields)
    line = json.dumps(record, default=str, separators=(",", ":")) + "\n"
    os.write(_descriptor(path), line.encode("utf-8"))


_files: Dict[str, int] = {}
_files_pid = os.getpid()


def _descriptor(path: str) -> int:
    """The open O_APPEND descriptor of a path, opened once per process."""
    global _files_pid
    with _lock:
        if _files_pid != os.getpid():  # a forked child opens its own
            _files.clear()
            _files_pid = os.getpid()
        fd = _files.get(path)
        if fd is None:
            fd = _files[path] = os.open(
                path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644
            )
        return fd


def _model(prediction: Mapping[str, Any]) -> Any:
    model = prediction.get("model")
    if isinstance(model, dict):
        return f"{model.get('owner')}/{model.get('name')}:{model.get('version_number')}"
    return model


@hookimpl
def predictions_on_create(prediction: Any, model: str) -> None:
    """Log a new prediction."""
    with _lock:
        _statuses[str(prediction.get("id"))] = str(prediction.get("status"))
    write_event(
        "create", id=prediction.get("id"), model=model, status=prediction.get("status")
    )


@hookimpl
def predictions_on_poll(prediction: Any, polls: int, elapsed: float) -> None:
    """Log a poll that saw a new status."""
    key = str(prediction.get("id"))
    status = str(prediction.get("status"))
    with _lock:
        changed = _statuses.get(key) != status
        _statuses[key] = status
    if changed:
        write_event(
            "status",
            id=key,
            model=_model(prediction),
            status=status,
            polls=polls,
            elapsed=round(elapsed, 6),
        )


@hookimpl
def predictions_on_retry(
    method: str, url: str, attempt: int, delay: float, error: BaseException
) -> None:
    """Log a retry (the path only: no query, no credentials)."""
    write_event(
        "retry",
        method=method,
        path=urlsplit(url).path,
        attempt=attempt,
        delay=round(delay, 6),
        error=f"{type(error).__name__}: {error}",
    )


@hookimpl
def predictions_on_terminal(
    prediction: Optional[Any],
    error: Optional[BaseException],
    polls: int,
    elapsed: float,
) -> None:
    """Log how a wait ended."""
    data = prediction or {}
    with _lock:
        _statuses.pop(str(data.get("id")), None)
    write_event(
        "terminal",
        id=data.get("id"),
        model=_model(data) if data else None,
        status=data.get("status"),
        error=None if error is None else f"{type(error).__name__}: {error}",
        polls=polls,
        elapsed=round(elapsed, 6),
        setup_time=data.get("setup_time"),
        execution_time=data.get("execution_time"),
    )
