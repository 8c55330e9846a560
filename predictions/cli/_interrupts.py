"""What a Ctrl-C says: the prediction waited on, whether it runs, how to cancel it.

One `Watch` goes with each command that talks to the API, as a plugin of its
client: the `predictions_on_create` hook tells it the new prediction's id as
soon as the client knows it (a plain create, a held one, a stream's `init`);
`wait` tells it the id it was given. On Ctrl-C, `report` says it once, for
`run`, `run --stream` and `wait` alike: Ctrl-C cancels nothing on the server
(unless `--cancel-on-interrupt` asked for it), so the prediction still runs,
and `predictions cancel ID` cancels it.

It also keeps stdout's line: a streamed piece of output may leave it open
(no newline yet). Whatever is printed next starts on a line of its own: the
watch's `predictions_on_terminal` hook runs before every other plugin's, so
it ends the open line before the progress plugin draws its own, and so does
every message of the command line (`end_line`).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Optional

from predictions.hookspecs import hookimpl
from predictions.types import TERMINAL_STATUSES


class Watch:
    """The prediction a command waits on, and stdout's open line.

    Args:
        args: The command's arguments (`--local`, `--cancel-on-interrupt`).

    Attributes:
        prediction_id: The prediction waited on, once its id is known.
        polling: The client's wait is polling it: with `--cancel-on-interrupt`
            that wait asks the server to cancel it on Ctrl-C, on its way out.
    """

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.prediction_id: Optional[str] = None
        self.polling = False
        self._line_open = False

    @hookimpl
    def predictions_on_create(self, prediction: Any) -> None:
        """Learn the new prediction's id: a Ctrl-C from now on can say it."""
        prediction_id = prediction.get("id") if isinstance(prediction, dict) else None
        if isinstance(prediction_id, str) and self.prediction_id is None:
            self.prediction_id = prediction_id

    @hookimpl(tryfirst=True)
    def predictions_on_terminal(self) -> None:
        """End stdout's open line before any plugin draws its own."""
        self.end_line()

    def printed(self, text: str) -> None:
        """Note a piece printed on stdout: whether it left the line open."""
        if text:
            self._line_open = not text.endswith("\n")

    def end_line(self) -> None:
        """Put stdout on a fresh line, if a piece of output left it open."""
        if self._line_open:
            self._line_open = False
            print(flush=True)

    def report(self, client: Any) -> None:
        """Say on stderr, on a fresh line, what the Ctrl-C left on the server."""
        self.end_line()
        print(f"predictions: interrupted{self._where(client)}", file=sys.stderr)

    def _where(self, client: Any) -> str:
        pid = self.prediction_id
        if getattr(self.args, "local", False):
            if pid is None:
                return ": the local server stopped with this command"
            return f": prediction {pid} stopped with the local server"
        if pid is None:
            if self.args.command != "run":
                return ""
            return (
                " before the prediction's id was known: if it was created, it "
                "still runs on the server (Ctrl-C does not cancel it); predictions "
                "list shows it, and predictions cancel ID cancels it"
            )
        said = f": prediction {pid}"
        if getattr(self.args, "cancel_on_interrupt", False):
            if not self.polling and not _cancel(client, pid):
                return (
                    f"{said} could not be cancelled: it may still be running on "
                    f"the server; predictions cancel {pid} cancels it"
                )
            return (
                f"{said}: the server was asked to cancel it (predictions wait "
                f"{pid} shows the end)"
            )
        status = _status(client, pid)
        if status in TERMINAL_STATUSES:
            return f"{said} has ended ({status}): predictions get {pid} shows it"
        where = (
            f"is still running on the server ({status})"
            if status
            else "may still be running on the server (its status could not be read)"
        )
        return (
            f"{said} {where}: Ctrl-C does not cancel it; predictions cancel {pid} does"
        )


def _status(client: Any, prediction_id: str) -> Optional[str]:
    """The prediction's status, asked once; None if it cannot be had."""
    from predictions.errors import PredictionsError

    try:
        status = client.predictions.get(prediction_id, max_retries=0).get("status")
    except (PredictionsError, KeyboardInterrupt):  # a second Ctrl-C: do not wait
        return None
    return status if isinstance(status, str) else None


def _cancel(client: Any, prediction_id: str) -> bool:
    """Ask the server once to cancel the prediction; whether it was asked."""
    from predictions.errors import PredictionsError

    try:
        client.predictions.cancel(prediction_id, max_retries=0)
    except (PredictionsError, KeyboardInterrupt):
        return False
    return True


__all__ = ["Watch"]
