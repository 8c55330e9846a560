"""A batch's creates: how a row's create is built, sent, retried, and pinned.

Each create asks the server to hold it (`Prefer: wait=hold`) and carries the
row's `Idempotency-Key` (in the ledger before it is sent). The first goes
alone: a wrong token or model costs one request, and the others follow as
soon as it answers; its answer pins the model's version, so that every later
create (and every one sent again after a crash) runs the same one.

A create that fails is sent again by the batch itself, after a backoff, under
the poll engine's rules: its failure window (`FailureWindow`) and its
"was it sent?" test (`made_nothing`): one that may have made a prediction is
counted as sent again. A row whose create alone keeps failing for the window
is `rejected`; creates that all keep failing for it stop the batch.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, List, Optional, Tuple

from predictions._http import operations
from predictions._http.decode import decode_prediction
from predictions._http.retry import RETRYABLE_STATUSES, made_nothing, retry_delay
from predictions._requests import Hold, create_request
from predictions._waiting.rules import (
    FailureWindow,
    fire_on_create,
    is_transient_poll_error,
)
from predictions.batch._results import OpenRow, ends_the_batch, row_error, where
from predictions.errors import APIStatusError, NotFoundError

if TYPE_CHECKING:
    from predictions.batch._reads import Reads, Submit
    from predictions.batch._recorder import Recorder
    from predictions.batch._rows import Row
    from predictions.client import Client
    from predictions.hookspecs import Operation


class Creates:
    """The creates of one batch: which goes when, and what its answer does.

    Args:
        client: The client (its API, clock, and `on_create` hook).
        model: The model reference the batch was given.
        pinned: The model with its version, if the ledger has it already.
        recorder: The ledger's writes.
        reads: Where a created prediction is waited on.
        submit: Sends a request on the batch's pool (see `Submit`).
        finish: Ends a row with its result.
        counts: The batch's counters (`created`, `resent`).
        hold: Seconds each create asks the server to hold it (0: none).
        slots: Creates in flight at most, once the first has answered.
    """

    def __init__(
        self,
        client: Client,
        model: str,
        pinned: Optional[str],
        recorder: Recorder,
        reads: Reads,
        *,
        submit: Submit,
        finish: Callable[[Row, Dict[str, Any]], None],
        counts: Dict[str, int],
        hold: float,
        slots: int,
    ) -> None:
        self.client = client
        self.api = client.api
        self.clock = client.api.clock
        self.given = model
        self.model = pinned or model  # what a create is built for now
        self._recorder = recorder
        self._reads = reads
        self._submit = submit
        self._finish = finish
        self._counts = counts
        self._hold = Hold(hold) if hold > 0 else None
        self._slots = slots
        self.queue: Deque[OpenRow] = collections.deque()
        self.in_flight = 0
        self._failing = FailureWindow()  # creates of every row
        self.batch: Optional[Operation] = None  # the batch's operation, if any
        self._probed = False  # a create has answered: the others may follow

    def slots(self) -> int:
        """Creates that may be in flight: one until the first has answered."""
        return self._slots if self._probed else 1

    def build(self, opened: OpenRow) -> None:
        """Build a row's create, for the model as the batch knows it now.

        Raises:
            TypeError, ValueError: The input cannot be sent (NaN, a cycle).
        """
        request = create_request(
            {"input": opened.row.input},
            self.model,
            idempotent=False,  # the batch sends it again itself, and counts it
            max_retries=None,
            hold=self._hold,
            idempotency_key=opened.idempotency_key,
        )
        opened.request = dataclasses.replace(request, decode=_decode_created)
        opened.model = self.model

    def add(self, keyed: List[OpenRow]) -> None:
        """Queue rows whose keys are on disk, to be sent as slots free."""
        self.queue.extend(keyed)

    def stop(self) -> None:
        """Send nothing more (those in flight still answer)."""
        self.queue.clear()

    def next_moment(self) -> Optional[float]:
        """When a queued create could go, if one could (else an answer is awaited)."""
        # A create waiting for a free slot waits for an answer, not the clock.
        if self.in_flight >= self.slots() or not self.queue:
            return None
        return min(o.due for o in self.queue)

    def send(self) -> None:
        """Send the queued creates that are due, as far as the slots allow."""
        now = self.clock.monotonic()
        waiting: Deque[OpenRow] = collections.deque()
        while self.queue and self.in_flight < self.slots():
            opened = self.queue.popleft()
            if opened.due > now:
                waiting.append(opened)
                continue
            if opened.model != self.model:  # built before the version was known
                self.build(opened)
            self.in_flight += 1
            if opened.operation is None and self.batch is not None:
                opened.operation = operations.start(
                    self.api.hooks, "prediction", "create", self.model, self.batch
                )
            send = operations.bound(opened.operation, self.api.request)
            self._submit("created", opened, send, opened.request)
        waiting.extend(self.queue)
        self.queue = waiting

    def on_answer(self, opened: OpenRow, answer: Any) -> None:
        """A create's answer (or its error): the row is followed, ends, or waits."""
        self.in_flight -= 1
        if isinstance(answer, BaseException):
            self._handle_failure(opened, answer)
            return
        row = opened.row
        self._probed = True
        prediction, replayed = answer
        self._failing.reset()
        self._counts["created"] += 1
        prediction_id = prediction["id"]
        self._recorder.record_created(row, prediction_id, replayed)
        params = {"input": row.input}
        fire_on_create(self.api, prediction, self.model, params, opened.operation)
        self._pin(prediction)
        self._reads.follow(opened, prediction_id, prediction)

    def record_late(self, opened: OpenRow, answer: Any) -> None:
        """Record a create that answers while the batch stops (nothing else)."""
        self.in_flight -= 1
        if not isinstance(answer, BaseException):
            prediction, replayed = answer
            self._recorder.record_created(opened.row, prediction["id"], replayed)

    def _pin(self, prediction: Dict[str, Any]) -> None:
        """Run every later create on the version the first one ran."""
        if self.model != self.given or ":" in self.given:
            return
        model = prediction.get("model")
        version = model.get("version_number") if isinstance(model, dict) else None
        if isinstance(version, int) and not isinstance(version, bool) and version >= 0:
            self.model = f"{self.given}:{version}"
            self._recorder.pin(self.model)

    def _handle_failure(self, opened: OpenRow, exc: BaseException) -> None:
        row = opened.row
        # A 404 to a create is the model not found: so for every row.
        if ends_the_batch(exc) or isinstance(exc, NotFoundError):
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
        if self._failing.failed(now):
            raise exc  # no create has gone through for so long: the API is down
        if opened.failing.failed(now):
            # The others go through; this row's create alone keeps failing.
            message = (
                f"{where(row)}: its create failed for "
                f"{opened.failing.seconds:g} s (the last time: {exc})"
            )
            self._finish(row, row_error(row, "rejected", message))
            return
        if not made_nothing(exc):  # it may have made a prediction: count the next
            self._recorder.record_key(row, opened.idempotency_key, resent=True)
            self._counts["resent"] += 1
        opened.failures += 1
        opened.due = now + retry_delay(
            exc, opened.failures, self.clock, at_least_backoff=True
        )
        self.queue.append(opened)


def _decode_created(response: Any) -> Tuple[Dict[str, Any], bool]:
    """A create's prediction, and whether the server says it replayed an earlier one."""
    prediction = decode_prediction(response)
    replayed = response.headers.get("idempotent-replayed", "").strip().lower() == "true"
    return prediction, replayed


__all__ = ["Creates"]
