"""The options of `predictions batch`: its input, ledger, shape, trial and pace."""

from __future__ import annotations

import argparse

from predictions._requests import MODEL_REF_FORMS
from predictions.cli._values import count, positive_seconds, seconds


def add_batch_options(batch: argparse.ArgumentParser) -> None:
    """Add `predictions batch`'s arguments and options to its parser."""
    batch.add_argument("model", help=f"the model: {MODEL_REF_FORMS}")
    batch.add_argument(
        "--input",
        required=True,
        metavar="FILE",
        help="the rows: .jsonl (one JSON object per line) or .csv (a header "
        "line, then one row per line; values are strings, unless --type)",
    )
    batch.add_argument(
        "--output",
        required=True,
        metavar="FILE",
        help="where the results go, one JSON line per row (- for stdout)",
    )
    batch.add_argument(
        "--ledger",
        metavar="FILE",
        help="the ledger that makes the batch resumable (default: the --output "
        "file's name + .ledger; needed with --output -)",
    )
    batch.add_argument(
        "--no-ledger",
        action="store_true",
        help="keep no ledger: the batch cannot be resumed",
    )
    batch.add_argument(
        "--key",
        metavar="FIELD",
        help="the field (or CSV column) whose value names each row (default: "
        "its line number)",
    )
    batch.add_argument(
        "--format",
        choices=("jsonl", "csv"),
        help="the input's format (default: from its suffix, .csv or else jsonl)",
    )
    batch.add_argument(
        "--exclude", action="append", default=[], metavar="FIELD",
        help="leave this field (or CSV column) out of what is sent, the --key "
        "field too if named (repeat for several); some row must have it",
    )  # fmt: skip
    batch.add_argument(
        "--type", action="append", default=[], metavar="FIELD=TYPE", dest="types",
        help="convert a CSV column's cells (text) to TYPE: str, int, float, bool "
        "or json (a list, an object...) before they are sent (repeat for several)",
    )  # fmt: skip
    batch.add_argument(
        "--limit", type=count, metavar="N",
        help="only the first N rows (a trial): the ledger keeps them, and the "
        "same command without --limit goes on with the rest",
    )  # fmt: skip
    batch.add_argument(
        "--dry-run", action="store_true",
        help="read and check every row, show how many would be sent and the "
        "first inputs as sent; send nothing, write no ledger (exit 1 if a row "
        "is invalid)",
    )  # fmt: skip
    batch.add_argument(
        "--ordered",
        action="store_true",
        help="write the results in input order (default: as they finish)",
    )
    batch.add_argument(
        "--concurrency",
        type=count,
        default=32,
        metavar="N",
        help="rows created and not yet done, at most (default: %(default)s)",
    )
    batch.add_argument(
        "--hold",
        type=seconds,
        default=5.0,
        metavar="SECONDS",
        help="seconds each create asks the server to hold it until its "
        "prediction ends (0: no hold; default: %(default)s)",
    )
    batch.add_argument(
        "--poll-interval",
        type=positive_seconds,
        default=1.0,
        metavar="SECONDS",
        help="seconds between two reads about a running prediction "
        "(default: %(default)s)",
    )
    batch.add_argument(
        "--retry-failed",
        action="store_true",
        help="redo the rows that failed (were cancelled, rejected, lost, "
        "output_lost) in an earlier run",
    )
    batch.add_argument(
        "--outputs-dir",
        metavar="DIR",
        help="save each succeeded row's output files into DIR/KEY/ (an existing "
        "directory) before the row is done: its result line holds their local "
        "paths, the ledger their sizes and SHA-256; a download cut by a crash is "
        "resumed by the next run; a file that can no longer be had (its URL "
        "expired) ends the row output_lost",
    )
    batch.add_argument(
        "--force",
        action="store_true",
        help="go on with a ledger whose input file changed: rows are matched by "
        "key, and rows whose input changed are redone",
    )
    batch.add_argument(
        "--json",
        action="store_true",
        help="print the summary as one JSON object on stdout (needs --output FILE)",
    )
