"""The commands: run, get, wait, cancel, list, webhook verify, batch."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Dict

from predictions.cli._exit import (
    EXIT_FAILED,
    EXIT_OK,
)
from predictions.cli._files import not_finished, save_files
from predictions.cli._interrupts import Watch
from predictions.cli._output import (
    env_problem,
    error_message,
    print_json,
    print_output,
    print_table,
)
from predictions.errors import UsageError
from predictions.types import TERMINAL_STATUSES


def _wait_options(args: argparse.Namespace) -> Any:
    from predictions.predictions import WaitOptions

    # Early polls: a model done in a fraction of a second is seen done then,
    # not a whole --poll-interval after a first poll that found it starting.
    return WaitOptions(
        poll_interval=args.poll_interval,
        timeout=args.timeout,
        cancel_on_interrupt=args.cancel_on_interrupt,
        prefer_wait=getattr(args, "prefer_wait", None),
        early_polls=True,
    )


def _run(
    client: Any, args: argparse.Namespace, prepared: Dict[str, Any], watch: Watch
) -> int:
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
        return _print_events(client, params, args, watch)
    options = _wait_options(args)
    # A held create has no id until it answers: a Ctrl-C meanwhile could not
    # say it, nor cancel it. So with --cancel-on-interrupt it is not held.
    if args.prefer_wait and not args.cancel_on_interrupt:
        prediction = client.predictions.create(
            params, args.model, wait=True, wait_options=options
        )
        return _finish(client, prediction, args)
    created = client.predictions.create(params, args.model)  # `watch` has its id
    watch.polling = True
    prediction = client.predictions.wait(created["id"], options)
    return _finish(client, prediction, args)


def _print_events(
    client: Any, params: Dict[str, Any], args: argparse.Namespace, watch: Watch
) -> int:
    """Print a streamed prediction's output pieces as they arrive.

    A model that sends no `output` event (its output comes whole, at the end)
    has its final output printed, as `run` without `--stream` would. `watch`
    knows whether a piece left the line open (for what a Ctrl-C prints).
    """
    last: Dict[str, Any] = {}
    pieces = 0
    events = client.predictions.create(
        params, args.model, wait=True, wait_options=_wait_options(args), stream=True
    )
    for event in events:
        data = event["data"]
        if args.json:
            print(json.dumps(event), flush=True)
        elif event["event"] == "output":
            pieces += 1
            text = data if isinstance(data, str) else json.dumps(data) + "\n"
            print(text, end="", flush=True)
            watch.printed(text)
        if event["event"] in ("done", "error"):
            if event["event"] == "error":
                last = {"status": "failed", "error": data}
            else:  # `done`: the final prediction (a server's odd one: no status)
                last = data if isinstance(data, dict) else {}
            if not args.json:
                if pieces == 0 and last.get("status") == "succeeded":
                    print_output(last.get("output"))
                else:
                    print()
                    watch.printed("\n")
                sys.stdout.flush()  # before the stream's end reaches the plugins
    if last.get("status") == "succeeded":
        return EXIT_OK
    error = last.get("error")
    error = error.get("message") if isinstance(error, dict) else error
    error = error or "no terminal event"
    print(
        f"predictions: the prediction {last.get('status', 'ended')}: {error}",
        file=sys.stderr,
    )
    return EXIT_FAILED


def _wait(
    client: Any, args: argparse.Namespace, prepared: Dict[str, Any], watch: Watch
) -> int:
    watch.prediction_id, watch.polling = args.id, True
    prediction = client.predictions.wait(args.id, _wait_options(args))
    return _finish(client, prediction, args)


def _get(
    client: Any, args: argparse.Namespace, prepared: Dict[str, Any], watch: Watch
) -> int:
    prediction = client.predictions.get(args.id)
    status = prediction.get("status")
    code = EXIT_OK
    if args.output_dir is not None:
        if status not in TERMINAL_STATUSES:
            return not_finished(prediction, args)
        if status == "succeeded":
            code, prediction = save_files(client, prediction, args)
            if code != EXIT_OK:
                return code
        else:  # shown below, with its error
            code = EXIT_FAILED
    if args.json:
        print_json(prediction)
    else:
        print_table([prediction])
        if status == "succeeded":
            print("\noutput:")
            print_output(prediction.get("output"))
        elif status in TERMINAL_STATUSES and error_message(prediction):
            print(f"\nerror: {error_message(prediction)}")
    if code == EXIT_FAILED:
        print(
            f"predictions: prediction {args.id} {status}: its output has no files "
            "to save",
            file=sys.stderr,
        )
    return code


def _cancel(
    client: Any, args: argparse.Namespace, prepared: Dict[str, Any], watch: Watch
) -> int:
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


def _list(
    client: Any, args: argparse.Namespace, prepared: Dict[str, Any], watch: Watch
) -> int:
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


def _finish(client: Any, prediction: Dict[str, Any], args: argparse.Namespace) -> int:
    """Print how a waited prediction ended (its files saved first, with -o DIR)."""
    status = prediction.get("status")
    if status == "succeeded" and getattr(args, "output_dir", None) is not None:
        code, prediction = save_files(client, prediction, args)
        if code != EXIT_OK:
            return code
    if args.json:
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


def verify_webhook(args: argparse.Namespace) -> int:
    """Verify a delivery read from stdin: exit 0 if authentic, 1 if not, 2 misused.

    Whatever the header holds, the reason is one line, never a traceback.
    """
    from predictions.errors import WebhookVerificationError
    from predictions.webhooks import verify

    problem = env_problem(args.secret_env)
    if problem:
        raise UsageError(f"the environment variable {args.secret_env} {problem}")
    secret = os.environ[args.secret_env]
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


def _batch(
    client: Any, args: argparse.Namespace, prepared: Dict[str, Any], watch: Watch
) -> int:
    from predictions.cli._batch import run

    return run(client, args)


COMMANDS = {
    "batch": _batch,
    "run": _run,
    "get": _get,
    "list": _list,
    "wait": _wait,
    "cancel": _cancel,
}

__all__ = ["COMMANDS", "verify_webhook"]
