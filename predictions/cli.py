"""The command line: `predictions run | get | list | wait | cancel | serve | plugins`.

Exit codes: 0 succeeded; 1 the prediction failed or was cancelled; 2 a usage
error (nothing was sent); 3 an API or network error; 4 the wait timed out;
130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import traceback
from typing import Any, Dict, Iterator, List, NoReturn, Optional, Sequence

from predictions._resource import MODEL_REF_FORMS, parse_model_ref
from predictions._version import __version__

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_API, EXIT_TIMEOUT, EXIT_INTERRUPT = (
    0,
    1,
    2,
    3,
    4,
    130,
)

EXAMPLES = {
    "run": """examples:
  predictions run --local demo/echo -i text=hi
  predictions run demo/word-count -i text=@essay.txt --json
  predictions run owner/model:3 --input-json input.json --timeout 600
  echo '{"seconds": 2}' | predictions run --local demo/sleep --input-json -""",
    "get": "example:\n  predictions get 0f1c...e9 --json",
    "list": "examples:\n  predictions list\n  predictions list --all --json",
    "wait": "example:\n  predictions wait 0f1c...e9 --timeout 300",
    "cancel": "example:\n  predictions cancel 0f1c...e9",
    "plugins": "example:\n  PREDICTIONS_PLUGINS=progress predictions plugins",
}


class UsageError(Exception):
    """A command line that cannot run: exit 2, and nothing is sent."""


class _Parser(argparse.ArgumentParser):
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


def _page_size(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, not {text!r}")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    connection = common.add_argument_group("connection")
    connection.add_argument(
        "--base-url",
        help="the API's base URL (default: $WRIFTAI_API_BASE_URL, else the hosted API)",
    )
    connection.add_argument(
        "--token-env",
        metavar="NAME",
        default="WRIFTAI_ACCESS_TOKEN",
        help="the environment variable holding the access token (default: %(default)s)",
    )
    connection.add_argument(
        "--local",
        action="store_true",
        help="start an embedded local server for this one command",
    )
    common.add_argument(
        "--debug", action="store_true", help="show tracebacks of API and network errors"
    )

    parser = _Parser(
        prog="predictions",
        description="Run and manage WriftAI predictions from the shell.",
        epilog="Exit codes: 0 succeeded, 1 prediction failed or cancelled, 2 usage "
        "error, 3 API or network error, 4 wait timed out, 130 interrupted.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=_Parser
    )
    commands.required = True

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=help_text,
            description=help_text,
            parents=[common],
            epilog=EXAMPLES.get(name),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    def wait_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--timeout", type=_positive_seconds, help="give up after S seconds"
        )
        sub.add_argument(
            "--poll-interval", type=_seconds, default=1.0, help="seconds between polls"
        )
        sub.add_argument(
            "--cancel-on-interrupt",
            action="store_true",
            help="on Ctrl-C, ask the server to cancel the prediction",
        )

    run = command("run", "create a prediction and (by default) wait for its output")
    run.add_argument("model", help=f"the model: {MODEL_REF_FORMS}")
    run.add_argument(
        "-i",
        "--input",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an input field: VALUE is read as JSON when it parses, else as text; "
        "KEY=@FILE reads a file's text",
    )
    run.add_argument(
        "--input-json",
        metavar="FILE",
        help="the whole input as JSON, from FILE or - (stdin)",
    )
    run.add_argument("--no-wait", action="store_true", help="print the new prediction")
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
    run.add_argument("--json", action="store_true", help="print the whole prediction")

    get = command("get", "show a prediction")
    get.add_argument("id")
    get.add_argument("--json", action="store_true", help="print the whole prediction")

    listing = command("list", "list predictions, newest first")
    listing.add_argument("--page-size", type=_page_size, default=20)
    listing.add_argument("--all", action="store_true", help="every page, not just one")
    listing.add_argument(
        "--json", action="store_true", help="JSON lines, one per prediction"
    )

    wait = command("wait", "wait for a prediction and print its output")
    wait.add_argument("id")
    wait_options(wait)
    wait.add_argument("--json", action="store_true", help="print the whole prediction")

    cancel = command("cancel", "ask the server to cancel a prediction")
    cancel.add_argument("id")
    cancel.add_argument(
        "--json", action="store_true", help="print the whole prediction"
    )

    commands.add_parser(
        "serve",
        help="run a local WriftAI-compatible server (see: predictions serve --help)",
    )
    command("plugins", "list the installed plugins, their versions and hooks")

    webhook = commands.add_parser(
        "webhook",
        help="check a webhook delivery by hand",
        description="Check a webhook delivery by hand.",
    )
    actions = webhook.add_subparsers(
        dest="action", metavar="ACTION", parser_class=_Parser
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
    check.add_argument("--signature", required=True, metavar="HEADER")
    check.add_argument(
        "--tolerance", type=_positive_seconds, default=300.0,
        help="seconds the timestamp may be off from now (default: %(default)s)",
    )  # fmt: skip
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line.

    Args:
        argv: The arguments, without the program's name; `sys.argv[1:]` if None.

    Returns:
        The exit code.
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["serve"]:
        from predictions.testing._serve import main as serve

        return serve(args_list[1:])
    parser = _parser()
    args = parser.parse_args(args_list)
    try:
        return _dispatch(args)
    except UsageError as exc:
        print(f"predictions {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPT


def _dispatch(args: argparse.Namespace) -> int:
    from predictions.errors import PredictionsError, WaitTimeoutError

    if args.command == "plugins":
        return _plugins()
    if args.command == "webhook":
        return _verify_webhook(args)
    prepared = _prepare(args)  # every check before anything is sent
    try:
        with _client(args) as client:
            return _COMMANDS[args.command](client, args, prepared)
    except WaitTimeoutError as exc:
        print(f"predictions: {exc}", file=sys.stderr)
        if exc.prediction is not None and getattr(args, "json", False):
            _print_json(exc.prediction)
        return EXIT_TIMEOUT
    except PredictionsError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"predictions: error: {exc}", file=sys.stderr)
        return EXIT_API


def _prepare(args: argparse.Namespace) -> Dict[str, Any]:
    """Check the arguments and read the input; raise UsageError if they cannot run."""
    from predictions._resource import path_segment

    prepared: Dict[str, Any] = {}
    if args.command == "run":
        try:
            parse_model_ref(args.model)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        prepared["input"] = _read_input(args.input, args.input_json)
        if args.webhook_secret_env and not args.webhook:
            raise UsageError("--webhook-secret-env needs --webhook URL")
        if args.webhook:
            webhook: Dict[str, Any] = {"url": args.webhook}
            if args.webhook_secret_env:
                secret = os.environ.get(args.webhook_secret_env)
                if not secret:
                    raise UsageError(
                        f"the environment variable {args.webhook_secret_env} "
                        "(from --webhook-secret-env) is not set"
                    )
                webhook["secret"] = secret
            prepared["webhook"] = webhook
    elif getattr(args, "id", None) is not None:
        try:
            path_segment(args.id, "prediction id")
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    return prepared


def _read_input(fields: List[str], input_json: Optional[str]) -> Any:
    data: Any = {}
    if input_json is not None:
        try:
            text = sys.stdin.read() if input_json == "-" else _read_file(input_json)
            data = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"--input-json is not valid JSON: {exc}") from None
        if fields and not isinstance(data, dict):
            raise UsageError("-i KEY=VALUE needs --input-json to hold a JSON object")
    for field in fields:
        key, sep, value = field.partition("=")
        if not sep or not key:
            raise UsageError(
                f"-i {field!r} has no '=': write -i KEY=VALUE, -i KEY=@FILE or "
                "-i 'KEY={\"json\": true}'"
            )
        data[key] = (
            _read_file(value[1:]) if value.startswith("@") else _json_or_text(value)
        )
    return data


def _json_or_text(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def _read_file(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path!r}: {exc}") from None


@contextlib.contextmanager
def _client(args: argparse.Namespace) -> Iterator[Any]:
    from predictions.client import Client

    token = os.environ.get(args.token_env) or None
    if not args.local:
        with Client(args.base_url, token) as client:
            yield client
        return
    from predictions.testing import LocalServer

    with LocalServer() as server, Client(server.base_url, trust_env=False) as client:
        yield client


def _wait_options(args: argparse.Namespace) -> Any:
    from predictions.predictions import WaitOptions

    return WaitOptions(
        poll_interval=args.poll_interval,
        timeout=args.timeout,
        cancel_on_interrupt=args.cancel_on_interrupt,
    )


def _run(client: Any, args: argparse.Namespace, prepared: Dict[str, Any]) -> int:
    params: Dict[str, Any] = {"input": prepared["input"]}
    if "webhook" in prepared:
        params["webhook"] = prepared["webhook"]
    if args.validate_input:
        params["validate_input"] = True
    if args.no_wait:
        _print_json(client.predictions.create(params, args.model))
        return EXIT_OK
    prediction = client.predictions.create(
        params, args.model, wait=True, wait_options=_wait_options(args)
    )
    return _finish(prediction, args.json)


def _wait(client: Any, args: argparse.Namespace, prepared: Dict[str, Any]) -> int:
    return _finish(client.predictions.wait(args.id, _wait_options(args)), args.json)


def _get(client: Any, args: argparse.Namespace, prepared: Dict[str, Any]) -> int:
    prediction = client.predictions.get(args.id)
    if args.json:
        _print_json(prediction)
    else:
        _print_table([prediction])
    return EXIT_OK


def _cancel(client: Any, args: argparse.Namespace, prepared: Dict[str, Any]) -> int:
    prediction = client.predictions.cancel(args.id)
    if args.json:
        _print_json(prediction)
    else:
        print(f"{prediction.get('id')} {prediction.get('status')}")
    return EXIT_OK


def _list(client: Any, args: argparse.Namespace, prepared: Dict[str, Any]) -> int:
    options = {"page_size": args.page_size}
    if args.all:
        items = list(client.predictions.iterate(options))
    else:
        items = client.predictions.list(options).items
    if args.json:
        for item in items:
            print(json.dumps(item))
    else:
        _print_table(items)
    return EXIT_OK


def _finish(prediction: Dict[str, Any], as_json: bool) -> int:
    status = prediction.get("status")
    if as_json:
        _print_json(prediction)
    elif status == "succeeded":
        output = prediction.get("output")
        print(output if isinstance(output, str) else json.dumps(output, indent=2))
    if status == "succeeded":
        return EXIT_OK
    error = prediction.get("error") or {}
    message = error.get("message") if isinstance(error, dict) else None
    print(
        f"predictions: prediction {prediction.get('id')} {status}"
        + (f": {message}" if message else ""),
        file=sys.stderr,
    )
    return EXIT_FAILED


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2))


def _print_table(items: Sequence[Dict[str, Any]]) -> None:
    header = ("ID", "MODEL", "STATUS", "CREATED", "SETUP", "EXECUTION")
    rows = [header]
    for item in items:
        model = item.get("model") or {}
        rows.append(
            (
                str(item.get("id", "")),
                f"{model.get('owner')}/{model.get('name')}:{model.get('version_number')}",
                str(item.get("status", "")),
                str(item.get("created_at", "")),
                _seconds_text(item.get("setup_time")),
                _seconds_text(item.get("execution_time")),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def _seconds_text(value: Any) -> str:
    return "-" if value is None else f"{value}s"


def _plugins() -> int:
    from predictions.plugins import list_plugins

    plugins = list_plugins()
    if not plugins:
        print("no plugins installed (entry-point group predictions.plugins)")
    for plugin in plugins:
        print(f"{plugin.name} ({plugin.distribution} {plugin.version})")
        if plugin.error:
            print(f"  broken: {plugin.error}")
        for hook in plugin.hooks:
            print(f"  {hook}")
    return EXIT_OK


def _verify_webhook(args: argparse.Namespace) -> int:
    from predictions.errors import WebhookVerificationError
    from predictions.webhooks import verify

    secret = os.environ.get(args.secret_env)
    if not secret:
        raise UsageError(f"the environment variable {args.secret_env} is not set")
    body = sys.stdin.buffer.read()
    try:
        verify(body, args.signature, secret, tolerance=int(args.tolerance))
    except WebhookVerificationError as exc:
        print(f"invalid: {exc}")
        return EXIT_FAILED
    print("valid")
    return EXIT_OK


_COMMANDS = {
    "run": _run,
    "get": _get,
    "list": _list,
    "wait": _wait,
    "cancel": _cancel,
}

__all__ = ["main"]
