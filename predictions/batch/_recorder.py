"""The ledger's writes for one batch run, named for what they record.

The batch's coordinator writes the ledger through one `Recorder`: a row's
key before its create is sent, its prediction when the create answers, its
result (with its output files), the model's version, a row's past set aside
(superseded). A write that fails (a full disk, a file gone) is kept, not
raised: no write goes after it, the run is told to send no more creates,
and once those in flight are recorded or given up the run raises
`write_error()`, which names every prediction made but never made durable.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Dict, Mapping, Optional, Sequence

from predictions.batch._ledger import Ledger, SavedFile
from predictions.batch._rows import Row
from predictions.errors import LedgerWriteError

logger = logging.getLogger("predictions")


class Recorder:
    """Writes one run's rows to its ledger; the first failed write stops them all.

    Args:
        ledger: The batch's ledger (written only by the coordinator's thread).
        on_failure: Called once, when a write first fails (no more creates).
    """

    def __init__(self, ledger: Ledger, on_failure: Callable[[], None]) -> None:
        self.ledger = ledger
        self._on_failure = on_failure
        self.error: Optional[LedgerWriteError] = None
        """The write that failed, if one did (nothing is written after it)."""
        self.unrecorded: Dict[str, str] = {}
        """Row key -> prediction id, recorded since the last commit (not durable)."""

    @property
    def failed(self) -> bool:
        """Whether a write failed: the run sends no more creates."""
        return self.error is not None

    def _write(self, write: Callable[..., None], *args: Any) -> None:
        if self.error is not None:
            return
        try:
            write(*args)
        except LedgerWriteError as exc:
            self.error = exc
            self._on_failure()

    def record_key(self, row: Row, idempotency_key: str, resent: bool) -> None:
        """Record that a row's create is about to be sent (again, if `resent`)."""
        self._write(
            self.ledger.write_key, row.key, row.seq, row.line, row.sha,
            idempotency_key, resent,
        )  # fmt: skip

    def record_created(self, row: Row, prediction_id: str, replayed: bool) -> None:
        """Record a row's prediction; it is named if the ledger cannot keep it."""
        self.unrecorded[row.key] = prediction_id
        self._write(self.ledger.write_prediction, row.key, prediction_id, replayed)

    def record_result(
        self, row: Row, result: Mapping[str, Any], files: Sequence[SavedFile] = ()
    ) -> None:
        """Record a row's result and the output files saved for it (one transaction)."""
        self._write(
            self.ledger.done, row.key, row.seq, row.line, row.sha, result, files
        )

    def record_saved(
        self, row: Row, prediction_id: str, number: int, file: SavedFile
    ) -> None:
        """Note a file of a row saved whole (the row is not done yet)."""
        self._write(self.ledger.write_saved, row.key, prediction_id, number, file)

    def supersede(self, row: Row, why: str) -> None:
        """Keep a row's past aside before it is redone, saying why."""
        self._write(self.ledger.supersede, row.key, why)

    def pin(self, model: str) -> None:
        """Record the model with the version the batch's first create ran."""
        self._write(self.ledger.pin, model)

    def commit(self) -> None:
        """Make what was recorded durable (nothing is, once a write failed)."""
        self._write(self.ledger.commit)
        if self.error is None:
            self.unrecorded.clear()

    def write_error(self) -> LedgerWriteError:
        """The error the run raises for the failed write, naming what it lost."""
        assert self.error is not None
        unrecorded = dict(self.unrecorded)
        lines = "".join(f"\n  row {k}: prediction {v}" for k, v in unrecorded.items())
        message = (
            f"{self.error}. The batch stopped before sending more creates; "
            "every create it sent has its Idempotency-Key in the ledger, so running "
            "it again (once the ledger can be written) sends those rows again "
            "with the same key"
        )
        if unrecorded:
            message += f"; these predictions were made but not recorded:{lines}"
        return LedgerWriteError(message, unrecorded)

    def log_unrecorded(self) -> None:
        """Log the predictions made but not recorded (a run that stops otherwise)."""
        if self.unrecorded:
            lines = ", ".join(f"row {k}: {v}" for k, v in self.unrecorded.items())
            logger.warning("the ledger could not record these predictions: %s", lines)


__all__ = ["Recorder"]
