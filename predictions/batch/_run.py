"""The batch runner: one prediction per row, resumable, within the rate limits.

One coordinator (the thread that iterates the results) decides everything:
it takes the rows in, keys them in the ledger, and hands the results out.
A pool of the client's size sends the requests, each through the client's
pacer and retry policy, and hands the answers back on a queue. The ledger is
written only by the coordinator (through its `Recorder`), and a row's key is
committed before its create is given to the pool.

When a create goes and what its answer does is `_creates`'s to decide; where
the reads go, `_reads`'s; how a succeeded row's output files are saved
before it is done (with `outputs_dir`), `_files`'s; the shapes handed out
are in `_results`.
"""

from __future__ import annotations

import collections
import queue
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
    Optional,
    Sequence,
    Tuple,
)

from predictions._http import operations
from predictions._http.threads import submit
from predictions.batch._creates import Creates
from predictions.batch._files import SAVES_IN_FLIGHT, Downloads
from predictions.batch._ledger import Ledger, SavedFile
from predictions.batch._progress import TELL_EVERY, Telling
from predictions.batch._reads import READS_IN_FLIGHT, Reads
from predictions.batch._recorder import Recorder
from predictions.batch._results import (
    FAILED,
    BatchProgress,
    OpenRow,
    client_error,
    row_error,
    where,
)
from predictions.batch._rows import Row
from predictions.errors import BatchError, LedgerMismatchError, LedgerWriteError

if TYPE_CHECKING:
    from predictions.client import Client
    from predictions.hookspecs import Operation

CLOSE_GRACE = 2.0
"""Seconds a batch that stops early waits for its creates in flight to answer."""


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
        outputs_dir: Optional[str] = None,
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
        self.counts: Dict[str, int] = collections.Counter()
        self._telling = Telling(self.api, self.counts, total, on_progress)
        self._workers = max(2, self.api.settings.max_workers)
        self._recorder = Recorder(ledger, self._stop_creating)
        self._downloads: Optional[Downloads] = None
        if outputs_dir is not None:
            self._downloads = Downloads(
                self.api,
                outputs_dir,
                ledger,
                self._recorder,
                self._submit,
                self._finish,
                self.counts,
            )
        self._pool: Optional[ThreadPoolExecutor] = None  # made when the run starts
        self.operation: Optional[Operation] = None  # while a plugin is active
        self._began = False
        self._stopping = False  # asked to stop (close() from another thread)
        self._events: queue.Queue[Tuple[str, Any, Any]] = queue.Queue()
        self._open: Dict[str, OpenRow] = {}  # by row key
        self._ready: Deque[Dict[str, Any]] = collections.deque()
        self._in_order: Dict[int, Dict[str, Any]] = {}
        self._next_seq = 0
        self._reads = Reads(
            client,
            poll_interval,
            self._submit,
            self._end,
            self.counts,
            lambda: self._stopping,
            self.ledger.other_row,
        )
        self._creates = Creates(
            client,
            model,
            ledger.pinned,
            self._recorder,
            self._reads,
            submit=self._submit,
            finish=self._end,
            counts=self.counts,
            hold=hold,
            slots=max(1, self._workers - READS_IN_FLIGHT),
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
        return self._telling.progress(len(self._open))

    # The coordinator ---------------------------------------------------------

    def _run(self) -> Generator[Dict[str, Any], None, None]:
        self._began = True
        # Saves have places of their own: they never wait behind creates and
        # reads, nor those behind them.
        saves = SAVES_IN_FLIGHT if self._downloads is not None else 0
        self._pool = ThreadPoolExecutor(
            self._workers + saves, thread_name_prefix="predictions-batch"
        )
        self.operation = self._telling.start(self.model)
        self._creates.batch = self._reads.batch = self.operation
        error: Optional[BaseException] = None
        try:
            self._telling.tell(0)  # as it starts: before any row's hook fires
            while True:
                if self._stopping:
                    error = BatchError("the batch was stopped (close())")
                    self._stop(error)
                    return
                self._fill()
                self._reads.plan()
                if self._downloads is not None:
                    self._downloads.send()
                self._telling.tell(len(self._open))
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
                self._recorder.commit()
            self._telling.tell(0, final=True)
        except BaseException as exc:
            error = exc
            self._stop(exc)
            raise
        finally:
            self._telling.end(len(self._open), error)
            self._stopping = True  # a scan in flight pages no further
            self._pool.shutdown(wait=False)
            if self._close_ledger:
                self.ledger.close()

    def _until_next(self) -> float:
        """Seconds the coordinator may sleep before it has something to do."""
        now = self.clock.monotonic()
        moments = [now + TELL_EVERY]  # the progress, told
        # Only what could go now: a create or a read waiting for a free place
        # waits for an answer (on the queue), not for the clock.
        for moment in (self._creates.next_moment(), self._reads.next_moment(now)):
            if moment is not None:
                moments.append(moment)
        return max(0.0, min(moments) - now)

    def _stop_creating(self) -> None:
        """The ledger cannot be written: nothing more is sent."""
        self._creates.stop()

    # Rows in -----------------------------------------------------------------

    def _fill(self) -> None:
        """Take rows while there is room; key the new ones; then send them."""
        if self._recorder.failed:
            if not self._creates.in_flight:
                raise self._recorder.write_error()
            return
        keyed: List[OpenRow] = []
        while (
            not self._exhausted
            and len(self._open) < self.concurrency
            and not self._recorder.failed
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
            self._recorder.commit()  # the keys are on disk before any create is sent
            if self._recorder.failed:
                for opened in keyed:
                    self._open.pop(opened.row.key, None)
                return
            self._creates.add(keyed)
        self._creates.send()

    def _take(self, row: Row) -> Optional[OpenRow]:
        """Decide what a row needs; an `OpenRow` if its create is to be sent."""
        if not self.ledger.first_time(row.key):
            self._finish(
                row,
                row_error(row, "invalid", f"duplicate key {row.key!r}"),
                record=False,
            )
            return None
        directory = None
        if self._downloads is not None:  # named for every row, in input order
            directory = self._downloads.directory_for(row.key)
        entry = self.ledger.entry(row.key)
        if entry is not None and entry.input_sha != row.sha:
            if not self.force:
                raise LedgerMismatchError(
                    f"the input of row {row.key!r} is not the one the ledger "
                    f"{self.ledger.path} has for it (the rows changed since)",
                    option="force",
                )
            self._recorder.supersede(row, "input changed")
            entry = None
        follow = entry is not None and entry.state == "created"
        if entry is not None and entry.state == "done":
            if (
                self._downloads is not None
                and entry.prediction_id is not None
                and self._downloads.lacks_files(entry.result)
            ):
                follow = True  # done by a run that kept no files: read, then saved
            elif not (
                self.retry_failed
                and entry.status in FAILED
                and entry.status != "invalid"
            ):
                assert entry.result is not None
                self.counts["resumed"] += 1
                self._finish(row, entry.result, record=False)
                return None
            else:
                self._recorder.supersede(row, "retried")
                entry = None
        if row.error is not None:
            self._finish(row, row_error(row, "invalid", row.error))
            return None
        if entry is None:
            opened = OpenRow(row, str(uuid.uuid4()))
        else:
            opened = OpenRow(row, entry.idempotency_key)
        opened.directory = directory
        try:
            self._creates.build(opened)
        except (TypeError, ValueError) as exc:
            self._finish(row, row_error(row, "invalid", f"{where(row)}: {exc}"))
            return None
        self._open[row.key] = opened
        if follow:
            assert entry is not None
            self._reads.follow(opened, entry.prediction_id)
            return None
        opened.resent = entry is not None
        self._recorder.record_key(row, opened.idempotency_key, opened.resent)
        self.counts["resent"] += opened.resent
        return opened

    def _submit(
        self, kind: str, subject: Any, call: Callable[..., Any], *args: Any
    ) -> None:
        def done(future: Future[Any]) -> None:
            error = future.exception()
            self._events.put(
                (kind, subject, future.result() if error is None else error)
            )

        assert self._pool is not None
        # In the context of whoever takes the results (run_batch's caller),
        # the batch's operation current (a row's, if `call` is bound to it).
        if self.operation is not None:
            call, args = operations.under, (self.operation, call, *args)
        submit(self._pool, call, *args).add_done_callback(done)

    # Answers -------------------------------------------------------------------

    def _handle(self, event: Tuple[str, Any, Any]) -> None:
        kind, subject, answer = event
        if kind == "created":
            self._creates.on_answer(subject, answer)
        elif kind == "saved":
            assert self._downloads is not None
            self._downloads.on_saved(subject, answer)
        elif kind == "fetched":
            self._reads.on_fetch(subject, answer)
        else:
            self._reads.on_scan(subject, answer)

    # Results out ---------------------------------------------------------------

    def _end(self, row: Row, result: Dict[str, Any]) -> None:
        """A row's prediction ended: done, or done once its files are saved."""
        opened = self._open.get(row.key)
        if (
            self._downloads is not None
            and opened is not None
            and result.get("status") == "succeeded"
            and self._downloads.add(opened, result)
        ):
            return
        self._finish(row, result)

    def _finish(
        self,
        row: Row,
        result: Dict[str, Any],
        record: bool = True,
        files: Sequence[SavedFile] = (),
    ) -> None:
        if record:
            self._recorder.record_result(row, result, files)
        opened = self._open.get(row.key)
        if opened is not None and opened.row.seq == row.seq:  # not a duplicate's
            del self._open[row.key]
            if opened.operation is not None:  # ended here if not at its terminal
                operations.end(self.api.hooks, opened.operation, client_error(result))
        self._telling.statuses[result.get("status") or "unknown"] += 1
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

    def _stop(self, exc: BaseException) -> None:
        """On the way out early: record the creates in flight that answer soon.

        Saves in flight stop at their next chunk, their parts kept for the
        next run; they are waited for as long as the creates.
        """
        self._creates.stop()
        saves = self._downloads
        if saves is not None:
            saves.stop()
        clock = self.clock
        deadline = clock.monotonic() + CLOSE_GRACE
        while (
            self._creates.in_flight or (saves is not None and saves.in_flight)
        ) and clock.monotonic() < deadline:
            try:
                event = self._events.get(timeout=max(0.0, deadline - clock.monotonic()))
            except queue.Empty:
                break
            if event[0] == "created":
                self._creates.record_late(event[1], event[2])
            elif event[0] == "saved" and saves is not None:
                saves.forget(event[1])
        self._recorder.commit()
        for opened in self._open.values():  # on_terminal, once for each wait
            if opened.wait is not None:
                opened.wait.end(exc)
            operations.end(self.api.hooks, opened.operation, exc)
        if not isinstance(exc, LedgerWriteError):  # else its message names them
            self._recorder.log_unrecorded()


__all__ = ["CLOSE_GRACE", "BatchRun"]
