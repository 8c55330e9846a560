"""The options of `predictions serve`: its argument parser and their types."""

from __future__ import annotations

import argparse

from predictions.cli._values import Parser, checked, count, number, seconds
from predictions.testing._api.app import CANCEL_DELAY
from predictions.testing._api.events import (
    DEFAULT_HEARTBEAT,
    DEFAULT_STREAM_IDLE,
    MAX_STREAM_IDLE,
)
from predictions.testing._api.outputs import DEFAULT_OUTPUT_LIFETIME
from predictions.testing._api.protocol import DEFAULT_PREFER_WAIT, MAX_PREFER_WAIT
from predictions.testing._api.ratelimit import RateLimit
from predictions.testing._api.uploads import (
    DEFAULT_DOWNLOAD_LIFETIME,
    DEFAULT_PART_SIZE,
)
from predictions.testing._http.faults import Fault
from predictions.testing._http.limits import MAX_CONNECTIONS, REQUEST_TIMEOUT
from predictions.testing._models.runner import COLD_START, KEEP_WARM

TOKEN_ENV = "PREDICTIONS_SERVE_TOKEN"
"""The variable the token is read from without `--token-env`: the server's own,
not `WRIFTAI_ACCESS_TOKEN` (a hosted-API secret must not turn auth on here)."""


EXAMPLES = """examples:
  predictions serve
  predictions serve --port 0 --token-env MY_LOCAL_TOKEN
  predictions serve --rate-limit reads=3,creates=15 --prefer-wait-max 1
  predictions serve --fault 503@get,p=0.1 --seed 7
  predictions serve --output-lifetime 60 --fault stall@output,seq=1,delay=30"""
"""What `predictions serve --help` shows under its options."""


_port = number(
    int,
    "port number",
    lambda port: 0 <= port <= 65535,
    "must be between 0 and 65535, not {value}",
)
"""A port number: an integer from 0 to 65535."""
_bytes = number(
    int,
    "number of bytes",
    lambda size: size >= 1,
    "must be at least 1 byte, not {value}",
)
"""A size in bytes: an integer, at least 1."""


def build_parser() -> argparse.ArgumentParser:
    """The parser of `predictions serve`'s arguments (its errors exit 2)."""
    parser = Parser(
        prog="predictions serve",
        description="Run a local WriftAI-compatible predictions API until Ctrl-C.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: %(default)s)",
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=8000,
        help="port to listen on, 0 for any free one (default: %(default)s)",
    )
    parser.add_argument(
        "--token-env",
        metavar="NAME",
        help="require 'Authorization: Bearer TOKEN' on every request, TOKEN"
        f" read from the environment variable NAME (default: ${TOKEN_ENV}"
        " when it is set; else no token is required)",
    )
    parser.add_argument(
        "--token",
        help="the token itself: discouraged, as it shows in the process list"
        " (use --token-env)",
    )
    parser.add_argument(
        "--rate-limit",
        type=checked(RateLimit.parse),
        metavar="reads=3,creates=15,anonymous=1[,burst=N][,retry_after=1]",
        help=(
            "enforce rate limits per access token, in requests per second"
            " (answer 429 past them); anonymous is the rate shared by requests"
            " without a token; retry_after=1 adds Retry-After to 429s, as a"
            " proxy might (the hosted API sends none)"
        ),
    )
    parser.add_argument(
        "--fault",
        type=checked(Fault.parse),
        action="append",
        default=[],
        metavar="SPEC",
        help=(
            "inject a fault (repeatable): KIND[@ROUTE][,p=P][,seq=1-3+7][,limit=N]"
            "[,delay=S][,retry_after=S][,headers=0][,body=TEXT]; KIND is a status"
            " code or drop_before, drop_after, delay, truncate (half the body,"
            " then close), stall (half the body, then silence for delay="
            "SECONDS, 0 until the server stops); ROUTE is create, get, list,"
            " cancel, stream, upload, complete, part (a part's PUT on the"
            " storage port), download (an upload's download URL), output (an"
            " output file's GET) or any"
        ),
    )
    parser.add_argument(
        "--prefer-wait-default",
        type=seconds,
        default=DEFAULT_PREFER_WAIT,
        metavar="SECONDS",
        help="how long 'Prefer: wait' with no number holds a create"
        " (default: %(default)g)",
    )
    parser.add_argument(
        "--prefer-wait-max",
        type=seconds,
        default=MAX_PREFER_WAIT,
        metavar="SECONDS",
        help="the longest any 'Prefer: wait' holds a create (default: %(default)g)",
    )
    parser.add_argument(
        "--cancel-delay",
        type=seconds,
        default=CANCEL_DELAY,
        metavar="SECONDS",
        help="time between a cancel's null answer and the status turning"
        " cancelled (default: %(default)g)",
    )
    parser.add_argument(
        "--cold-start",
        type=seconds,
        default=COLD_START,
        metavar="SECONDS",
        help="how long a cold model version is 'starting'; 0 for no cold starts"
        " (default: %(default)g)",
    )
    parser.add_argument(
        "--keep-warm",
        type=seconds,
        default=KEEP_WARM,
        metavar="SECONDS",
        help="how long a model version stays warm after its last prediction;"
        " 0 makes every prediction cold (default: %(default)g)",
    )
    parser.add_argument(
        "--expire-after",
        type=seconds,
        metavar="SECONDS",
        help="forget a prediction and its input this long after it ended"
        " (then GET answers 404); default: keep them",
    )
    parser.add_argument(
        "--events-expire-after",
        type=seconds,
        metavar="SECONDS",
        help="forget a streamed prediction's events this long after it ended"
        " (its stream field turns false); default: as long as the prediction",
    )
    parser.add_argument(
        "--stream-idle-default",
        type=seconds,
        default=DEFAULT_STREAM_IDLE,
        metavar="SECONDS",
        help="how long an event stream stays open without an event when"
        " 'Prefer' has no wait=N (default: %(default)g)",
    )
    parser.add_argument(
        "--stream-idle-max",
        type=seconds,
        default=MAX_STREAM_IDLE,
        metavar="SECONDS",
        help="the longest idle time 'Prefer: wait=N' may ask of an event stream"
        " (default: %(default)g)",
    )
    parser.add_argument(
        "--stream-heartbeat",
        type=seconds,
        default=DEFAULT_HEARTBEAT,
        metavar="SECONDS",
        help="seconds of silence before an event stream sends ': ping'; 0 for"
        " none (default: %(default)g)",
    )
    parser.add_argument(
        "--storage-port",
        type=_port,
        default=0,
        metavar="PORT",
        help="port of the storage origin (upload part URLs, download URLs,"
        " output files), 0 for any free one (default: %(default)s)",
    )
    parser.add_argument(
        "--part-size",
        type=_bytes,
        default=DEFAULT_PART_SIZE,
        metavar="BYTES",
        help="bytes per upload part (default: %(default)s, 8 MiB)",
    )
    parser.add_argument(
        "--download-lifetime",
        type=seconds,
        default=DEFAULT_DOWNLOAD_LIFETIME,
        metavar="SECONDS",
        help="how long a download URL of a completed upload works"
        " (default: %(default)g)",
    )
    parser.add_argument(
        "--output-lifetime",
        type=seconds,
        default=DEFAULT_OUTPUT_LIFETIME,
        metavar="SECONDS",
        help="how long the URL of a file a model saved works; then it answers"
        " 410 Gone and the file is deleted (default: %(default)g)",
    )
    parser.add_argument(
        "--no-output-ranges",
        dest="output_ranges",
        action="store_false",
        help="answer a Range request for an output file 200 with the whole"
        " file, as some file hosts do (default: 206 with the range)",
    )
    parser.add_argument(
        "--webhook-rotation-secret",
        action="append",
        default=[],
        metavar="SECRET",
        help="also sign every signed webhook delivery with SECRET, as while a"
        " secret is rotated (repeatable)",
    )
    parser.add_argument(
        "--webhook-duplicates",
        action="store_true",
        help="deliver every webhook event twice",
    )
    parser.add_argument(
        "--request-timeout",
        type=seconds,
        default=REQUEST_TIMEOUT,
        metavar="SECONDS",
        help="time a request's line, headers and body may take to arrive (408"
        " and close past it); 0 for no limit (default: %(default)g)",
    )
    parser.add_argument(
        "--max-connections",
        type=count,
        default=MAX_CONNECTIONS,
        metavar="N",
        help="connections each port serves at once; when full, a new one closes"
        " the longest idle one, or is answered 503 if none is idle"
        " (default: %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed for probabilistic faults (default: %(default)s)",
    )
    parser.add_argument(
        "--verbose", "-v", action="store_true", help="log each request to stderr"
    )
    return parser


__all__ = ["EXAMPLES", "build_parser"]
