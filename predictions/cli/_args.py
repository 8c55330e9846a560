"""The command line's arguments: every command, option and example.

`predictions batch`'s options are in `_batch_args`, `serve`'s in `_serve_args`,
the parser and the number checks in `_values`.

`build_parser()` is all `predictions.cli` needs from here; it imports nothing
of the client, so `--help` stays fast.
"""

from __future__ import annotations

import argparse

from predictions._requests import MODEL_REF_FORMS
from predictions._settings import LOG_ENV, TOKEN_ENV
from predictions._version import __version__
from predictions.cli._batch_args import add_batch_options
from predictions.cli._values import Parser, count, positive_seconds, seconds

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


def build_parser() -> argparse.ArgumentParser:
    """The parser of `predictions` and every command's options."""
    common = Parser(add_help=False)
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

    parser = Parser(
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
        parser_class=Parser,
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
            type=positive_seconds,
            metavar="SECONDS",
            help="give up waiting after this many seconds (exit 4; default: no limit)",
        )
        sub.add_argument(
            "--poll-interval",
            type=seconds,
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
        type=seconds,
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
        type=count,
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
    add_batch_options(batch)

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
        dest="action", metavar="ACTION", parser_class=Parser, help="what to check"
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
        "--tolerance", type=seconds, default=300, metavar="SECONDS",
        help="seconds (>= 0, fractions too) the timestamp may be off from now "
        "(default: %(default)s)",
    )  # fmt: skip
    return parser


__all__ = ["EXAMPLES", "build_parser"]
