"""The command line: `predictions run | get | list | wait | cancel | batch | serve`...

Exit codes: 0 succeeded; 1 the prediction failed or was cancelled; 2 a usage
error (nothing was sent); 3 an API or network error; 4 the wait timed out;
130 Ctrl-C; 141 the reader of the output went away (`| head`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import traceback
from typing import Any, Dict, Iterator, Optional, Sequence
from urllib.parse import urlsplit

from predictions._requests import parse_model_ref
from predictions.cli._args import EXIT_USAGE, LOG_ENV, TOKEN_ENV, build_parser
from predictions.cli._output import (
    UsageError,
    error_message,
    print_json,
    print_output,
    print_table,
    read_input,
)
from predictions.types import TERMINAL_STATUSES

EXIT_OK = 0
EXIT_FAILED = 1  # the prediction failed or was cancelled; a webhook is not authentic
EXIT_API = 3
EXIT_TIMEOUT = 4
EXIT_INTERRUPT = 130
# A reader that went away (`predictions list --all | head -1`): the status the
# shell shows for a program killed by SIGPIPE (128 + 13), as `cat | head`
# gives under `set -o pipefail`; without pipefail the pipeline's status is
# head's own, so nobody sees it.
EXIT_BROKEN_PIPE = 141
LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO}


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
    parser = build_parser()
    args = parser.parse_args(args_list)
    try:
        with _logging(getattr(args, "verbose", False)):
            code = _dispatch(args)
            sys.stdout.flush()  # a reader gone away shows here, not at exit
            return code
    except UsageError as exc:
        print(f"predictions {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPT
    except BrokenPipeError:
        # The Python docs' recipe (signal module, "Note on SIGPIPE"): point
        # stdout at devnull, so that the flush at exit cannot raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


@contextlib.contextmanager
def _logging(verbose: bool) -> Iterator[None]:
    """Log the `predictions` logger on stderr, as --verbose or $PREDICTIONS_LOG ask.

    The request lines (method, path, status, time, attempt) are DEBUG ones; they
    never hold the token. The handler and the level are undone on the way out.
    """
    name = "debug" if verbose else os.environ.get(LOG_ENV, "").strip().lower()
    if not name:
        yield
        return
    if name not in LOG_LEVELS:
        raise UsageError(f"${LOG_ENV} must be debug or info, not {name!r}")
    logger = logging.getLogger("predictions")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("predictions: %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(LOG_LEVELS[name])
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _dispatch(args: argparse.Namespace) -> int:
    from predictions.errors import PredictionsError, WaitTimeoutError

    if args.command == "plugins":
        return _plugins()
    if args.command == "webhook":
        return _verify_webhook(args)
    prepared = _prepare(args)  # every check before anything is sent
    base_url = None
    try:
        with _client(args, prepared.get("token")) as client:
            base_url = client.base_url
            return _COMMANDS[args.command](client, args, prepared)
    except WaitTimeoutError as exc:
        print(f"predictions: {exc}", file=sys.stderr)
        if exc.prediction is not None and getattr(args, "json", False):
            print_json(exc.prediction)
        return EXIT_TIMEOUT
    except PredictionsError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"predictions: error: {exc}{_hint(exc, args, base_url)}", file=sys.stderr)
        return EXIT_API


def _hint(exc: Exception, args: argparse.Namespace, base_url: Optional[str]) -> str:
    """What to check after an API error: where the token is read from, the /v1."""
    status = getattr(exc, "status_code", None)
    if status == 401:
        name = args.token_env or TOKEN_ENV
        if os.environ.get(name, "").strip():
            return f" (the token is read from ${name} (--token-env))"
        return f" (no token was sent: ${name} is not set; --token-env names another)"
    if status == 404 and base_url and not urlsplit(base_url).path.endswith("/v1"):
        return f" (is the base URL missing /v1? it is {base_url})"
    return ""


def _prepare(args: argparse.Namespace) -> Dict[str, Any]:
    """Check the arguments and read the input; raise UsageError if they cannot run."""
    from predictions._requests import path_segment

    prepared: Dict[str, Any] = {}
    if getattr(args, "local", False):
        if args.base_url:
            raise UsageError("--local starts its own server: leave out --base-url")
    else:
        prepared["token"] = _token(args.token_env)
    if args.command == "run":
        try:
            parse_model_ref(args.model)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        prepared["input"] = read_input(args.input, args.input_json)
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
    elif args.command == "batch":
        from predictions.cli._batch import check

        try:
            parse_model_ref(args.model)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        check(args)
    elif getattr(args, "id", None) is not None:
        try:
            path_segment(args.id, "prediction id")
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    return prepared


def _token(token_env: Optional[str]) -> Optional[str]:
    """The token: from --token-env's variable (which must be set), else the default."""
    from predictions._settings import clean_token

    name = token_env or TOKEN_ENV
    token = os.environ.get(name)
    if token_env and not (token or "").strip():
        raise UsageError(
            f"the environment variable {name} (from --token-env) is not set"
        )
    try:
        return clean_token(token)
    except ValueError as exc:
        raise UsageError(f"${name}: {exc}") from None


@contextlib.contextmanager
def _client(args: argparse.Namespace, token: Optional[str]) -> Iterator[Any]:
    from predictions.client import Client

    if not getattr(args, "local", False):
        try:
            client = Client(args.base_url, token)
        except (TypeError, ValueError) as exc:  # the base URL: the token is checked
            where = "--base-url" if args.base_url else "$WRIFTAI_API_BASE_URL"
            raise UsageError(f"{exc} (from {where})") from None
        with client:
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
        prefer_wait=getattr(args, "prefer_wait", None),
    )


def _run(client: Any, args: argparse.Namespace, prepared: Dict[str, Any]) -> int:
    params: Dict[str, Any] = {"input": prepared["input"]}
    if "webhook" in prepared:
        params["webhook"] = prepared["webhook"]
    if args.validate_input:
        params["validate_input"] = True
    if args.no_wait:
        created = client.predictions.create(params, args.model, stream=args.stream)
        print_json(created)
        if args.local:
            print(
                f"predictions: the local server stopped as this command exited: "
                f"prediction {created.get('id')} is gone with it (leave out "
                "--no-wait to wait for its output)",
                file=sys.stderr,
            )
        return EXIT_OK
    if args.stream:
        return _print_events(client, params, args)
    options = _wait_options(args)
    if args.prefer_wait:  # a held create: its id is not known until it answers
        try:
            prediction = client.predictions.create(
                params, args.model, wait=True, wait_options=options
            )
        except KeyboardInterrupt:
            print(
                "predictions: interrupted while the server held the create: the "
                "prediction's id is not known (predictions list shows it)",
                file=sys.stderr,
            )
            return EXIT_INTERRUPT
        return _finish(prediction, args.json)
    # Not held: the id is known at once, so that a Ctrl-C can say it.
    created = client.predictions.create(params, args.model)
    try:
        prediction = client.predictions.wait(created["id"], options)
    except KeyboardInterrupt:
        _interrupted(client, created["id"], args)
        return EXIT_INTERRUPT
    return _finish(prediction, args.json)


def _interrupted(client: Any, prediction_id: str, args: argparse.Namespace) -> None:
    """Say where an interrupted run's prediction stands, and how to cancel it."""
    from predictions.errors import PredictionsError

    said = f"predictions: interrupted: prediction {prediction_id}"
    if args.cancel_on_interrupt:  # the wait asked the server on its way out
        print(
            f"{said}: the server was asked to cancel it "
            f"(predictions wait {prediction_id} shows the end)",
            file=sys.stderr,
        )
        return
    if args.local:
        print(f"{said} stopped with the local server", file=sys.stderr)
        return
    try:
        status = client.predictions.get(prediction_id, max_retries=0).get("status")
    except (PredictionsError, KeyboardInterrupt):  # a second Ctrl-C: do not wait
        status = None
    if status in TERMINAL_STATUSES:
        print(
            f"{said} has ended ({status}): predictions get {prediction_id} shows it",
            file=sys.stderr,
        )
        return
    where = (
        f"is still running on the server ({status})"
        if status
        else "may still be running on the server (its status could not be read)"
    )
    print(
        f"{said} {where}; to cancel it: predictions cancel {prediction_id}",
        file=sys.stderr,
    )


def _print_events(client: Any, params: Dict[str, Any], args: argparse.Namespace) -> int:
    """Print a streamed prediction's output pieces as they arrive."""
    last: Dict[str, Any] = {}
    events = client.predictions.create(
        params, args.model, wait=True, wait_options=_wait_options(args), stream=True
    )
    for event in events:
        data = event["data"]
        if args.json:
            print(json.dumps(event), flush=True)
        elif event["event"] == "output":
            text = data if isinstance(data, str) else json.dumps(data)
            print(text, end="" if isinstance(data, str) else "\n", flush=True)
        if event["event"] in ("done", "error"):
            last = (
                data
                if event["event"] == "done"
                else {"status": "failed", "error": data}
            )
            if not args.json:
                print(flush=True)  # before the stream's end reaches the plugins
    if last.get("status") == "succeeded":
        return EXIT_OK
    error = (last.get("error") or {}).get("message", "no terminal event")
    print(
        f"predictions: the prediction {last.get('status', 'ended')}: {error}",
        file=sys.stderr,
    )
    return EXIT_FAILED


def _wait(client: Any, args: argparse.Namespace, prepared: Dict[str, Any]) -> int:
    return _finish(client.predictions.wait(args.id, _wait_options(args)), args.json)


def _get(client: Any, args: argparse.Namespace, prepared: Dict[str, Any]) -> int:
    prediction = client.predictions.get(args.id)
    if args.json:
        print_json(prediction)
        return EXIT_OK
    print_table([prediction])
    status = prediction.get("status")
    if status == "succeeded":
        print("\noutput:")
        print_output(prediction.get("output"))
    elif status in TERMINAL_STATUSES and error_message(prediction):
        print(f"\nerror: {error_message(prediction)}")
    return EXIT_OK


def _cancel(client: Any, args: argparse.Namespace, prepared: Dict[str, Any]) -> int:
    client.predictions.cancel(args.id)
    # The API cancels asynchronously: say what was asked, and where it stands.
    prediction = client.predictions.get(args.id)
    if args.json:
        print_json(prediction)
    else:
        status = prediction.get("status")
        print(f"{args.id} {status}")
        if status != "cancelled":
            print(
                f"cancel asked for; it takes effect shortly "
                f"(predictions wait {args.id} shows the end)",
                file=sys.stderr,
            )
    return EXIT_OK


def _list(client: Any, args: argparse.Namespace, prepared: Dict[str, Any]) -> int:
    options: Dict[str, Any] = {"page_size": args.page_size}
    if args.status:
        options["statuses"] = args.status
    if args.all:
        items = client.predictions.iterate(options)
    else:
        items = client.predictions.list(options).items
    if args.json:  # a line as each page comes: `| head` stops the fetching
        for item in items:
            print(json.dumps(item))
    else:
        print_table(list(items))
    return EXIT_OK


def _finish(prediction: Dict[str, Any], as_json: bool) -> int:
    status = prediction.get("status")
    if as_json:
        print_json(prediction)
    elif status == "succeeded":
        print_output(prediction.get("output"))
    if status == "succeeded":
        return EXIT_OK
    message = error_message(prediction)
    print(
        f"predictions: prediction {prediction.get('id')} {status}"
        + (f": {message}" if message else ""),
        file=sys.stderr,
    )
    return EXIT_FAILED


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
    """Verify a delivery read from stdin: exit 0 if authentic, 1 if not, 2 misused.

    Whatever the header holds, the reason is one line, never a traceback.
    """
    from predictions.errors import WebhookVerificationError
    from predictions.webhooks import verify

    secret = os.environ.get(args.secret_env)
    if not secret:
        raise UsageError(f"the environment variable {args.secret_env} is not set")
    body = sys.stdin.buffer.read()
    try:
        # The tolerance stays a float: int() made 0.5 into 0, refusing everything.
        verify(body, args.signature, secret, tolerance=args.tolerance)
    except WebhookVerificationError as exc:
        print(f"invalid: {exc}")
        return EXIT_FAILED
    except (TypeError, ValueError) as exc:  # verify's checks of its arguments
        raise UsageError(str(exc)) from None
    print("valid")
    return EXIT_OK


def _batch(client: Any, args: argparse.Namespace, prepared: Dict[str, Any]) -> int:
    from predictions.cli._batch import run

    return run(client, args)


_COMMANDS = {
    "batch": _batch,
    "run": _run,
    "get": _get,
    "list": _list,
    "wait": _wait,
    "cancel": _cancel,
}

__all__ = ["main"]
