"""A prediction as the local server keeps it, and the API's JSON for it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Tuple

from predictions.testing._api.events import EventLog
from predictions.testing._models.registry import ModelVersion, PredictionContext

TERMINAL = frozenset({"succeeded", "failed", "cancelled", "canceled", "abandoned"})
"""Statuses after which a prediction never changes. The server's own, as the API
documents them, apart from the client's `types.TERMINAL_STATUSES` on purpose: a
test of the client against the server must not pass because both share a
mistake."""


@dataclass
class Record:
    """One prediction, as the server keeps it."""

    id: str
    seq: int
    model: ModelVersion
    input: Any
    webhook: Optional[Dict[str, Any]]
    created_at: float
    updated_at: float
    context: PredictionContext
    status: str = "pending"
    output: Any = None
    logs: Optional[List[str]] = None
    setup_logs: Optional[List[str]] = None
    error: Optional[Dict[str, Any]] = None
    setup_time: Optional[float] = None
    execution_time: Optional[float] = None
    metrics: Optional[Dict[str, Any]] = None
    stream: bool = False
    """Whether it was created with `"stream": true`."""
    events: Optional[EventLog] = None
    """Its events while they can be read (`stream` in its JSON); None before
    it streams, without `stream`, and once they expired."""
    ended: Optional[float] = None
    """When it reached a terminal status (the store's clock), for expiry."""


def _timestamp(seconds: float) -> str:
    # "+00:00" rather than "Z": datetime.fromisoformat reads it before 3.11.
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat()


def _duration(seconds: Optional[float]) -> Optional[str]:
    return None if seconds is None else f"{seconds:.3f}"


def render(record: Record, with_io: bool = True) -> Dict[str, Any]:
    """The API's JSON for a record (call with the store's lock held or on a copy).

    Args:
        record: The record.
        with_io: `PredictionWithIO` when true, else the list's `Prediction`.

    Returns:
        A fresh dict (lists copied), safe to serialise outside the lock.
    """
    data: Dict[str, Any] = {
        "id": record.id,
        "created_at": _timestamp(record.created_at),
        "status": record.status,
        "updated_at": _timestamp(record.updated_at),
        "setup_time": _duration(record.setup_time),
        "execution_time": _duration(record.execution_time),
        "model": {
            "owner": record.model.owner,
            "name": record.model.name,
            "version_number": record.model.number,
        },
    }
    if with_io:
        data.update(
            input=record.input,
            output=record.output,
            logs=None if record.logs is None else list(record.logs),
            setup_logs=None if record.setup_logs is None else list(record.setup_logs),
            error=record.error,
            metrics=None if record.metrics is None else dict(record.metrics),
            stream=record.events is not None,
        )
    return data


def terminal_event(record: Record) -> Tuple[str, Any]:
    """The kind and data of a prediction's last event: `done` or `error`.

    `error` (with the prediction's `error` object) when it failed; `done`
    (with the final prediction) when it succeeded, was cancelled or
    abandoned.
    """
    if record.status == "failed":
        fallback = {
            "source": "internal",
            "message": "Prediction failed",
            "detail": None,
        }
        return "error", record.error or fallback
    return "done", render(record)
