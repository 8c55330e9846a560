"""The command line's entry: parse, log as asked, check, dispatch, exit codes."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
from typing import Any, Dict, Iterator, Optional, Sequence
from urllib.parse import urlsplit

from predictions._logs import logging_to_stderr, plugin_warnings_to_stderr
from predictions._requests import parse_model_ref
from predictions._settings import LOG_ENV, LOG_LEVELS, TOKEN_ENV, log_level_from_env
from predictions.cli._args import build_parser
from predictions.cli._commands import COMMANDS, verify_webhook
from predictions.cli._exit import (
    EXIT_API,
    EXIT_BROKEN_PIPE,
    EXIT_INTERRUPT,
    EXIT_TIMEOUT,
    EXIT_USAGE,
)
from predictions.cli._interrupts import Watch
from predictions.cli._output import (
    env_problem,
    print_json,
    read_input,
)
from predictions.errors import UsageError


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line.

    Args:
        argv: The arguments, without the program's name; `sys.argv[1:]` if None.

    Returns:
        The exit code.
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["serve"]:
        from predictions.cli._serve import main as serve

        return serve(args_list[1:])
    parser = build_parser()
    args = parser.parse_args(args_list)
    try:
        with plugin_warnings_to_stderr(), _logging(getattr(args, "verbose", False)):
            code = _dispatch(args)
            sys.stdout.flush()  # a reader gone away shows here, not at exit
            return code
    except UsageError as exc:
        print(f"predictions {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # before a client was made, or as it closed
        print("predictions: interrupted", file=sys.stderr)
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
    name = "debug" if verbose else log_level_from_env()
    if not name:
        yield
        return
    if name not in LOG_LEVELS:
        raise UsageError(f"${LOG_ENV} must be debug or info, not {name!r}")
    with logging_to_stderr(name):
        yield


def _dispatch(args: argparse.Namespace) -> int:
    from predictions.errors import PredictionsError, WaitTimeoutError

    if args.command == "plugins":
        from predictions.cli._plugins import plugins

        return plugins(args)
    if args.command == "webhook":
        return verify_webhook(args)
    prepared = _prepare(args)  # every check before anything is sent
    base_url = None
    watch = Watch(args)
    try:
        with _client(args, prepared.get("token"), watch) as client:
            base_url = client.base_url
            try:
                return COMMANDS[args.command](client, args, prepared, watch)
            except KeyboardInterrupt:  # said while the client (and server) live
                watch.report(client)
                return EXIT_INTERRUPT
    except WaitTimeoutError as exc:
        watch.end_line()
        print(f"predictions: {exc}", file=sys.stderr)
        if exc.prediction is not None and getattr(args, "json", False):
            print_json(exc.prediction)
        return EXIT_TIMEOUT
    except PredictionsError as exc:
        watch.end_line()
        if args.debug:
            traceback.print_exc()
        print(f"predictions: error: {exc}{_hint(exc, args, base_url)}", file=sys.stderr)
        return EXIT_API


def _hint(exc: Exception, args: argparse.Namespace, base_url: Optional[str]) -> str:
    """What to check after an API error: where the token is read from, the /v1."""
    status = getattr(exc, "status_code", None)
    if status == 401:
        name = args.token_env or TOKEN_ENV
        problem = env_problem(name)
        if problem is None:
            return f" (the token is read from ${name} (--token-env))"
        return f" (no token was sent: ${name} {problem}; --token-env names another)"
    if status == 404 and base_url and not urlsplit(base_url).path.endswith("/v1"):
        return f" (is the base URL missing /v1? it is {base_url})"
    return ""


def _prepare(args: argparse.Namespace) -> Dict[str, Any]:
    """Check the arguments and read the input; raise UsageError if they cannot run."""
    from predictions._requests import path_segment
    from predictions.cli._files import check as check_output_dir

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
                problem = env_problem(args.webhook_secret_env)
                if problem:
                    raise UsageError(
                        f"the environment variable {args.webhook_secret_env} "
                        f"(from --webhook-secret-env) {problem}"
                    )
                webhook["secret"] = os.environ[args.webhook_secret_env]
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
    if args.command in ("run", "get"):
        check_output_dir(args)
    return prepared


def _token(token_env: Optional[str]) -> Optional[str]:
    """The token: from --token-env's variable (which must be set), else the default."""
    from predictions._checks import clean_token

    name = token_env or TOKEN_ENV
    problem = env_problem(name)
    if token_env and problem:
        raise UsageError(
            f"the environment variable {name} (from --token-env) {problem}"
        )
    try:
        return clean_token(os.environ.get(name))
    except ValueError:
        raise UsageError(
            f"the token in ${name} holds a control or non-ASCII character (shown "
            "nowhere, for its safety): check where it is read from"
        ) from None


@contextlib.contextmanager
def _client(
    args: argparse.Namespace, token: Optional[str], watch: Watch
) -> Iterator[Any]:
    from predictions.client import Client

    if not getattr(args, "local", False):
        try:
            client = Client(args.base_url, token, plugins=[watch])
        except (TypeError, ValueError) as exc:  # the base URL: the token is checked
            # Said of the option (or variable) it came from, not of Python's
            # argument: "--base-url must be an http(s) URL ...".
            where = "--base-url" if args.base_url else "$WRIFTAI_API_BASE_URL"
            raise UsageError(str(exc).replace("api_base_url", where, 1)) from None
        with client:
            yield client
        return
    from predictions.testing import LocalServer

    with LocalServer() as server:
        client = Client(server.base_url, trust_env=False, plugins=[watch])
        with client:
            yield client


__all__ = ["main"]
