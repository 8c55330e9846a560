"""What a batch hands out (results, progress), and a row on its way through it.

Also the one rule of which errors end the whole batch rather than one row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional

from predictions._compat import TypedDict
from predictions._waiting.rules import FailureWindow, Waiting
from predictions.batch._rows import Row
from predictions.errors import AuthenticationError, BatchError, PermissionDeniedError
from predictions.hookspecs import Operation
from predictions.types import TERMINAL_STATUSES

FAILED = (
    "failed",
    "cancelled",
    "canceled",
    "abandoned",
    "invalid",
    "rejected",
    "lost",
    "output_lost",
)
"""The statuses of rows that did not succeed (what `retry_failed` redoes,
except `invalid` rows: their input itself is wrong)."""


@dataclass(frozen=True)
class BatchProgress:
    """Where a batch stands.

    Attributes:
        total: The rows in all, when known (a file's lines; `len()` of a list).
        done: Rows with a result, including those done by an earlier run.
        succeeded: Of those, the rows whose prediction succeeded.
        failed: Of those, the rows that did not succeed.
        running: Rows created or being created, not yet done (with
            `outputs_dir`, those saving their files too).
        resumed: Rows found done in the ledger (not redone).
        elapsed: Seconds since this run began.
        rate: Rows done per second by this run.
        eta: Seconds to the end at that rate, when the total is known.
    """

    total: Optional[int]
    done: int
    succeeded: int
    failed: int
    running: int
    resumed: int
    elapsed: float
    rate: float
    eta: Optional[float]

    def describe(self) -> str:
        """One line of text, as `predictions batch` and predictions-progress draw it."""
        total = "" if self.total is None else f"/{self.total}"
        line = (
            f"batch: {self.done}{total} rows done ({self.succeeded} succeeded, "
            f"{self.failed} failed), {self.running} running, {self.rate:.1f} rows/s"
        )
        if self.eta is not None and self.done < (self.total or 0):
            line += f", about {_duration(self.eta)} left"
        return line


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class BatchResult(TypedDict):
    """One row's result, as a batch yields it and writes it (one JSON line).

    `status` is the prediction's terminal status, or, for a row with no
    prediction: `invalid` (the row is not an input: not a JSON object, a
    duplicate key...), `rejected` (the API refused its create: 400, 422...),
    or `lost` (its prediction could not be read back: expired, or stuck in a
    status the client does not know). `error` is then
    `{"source": "client", "message": ...}`.

    With `outputs_dir`, a succeeded row's `output` holds the local path of
    each file in place of its URL; a row whose prediction succeeded but one
    of whose files could not be had (its URL expired, or the download failed
    after the retries) is `output_lost`, its `output` the prediction's (with
    the URLs) and its `error` `{"source": "client", "message": ..., "url":
    ..., "status_code": ...}` (the file's URL without its query, the file
    host's HTTP status or None).
    """

    key: str
    line: Optional[int]
    prediction_id: Optional[str]
    status: str
    output: Any
    error: Optional[Dict[str, Any]]
    created_at: Optional[str]
    completed_at: Optional[str]
    setup_time: Optional[str]
    execution_time: Optional[str]


class OpenRow:
    """A row between its create and its result."""

    __slots__ = (
        "check_at",
        "created_at",
        "directory",
        "due",
        "failing",
        "failures",
        "fetching",
        "idempotency_key",
        "model",
        "operation",
        "request",
        "resent",
        "row",
        "verified_at",
        "wait",
    )

    def __init__(self, row: Row, idempotency_key: str) -> None:
        self.row = row
        self.idempotency_key = idempotency_key
        self.request: Any = None
        self.wait: Optional[Waiting] = None
        self.created_at = 0.0  # the clock time its create answered
        self.check_at = 0.0  # the earliest time it is worth a read
        self.due = 0.0  # when a create or a GET put off may go again
        self.resent = False  # its key was sent by an earlier run
        self.fetching = False
        self.model = ""  # the model its request was built for
        self.failures = 0  # its creates failed in a row
        self.failing = FailureWindow()
        self.verified_at = 0.0  # when a GET last told its status
        self.directory: Optional[str] = None  # where its output files go, if kept
        self.operation: Optional[Operation] = None  # from its create to its end


def result_of(
    row: Row, prediction: Optional[Mapping[str, Any]], **extra: Any
) -> Dict[str, Any]:
    """A row's result: its key, its prediction's id, status, output or error, times."""
    prediction = prediction or {}
    result: Dict[str, Any] = {
        "key": row.key,
        "line": row.line,
        "prediction_id": prediction.get("id"),
        "status": prediction.get("status"),
        "output": prediction.get("output"),
        "error": prediction.get("error"),
        "created_at": prediction.get("created_at"),
        "completed_at": prediction.get("updated_at")
        if prediction.get("status") in TERMINAL_STATUSES
        else None,
        "setup_time": prediction.get("setup_time"),
        "execution_time": prediction.get("execution_time"),
    }
    result.update(extra)
    return result


def row_error(row: Row, status: str, message: str, **extra: Any) -> Dict[str, Any]:
    return result_of(
        row,
        None,
        status=status,
        error={"source": "client", "message": message},
        **extra,
    )


def client_error(result: Mapping[str, Any]) -> Optional[BatchError]:
    """What ended a row the client gave up on (rejected, lost) as an error, or None."""
    error = result.get("error")
    if isinstance(error, Mapping) and error.get("source") == "client":
        return BatchError(str(error.get("message")))
    return None


def where(row: Row) -> str:
    return f"line {row.line}" if row.line is not None else f"row {row.key}"


def ends_the_batch(exc: BaseException) -> bool:
    """Tell whether a failed request's error ends the batch, not one row.

    No token (401) or no access (403) would fail every request alike; what is
    not an `Exception` (Ctrl-C) is the caller's. A 404 is about what the
    request named, so each asker decides: to a create, the model (that ends
    the batch); to a GET, the prediction (expired: its row is lost); to a
    list, the endpoint (the server has none: reads go one by one).
    """
    return not isinstance(exc, Exception) or isinstance(
        exc, (AuthenticationError, PermissionDeniedError)
    )


__all__ = [
    "FAILED",
    "BatchProgress",
    "BatchResult",
    "OpenRow",
    "client_error",
    "ends_the_batch",
    "result_of",
    "row_error",
    "where",
]
