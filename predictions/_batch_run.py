"""The batch runner: one prediction per row, resumable, within the rate limits.

One coordinator (the thread that iterates the results) decides everything;
a pool of the client's size sends the requests, each through the client's
pacer and retry policy, and hands the answers back on a queue. The ledger is
written only by the coordinator, and a row's key is committed before its
create is given to the pool.

Where the reads go (the scarce budget: 3/s on the hosted API against 15/s
for creates):

- creates ask the server to hold them (`Prefer: wait=hold`): a prediction
  that ends within the hold needs no read at all;
- the predictions still running are not polled one by one: one page of the
  list endpoint filtered to the running statuses tells about fifty of them,
  and those of the batch missing from it have ended, so each costs one GET,
  which brings its output. When a page would tell about fewer predictions
  than it costs (a few left, or an account with many others running), they
  are polled one by one instead.

Every prediction is waited on by the poll engine's rules (`_waiting.Waiting`):
its `on_poll` and `on_terminal` hooks fire, a failing poll backs off, a status
the client does not know ends it after 30 minutes.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import math
import queue
import random
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
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
    Set,
    Tuple,
)

from predictions._batch_rows import Row
from predictions._compat import TypedDict
from predictions._decode import decode_prediction
from predictions._ledger import (
    BatchError,
    Ledger,
    LedgerMismatchError,
    LedgerWriteError,
)
from predictions._resource import create_request
from predictions._retry import RETRYABLE_STATUSES, backoff, retry_delay
from predictions._wait_options import WaitOptions
from predictions._waiting import Waiting, is_transient_poll_error
from predictions.errors import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    PredictionsError,
    WaitTimeoutError,
)
from predictions.types import TERMINAL_STATUSES

if TYPE_CHECKING:
    from predictions.client import Client

logger = logging.getLogger("predictions")

RUNNING = ("pending", "starting", "started")
"""The statuses a scan lists: a prediction of the batch not among them has ended."""

PAGE_SIZE = 50
"""Predictions per page of a scan (the hosted API's largest page)."""

READS_IN_FLIGHT = 2
"""Reads (GETs, or one scan) sent at once: enough to keep the read budget busy."""

MAX_SCAN_INTERVAL = 10.0
"""How far apart scans that find nothing ended may drift, in poll intervals."""

CREATE_FAILURE_WINDOW = 300.0
"""How long creates may keep failing, none succeeding, before the batch stops."""

VERIFY_EVERY = 300.0
"""How long a prediction may be known only from scans before a GET confirms it
(a list that keeps showing an ended prediction cannot hold a row forever)."""

CLOSE_GRACE = 2.0
"""Seconds a batch that stops early waits for its creates in flight to answer."""

FAILED = ("failed", "cancelled", "canceled", "abandoned", "invalid", "rejected", "lost")
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
        running: Rows created or being created, not yet done.
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


class BatchResult(TypedDict):
    """One row's result, as a batch yields it and writes it (one JSON line).

    `status` is the prediction's terminal status, or, for a row with no
    prediction: `invalid` (the row is not an input: not a JSON object, a
    duplicate key...), `rejected` (the API refused its create: 400, 422...),
    or `lost` (its prediction could not be read back: expired, or stuck in a
    status the client does not know). `error` is then
    `{"source": "client", "message": ...}`.
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


class _Open:
    """A row between its create and its result."""

    __slots__ = (
        "check_at",
        "created_at",
        "due",
        "failing_since",
        "failures",
        "fetching",
        "idempotency_key",
        "maybe_sent",
        "model",
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
        self.maybe_sent = False  # a create of it may have reached the server
        self.resent = False  # its key was sent by an earlier run
        self.fetching = False
        self.model = ""  # the model its request was built for
        self.failures = 0  # its creates failed in a row
        self.failing_since: Optional[float] = None
        self.verified_at = 0.0  # when a GET last told its status


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


def _row_error(row: Row, status: str, message: str, **extra: Any) -> Dict[str, Any]:
    return result_of(
        row,
        None,
        status=status,
        error={"source": "client", "message": message},
        **extra,
    )


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
        self._open: Dict[str, _Open] = {}  # by row key
        self._to_create: Deque[_Open] = collections.deque()
        self._creating = 0
        self._running: Dict[str, _Open] = {}  # by prediction id
        self._to_fetch: Deque[_Open] = collections.deque()
        self._reads = 0
        self._scanning = False
        self._scan_pages = 1.0  # what a scan is expected to cost, in reads
        self._scan_interval = poll_interval
        self._next_scan = 0.0
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
                self._read()
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
        if self._reads < READS_IN_FLIGHT:
            if self._to_fetch:
                moments += [o.due for o in self._to_fetch]
            elif not self._scanning:
                free = [o.check_at for o in self._running.values() if not o.fetching]
                if free:
                    moments.append(max(self._next_scan, min(free)))
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
        if self._ledger_error is not None:
            return
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
        keyed: List[_Open] = []
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

    def _take(self, row: Row) -> Optional[_Open]:
        """Decide what a row needs; an `_Open` if its create is to be sent."""
        if not self.ledger.first_time(row.key):
            self._finish(
                row,
                _row_error(row, "invalid", f"duplicate key {row.key!r}"),
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
            self._finish(row, _row_error(row, "invalid", row.error))
            return None
        if entry is None:
            opened = _Open(row, str(uuid.uuid4()))
        else:
            opened = _Open(row, entry.idempotency_key)
        try:
            self._build(opened)
        except (TypeError, ValueError) as exc:
            self._finish(row, _row_error(row, "invalid", f"{_where(row)}: {exc}"))
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
        self.counts["resent" if entry is not None else "keyed"] += 1
        return opened

    def _build(self, opened: _Open) -> None:
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

    def _resume_created(self, opened: _Open, prediction_id: str) -> None:
        opened.wait = Waiting(self.api, prediction_id, self._options)
        opened.created_at = self.clock.monotonic() - self.poll_interval
        opened.verified_at = opened.created_at
        self._track(opened, prediction_id)

    def _track(self, opened: _Open, prediction_id: str) -> None:
        """Wait for a row's prediction; unless the server gave it to another row."""
        other = self._running.get(prediction_id)
        if other is not None and other is not opened:
            # A server that answers two rows with one prediction: the second
            # cannot be told apart, and would wait forever for its own.
            assert opened.wait is not None
            self._lost(
                opened,
                BatchError(
                    f"the server answered with prediction {prediction_id}, which "
                    f"is row {other.row.key!r}'s too"
                ),
            )
            return
        self._running[prediction_id] = opened

    def _send_creates(self) -> None:
        now = self.clock.monotonic()
        waiting: Deque[_Open] = collections.deque()
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
            opened.maybe_sent = True
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
            self._reads -= 1
            self._on_fetch(subject, answer)
        else:
            self._reads -= 1
            self._scanning = False
            self._on_scan(subject, answer)

    def _on_create(self, opened: _Open, answer: Any) -> None:
        row = opened.row
        if isinstance(answer, BaseException):
            self._create_failed(opened, answer)
            return
        self._probed = True
        prediction, replayed = answer
        self._failing_since = None
        self.counts["created"] += 1
        prediction_id = prediction["id"]
        self._unrecorded[row.key] = prediction_id
        self._record(self.ledger.created, row.key, prediction_id, replayed)
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
            self._track(opened, prediction_id)

    def _pin(self, prediction: Mapping[str, Any]) -> None:
        """Run every later create on the version the first one ran."""
        if self._model != self.model or ":" in self.model:
            return
        model = prediction.get("model")
        version = model.get("version_number") if isinstance(model, dict) else None
        if isinstance(version, int) and not isinstance(version, bool) and version >= 0:
            self._model = f"{self.model}:{version}"
            self._record(self.ledger.pin, self._model)

    def _create_failed(self, opened: _Open, exc: BaseException) -> None:
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
                    f"{_where(row)}: the server refused its Idempotency-Key, "
                    "sent before the batch stopped, as used for another request "
                    "(the model has a new version since?): that prediction is not "
                    f"known to the ledger ({exc})"
                )
                self._finish(row, _row_error(row, "lost", message))
                return
            self._finish(row, _row_error(row, "rejected", f"{_where(row)}: {exc}"))
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
                f"{_where(row)}: its create failed for "
                f"{CREATE_FAILURE_WINDOW:g} s (the last time: {exc})"
            )
            self._finish(row, _row_error(row, "rejected", message))
            return
        sent = not (
            (isinstance(exc, APIConnectionError) and not exc.request_sent)
            or (isinstance(exc, APIStatusError) and exc.status_code == 429)
        )
        if sent:  # it may have made a prediction: the next send is counted
            self._record(
                self.ledger.keyed, row.key, row.seq, row.line, row.sha,
                opened.idempotency_key, resent=True,
            )  # fmt: skip
            self.counts["resent"] += 1
        self.counts["create_retries"] += 1
        opened.failures += 1
        opened.due = now + retry_delay(
            exc, opened.failures, random.random, self.clock.wall, at_least_backoff=True
        )
        self._to_create.append(opened)

    def _on_fetch(self, opened: _Open, answer: Any) -> None:
        opened.fetching = False
        wait = opened.wait
        assert wait is not None
        now = self.clock.monotonic()
        if isinstance(answer, BaseException):
            # A 404 here is the prediction gone (expired): that row is lost.
            if not isinstance(answer, Exception) or isinstance(
                answer, (AuthenticationError, PermissionDeniedError)
            ):
                raise answer
            try:
                backoff_delay = wait.poll_failed(answer)
            except PredictionsError as exc:
                self._lost(opened, exc)
                return
            opened.due = now + backoff_delay
            self._to_fetch.append(opened)
            opened.fetching = True
            return
        wait.polled(answer)
        opened.verified_at = now
        try:
            delay = wait.next_poll()
        except WaitTimeoutError as exc:
            self._lost(opened, exc)
            return
        if delay is None:
            wait.end(None)
            self._running.pop(wait.prediction_id, None)
            self._finish(opened.row, result_of(opened.row, answer))
        else:
            opened.check_at = now + delay

    def _lost(self, opened: _Open, exc: BaseException) -> None:
        """A created prediction that cannot be read back (gone, or stuck)."""
        wait = opened.wait
        assert wait is not None
        wait.end(exc)
        if self._running.get(wait.prediction_id) is opened:
            del self._running[wait.prediction_id]
        row = opened.row
        result = result_of(row, wait.last or {"id": wait.prediction_id})
        result["status"] = "lost"
        result["error"] = {"source": "client", "message": str(exc)}
        self._finish(row, result)

    # Reads: scans of the running, and fetches of the ended -----------------------

    def _read(self) -> None:
        """Spend the reads where they buy results: fetches first, then a scan."""
        now = self.clock.monotonic()
        while self._reads < READS_IN_FLIGHT:
            due = next((o for o in self._to_fetch if o.due <= now), None)
            if due is not None:
                self._to_fetch.remove(due)
                self._fetch(due)
                continue
            if self._scanning or self._to_fetch or not self._running:
                return
            idle = [o for o in self._running.values() if not o.fetching]
            candidates = [o for o in idle if o.check_at <= now]
            if not candidates or now < self._next_scan:
                return
            # A scan tells of every running one, due or not (so they do not
            # drift apart, each polled alone): worth it when they outnumber
            # its pages.
            if len(idle) <= self._scan_pages:
                for opened in candidates:  # cheaper one by one than a scan
                    opened.fetching = True
                    opened.due = now
                    self._to_fetch.append(opened)
                continue
            self._scan(now)
            return

    def _fetch(self, opened: _Open) -> None:
        assert opened.wait is not None
        opened.fetching = True
        self._reads += 1
        self.counts["gets"] += 1
        self._submit("fetched", opened, self.api.request, opened.wait.poll_request())

    def _scan(self, now: float) -> None:
        self._reads += 1
        self._scanning = True
        # What it can tell about: the predictions known before it starts.
        known = [
            o for o in self._running.values() if o.created_at < now and not o.fetching
        ]
        limit = max(2, len(known))  # pages past which one GET each is cheaper
        self._submit("scanned", (now, known), self._list_running, limit)

    def _list_running(self, limit: int) -> Tuple[Set[str], int, bool]:
        """Page through the running predictions (on a pool thread)."""
        running: Set[str] = set()
        cursor: Optional[str] = None
        pages = 0
        while True:
            options: Dict[str, Any] = {
                "page_size": PAGE_SIZE,
                "statuses": list(RUNNING),
            }
            if cursor:
                options["cursor"] = cursor
            page = self.client.predictions.list(options)  # type: ignore[arg-type]
            pages += 1
            # By their status too: a server that ignores the filter lists all.
            running.update(
                item["id"]
                for item in page.items
                if isinstance(item, dict)
                and item.get("status") not in TERMINAL_STATUSES
            )
            cursor = page.next_cursor
            if not cursor:
                return running, pages, True
            if pages >= limit or self._stopping:
                return running, pages, False

    def _on_scan(self, subject: Tuple[float, List[_Open]], answer: Any) -> None:
        started, known = subject
        now = self.clock.monotonic()
        self._next_scan = started + self._scan_interval
        if isinstance(answer, BaseException):
            if not isinstance(answer, Exception) or isinstance(
                answer, (AuthenticationError, PermissionDeniedError)
            ):
                raise answer
            if is_transient_poll_error(answer):
                self._next_scan = now + backoff(2)
            else:  # a server with no such list (404, 422): one GET each
                logger.info("listing the running predictions failed (%s)", answer)
                self._scan_pages = math.inf
            return
        running, pages, complete = answer
        self.counts["scans"] += 1
        self.counts["scan_pages"] += pages
        self._scan_pages = pages if complete else pages + 1
        if not complete:
            return  # too many others running: the next reads go one by one
        ended = 0
        for opened in known:
            wait = opened.wait
            if (
                opened.fetching
                or wait is None
                or wait.prediction_id not in self._running
            ):
                continue
            if wait.prediction_id in running and (
                now - opened.verified_at < VERIFY_EVERY
            ):
                opened.check_at = now + self.poll_interval
            else:  # ended; or listed running for long: a GET says for sure
                ended += 1
                opened.fetching = True
                opened.due = now
                self._to_fetch.append(opened)
        if ended:
            self._scan_interval = self.poll_interval
        else:
            self._scan_interval = min(
                self._scan_interval * 1.5, MAX_SCAN_INTERVAL * self.poll_interval
            )
        self._next_scan = started + self._scan_interval

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
                    key = event[1].row.key
                    self._unrecorded[key] = prediction["id"]
                    self._record(self.ledger.created, key, prediction["id"], replayed)
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


def _where(row: Row) -> str:
    return f"line {row.line}" if row.line is not None else f"row {row.key}"


__all__ = ["FAILED", "BatchProgress", "BatchResult", "BatchRun", "result_of"]
