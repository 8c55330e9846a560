"""A dry run: every row read and checked as the batch would, nothing sent.

`preview` reads a `Source`'s rows through once and decides each as
`BatchRun` would: a duplicate key, a row that is not an input (bad JSON, a
cell that does not convert, nothing left once fields are excluded), an input
that cannot be sent (NaN, a cycle) is `invalid`, with the message its result
would carry; every other row would be sent. No request is made and no ledger
is opened or written: a real run also skips the rows its ledger has done.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Tuple

from predictions._requests import create_request
from predictions.batch._ledger import Ledger
from predictions.batch._results import where
from predictions.batch._source import Source

SHOWN_ERRORS = 20
"""Invalid rows whose errors a preview keeps (the first ones)."""


@dataclass(frozen=True)
class BatchPreview:
    """What a batch would send, found by reading every row (see `preview_batch`).

    Attributes:
        rows: The rows read (at most `limit`).
        to_send: Of those, the rows that would be sent (a run skips those its
            ledger has done).
        invalid: Of those, the rows that would end `invalid`, sending nothing.
        errors: The errors of the first invalid rows (at most 20), in order.
        samples: The first rows to send, as they would be sent: each
            `{"key": ..., "line": ..., "input": ...}`.
    """

    rows: int
    to_send: int
    invalid: int
    errors: Tuple[str, ...]
    samples: Tuple[Dict[str, Any], ...]


def preview(source: Source, model: str, samples: int) -> BatchPreview:
    """Read every row of `source` and tell what a batch of `model` would send.

    Raises:
        InputError: The file cannot be read (it changed since it was opened).
    """
    rows = to_send = 0
    errors: List[str] = []
    shown: List[Dict[str, Any]] = []
    seen = Ledger(":memory:", model)  # the keys met, held by SQLite (not memory)
    try:
        for row in source:
            rows += 1
            error = row.error
            if not seen.first_time(row.key):
                error = f"{where(row)}: duplicate key {row.key!r}"
            elif error is None:
                try:
                    create_request(
                        {"input": row.input}, model, idempotent=False, max_retries=None
                    )
                except (TypeError, ValueError) as exc:
                    error = f"{where(row)}: {exc}"
            if error is not None:
                if len(errors) < SHOWN_ERRORS:
                    errors.append(error)
                continue
            to_send += 1
            if len(shown) < samples:
                shown.append({"key": row.key, "line": row.line, "input": row.input})
    finally:
        seen.close()
    return BatchPreview(
        rows=rows,
        to_send=to_send,
        invalid=rows - to_send,
        errors=tuple(errors),
        samples=tuple(shown),
    )


__all__ = ["SHOWN_ERRORS", "BatchPreview", "preview"]
