"""The command line's arguments: every command, option, check and example.

`build_parser()` is all `predictions.cli` needs from here; it imports nothing
of the client, so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import math
from typing import Any, NoReturn

from predictions._requests import MODEL_REF_FORMS
from predictions._settings import LOG_ENV, TOKEN_ENV
from predictions._version import __version__
from predictions.cli._exit import EXIT_USAGE

# Every model of demo/ exists only on the local server: its examples say --local.
EXAMPLES = {
    "run": """examples:
  predictions run --local demo/echo -i text=hi
  predictions run --local demo/word-count -i 'text=<essay.txt' --json
  predictions run owner/image-model -i image=@photo.png
  predictions run owner/image-model -i prompt="a red fox" -o images/
  predictions run --local demo/stream-words -i text="one two three" --stream
  predictions run owner/model:3 --input-json input.json --timeout 600
  echo '{"seconds": 2}' | predictions run --local demo/sleep --input-json -
  PREDICTIONS_LOG=debug predictions run owner/model -i text=hi""",
    "get": "examples:\n  predictions get 0f1c...e9\n"
    "  predictions get 0f1c...e9 --json\n"
    "  predictions get 0f1c...e9 -o images/   # saves its output's files",
    "list": "examples:\n  predictions list\n  predictions list --all --json\n"
    "  predictions list --status failed --status cancelled\n"
    "  predictions list --all | head -5",
    "wait": "examples:\n  predictions wait 0f1c...e9 --timeout 300\n"
    "  predictions wait 0f1c...e9 --verbose",
    "cancel": "example:\n  predictions cancel 0f1c...e9",
    "plugins": """examples:
  predictions plugins
  predictions plugins --json
  PREDICTIONS_PLUGINS=progress predictions plugins   # what a client loads then

Each plugin is checked as a client checks it: loaded, refused (an unknown
hook, an argument its hook lacks: the reason is shown) or failed to import.
Exit 0 when every plugin that PREDICTIONS_PLUGINS selects (unset: all) loads;
1 when one of them is refused or fails to import, or PREDICTIONS_PLUGINS
names one that is not installed.""",
    "batch": """examples:
  predictions batch owner/model --input rows.jsonl --output results.jsonl
  predictions batch owner/model --input rows.csv --key id --output out.jsonl --ordered
  predictions batch owner/model --input rows.csv --key id --exclude id \\
      --type age=int --type tags=json --output out.jsonl
  predictions batch owner/model --input rows.jsonl --output out.jsonl --dry-run
  predictions batch owner/model --input rows.jsonl --output out.jsonl --limit 10
  predictions batch owner/model --input rows.jsonl --output out.jsonl --retry-failed
  predictions batch owner/model --input rows.jsonl --output - --ledger rows.ledger
  predictions batch owner/image-model --input rows.jsonl --output out.jsonl \\
      --outputs-dir images

Run the same command again after a crash or Ctrl-C: it goes on where it
stopped (the ledger, by default the --output file's name + .ledger,
remembers every row).""",
}


class _Parser(argparse.ArgumentParser):
    """A parser that exits 2 with a pointer to --help, and takes no abbreviations.

    With prefix matching, `--token sekrit` was taken as `--token-env sekrit`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(
            f"must be a number of seconds >= 0, not {text}"
        )
    return value


def _positive_seconds(text: str) -> float:
    value = _seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return value


def _positive_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if count < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {count}")
    return count


def _page_size(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, not {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    """The parser of `predictions` and every command's options."""
    common = _Parser(add_help=False)
    connection = common.add_argument_group("connection")
    connection.add_argument(
        "--base-url",
        metavar="URL",
        help="the API's base URL, ending in /v1 (default: $WRIFTAI_API_BASE_URL, "
        "else the hosted API)",
    )
    connection.add_argument(
        "--token-env",
        metavar="NAME",
        help="the environment variable holding the access token (default: "
        f"{TOKEN_ENV}, which may be unset: no token is sent)",
    )
    common.add_argument(
        "--debug", action="store_true", help="show tracebacks of API and network errors"
    )
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help=f"log each request on stderr: method, path, status, time, attempt "
        f"(the token never); as {LOG_ENV}=debug does",
    )

    parser = _Parser(
        prog="predictions",
        description="Run and manage WriftAI predictions from the shell.",
        epilog="Exit codes: 0 succeeded, 1 prediction failed or cancelled, 2 usage "
        "error, 3 API or network error, 4 wait timed out, 5 output files not saved "
        "(-o), 130 interrupted; batch: 1 when a row did not succeed.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    commands = parser.add_subparsers(
        dest="command",
        metavar="COMMAND",
        parser_class=_Parser,
        help="what to do (predictions COMMAND --help says more)",
    )
    commands.required = True

    def command(
        name: str, help_text: str, connects: bool = True
    ) -> argparse.ArgumentParser:
        # Only a command that talks to the API takes the common options.
        return commands.add_parser(
            name,
            help=help_text,
            description=help_text,
            parents=[common] if connects else [],
            epilog=EXAMPLES.get(name),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    def wait_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--timeout",
            type=_positive_seconds,
            metavar="SECONDS",
            help="give up waiting after this many seconds (exit 4; default: no limit)",
        )
        sub.add_argument(
            "--poll-interval",
            type=_seconds,
            default=1.0,
            metavar="SECONDS",
            help="the longest time between two polls (default: %(default)s); "
            "the first polls come sooner, 0.1, 0.3 and 0.7 s apart",
        )
        sub.add_argument(
            "--cancel-on-interrupt",
            action="store_true",
            help="on Ctrl-C, ask the server to cancel the prediction",
        )

    def output_dir_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "-o",
            "--output-dir",
            metavar="DIR",
            help="save the output's files (its URLs) into DIR, an existing "
            "directory, and print the output with their paths in place of the "
            "URLs",
        )
        sub.add_argument(
            "--overwrite",
            action="store_true",
            help="with --output-dir: replace files already there (else exit 5)",
        )

    run = command("run", "create a prediction and (by default) wait for its output")
    # Only run: a fresh local server is empty, so get, wait, cancel and list
    # could only ever answer "not found" or nothing from it.
    run.add_argument(
        "--local",
        action="store_true",
        help="start an embedded local server (with the demo/ models) for this one "
        "run; it stops when the command exits",
    )
    run.add_argument(
        "--prefer-wait",
        type=_seconds,
        metavar="SECONDS",
        help="ask the server to hold the create up to SECONDS until the "
        "prediction finishes (default 0: do not ask, poll from the start, so that "
        "Ctrl-C can say the prediction's id; a held create has no id until it "
        "answers)",
    )
    run.add_argument("model", help=f"the model: {MODEL_REF_FORMS}")
    run.add_argument(
        "-i",
        "--input",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an input field: VALUE is read as JSON when it parses, else as text; "
        "KEY=@FILE uploads a file (an image, a sound, a document); "
        "'KEY=<FILE' gives a text file's contents (quote it for the shell)",
    )
    run.add_argument(
        "--input-json",
        metavar="FILE",
        help="the whole input as JSON, from FILE or - (stdin)",
    )
    run.add_argument(
        "--no-wait", action="store_true", help="print the new prediction, do not wait"
    )
    run.add_argument(
        "--stream",
        action="store_true",
        help="print the output as it is produced, piece by piece (with --json: "
        "each event as a JSON line)",
    )
    wait_options(run)
    run.add_argument("--webhook", metavar="URL", help="POST status changes to URL")
    run.add_argument(
        "--webhook-secret-env",
        metavar="NAME",
        help="sign webhook deliveries with the secret in this environment variable",
    )
    run.add_argument(
        "--validate-input",
        action="store_true",
        help="check the input against the schema",
    )
    output_dir_options(run)
    run.add_argument("--json", action="store_true", help="print the whole prediction")

    get = command(
        "get", "show a prediction: its details, and its output or error once it ended"
    )
    get.add_argument("id", help="the prediction's id")
    output_dir_options(get)
    get.add_argument("--json", action="store_true", help="print the whole prediction")

    listing = command("list", "list predictions, newest first")
    listing.add_argument(
        "--page-size",
        type=_page_size,
        default=25,
        help="predictions per page (the hosted API takes 5 to 50; default 25)",
    )
    listing.add_argument(
        "--status",
        action="append",
        metavar="STATUS",
        help="only predictions in this status (repeat for several), such as failed",
    )
    listing.add_argument("--all", action="store_true", help="every page, not just one")
    listing.add_argument(
        "--json", action="store_true", help="JSON lines, one per prediction"
    )

    wait = command("wait", "wait for a prediction and print its output")
    wait.add_argument("id", help="the prediction's id")
    wait_options(wait)
    wait.add_argument("--json", action="store_true", help="print the whole prediction")

    cancel = command("cancel", "ask the server to cancel a prediction")
    cancel.add_argument("id", help="the prediction's id")
    cancel.add_argument(
        "--json", action="store_true", help="print the whole prediction"
    )

    batch = command(
        "batch", "run a model over every row of a JSONL or CSV file, resumably"
    )
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
        "--limit", type=_positive_count, metavar="N",
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
        type=_positive_count,
        default=32,
        metavar="N",
        help="rows created and not yet done, at most (default: %(default)s)",
    )
    batch.add_argument(
        "--hold",
        type=_seconds,
        default=5.0,
        metavar="SECONDS",
        help="seconds each create asks the server to hold it until its "
        "prediction ends (0: no hold; default: %(default)s)",
    )
    batch.add_argument(
        "--poll-interval",
        type=_positive_seconds,
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

    commands.add_parser(
        "serve",
        help="run a local WriftAI-compatible server (see: predictions serve --help)",
    )
    listed = command(
        "plugins",
        "list the installed plugins: versions, hooks, whether a client loads them",
        connects=False,
    )
    listed.add_argument(
        "--json",
        action="store_true",
        help="one JSON document (entry_point_group, plugins, not_installed)",
    )

    webhook = commands.add_parser(
        "webhook",
        help="check a webhook delivery by hand",
        description="Check a webhook delivery by hand.",
    )
    actions = webhook.add_subparsers(
        dest="action", metavar="ACTION", parser_class=_Parser, help="what to check"
    )
    actions.required = True
    check = actions.add_parser(
        "verify",
        help="verify a delivery's signature: the raw body on stdin",
        description="Verify a webhook delivery: its raw body on stdin, its "
        "wriftai-webhook-signature header in --signature. Exit 0 if authentic, "
        "1 if not (with the reason), 2 for a usage error.",
        epilog="example:\n  WEBHOOK_SECRET=... predictions webhook verify "
        "--secret-env WEBHOOK_SECRET \\\n"
        "    --signature 't=1700000000,v1=5257a8...' < body.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument(
        "--secret-env", metavar="NAME", required=True,
        help="the environment variable holding the webhook's secret",
    )  # fmt: skip
    check.add_argument(
        "--signature", required=True, metavar="HEADER",
        help="the delivery's wriftai-webhook-signature header",
    )  # fmt: skip
    check.add_argument(
        "--tolerance", type=_seconds, default=300, metavar="SECONDS",
        help="seconds (>= 0, fractions too) the timestamp may be off from now "
        "(default: %(default)s)",
    )  # fmt: skip
    return parser


__all__ = ["EXAMPLES", "build_parser"]
