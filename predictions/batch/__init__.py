"""Batches: predictions yielded as they finish, and a model run over a dataset.

    for prediction in as_completed(created, client=client):
        print(prediction["id"], prediction["status"])

    for result in run_batch(Path("rows.jsonl"), "owner/model", client=client,
                            ledger="rows.ledger"):
        print(result["key"], result["status"])

`as_completed` is a schedule over the client's one poll engine
(`predictions._waiting`): each pending prediction is polled every
`poll_interval` seconds, in the order they fall due, through the client's
pacer, under the same rules as a single wait (the failure window, backoff,
the 429 floor, the limit on unknown statuses), and the `on_poll` and
`on_terminal` hooks fire for each prediction.

`run_batch` (the batch runner: a ledger, resumable, exactly once where the
server honours `Idempotency-Key`) is imported on first use, so
`as_completed` pays nothing for it. Its modules, each importing only those
below it:

- `_run`: `BatchRun`, the coordinator: rows in, keyed in the ledger, the
  answers handled on one thread, results out (in order if asked), progress;
- `_creates`: how a row's create is built, sent (the first alone), sent
  again under the poll engine's failure window, and how the first pins the
  model's version;
- `_reads`: where the reads go: scans of the running, a GET for each ended;
  each prediction waited on by the poll engine's rules;
- `_recorder`: the ledger's writes for one run, named for what they record,
  and what a failed write stops and names;
- `_ledger`: the ledger file (SQLite): its checks, its reads, its writes;
- `_results`: what a batch hands out (`BatchResult`, `BatchProgress`), a row
  between its create and its result, and which errors end the batch;
- `_rows`: the rows, from a JSONL or CSV file or from Python, keyed.

`predictions.dask` runs a batch per partition of a Dask bag.
"""

from __future__ import annotations

import os
from typing import (
    TYPE_CHECKING,
    Any,
    AsyncIterator,
    Callable,
    Dict,
    Iterable,
    Iterator,
    Mapping,
    Optional,
    Sized,
    Union,
)

from predictions._waiting.options import WaitOptions
from predictions._waiting.rules import Waiting
from predictions._waiting.schedule import Schedule, run, run_async
from predictions.types import PredictionWithIO

if TYPE_CHECKING:
    from predictions._http.api import API
    from predictions.batch._results import BatchProgress, BatchResult
    from predictions.batch._run import BatchRun
    from predictions.client import Client
    from predictions.errors import (
        BatchError,
        InputError,
        LedgerMismatchError,
        LedgerWriteError,
    )

PredictionOrId = Union[str, PredictionWithIO]


def _plan(
    api: API,
    predictions_or_ids: Iterable[PredictionOrId],
    poll_interval: float,
    timeout: Optional[float],
) -> Schedule:
    """Check every argument before anything is sent; one wait per prediction.

    Linear in the number of items: ids are de-duplicated with a dict. A
    prediction given finished is yielded first, with no poll.
    """
    if isinstance(predictions_or_ids, (str, bytes)):
        raise TypeError("pass a list of predictions or ids, not one string")
    options = WaitOptions(poll_interval=poll_interval, timeout=timeout)
    deadline = None if timeout is None else api.clock.monotonic() + timeout
    waits: Dict[str, Waiting] = {}
    for item in predictions_or_ids:
        if isinstance(item, str):
            prediction_id, known = item, None
        elif isinstance(item, dict) and isinstance(item.get("id"), str):
            prediction_id, known = item["id"], item
        else:
            raise TypeError(f"expected a prediction or its id, not {item!r}")
        wait = waits.get(prediction_id)
        if wait is None or (known is not None and not wait.finished()):
            waits[prediction_id] = Waiting(
                api, prediction_id, options, known, deadline=deadline
            )
    return Schedule(list(waits.values()), api.clock, batch=True)


def as_completed(
    predictions_or_ids: Iterable[PredictionOrId],
    *,
    client: Client,
    poll_interval: float = 1.0,
    timeout: Optional[float] = None,
) -> Iterator[PredictionWithIO]:
    """Yield predictions as they finish, polling the pending ones in turn.

    Args:
        predictions_or_ids: Predictions (as the API returns them) or their ids;
            a prediction already finished is yielded at once.
        client: The client whose requests, retries, pacing and hooks are used.
        poll_interval: Seconds between two polls of one prediction.
        timeout: Seconds after which the rest raise `WaitTimeoutError`.

    Yields:
        Each prediction once, when its status is terminal (failed ones too).

    Raises:
        TypeError: An item is neither a prediction nor an id, or
            `poll_interval` or `timeout` is not a number.
        ValueError: An id, `poll_interval` or `timeout` is not valid (raised
            when the iterator is made, before anything is sent).
        WaitTimeoutError: The timeout came first; its `predictions` are the
            ones that did not finish, as last seen.
        APIStatusError: A poll failed permanently (401, 403, 404...).
    """
    schedule = _plan(client.api, predictions_or_ids, poll_interval, timeout)
    return run(client.api, schedule)


def async_as_completed(
    predictions_or_ids: Iterable[PredictionOrId],
    *,
    client: Client,
    poll_interval: float = 1.0,
    timeout: Optional[float] = None,
) -> AsyncIterator[PredictionWithIO]:
    """Yield predictions as they finish, asynchronously; see `as_completed`.

    The polls that fall due together are sent together (on the client's
    thread pool, through its pacer); sleeps run on the event loop. The
    arguments, what is yielded and what is raised are those of `as_completed`.
    """
    schedule = _plan(client.api, predictions_or_ids, poll_interval, timeout)
    return run_async(client.api, schedule)


def run_batch(
    inputs: Union[Iterable[Mapping[str, Any]], str, os.PathLike[str]],
    model: str,
    *,
    client: Client,
    ledger: Union[str, os.PathLike[str], None] = None,
    key: Optional[str] = None,
    concurrency: int = 32,
    hold: float = 5.0,
    ordered: bool = False,
    retry_failed: bool = False,
    force: bool = False,
    poll_interval: float = 1.0,
    on_progress: Optional[Callable[[BatchProgress], None]] = None,
    format: Optional[str] = None,
) -> BatchRun:
    """Run a model over many inputs: one prediction per row, one result per row.

    Resumable: with a `ledger` file, each row's `Idempotency-Key` is recorded
    before its create is sent, then its prediction's id, then its result. Run
    the same batch again after a crash, `kill -9` or Ctrl-C and it goes on:
    rows done are not redone (their results are yielded from the ledger),
    rows created are waited on, and rows whose create may have been in
    flight are sent again with the same key, which a server that honours it
    (the local server does) answers with the first prediction. On a server
    that ignores the key, each row in flight at the crash may have made one
    prediction more; the ledger counts the sends of those rows.

    Creates ask the server to hold them (`Prefer: wait=hold`), so short
    predictions need no read; the others are found ended by pages of the list
    endpoint and fetched once each. Every request goes through the client's
    pacer and retry policy; rate limits (429) are waited out, never raised.

    Args:
        inputs: Input mappings, or the path of a JSONL file (one JSON object
            per line) or a CSV file (a header line, then one row per line;
            values are strings) as a `str` or `pathlib.Path`.
        model: The model reference (owner/name or owner/name:version).
        client: The client whose settings, pacer, retries and hooks are used.
        ledger: The ledger file (made if missing); None keeps it in memory
            (the batch cannot be resumed).
        key: The input field whose value names each row; rows are numbered
            (a file's line numbers, else 1, 2, 3...) when None.
        concurrency: Rows created and not yet done, at most.
        hold: Seconds each create asks the server to hold it (0: no hold).
        ordered: Yield results in input order (else as they finish).
        retry_failed: Redo rows the ledger has failed, cancelled, abandoned,
            rejected or lost, with new keys (the old predictions stay in the
            ledger).
        force: Take a ledger whose input changed: rows are matched by key and
            a row whose input changed is redone.
        poll_interval: Seconds between two reads about a running prediction.
        on_progress: Called with a `BatchProgress` about twice a second.
        format: An input file's format, "jsonl" or "csv"; None to go by its
            suffix (`.csv`, else JSONL).

    Returns:
        The run: iterate it for the `BatchResult` of every row; `progress()`
        tells where it stands; `close()` (or `with`) stops it early.

    Raises:
        TypeError: An argument has a wrong type.
        ValueError: The model reference or a number is not valid.
        InputError: The input file cannot be read, is not UTF-8, or is a CSV
            with no header.
        LedgerMismatchError: The ledger is of another model or input, or its
            input file changed (without `force`); nothing was sent.
        LedgerWriteError: The ledger cannot be written (raised when made,
            or during the run, which then stops before sending more creates).
        BatchError: The batch could not go on (raised while iterating).
        APIStatusError: An answer about the whole batch (401, 403, the model
            not found), raised while iterating.
    """
    from predictions._checks import MAX_SECONDS, check_count, check_number
    from predictions._requests import parse_model_ref
    from predictions.batch._ledger import Ledger
    from predictions.batch._rows import InputFile, python_rows
    from predictions.batch._run import BatchRun

    parse_model_ref(model)
    check_count("concurrency", concurrency, minimum=1)
    check_number("hold", hold, minimum=0, maximum=MAX_SECONDS)
    check_number("poll_interval", poll_interval, inclusive=False, maximum=MAX_SECONDS)
    if key is not None and not isinstance(key, str):
        raise TypeError(f"key must be the name of an input field, not {key!r}")
    total: Optional[int] = None
    source = source_sha = None
    if isinstance(inputs, (str, os.PathLike)):
        file = InputFile(inputs, key, format)
        rows: Any = file
        total, source, source_sha = file.total, os.path.abspath(file.path), file.sha
    else:
        if isinstance(inputs, Sized):
            total = len(inputs)
        rows = python_rows(inputs, key)
    opened = Ledger(
        ":memory:" if ledger is None else ledger,
        model,
        source=source,
        source_sha=source_sha,
        key_field=key,
        force=force,
        clock=client.api.clock,
    )
    return BatchRun(
        client,
        model,
        rows,
        opened,
        total=total,
        concurrency=concurrency,
        hold=float(hold),
        ordered=ordered,
        retry_failed=retry_failed,
        force=force,
        poll_interval=float(poll_interval),
        on_progress=on_progress,
        close_ledger=True,
    )


_LAZY = {
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
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "BatchError",
    "BatchProgress",
    "BatchResult",
    "BatchRun",
    "InputError",
    "LedgerMismatchError",
    "LedgerWriteError",
    "PredictionOrId",
    "as_completed",
    "async_as_completed",
    "run_batch",
]
