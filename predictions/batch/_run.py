"""The batch runner: one prediction per row, resumable, within the rate limits.

One coordinator (the thread that iterates the results) decides everything;
a pool of the client's size sends the requests, each through the client's
pacer and retry policy, and hands the answers back on a queue. The ledger is
written only by the coordinator, and a row's key is committed before its
create is given to the pool.

Creates ask the server to hold them (`Prefer: wait=hold`), the first alone;
where the reads go is `_batch_reads`'s to decide; the shapes handed out are
in `_batch_results`.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import queue
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Deque,
    Dict,
    Generator,
    Iterable,
    List,
    Mapping,
    Optional,
    Tuple,
)

from predictions._http.decode import decode_prediction
from predictions._http.retry import RETRYABLE_STATUSES, made_nothing, retry_delay
from predictions._requests import create_request
from predictions._waiting.options import WaitOptions
from predictions._waiting.rules import Waiting, is_transient_poll_error
from predictions.batch._ledger import Ledger
from predictions.batch._reads import READS_IN_FLIGHT, Reads
from predictions.batch._results import (
    FAILED,
    BatchProgress,
    OpenRow,
    result_of,
    row_error,
    where,
)
from predictions.batch._rows import Row
from predictions.errors import (
    APIStatusError,
    AuthenticationError,
    BatchError,
    LedgerMismatchError,
    LedgerWriteError,
    NotFoundError,
    PermissionDeniedError,
)

if TYPE_CHECKING:
    from predictions.client import Client

logger = logging.getLogger("predictions")

CREATE_FAILURE_WINDOW = 300.0
"""How long creates may keep failing, none succeeding, before the batch stops."""

CLOSE_GRACE = 2.0
"""Seconds a batch that stops early waits for its creates in flight to answer."""


def _stops_the_batch(exc: BaseException) -> bool:
    """An answer about the batch, not the row: no token, no access, no model."""
    return isinstance(exc, (AuthenticationError, PermissionDeniedError, NotFoundError))


class BatchRun:
    """A batch in progress; iterate it for the results (see `run_batch`)."""

    def __init__(
        self,
        client: Client,
        model: str,
        rows: Iterable[Row],
        ledger: Ledger,
        *,
        total: Optional[int],
        concurrency: int,
        hold: float,
        ordered: bool,
        retry_failed: bool,
        force: bool,
        poll_interval: float,
        on_progress: Optional[Callable[[BatchProgress], None]],
        close_ledger: bool,
    ) -> None:
        self.client = client
        self.api = client.api
        self.clock = client.api.clock
        self.model = model
        self.ledger = ledger
        self._close_ledger = close_ledger
        self._rows = iter(rows)
        self._exhausted = False
        self.total = total
        self.concurrency = concurrency
        self.ordered = ordered
        self.retry_failed = retry_failed
        self.force = force
        self.poll_interval = poll_interval
        self.on_progress = on_progress
        self._options = WaitOptions(poll_interval=poll_interval)
        self._hold = WaitOptions(prefer_wait=hold) if hold > 0 else None
        self._workers = max(2, self.api.settings.max_workers)
        self._create_slots = max(1, self._workers - READS_IN_FLIGHT)
        self._pool: Optional[ThreadPoolExecutor] = None  # made when the run starts
        self._began = False
        self._stopping = False  # asked to stop (close() from another thread)
        # A batch pins the model's version at its first create, so that every
        # row (and every create sent again after a crash) runs the same one.
        self._model = ledger.pinned or model
        self._events: queue.Queue[Tuple[str, Any, Any]] = queue.Queue()
        self._open: Dict[str, OpenRow] = {}  # by row key
        self._to_create: Deque[OpenRow] = collections.deque()
        self._creating = 0
        self._failing_since: Optional[float] = None
        self._probed = False  # a create has answered: the others may follow
        self._ready: Deque[Dict[str, Any]] = collections.deque()
        self._in_order: Dict[int, Dict[str, Any]] = {}
        self._next_seq = 0
        self._unrecorded: Dict[str, str] = {}  # row key -> prediction id, not durable
        self._ledger_error: Optional[LedgerWriteError] = None
        self._started = self.clock.monotonic()
        self._last_progress = float("-inf")
        self.counts: Dict[str, int] = collections.Counter()
        self._reads = Reads(
            client,
            poll_interval,
            self._submit,
            self._finish,
            self.counts,
            lambda: self._stopping,
        )
        self._results = self._run()

    # The public face -------------------------------------------------------

    def __iter__(self) -> BatchRun:
        return self

    def __next__(self) -> Dict[str, Any]:
        return next(self._results)

    def __enter__(self) -> BatchRun:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Stop: no more creates; those in flight are recorded if they answer soon.

        From another thread than the one iterating, it asks the run to stop:
        the iteration ends (within half a second) once the creates in flight
        are recorded.
        """
        if not self._began:  # never iterated: nothing was sent
            self._began = True
            self._results.close()
            if self._close_ledger:
                self.ledger.close()
            return
        if getattr(self._results, "gi_running", False):
            self._stopping = True
            return
        self._results.close()

    def progress(self) -> BatchProgress:
        """Where the batch stands now."""
        elapsed = max(self.clock.monotonic() - self._started, 1e-9)
        done = self.counts["done"]
        rate = (done - self.counts["resumed"]) / elapsed
        eta = None
        if self.total is not None and rate > 0:
            eta = max(self.total - done, 0) / rate
        return BatchProgress(
            total=self.total,
            done=done,
            succeeded=self.counts["succeeded"],
            failed=done - self.counts["succeeded"],
            running=len(self._open),
            resumed=self.counts["resumed"],
            elapsed=elapsed,
            rate=rate,
            eta=eta,
        )

    # The coordinator ---------------------------------------------------------

    def _run(self) -> Generator[Dict[str, Any], None, None]:
        self._began = True
        self._pool = ThreadPoolExecutor(
            self._workers, thread_name_prefix="predictions-batch"
        )
        try:
            while True:
                if self._stopping:
                    self._stop(BatchError("the batch was stopped (close())"))
                    return
                self._fill()
                self._reads.plan()
                self._tell_progress()
                while self._ready:
                    yield self._ready.popleft()
                if self._exhausted and not self._open:
                    break
                try:
                    event = self._events.get(timeout=self._until_next())
                except queue.Empty:
                    continue
                self._handle(event)
                while True:  # what else came meanwhile, under one commit
                    try:
                        self._handle(self._events.get_nowait())
                    except queue.Empty:
                        break
                self._commit()
            self._tell_progress(final=True)
        except BaseException as exc:
            self._stop(exc)
            raise
        finally:
            self._stopping = True  # a scan in flight pages no further
            self._pool.shutdown(wait=False)
            if self._close_ledger:
                self.ledger.close()

    def _until_next(self) -> float:
        """Seconds the coordinator may sleep before it has something to do."""
        now = self.clock.monotonic()
        moments = [now + 0.5]  # the progress line
        # Only what could go now: a create or a read waiting for a free place
        # waits for an answer (on the queue), not for the clock.
        if self._creating < self._slots():
            moments += [o.due for o in self._to_create]
        read = self._reads.next_moment(now)
        if read is not None:
            moments.append(read)
        return max(0.0, min(moments) - now)

    def _slots(self) -> int:
        """Creates that may be in flight: one until the first has answered."""
        return self._create_slots if self._probed else 1

    def _record(self, write: Callable[..., None], *args: Any, **kwargs: Any) -> None:
        """Write to the ledger; if it cannot be written, stop creating."""
        if self._ledger_error is not None:
            return
        try:
            write(*args, **kwargs)
        except LedgerWriteError as exc:
            self._ledger_error = exc
            self._to_create.clear()  # nothing more is sent

    def _commit(self) -> None:
        """Make the ledger durable; if it cannot be, stop creating."""
        self._record(self.ledger.commit)
        if self._ledger_error is None:
            self._unrecorded.clear()

    # Rows in -----------------------------------------------------------------

    def _fill(self) -> None:
        """Take rows while there is room; key the new ones; then send them."""
        if self._ledger_error is not None:
            if not self._creating:
                raise self._write_error()
            return
        keyed: List[OpenRow] = []
        while (
            not self._exhausted
            and len(self._open) < self.concurrency
            and self._ledger_error is None
        ):
            if self.ordered and len(self._in_order) >= 4 * self.concurrency:
                break  # results wait for an earlier row: read no further
            try:
                row = next(self._rows)
            except StopIteration:
                self._exhausted = True
                break
            opened = self._take(row)
            if opened is not None:
                keyed.append(opened)
        if keyed:
            self._commit()  # the keys are on disk before any create is sent
            if self._ledger_error is not None:
                for opened in keyed:
                    self._open.pop(opened.row.key, None)
                return
            self._to_create.extend(keyed)
        self._send_creates()

    def _take(self, row: Row) -> Optional[OpenRow]:
        """Decide what a row needs; an `OpenRow` if its create is to be sent."""
        if not self.ledger.first_time(row.key):
            self._finish(
                row,
                row_error(row, "invalid", f"duplicate key {row.key!r}"),
                record=False,
            )
            return None
        entry = self.ledger.entry(row.key)
        if entry is not None and entry.input_sha != row.sha:
            if not self.force:
                raise LedgerMismatchError(
                    f"the input of row {row.key!r} is not the one the ledger "
                    f"{self.ledger.path} has for it: the rows changed since it "
                    "was made. force=True (--force) redoes the rows that changed"
                )
            self._record(self.ledger.supersede, row.key, "input changed")
            entry = None
        if entry is not None and entry.state == "done":
            if not (
                self.retry_failed
                and entry.status in FAILED
                and entry.status != "invalid"
            ):
                assert entry.result is not None
                self.counts["resumed"] += 1
                self._finish(row, entry.result, record=False)
                return None
            self._record(self.ledger.supersede, row.key, "retried")
            entry = None
        if row.error is not None:
            self._finish(row, row_error(row, "invalid", row.error))
            return None
        if entry is None:
            opened = OpenRow(row, str(uuid.uuid4()))
        else:
            opened = OpenRow(row, entry.idempotency_key)
        try:
            self._build(opened)
        except (TypeError, ValueError) as exc:
            self._finish(row, row_error(row, "invalid", f"{where(row)}: {exc}"))
            return None
        self._open[row.key] = opened
        if entry is not None and entry.state == "created":
            self._resume_created(opened, entry.prediction_id)
            return None
        opened.resent = entry is not None
        self._record(
            self.ledger.keyed, row.key, row.seq, row.line, row.sha,
            opened.idempotency_key, resent=opened.resent,
        )  # fmt: skip
        self.counts["resent"] += opened.resent
        return opened

    def _build(self, opened: OpenRow) -> None:
        """Build a row's create, for the model as the batch knows it now.

        Raises:
            TypeError, ValueError: The input cannot be sent (NaN, a cycle).
        """
        request = create_request(
            {"input": opened.row.input},
            self._model,
            idempotent=False,  # the batch sends it again itself, and counts it
            max_retries=None,
            wait_options=self._hold,
            idempotency_key=opened.idempotency_key,
        )
        opened.request = dataclasses.replace(request, decode=_decode_created)
        opened.model = self._model

    def _resume_created(self, opened: OpenRow, prediction_id: str) -> None:
        opened.wait = Waiting(self.api, prediction_id, self._options)
        opened.created_at = self.clock.monotonic() - self.poll_interval
        opened.verified_at = opened.created_at
        self._reads.track(opened, prediction_id)

    def _send_creates(self) -> None:
        now = self.clock.monotonic()
        waiting: Deque[OpenRow] = collections.deque()
        # The first create goes alone: a wrong token or model costs one
        # request, and the others follow as soon as it answers.
        while self._to_create and self._creating < self._slots():
            opened = self._to_create.popleft()
            if opened.due > now:
                waiting.append(opened)
                continue
            if opened.model != self._model:  # built before the version was known
                self._build(opened)
            self._creating += 1
            self._submit("created", opened, self.api.request, opened.request)
        waiting.extend(self._to_create)
        self._to_create = waiting

    def _submit(
        self, kind: str, subject: Any, call: Callable[..., Any], *args: Any
    ) -> None:
        def done(future: Future[Any]) -> None:
            error = future.exception()
            self._events.put(
                (kind, subject, future.result() if error is None else error)
            )

        assert self._pool is not None
        self._pool.submit(call, *args).add_done_callback(done)

    # Answers -------------------------------------------------------------------

    def _handle(self, event: Tuple[str, Any, Any]) -> None:
        kind, subject, answer = event
        if kind == "created":
            self._creating -= 1
            self._on_create(subject, answer)
        elif kind == "fetched":
            self._reads.on_fetch(subject, answer)
        else:
            self._reads.on_scan(subject, answer)

    def _on_create(self, opened: OpenRow, answer: Any) -> None:
        row = opened.row
        if isinstance(answer, BaseException):
            self._create_failed(opened, answer)
            return
        self._probed = True
        prediction, replayed = answer
        self._failing_since = None
        self.counts["created"] += 1
        prediction_id = prediction["id"]
        self._created(row, prediction_id, replayed)
        self.client.predictions._created(prediction, self._model, {"input": row.input})
        self._pin(prediction)
        opened.wait = Waiting(self.api, prediction_id, self._options, prediction)
        opened.created_at = opened.check_at = self.clock.monotonic()
        opened.verified_at = opened.created_at
        opened.check_at += self.poll_interval
        if opened.wait.finished():
            opened.wait.end(None)
            self._finish(row, result_of(row, prediction))
        else:
            self._reads.track(opened, prediction_id)

    def _created(self, row: Row, prediction_id: str, replayed: bool) -> None:
        """Record a row's prediction; it is named if the ledger cannot keep it."""
        self._unrecorded[row.key] = prediction_id
        self._record(self.ledger.created, row.key, prediction_id, replayed)

    def _pin(self, prediction: Mapping[str, Any]) -> None:
        """Run every later create on the version the first one ran."""
        if self._model != self.model or ":" in self.model:
            return
        model = prediction.get("model")
        version = model.get("version_number") if isinstance(model, dict) else None
        if isinstance(version, int) and not isinstance(version, bool) and version >= 0:
            self._model = f"{self.model}:{version}"
            self._record(self.ledger.pin, self._model)

    def _create_failed(self, opened: OpenRow, exc: BaseException) -> None:
        row = opened.row
        if not isinstance(exc, Exception) or _stops_the_batch(exc):
            raise exc
        if (
            isinstance(exc, APIStatusError)
            and exc.status_code not in RETRYABLE_STATUSES
        ):
            self._probed = True
            if exc.status_code == 409 and opened.resent:
                # The key was sent before, for another request: the model's
                # version moved between a crash and this run. The server has a
                # prediction for the row; no answer says which.
                message = (
                    f"{where(row)}: the server refused its Idempotency-Key, "
                    "sent before the batch stopped, as used for another request "
                    "(the model has a new version since?): that prediction is not "
                    f"known to the ledger ({exc})"
                )
                self._finish(row, row_error(row, "lost", message))
                return
            self._finish(row, row_error(row, "rejected", f"{where(row)}: {exc}"))
            return
        if not is_transient_poll_error(exc):
            raise exc
        now = self.clock.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        elif now - self._failing_since >= CREATE_FAILURE_WINDOW:
            raise exc  # no create has gone through for so long: the API is down
        if opened.failing_since is None:
            opened.failing_since = now
        elif now - opened.failing_since >= CREATE_FAILURE_WINDOW:
            # The others go through; this row's create alone keeps failing.
            message = (
                f"{where(row)}: its create failed for "
                f"{CREATE_FAILURE_WINDOW:g} s (the last time: {exc})"
            )
            self._finish(row, row_error(row, "rejected", message))
            return
        if not made_nothing(
            exc
        ):  # it may have made a prediction: the next send is counted
            self._record(
                self.ledger.keyed, row.key, row.seq, row.line, row.sha,
                opened.idempotency_key, resent=True,
            )  # fmt: skip
            self.counts["resent"] += 1
        opened.failures += 1
        opened.due = now + retry_delay(
            exc, opened.failures, self.clock, at_least_backoff=True
        )
        self._to_create.append(opened)

    # Results out ---------------------------------------------------------------

    def _finish(self, row: Row, result: Dict[str, Any], record: bool = True) -> None:
        if record:
            self._record(self.ledger.done, row.key, row.seq, row.line, row.sha, result)
        opened = self._open.get(row.key)
        if opened is not None and opened.row.seq == row.seq:  # not a duplicate's
            del self._open[row.key]
        self.counts["done"] += 1
        if result.get("status") == "succeeded":
            self.counts["succeeded"] += 1
        if not self.ordered:
            self._ready.append(result)
            return
        self._in_order[row.seq] = result
        while self._next_seq in self._in_order:
            self._ready.append(self._in_order.pop(self._next_seq))
            self._next_seq += 1

    def _tell_progress(self, final: bool = False) -> None:
        if self.on_progress is None:
            return
        now = time.monotonic()
        if final or now - self._last_progress >= 0.5:
            self._last_progress = now
            self.on_progress(self.progress())

    def _write_error(self) -> LedgerWriteError:
        assert self._ledger_error is not None
        unrecorded = dict(self._unrecorded)
        lines = "".join(f"\n  row {k}: prediction {v}" for k, v in unrecorded.items())
        message = (
            f"{self._ledger_error}. The batch stopped before sending more creates; "
            "every create it sent has its Idempotency-Key in the ledger, so running "
            "it again (once the ledger can be written) sends those rows again "
            "with the same key"
        )
        if unrecorded:
            message += f"; these predictions were made but not recorded:{lines}"
        return LedgerWriteError(message, unrecorded)

    def _stop(self, exc: BaseException) -> None:
        """On the way out early: record the creates in flight that answer soon."""
        self._to_create.clear()
        deadline = time.monotonic() + CLOSE_GRACE
        while self._creating and time.monotonic() < deadline:
            try:
                event = self._events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if event[0] == "created":
                self._creating -= 1
                if not isinstance(event[2], BaseException):
                    prediction, replayed = event[2]
                    self._created(event[1].row, prediction["id"], replayed)
        self._commit()
        for opened in self._open.values():  # on_terminal, once for each wait
            if opened.wait is not None:
                opened.wait.end(exc)
        if self._unrecorded and not isinstance(exc, LedgerWriteError):
            lines = ", ".join(f"row {k}: {v}" for k, v in self._unrecorded.items())
            logger.warning("the ledger could not record these predictions: %s", lines)


def _decode_created(response: Any) -> Tuple[Dict[str, Any], bool]:
    """A create's prediction, and whether the server says it replayed an earlier one."""
    prediction = decode_prediction(response)
    replayed = response.headers.get("idempotent-replayed", "").strip().lower() == "true"
    return prediction, replayed


__all__ = ["CLOSE_GRACE", "CREATE_FAILURE_WINDOW", "BatchRun"]
