"""Where a batch's reads go: scans of the running, fetches of the ended.

Reads are the scarce budget (3/s on the hosted API against 15/s for
creates). Creates ask the server to hold them, so a prediction that ends
within the hold needs no read at all. The others are not polled one by one:
one page of the list endpoint filtered to the running statuses tells about
fifty of them, and those of the batch missing from it have ended, so each
costs one GET, which brings its output. When fewer are running than a scan
costs in pages (a few left, or an account with many others running), they
are polled one by one instead; a server with no such list is polled so for
good; a prediction listed running for `VERIFY_EVERY` is confirmed by a GET.

Every prediction is waited on by the poll engine's rules (`_waiting.Waiting`):
its `on_poll` and `on_terminal` hooks fire, a failing poll backs off, a status
the client does not know ends it after 30 minutes. `Reads` only decides which
request goes when; the batch's coordinator sends it and hands the answer back.
"""

from __future__ import annotations

import collections
import logging
import math
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Deque,
    Dict,
    List,
    Optional,
    Set,
    Tuple,
)

from predictions._http import operations
from predictions._http.retry import backoff
from predictions._waiting.options import WaitOptions
from predictions._waiting.rules import Waiting, is_transient_poll_error
from predictions.batch._results import OpenRow, ends_the_batch, result_of
from predictions.errors import BatchError, PredictionsError, WaitTimeoutError
from predictions.types import RUNNING, TERMINAL_STATUSES, PredictionWithIO

if TYPE_CHECKING:
    from predictions.client import Client
    from predictions.hookspecs import Operation

logger = logging.getLogger("predictions")

PAGE_SIZE = 50
"""Predictions per page of a scan (the hosted API's largest page)."""

READS_IN_FLIGHT = 2
"""Reads (GETs, or one scan) sent at once: enough to keep the read budget busy."""

MAX_SCAN_INTERVAL = 10.0
"""How far apart scans that find nothing ended may drift, in poll intervals."""

VERIFY_EVERY = 300.0
"""How long a prediction may be known only from scans before a GET confirms it
(a list that keeps showing an ended prediction cannot hold a row forever)."""

Submit = Callable[..., None]
"""`submit(kind, subject, call, *args)`: run `call(*args)` on the pool; its
answer comes back to the coordinator as `(kind, subject, answer)`."""


class Reads:
    """The reads of one batch: which prediction is read, and when.

    Args:
        client: The client (its clock, and its list endpoint for scans).
        poll_interval: Seconds between two reads about a running prediction.
        submit: Sends a request on the batch's pool (see `Submit`).
        finish: Ends a row with its result.
        counts: The batch's counters (`gets`, `scans`, `scan_pages`).
        stopping: Tells whether the batch is stopping (a scan pages no further).
        other_row: The key of another row the ledger holds a prediction for.
    """

    def __init__(
        self,
        client: Client,
        poll_interval: float,
        submit: Submit,
        finish: Callable[[Any, Dict[str, Any]], None],
        counts: Dict[str, int],
        stopping: Callable[[], bool],
        other_row: Callable[[str, str], Optional[str]],
    ) -> None:
        self.client = client
        self.clock = client.api.clock
        self.poll_interval = poll_interval
        self._options = WaitOptions(poll_interval=poll_interval)
        self._submit = submit
        self._finish = finish
        self._counts = counts
        self._stopping = stopping
        self._other_row = other_row
        self.running: Dict[str, OpenRow] = {}  # by prediction id
        self._to_fetch: Deque[OpenRow] = collections.deque()
        self._in_flight = 0
        self._scanning = False
        self._scan_pages = 1.0  # what a scan is expected to cost, in reads
        self._scan_interval = poll_interval
        self._next_scan = 0.0
        self.batch: Optional[Operation] = None  # the batch's operation, if any

    def follow(
        self,
        opened: OpenRow,
        prediction_id: str,
        known: Optional[PredictionWithIO] = None,
    ) -> None:
        """Wait for a row's prediction; it ends at once if it has finished.

        `known` is the prediction as its create answered; None for one made
        by an earlier run (the ledger has only its id). A prediction the
        server gave another row too (running or finished) ends this row as
        `lost`: it cannot be told apart, and would report the other's output.
        """
        other = self._other_row(prediction_id, opened.row.key)
        if other is not None:
            known = None  # the other row's: none of it is this row's result
        api = self.client.api
        if opened.operation is None and self.batch is not None:  # made by a run before
            opened.operation = operations.start(
                api.hooks, "prediction", "create", opened.model, self.batch
            )
            operations.saw(opened.operation, known or {"id": prediction_id})
        opened.wait = Waiting(
            api,
            prediction_id,
            self._options,
            known,
            operation=opened.operation,
            owns=True,
        )
        if other is not None:
            message = (
                f"the server answered with prediction {prediction_id}, which is "
                f"row {other!r}'s too"
            )
            self.lost(opened, BatchError(message))
            return
        now = self.clock.monotonic()
        if known is None:  # made before this run: a read at once tells its status
            opened.created_at = now - self.poll_interval
        else:
            opened.created_at = now
            opened.check_at = now + self.poll_interval
        opened.verified_at = opened.created_at
        if opened.wait.finished():
            opened.wait.end(None)
            self._finish(opened.row, result_of(opened.row, known))
        else:
            self.running[prediction_id] = opened  # scans and fetches learn its end

    def next_moment(self, now: float) -> Optional[float]:
        """When a read could go next, if one could (else an answer is awaited)."""
        if self._in_flight >= READS_IN_FLIGHT:
            return None
        if self._to_fetch:
            return min(o.due for o in self._to_fetch)
        if self._scanning:
            return None
        free = [o.check_at for o in self.running.values() if not o.fetching]
        return max(self._next_scan, min(free)) if free else None

    def plan(self) -> None:
        """Spend the reads where they buy results: fetches first, then a scan."""
        now = self.clock.monotonic()
        while self._in_flight < READS_IN_FLIGHT:
            due = next((o for o in self._to_fetch if o.due <= now), None)
            if due is not None:
                self._to_fetch.remove(due)
                self._fetch(due)
                continue
            if self._scanning or self._to_fetch or not self.running:
                return
            idle = [o for o in self.running.values() if not o.fetching]
            candidates = [o for o in idle if o.check_at <= now]
            if not candidates or now < self._next_scan:
                return
            # A scan tells of every running one, due or not (so they do not
            # drift apart, each polled alone): worth it when they outnumber
            # its pages.
            if len(idle) <= self._scan_pages:
                for opened in candidates:  # cheaper one by one than a scan
                    self._queue_fetch(opened, now)
                continue
            self._scan(now)
            return

    def _queue_fetch(self, opened: OpenRow, when: float) -> None:
        opened.fetching = True
        opened.due = when
        self._to_fetch.append(opened)

    def _fetch(self, opened: OpenRow) -> None:
        assert opened.wait is not None
        opened.fetching = True
        self._in_flight += 1
        self._counts["gets"] += 1
        request = opened.wait.poll_request()
        send = operations.bound(opened.operation, self.client.api.request)
        self._submit("fetched", opened, send, request)

    def _scan(self, now: float) -> None:
        self._in_flight += 1
        self._scanning = True
        # What it can tell about: the predictions known before it starts.
        known = [
            o for o in self.running.values() if o.created_at < now and not o.fetching
        ]
        limit = max(2, len(known))  # pages past which one GET each is cheaper
        self._submit("scanned", (now, known), self.list_running, limit)

    def list_running(self, limit: int) -> Tuple[Set[str], int, bool]:
        """Page through the running predictions (on a pool thread).

        Returns:
            The ids seen running, the pages read, and whether every page was
            (not when `limit` pages were read first, or the batch stops).
        """
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
            if pages >= limit or self._stopping():
                return running, pages, False

    def on_fetch(self, opened: OpenRow, answer: Any) -> None:
        """A GET's answer (or its error): the row ends, or is read again later."""
        self._in_flight -= 1
        opened.fetching = False
        wait = opened.wait
        assert wait is not None
        now = self.clock.monotonic()
        if isinstance(answer, BaseException):
            # A 404 here is the prediction gone (expired): that row is lost.
            if ends_the_batch(answer):
                raise answer
            assert isinstance(answer, Exception)  # ends_the_batch took the others
            try:
                delay = wait.back_off_after(answer)
            except PredictionsError as exc:
                self.lost(opened, exc)
                return
            self._queue_fetch(opened, now + delay)
            return
        wait.record_poll(answer)
        opened.verified_at = now
        try:
            next_poll = wait.next_poll()
        except WaitTimeoutError as exc:
            self.lost(opened, exc)
            return
        if next_poll is None:
            wait.end(None)
            self.running.pop(wait.prediction_id, None)
            self._finish(opened.row, result_of(opened.row, answer))
        else:
            opened.check_at = now + next_poll

    def on_scan(self, subject: Tuple[float, List[OpenRow]], answer: Any) -> None:
        """A scan's answer: the rows not seen running are fetched."""
        self._in_flight -= 1
        self._scanning = False
        started, known = subject
        now = self.clock.monotonic()
        self._next_scan = started + self._scan_interval
        if isinstance(answer, BaseException):
            if ends_the_batch(answer):
                raise answer
            if is_transient_poll_error(answer):
                self._next_scan = now + backoff(2, self.clock.random)
            else:  # a server with no such list (404, 422): one GET each
                logger.info("listing the running predictions failed (%s)", answer)
                self._scan_pages = math.inf
            return
        running, pages, complete = answer
        self._counts["scans"] += 1
        self._counts["scan_pages"] += pages
        self._scan_pages = pages if complete else pages + 1
        if not complete:
            return  # too many others running: the next reads go one by one
        ended = 0
        for opened in known:
            wait = opened.wait
            if (
                opened.fetching
                or wait is None
                or wait.prediction_id not in self.running
            ):
                continue
            if wait.prediction_id in running and (
                now - opened.verified_at < VERIFY_EVERY
            ):
                opened.check_at = now + self.poll_interval
            else:  # ended; or listed running for long: a GET says for sure
                ended += 1
                self._queue_fetch(opened, now)
        if ended:
            self._scan_interval = self.poll_interval
        else:
            self._scan_interval = min(
                self._scan_interval * 1.5, MAX_SCAN_INTERVAL * self.poll_interval
            )
        self._next_scan = started + self._scan_interval

    def lost(self, opened: OpenRow, exc: BaseException) -> None:
        """A created prediction that cannot be read back (gone, or stuck)."""
        wait = opened.wait
        assert wait is not None
        wait.end(exc)
        if self.running.get(wait.prediction_id) is opened:
            del self.running[wait.prediction_id]
        row = opened.row
        result = result_of(row, wait.last or {"id": wait.prediction_id})
        result["status"] = "lost"
        result["error"] = {"source": "client", "message": str(exc)}
        self._finish(row, result)


__all__ = [
    "MAX_SCAN_INTERVAL",
    "PAGE_SIZE",
    "READS_IN_FLIGHT",
    "VERIFY_EVERY",
    "Reads",
]
