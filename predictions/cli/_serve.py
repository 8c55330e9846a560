"""`predictions serve`: run the local server in the foreground until Ctrl-C.

The access token it requires is read from an environment variable
(`--token-env NAME`, else `$PREDICTIONS_SERVE_TOKEN` when set), not from the
command line, where every user of the machine can read it (`ps`,
`/proc/PID/cmdline`). `--token` still works, with a warning saying so.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
from typing import Any, List, Optional

from predictions._checks import clean_token
from predictions.cli._exit import EXIT_FAILED, EXIT_OK
from predictions.cli._serve_args import TOKEN_ENV, build_parser
from predictions.testing._http.faults import Faults

TOKEN_WARNING = (
    "predictions serve: warning: --token puts the token in the process list,"
    " where other users of this machine can read it (ps, /proc/PID/cmdline);"
    f" set it in an environment variable instead: ${TOKEN_ENV}, or any"
    " variable named with --token-env NAME"
)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _token(parser: argparse.ArgumentParser, options: Any) -> Optional[str]:
    """The token every request must carry, or None; a usage error if unusable.

    From `--token` (with a warning on stderr), else from the variable
    `--token-env` names (which must be set and not blank), else from
    `$PREDICTIONS_SERVE_TOKEN` if it is set.
    """
    if options.token is not None:
        if options.token_env is not None:
            parser.error("give --token-env or --token, not both")
        print(TOKEN_WARNING, file=sys.stderr, flush=True)
        value, source = options.token, "--token"
    else:
        name = options.token_env or TOKEN_ENV
        value, source = os.environ.get(name), f"${name}"
        if options.token_env is not None and not (value or "").strip():
            state = "is not set" if value is None else "is empty"
            parser.error(f"--token-env {name}: the variable ${name} {state}")
    try:
        return clean_token(value)
    except ValueError:
        parser.error(f"the token in {source} holds a control or non-ASCII character")


def main(argv: Optional[List[str]] = None) -> int:
    """Run the server in the foreground; print its base URL; stop on Ctrl-C.

    Args:
        argv: The arguments (without the program name; a leading `serve` is
            skipped); None for `sys.argv[1:]`.

    Returns:
        The exit status: 0 after Ctrl-C (or SIGTERM), 1 when the address
        cannot be bound, 2 for bad arguments.
    """
    from predictions.testing._server import LocalServer

    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["serve"]:
        args = args[1:]
    parser = build_parser()
    try:
        options = parser.parse_args(args)
        token = _token(parser, options)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    server = LocalServer(
        token=token,
        rate_limit=options.rate_limit,
        faults=Faults(options.fault, seed=options.seed) if options.fault else None,
        host=options.host,
        port=options.port,
        verbose=options.verbose,
        webhook_rotation_secrets=options.webhook_rotation_secret,
        webhook_duplicates=options.webhook_duplicates,
        prefer_wait_default=options.prefer_wait_default,
        prefer_wait_max=options.prefer_wait_max,
        cancel_delay=options.cancel_delay,
        cold_start=options.cold_start,
        keep_warm=options.keep_warm,
        expire_after=options.expire_after,
        events_expire_after=options.events_expire_after,
        stream_idle_default=options.stream_idle_default,
        stream_idle_max=options.stream_idle_max,
        stream_heartbeat=options.stream_heartbeat,
        storage_port=options.storage_port,
        part_size=options.part_size,
        download_lifetime=options.download_lifetime,
        output_lifetime=options.output_lifetime,
        output_ranges=options.output_ranges,
        request_timeout=options.request_timeout,
        max_connections=options.max_connections,
    )
    try:
        server.start()
    except (OSError, OverflowError, ValueError, TypeError) as exc:
        # Not only OSError: socket.bind raises the others for some hosts (a
        # NUL in it, an undecodable byte from the command line).
        message = f"cannot listen on {options.host}:{options.port}: {exc}"
        # backslashreplace: such a host must not break the printing too.
        message = message.encode("utf-8", "backslashreplace").decode("utf-8")
        print(f"predictions serve: {message}", file=sys.stderr)
        return EXIT_FAILED
    if hasattr(signal, "SIGTERM"):
        # ValueError: not the main thread, where only Ctrl-C can stop it.
        with contextlib.suppress(ValueError):
            signal.signal(signal.SIGTERM, _interrupt)
    try:
        print(server.base_url, flush=True)
        needs = " every request needs the token;" if token else ""
        print(
            "Serving the WriftAI predictions API (storage for uploads and"
            " output files at"
            f" {server.storage_url});{needs} press Ctrl-C to stop.",
            file=sys.stderr,
            flush=True,
        )
        while True:
            # Short naps: a SIGINT delivered to another thread only reaches
            # this one when it wakes up.
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
