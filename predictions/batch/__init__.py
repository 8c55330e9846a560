"""Batches: predictions yielded as they finish, and a model run over a dataset.

    for prediction in as_completed(created, client=client):
        print(prediction["id"], prediction["status"])

    for result in run_batch(Path("rows.jsonl"), "owner/model", client=client,
                            ledger="rows.ledger"):
        print(result["key"], result["status"])

This is the package's face. `as_completed` (`_completed`) is a schedule over
the client's one poll engine (`predictions._waiting`): each pending
prediction is polled every `poll_interval` seconds, in the order they fall
due, through the client's pacer, under the same rules as a single wait (the
failure window, backoff, the 429 floor, the limit on unknown statuses), and
the `on_poll` and `on_terminal` hooks fire for each prediction.

`run_batch` (`_start`: the batch runner, with a ledger, resumable, each
row's create made once where the server honours `Idempotency-Key`) imports
the runner on its first call, so `as_completed` pays nothing for it;
`preview_batch` (`_start` too) reads and checks the rows as it would and
sends nothing (a dry run). The runner's modules, each importing only those
below it:

- `_run`: `BatchRun`, the coordinator: rows in, keyed in the ledger, the
  answers handled on one thread, results out (in order if asked);
- `_creates`: how a row's create is built, sent (the first alone), sent
  again under the poll engine's failure window, and how the first pins the
  model's version;
- `_reads`: where the reads go: scans of the running, a GET for each ended;
  each prediction waited on by the poll engine's rules;
- `_files`: with `outputs_dir`, each succeeded row's output files saved
  (resumably) before the row is done;
- `_recorder`: the ledger's writes for one run, named for what they record,
  and what a failed write stops and names;
- `_preview`: a dry run: every row read and decided as the coordinator
  would, counted, nothing sent;
- `_ledger`: the ledger file (SQLite): its reads, its writes;
- `_identity`: which batch a ledger is of, and the check that refuses
  another batch's;
- `_source`: the rows as the batch sends them (read, keyed, shaped, the
  first `limit`), checked before anything is sent;
- `_shape`: what of a row is sent: the fields left out, the CSV cells typed;
- `_progress`: where the batch stands, told to the caller and to the
  `on_batch_progress` hook;
- `_results`: what a batch hands out (`BatchResult`, `BatchProgress`), a row
  between its create and its result, and which errors end the batch;
- `_rows`: the rows, from a JSONL or CSV file or from Python, keyed.

`_dask` (imported as `predictions.dask`) runs a batch per partition of a
Dask bag.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from predictions.batch._completed import (
    PredictionOrId,
    as_completed,
    async_as_completed,
)
from predictions.batch._start import preview_batch, run_batch

if TYPE_CHECKING:  # handed on by __getattr__ below, on first use
    from predictions.batch._preview import BatchPreview as BatchPreview
    from predictions.batch._results import BatchProgress as BatchProgress
    from predictions.batch._results import BatchResult as BatchResult
    from predictions.batch._run import BatchRun as BatchRun
    from predictions.errors import BatchError as BatchError
    from predictions.errors import InputError as InputError
    from predictions.errors import LedgerMismatchError as LedgerMismatchError
    from predictions.errors import LedgerWriteError as LedgerWriteError

_LAZY = {
    "BatchPreview": "predictions.batch._preview",
    "BatchProgress": "predictions.batch._results",
    "BatchResult": "predictions.batch._results",
    "BatchRun": "predictions.batch._run",
    "BatchError": "predictions.errors",
    "LedgerMismatchError": "predictions.errors",
    "LedgerWriteError": "predictions.errors",
    "InputError": "predictions.errors",
}


def __getattr__(name: str) -> Any:
    """The batch runner's names, imported on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'predictions.batch' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "BatchError",
    "BatchPreview",
    "BatchProgress",
    "BatchResult",
    "BatchRun",
    "InputError",
    "LedgerMismatchError",
    "LedgerWriteError",
    "PredictionOrId",
    "as_completed",
    "async_as_completed",
    "preview_batch",
    "run_batch",
]
