"""The predictions the local server holds: records, pages, waits, events, expiry."""

from __future__ import annotations

import collections
import threading
import time
import uuid
from typing import IO, Any, Callable, Deque, Dict, List, Optional, Tuple

from predictions.testing._api.events import EventLog
from predictions.testing._api.pages import ListQuery, select
from predictions.testing._api.protocol import dumps
from predictions.testing._api.records import TERMINAL, Record, render, terminal_event
from predictions.testing._models.registry import (
    ModelVersion,
    PredictionContext,
    SaveFile,
)

__all__ = ["TERMINAL", "IdempotencyConflict", "NotCancellable", "Record", "Store"]

Listener = Callable[[Record, bytes], None]
"""Called (under the store's lock, so it must not block) on each status change
of a prediction that has a webhook, with the prediction's JSON."""


class IdempotencyConflict(Exception):
    """An Idempotency-Key was reused with a different request."""


class NotCancellable(Exception):
    """The prediction already ended another way (succeeded, failed, abandoned)."""


class Store:
    """Thread-safe prediction records, with the lifecycle's transitions."""

    def __init__(
        self,
        listener: Optional[Listener] = None,
        expire_after: Optional[float] = None,
        clock: Callable[[], float] = time.monotonic,
        *,
        events_expire_after: Optional[float] = None,
        open_file: Optional[Callable[[str], IO[bytes]]] = None,
        save_file: Optional[SaveFile] = None,
    ) -> None:
        """Create an empty store.

        Args:
            listener: Told about status changes of predictions with webhooks.
            expire_after: Seconds a prediction is kept once it has ended (its
                input and output with it); None keeps it for good.
            clock: Monotonic seconds, for expiry (injectable for tests).
            events_expire_after: Seconds a streamed prediction's events are
                kept once it has ended (then its `stream` turns false); None
                keeps them as long as the prediction.
            open_file: Opens a download URL of this server, for models
                (`PredictionContext.open_file`).
            save_file: Saves an output file of this server, for models
                (`PredictionContext.save_file`).
        """
        self._listener = listener
        self._expire_after = expire_after
        self._events_expire_after = events_expire_after
        self._open_file = open_file
        self._save_file = save_file
        self._clock = clock
        # Ended records in the order they ended, to expire from the left.
        self._ended: Deque[Tuple[float, Record]] = collections.deque()
        self._streams_ended: Deque[Tuple[float, Record]] = collections.deque()
        self._changed = threading.Condition(threading.RLock())
        self._records: Dict[str, Record] = {}
        self._order: List[Record] = []
        self._idempotency: Dict[str, Tuple[str, str]] = {}
        self._seq = 0
        self._closed = False

    # ---- reads --------------------------------------------------------------

    def get(self, prediction_id: str) -> Optional[Dict[str, Any]]:
        """A prediction's JSON, or None when unknown (or expired)."""
        with self._changed:
            record = self._find(prediction_id)
            return None if record is None else render(record)

    def snapshot(self) -> List[Dict[str, Any]]:
        """Every prediction's JSON, oldest first."""
        with self._changed:
            self._expire_locked()
            return [render(r) for r in self._order]

    def page(self, query: ListQuery) -> Dict[str, Any]:
        """One page of the list, newest first.

        Args:
            query: The cursor, the page size and the statuses to show.

        Returns:
            Exactly `items`, `next_cursor`, `previous_cursor`.
        """
        with self._changed:
            self._expire_locked()
            order = self._order
            if query.statuses is not None:
                order = [r for r in order if r.status in query.statuses]
            lo, hi, next_cursor, previous_cursor = select(
                [r.seq for r in order], query.cursor, query.page_size
            )
            items = [render(r, with_io=False) for r in reversed(order[lo:hi])]
        return {
            "items": items,
            "next_cursor": next_cursor,
            "previous_cursor": previous_cursor,
        }

    def wait(self, prediction_id: str, timeout: float) -> Optional[Dict[str, Any]]:
        """Wait until a prediction ends, at most `timeout` seconds.

        Returns:
            Its JSON (finished or not), or None when unknown.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            record = self._find(prediction_id)
            while record is not None:
                left = deadline - time.monotonic()
                if record.status in TERMINAL or left <= 0 or self._closed:
                    # Even if it expired meanwhile: it ended while waited on.
                    return render(record)
                self._changed.wait(left)
                gone = self._records.get(record.id) is not record
                if gone and record.status not in TERMINAL:
                    return None  # forgotten by a reset
            return None

    # ---- writes -------------------------------------------------------------

    def create(
        self,
        model: ModelVersion,
        input: Any,
        webhook: Optional[Dict[str, Any]],
        idempotency: Optional[Tuple[str, str]] = None,
        stream: bool = False,
    ) -> Tuple[Record, bool]:
        """Store a new pending prediction, or find the one an idempotency key made.

        Args:
            model: The model version to run.
            input: The input.
            webhook: `{"url", "secret"}` or None.
            idempotency: `(key, fingerprint of the request)` or None.
            stream: Whether its events may be streamed.

        Returns:
            `(record, created)`; `created` is false for a repeated key.

        Raises:
            IdempotencyConflict: The key was used with another request.
        """
        with self._changed:
            self._expire_locked()
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
                    prediction_id,
                    lambda line: self.log(prediction_id, line),
                    self._open_file,
                    self._save_file,
                ),
                stream=stream,
            )
            if stream:
                record.events = EventLog()
                record.events.append("init", render(record))
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

    def emit(self, record: Record, piece: Any) -> bool:
        """Record a piece of a running prediction's output as an `output` event.

        Args:
            record: The prediction.
            piece: The piece, a JSON value (no event when it does not stream).

        Returns:
            Whether the prediction still runs: once it has ended (cancelled,
            timed out) or was forgotten, its model should stop.

        Raises:
            ValueError: The piece is not JSON (NaN, an infinity, a cycle).
            TypeError: The piece holds something JSON cannot represent.
        """
        with self._changed:
            running = (
                record.status not in TERMINAL and self._records.get(record.id) is record
            )
            events = record.events
        if running and events is not None:
            events.append("output", piece)
        return running

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
                self._status_changed_locked(record)
            return True

    def request_cancel(self, prediction_id: str) -> Optional[bool]:
        """Check that a prediction can be cancelled (the cancel itself comes later).

        Returns:
            None when unknown; False when it is cancelled already; True when
            it has not ended, and the cancel is to take effect.

        Raises:
            NotCancellable: It succeeded, failed or was abandoned.
        """
        with self._changed:
            record = self._find(prediction_id)
            if record is None:
                return None
            if record.status in ("cancelled", "canceled"):
                return False
            if record.status in TERMINAL:
                raise NotCancellable(record.status)
            return True

    def cancel(self, prediction_id: str) -> bool:
        """Mark a prediction cancelled now, unless it has ended.

        The runner does this for a prediction it has no task for; a running
        one ends cancelled when its task is cancelled.

        Returns:
            Whether it was marked cancelled.
        """
        with self._changed:
            record = self._records.get(prediction_id)
            if record is None or record.status in TERMINAL:
                return False
            record.context.request_cancel()
            return self.update(record, status="cancelled")

    def force_status(self, prediction_id: str, status: str) -> Optional[Record]:
        """Set any status, even on an ended prediction (for tests of clients)."""
        with self._changed:
            record = self._find(prediction_id)
            if record is not None and record.status != status:
                record.status = status
                record.updated_at = time.time()
                self._status_changed_locked(record)
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
            for record in self._order:
                if record.events is not None:
                    record.events.drop()
            self._records.clear()
            self._order.clear()
            self._ended.clear()
            self._streams_ended.clear()
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
            for record in self._order:
                if record.events is not None:
                    record.events.wake()

    @property
    def closed(self) -> bool:
        """Whether the store was closed (the server is stopping)."""
        return self._closed

    def events(self, prediction_id: str) -> Tuple[Optional[Record], Optional[EventLog]]:
        """A prediction and its events.

        Returns:
            `(record, log)`: record None when unknown (or expired); log None
            when it does not stream or its events expired.
        """
        with self._changed:
            record = self._find(prediction_id)
            return record, None if record is None else record.events

    # ---- inside the lock ----------------------------------------------------

    def _find(self, prediction_id: str) -> Optional[Record]:
        self._expire_locked()
        return self._records.get(prediction_id)

    def _expire_locked(self) -> None:
        """Forget the predictions that ended more than `expire_after` ago."""
        self._expire_events_locked()
        if self._expire_after is None or not self._ended:
            return
        cutoff = self._clock() - self._expire_after
        gone = set()
        while self._ended and self._ended[0][0] <= cutoff:
            ended, record = self._ended.popleft()
            # A status forced back to a running one, or ended again later,
            # left a stale entry.
            if record.ended == ended and self._records.get(record.id) is record:
                del self._records[record.id]
                gone.add(record.id)
        if gone:
            self._order = [r for r in self._order if r.id not in gone]
            self._idempotency = {
                k: v for k, v in self._idempotency.items() if v[1] not in gone
            }

    def _expire_events_locked(self) -> None:
        """Drop the events of the predictions that ended `events_expire_after` ago."""
        if self._events_expire_after is None:
            return
        cutoff = self._clock() - self._events_expire_after
        streams = self._streams_ended
        while streams and streams[0][0] <= cutoff:
            ended, record = streams.popleft()
            if record.ended == ended:
                record.events = None

    def _status_changed_locked(self, record: Record) -> None:
        if record.status in TERMINAL:
            record.ended = self._clock()
            self._ended.append((record.ended, record))
            if record.events is not None:
                record.events.append(*terminal_event(record))
                self._streams_ended.append((record.ended, record))
        else:
            record.ended = None
        self._changed_locked(record)

    def _changed_locked(self, record: Record) -> None:
        self._changed.notify_all()
        if record.webhook is not None and self._listener is not None:
            payload = dumps(render(record))
            self._listener(record, payload)
