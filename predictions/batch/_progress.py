"""Where a batch stands, and who is told: the caller and the plugins.

The coordinator asks `Telling.tell` at each turn of its loop. The batch's
operation (while a plugin is active) starts and ends here too, and tells at
its end how many rows ended in each status (`statuses`). The caller's
`on_progress` and the `on_batch_progress` hook hear of it about every
`TELL_EVERY` seconds, on the thread iterating the batch: first as the batch
starts (before any row's hook fires), then as it goes, and last, `final`, as
it ends. The hook's final call comes however the batch ends (an error, an
early `close()` too), so that a plugin drawing the batch's line knows it is
over; the caller's, as before, only when every row is done.
"""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING, Callable, Dict, Optional

from predictions._http import operations
from predictions.batch._results import BatchProgress

if TYPE_CHECKING:
    from predictions._http.api import API
    from predictions.hookspecs import Operation

TELL_EVERY = 0.5
"""Seconds between two tellings of a batch's progress (of the client's clock)."""


class Telling:
    """A batch's progress, told to the caller and to the plugins.

    Args:
        api: The client's API: its clock and its plugins' hooks.
        counts: The batch's counters (`done`, `succeeded`, `resumed`).
        total: The rows in all, when known.
        on_progress: The caller's callback, or None.
    """

    def __init__(
        self,
        api: API,
        counts: Dict[str, int],
        total: Optional[int],
        on_progress: Optional[Callable[[BatchProgress], None]],
    ) -> None:
        self._api = api
        self._clock = api.clock
        self._counts = counts
        self._total = total
        self._on_progress = on_progress
        self._started = self._clock.monotonic()
        self._last = float("-inf")
        self._ended = True  # nothing told yet: nothing to end
        self.statuses: Dict[str, int] = collections.Counter()  # of the rows done
        self.operation: Optional[Operation] = None

    def start(self, model: str) -> Optional[Operation]:
        """As the batch starts: its operation, if a plugin is active."""
        self.operation = operations.start(self._api.hooks, "batch", "batch", model)
        return self.operation

    def progress(self, running: int) -> BatchProgress:
        """Where the batch stands now, with `running` rows not yet done."""
        elapsed = max(self._clock.monotonic() - self._started, 1e-9)
        done = self._counts["done"]
        rate = (done - self._counts["resumed"]) / elapsed
        eta = None
        if self._total is not None and rate > 0:
            eta = max(self._total - done, 0) / rate
        return BatchProgress(
            total=self._total,
            done=done,
            succeeded=self._counts["succeeded"],
            failed=done - self._counts["succeeded"],
            running=running,
            resumed=self._counts["resumed"],
            elapsed=elapsed,
            rate=rate,
            eta=eta,
        )

    def tell(self, running: int, final: bool = False) -> None:
        """Tell the progress, if it is time (always when `final`)."""
        if self._on_progress is None and not self._api.hooks.active:
            return
        now = self._clock.monotonic()
        if not final and now - self._last < TELL_EVERY:
            return
        self._last = now
        progress = self.progress(running)
        if self._on_progress is not None:
            self._on_progress(progress)
        self._fire(progress, final)

    def end(self, running: int, error: Optional[BaseException] = None) -> None:
        """The batch is over, however it ended: the hook's final call, if not made.

        Then its operation ends, with its rows' count, and their count in each
        status, among its `attributes`; `error` is what ended it early.
        """
        if not self._ended:
            self._fire(self.progress(running), final=True)
        operation = self.operation
        if operation is not None:
            operation.attributes.update(self.statuses)
            operation.attributes["rows"] = sum(self.statuses.values())
            operations.end(self._api.hooks, operation, error)

    def _fire(self, progress: BatchProgress, final: bool) -> None:
        self._ended = final
        self._api.hooks.call(
            "predictions_on_batch_progress", progress=progress, final=final
        )


__all__ = ["TELL_EVERY", "Telling"]
