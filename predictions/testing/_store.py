"""The predictions the local server holds: records, their JSON, pages, waits."""

from __future__ import annotations

import base64
import binascii
import bisect
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional, Tuple

from ._models import ModelVersion, PredictionContext
from ._protocol import dumps

TERMINAL = frozenset({"succeeded", "failed", "cancelled", "canceled", "abandoned"})
"""Statuses after which a prediction never changes."""

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

Listener = Callable[["Record", bytes], None]
"""Called (under the store's lock, so it must not block) on each status change
of a prediction that has a webhook, with the prediction's JSON."""


class IdempotencyConflict(Exception):
    """An Idempotency-Key was reused with a different request."""


class NotCancellable(Exception):
    """The prediction already ended another way (succeeded, failed, abandoned)."""


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


def _timestamp(seconds: float) -> str:
    # "+00:00" rather than "Z": datetime.fromisoformat reads it before 3.11.
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat()


def _duration(seconds: Optional[float]) -> Optional[str]:
    return None if seconds is None else f"{seconds:.3f}"


def encode_cursor(kind: str, seq: int) -> str:
    """Make an opaque cursor: `n` pages to older items, `p` to newer ones."""
    raw = f"{kind}:{seq}".encode("ascii")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> Tuple[str, int]:
    """Read a cursor made by `encode_cursor`.

    Raises:
        ValueError: It is not one.
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        kind, _, seq = (
            base64.urlsafe_b64decode(padded.encode("ascii"))
            .decode("ascii")
            .partition(":")
        )
        if kind in ("n", "p") and seq.isdigit():
            return kind, int(seq)
    except (ValueError, UnicodeError, binascii.Error):
        pass
    raise ValueError("Invalid cursor")


class Store:
    """Thread-safe prediction records, with the lifecycle's transitions."""

    def __init__(
        self, base_url: Callable[[], str], listener: Optional[Listener] = None
    ) -> None:
        """Create an empty store.

        Args:
            base_url: Gives the server's base URL (for `url` fields).
            listener: Told about status changes of predictions with webhooks.
        """
        self._base_url = base_url
        self._listener = listener
        self._changed = threading.Condition(threading.RLock())
        self._records: Dict[str, Record] = {}
        self._order: List[Record] = []
        self._idempotency: Dict[str, Tuple[str, str]] = {}
        self._seq = 0
        self._closed = False

    # ---- JSON ---------------------------------------------------------------

    def render(self, record: Record, with_io: bool = True) -> Dict[str, Any]:
        """The API's JSON for a record (call with the lock held or on a copy).

        Args:
            record: The record.
            with_io: `PredictionWithIO` when true, else the list's `Prediction`.

        Returns:
            A fresh dict (lists copied), safe to serialise outside the lock.
        """
        data: Dict[str, Any] = {
            "url": f"{self._base_url()}/predictions/{record.id}",
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
                setup_logs=None
                if record.setup_logs is None
                else list(record.setup_logs),
                error=record.error,
            )
        return data

    # ---- reads --------------------------------------------------------------

    def get(self, prediction_id: str) -> Optional[Dict[str, Any]]:
        """A prediction's JSON, or None when unknown."""
        with self._changed:
            record = self._records.get(prediction_id)
            return None if record is None else self.render(record)

    def snapshot(self) -> List[Dict[str, Any]]:
        """Every prediction's JSON, oldest first."""
        with self._changed:
            return [self.render(r) for r in self._order]

    def page(self, cursor: Optional[str], page_size: int) -> Dict[str, Any]:
        """One page of the list, newest first.

        Args:
            cursor: A cursor from an earlier page, or None for the first page.
            page_size: Items per page.

        Returns:
            Exactly `items`, `next_cursor`, `previous_cursor`, `next_url`,
            `previous_url`.

        Raises:
            ValueError: The cursor is not one of ours.
        """
        with self._changed:
            order = self._order
            seqs = [r.seq for r in order]
            if cursor is None:
                hi = len(order)
                lo = max(0, hi - page_size)
            else:
                kind, seq = decode_cursor(cursor)
                if kind == "n":
                    hi = bisect.bisect_left(seqs, seq)
                    lo = max(0, hi - page_size)
                else:
                    lo = bisect.bisect_right(seqs, seq)
                    hi = min(len(order), lo + page_size)
            items = [self.render(r, with_io=False) for r in reversed(order[lo:hi])]
            next_cursor = previous_cursor = None
            if lo > 0:
                next_cursor = encode_cursor(
                    "n", seqs[lo] if lo < len(seqs) else seqs[-1] + 1
                )
            if hi < len(order):
                previous_cursor = encode_cursor(
                    "p", seqs[hi - 1] if hi > 0 else seqs[0] - 1
                )

        def url(c: Optional[str]) -> Optional[str]:
            if c is None:
                return None
            return f"{self._base_url()}/predictions?cursor={c}&page_size={page_size}"

        return {
            "items": items,
            "next_cursor": next_cursor,
            "previous_cursor": previous_cursor,
            "next_url": url(next_cursor),
            "previous_url": url(previous_cursor),
        }

    def wait(self, prediction_id: str, timeout: float) -> Optional[Dict[str, Any]]:
        """Wait until a prediction ends, at most `timeout` seconds.

        Returns:
            Its JSON (finished or not), or None when unknown.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                record = self._records.get(prediction_id)
                if record is None:
                    return None
                left = deadline - time.monotonic()
                if record.status in TERMINAL or left <= 0 or self._closed:
                    return self.render(record)
                self._changed.wait(left)

    # ---- writes -------------------------------------------------------------

    def create(
        self,
        model: ModelVersion,
        input: Any,
        webhook: Optional[Dict[str, Any]],
        idempotency: Optional[Tuple[str, str]] = None,
    ) -> Tuple[Record, bool]:
        """Store a new pending prediction, or find the one an idempotency key made.

        Args:
            model: The model version to run.
            input: The input.
            webhook: `{"url", "secret"}` or None.
            idempotency: `(key, fingerprint of the request)` or None.

        Returns:
            `(record, created)`; `created` is false for a repeated key.

        Raises:
            IdempotencyConflict: The key was used with another request.
        """
        with self._changed:
            if idempotency is not None:
                key, fingerprint = idempotency
                seen = self._idempotency.get(key)
                if seen is not None and seen[1] in self._records:
                    if seen[0] != fingerprint:
                        raise IdempotencyConflict(key)
                    return self._records[seen[1]], False
            self._seq += 1
            now = time.time()
            prediction_id = str(uuid.uuid4())
            record = Record(
                id=prediction_id,
                seq=self._seq,
                model=model,
                input=input,
                webhook=webhook,
                created_at=now,
                updated_at=now,
                context=PredictionContext(
                    prediction_id, lambda line: self.log(prediction_id, line)
                ),
            )
            self._records[prediction_id] = record
            self._order.append(record)
            if idempotency is not None:
                self._idempotency[idempotency[0]] = (idempotency[1], prediction_id)
            self._changed_locked(record)
            return record, True

    def log(self, prediction_id: str, line: str) -> None:
        """Append a line to a running prediction's logs (ignored once it ended)."""
        with self._changed:
            record = self._records.get(prediction_id)
            if record is not None and record.status not in TERMINAL:
                record.logs = (record.logs or []) + [line]
                record.updated_at = time.time()

    def update(self, record: Record, **changes: Any) -> bool:
        """Apply changes to a prediction unless it has already ended.

        Args:
            record: The record.
            **changes: Attributes to set; a `status` change is announced.

        Returns:
            Whether the changes were applied.
        """
        with self._changed:
            if record.status in TERMINAL or self._records.get(record.id) is not record:
                return False
            status_changed = "status" in changes and changes["status"] != record.status
            for name, value in changes.items():
                setattr(record, name, value)
            record.updated_at = time.time()
            if status_changed:
                self._changed_locked(record)
            return True

    def cancel(self, prediction_id: str) -> Optional[Tuple[Record, bool]]:
        """Mark a prediction cancelled.

        Returns:
            `(record, was_running)`, or None when unknown.

        Raises:
            NotCancellable: It succeeded, failed or was abandoned.
        """
        with self._changed:
            record = self._records.get(prediction_id)
            if record is None:
                return None
            if record.status in ("cancelled", "canceled"):
                return record, False
            if record.status in TERMINAL:
                raise NotCancellable(record.status)
            record.context.request_cancel()
            self.update(record, status="cancelled")
            return record, True

    def force_status(self, prediction_id: str, status: str) -> Optional[Record]:
        """Set any status, even on an ended prediction (for tests of clients)."""
        with self._changed:
            record = self._records.get(prediction_id)
            if record is not None and record.status != status:
                record.status = status
                record.updated_at = time.time()
                self._changed_locked(record)
            return record

    def clear(self) -> List[Record]:
        """Forget every prediction and idempotency key.

        Returns:
            The records that had not ended (for the runner to stop).
        """
        with self._changed:
            running = [r for r in self._order if r.status not in TERMINAL]
            for record in running:
                record.context.request_cancel()
            self._records.clear()
            self._order.clear()
            self._idempotency.clear()
            self._changed.notify_all()
            return running

    def close(self, closed: bool = True) -> None:
        """Wake every waiting request; until reopened, later waits return at once.

        Args:
            closed: False reopens (waits wait again).
        """
        with self._changed:
            self._closed = closed
            self._changed.notify_all()

    def _changed_locked(self, record: Record) -> None:
        self._changed.notify_all()
        if record.webhook is not None and self._listener is not None:
            payload = dumps(self.render(record))
            self._listener(record, payload)
