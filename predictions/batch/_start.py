"""A batch's arguments checked, and its rows, ledger and run made.

`run_batch` runs it; `preview_batch` reads and checks its rows and sends
nothing (a dry run). Everything they need is imported on their first call:
`as_completed` and `import predictions.batch` pay nothing for the runner.
"""

from __future__ import annotations

import os
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Iterable,
    Mapping,
    Optional,
    Sequence,
    Union,
)

if TYPE_CHECKING:
    from predictions.batch._preview import BatchPreview
    from predictions.batch._results import BatchProgress
    from predictions.batch._run import BatchRun
    from predictions.batch._source import Source
    from predictions.client import Client


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
    outputs_dir: Union[str, os.PathLike[str], None] = None,
    exclude: Sequence[str] = (),
    types: Optional[Mapping[str, str]] = None,
    limit: Optional[int] = None,
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

    With `outputs_dir`, the files of each succeeded row's output (its URLs,
    which expire) are saved into `outputs_dir/<row key>/` (the key made a
    safe file name) before the row is done: its result's `output` then holds
    their local paths in place of the URLs, and the ledger records each
    file's path, size and SHA-256 in the same transaction as the result. A
    file is saved under a hidden `.NAME.part` until whole: a batch killed in
    the middle of a download and run again reads the row's prediction again
    (fresh URLs) and resumes the file from its last byte; rows whose files
    are in the ledger are not downloaded again. A row whose file can no
    longer be had (its URL expired, or the download failed after the
    retries) ends `output_lost`, its error naming the URL and the HTTP
    status; `retry_failed` redoes it with a new prediction. Downloads run
    four files at a time on threads of their own: they never hold up the
    batch's creates and reads.

    Args:
        inputs: Input mappings, or the path of a JSONL file (one JSON object
            per line) or a CSV file (a header line, then one row per line;
            values are strings, unless `types` says) as a `str` or
            `pathlib.Path`.
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
            rejected, lost or output_lost, with new keys (the old predictions
            stay in the ledger).
        force: Take a ledger whose input changed: rows are matched by key and
            a row whose input changed is redone.
        poll_interval: Seconds between two reads about a running prediction.
        on_progress: Called with a `BatchProgress` about twice a second
            (plugins hear the same through `on_batch_progress`: the
            predictions-progress plugin draws it as one line for the batch,
            not a line per row).
        format: An input file's format, "jsonl" or "csv"; None to go by its
            suffix (`.csv`, else JSONL).
        outputs_dir: An existing directory to save each succeeded row's
            output files in (see above); None keeps only the URLs.
        exclude: Fields left out of what each row sends (its key's field
            too, if named): `exclude=["id"]`. Each must be a field of some
            row (checked before anything is sent: a CSV's header, every line
            of a JSONL file, every item of a list; not an iterator's, which
            is read once). A row left with no field is `invalid`.
        types: A CSV file's columns converted before they are sent, as
            `{"age": "int", "tags": "json"}`: each `str`, `int`, `float`,
            `bool` or `json` (any JSON value: a list, an object...). A cell
            that does not convert makes its row `invalid`, naming its line,
            column and value; the other rows run.
        limit: Only the first rows, this many (a trial run): the ledger keeps
            them, so a later run without `limit` goes on with the rest.

    Returns:
        The run: iterate it for the `BatchResult` of every row; `progress()`
        tells where it stands; `close()` (or `with`) stops it early.

    Raises:
        TypeError: An argument has a wrong type.
        ValueError: The model reference or a number is not valid.
        FileNotFoundError: `outputs_dir` does not exist (nothing was sent).
        NotADirectoryError: `outputs_dir` is not a directory.
        PermissionError: `outputs_dir` cannot be written.
        InputError: The input file cannot be read, is not UTF-8, or is a CSV
            with no header; a field to exclude or type that no row has, or
            exclusions that leave nothing to send.
        LedgerMismatchError: The ledger is of another batch (model, input,
            key field, fields excluded or columns typed), or its input file
            changed (without `force`); nothing was sent.
        LedgerWriteError: The ledger cannot be written (raised when made,
            or during the run, which then stops before sending more creates).
        BatchError: The batch could not go on (raised while iterating).
        APIStatusError: An answer about the whole batch (401, 403, the model
            not found), raised while iterating.
    """
    from predictions._checks import MAX_SECONDS, check_count, check_number
    from predictions.batch._ledger import Ledger
    from predictions.batch._run import BatchRun
    from predictions.files._saving import check_directory

    check_count("concurrency", concurrency, minimum=1)
    check_number("hold", hold, minimum=0, maximum=MAX_SECONDS)
    check_number("poll_interval", poll_interval, inclusive=False, maximum=MAX_SECONDS)
    directory = None
    if outputs_dir is not None:
        if not isinstance(outputs_dir, (str, os.PathLike)):
            raise TypeError(f"outputs_dir must be a path, not {outputs_dir!r}")
        directory = os.path.abspath(outputs_dir)
        check_directory(directory)
    rows = _open_rows(inputs, model, key, format, exclude, types, limit)
    opened = Ledger(
        ":memory:" if ledger is None else ledger,
        model,
        source=rows.path,
        source_sha=rows.sha,
        key_field=key,
        force=force,
        clock=client.api.clock,
        exclude=rows.shape.exclude,
        types=rows.shape.types,
    )
    return BatchRun(
        client,
        model,
        rows,
        opened,
        total=rows.total,
        concurrency=concurrency,
        hold=float(hold),
        ordered=ordered,
        retry_failed=retry_failed,
        force=force,
        poll_interval=float(poll_interval),
        on_progress=on_progress,
        close_ledger=True,
        outputs_dir=directory,
    )


def preview_batch(
    inputs: Union[Iterable[Mapping[str, Any]], str, os.PathLike[str]],
    model: str,
    *,
    key: Optional[str] = None,
    format: Optional[str] = None,
    exclude: Sequence[str] = (),
    types: Optional[Mapping[str, str]] = None,
    limit: Optional[int] = None,
    samples: int = 3,
) -> BatchPreview:
    """Read and check every row as `run_batch` would, and send nothing: a dry run.

    Every row is read, keyed, shaped (`exclude`, `types`) and built into the
    create it would send; no request is made, no ledger is opened or
    written, and no client is needed. Rows that would end `invalid` (not an
    input, a duplicate key, a cell that does not convert) are counted, with
    their errors. A real run also skips the rows its ledger has done::

        preview = preview_batch("rows.csv", "owner/model", key="id",
                                exclude=["id"], types={"age": "int"})
        print(preview.to_send, preview.invalid, preview.samples[:1])

    Args:
        inputs: Input mappings, or the path of a JSONL or CSV file (as for
            `run_batch`).
        model: The model reference (checked, not asked for).
        key: The input field whose value names each row.
        format: An input file's format, "jsonl" or "csv"; None to go by its
            suffix.
        exclude: Fields left out of what each row sends (see `run_batch`).
        types: A CSV file's columns converted (see `run_batch`).
        limit: Only the first rows, this many.
        samples: How many of the first rows to send to keep, as they would
            be sent.

    Returns:
        What the batch would send: counts, errors, and the first inputs.

    Raises:
        TypeError, ValueError: An argument is not valid.
        InputError: As `run_batch` (the file, a field to exclude or type).
    """
    from predictions._checks import check_count
    from predictions.batch._preview import preview

    check_count("samples", samples)
    return preview(
        _open_rows(inputs, model, key, format, exclude, types, limit), model, samples
    )


def _open_rows(
    inputs: Union[Iterable[Mapping[str, Any]], str, os.PathLike[str]],
    model: str,
    key: Optional[str],
    format: Optional[str],
    exclude: Sequence[str],
    types: Optional[Mapping[str, str]],
    limit: Optional[int],
) -> Source:
    """A batch's rows, once its model, key and limit are checked (see `Source`)."""
    from predictions._checks import check_count
    from predictions._requests import parse_model_ref
    from predictions.batch._source import Source

    parse_model_ref(model)
    if limit is not None:
        check_count("limit", limit, minimum=1)
    if key is not None and not isinstance(key, str):
        raise TypeError(f"key must be the name of an input field, not {key!r}")
    rows = Source(inputs, key, format, exclude, types, limit)
    rows.check_exclusions()
    return rows


__all__ = ["preview_batch", "run_batch"]
