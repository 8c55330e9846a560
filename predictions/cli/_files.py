"""`--output-dir DIR` (`-o`): a finished prediction's files saved from the shell.

`check` refuses a directory that cannot take the files before anything is
sent, so that nothing is paid for; `save_files` saves the files and hands the
prediction back with local paths in its output, or says on stderr why it
could not and which command tries again (exit 5: the prediction stays as it
was, and `predictions get ID -o DIR` saves its files). On a terminal, a
line on stderr shows the bytes saved and the rate while a download is large
or slow; it is cleared, or ended by a line of its own, before anything else
is printed.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import threading
import traceback
from typing import IO, TYPE_CHECKING, Any, Dict, Optional, Sequence, Tuple

from predictions.cli._exit import EXIT_FILES, EXIT_INTERRUPT, EXIT_OK
from predictions.cli._output import StatusLine, is_terminal
from predictions.errors import UsageError

if TYPE_CHECKING:
    from predictions._clock import Clock
    from predictions.files import OutputFile


def check(args: argparse.Namespace) -> None:
    """Refuse `--output-dir` where it cannot work; raise UsageError (nothing sent)."""
    from predictions.files._saving import check_directory

    directory = args.output_dir
    if directory is None:
        if args.overwrite:
            raise UsageError("--overwrite goes with --output-dir DIR")
        return
    if args.command == "run" and (args.no_wait or args.stream):
        flag = "--no-wait" if args.no_wait else "--stream"
        raise UsageError(
            f"--output-dir saves the files of a finished output: leave out {flag}"
        )
    try:
        check_directory(directory)
    except OSError as exc:
        hint = f" (make it first: mkdir -p {shlex.quote(directory)})"
        raise UsageError(
            f"--output-dir {directory}: {exc.strerror}"
            + (hint if isinstance(exc, FileNotFoundError) else "")
        ) from None


def save_files(
    client: Any, prediction: Dict[str, Any], args: argparse.Namespace
) -> Tuple[int, Dict[str, Any]]:
    """Save a succeeded prediction's files into `--output-dir`.

    Returns:
        (EXIT_OK, the prediction with local paths in its output), or (the
        exit code, the prediction as it was) once stderr said why not.
    """
    from predictions.errors import DownloadError

    files = client.predictions.output_files(prediction)
    if not files:
        print(
            "predictions: the output holds no file (no URL): nothing was saved",
            file=sys.stderr,
        )
        return EXIT_OK, prediction
    line = None
    if is_terminal(sys.stderr):
        line = DownloadLine(sys.stderr, client.api.clock, files)
    try:
        try:
            output = client.predictions.download(
                prediction,
                args.output_dir,
                overwrite=args.overwrite,
                progress=line,
            )
        except BaseException:
            if line is not None:
                line.end(saved=False)
            raise
    except KeyboardInterrupt:
        print(
            f"predictions: interrupted while saving the files of prediction "
            f"{prediction.get('id')} (a file under its own name is whole)"
            + _again(prediction, args),
            file=sys.stderr,
        )
        return EXIT_INTERRUPT, prediction
    except FileExistsError as exc:
        print(
            f"predictions: error: {exc.filename}: a file is already there "
            "(--overwrite replaces it)" + _again(prediction, args),
            file=sys.stderr,
        )
        return EXIT_FILES, prediction
    except (DownloadError, OSError) as exc:
        if args.debug:
            traceback.print_exc()
        why = str(exc)
        if not isinstance(exc, DownloadError):  # the disk's refusal
            why = f"cannot save into {args.output_dir}: {exc}"
        print(
            f"predictions: error: {why}" + _again(prediction, args),
            file=sys.stderr,
        )
        return EXIT_FILES, prediction
    if line is not None:
        line.end(saved=True)
    return EXIT_OK, {**prediction, "output": output}


def not_finished(prediction: Dict[str, Any], args: argparse.Namespace) -> int:
    """Say that a prediction still running has no files to save yet; EXIT_FILES."""
    pid = prediction.get("id")
    print(
        f"predictions: prediction {pid} has not finished "
        f"({prediction.get('status')}): it has no files to save yet; "
        f"predictions wait {pid} waits for it, then {_get_command(pid, args)} "
        "saves them",
        file=sys.stderr,
    )
    return EXIT_FILES


def _again(prediction: Dict[str, Any], args: argparse.Namespace) -> str:
    """The end of a message: which command saves the files later."""
    if getattr(args, "local", False):
        return (
            "; the local server stopped as this command exited: run it again "
            "to have the files"
        )
    pid = prediction.get("id")
    return (
        f"; prediction {pid} succeeded: "
        f"{_get_command(pid, args, overwrite=True)} saves its files"
    )


def _get_command(pid: Any, args: argparse.Namespace, overwrite: bool = False) -> str:
    """`predictions get ID -o DIR`, with the options this command was given."""
    from predictions._settings import redact_url

    words = ["predictions", "get", str(pid)]
    if args.base_url:  # its password shown nowhere (the user puts it back)
        words += ["--base-url", redact_url(args.base_url)]
    if args.token_env:
        words += ["--token-env", args.token_env]
    words += ["-o", args.output_dir]
    if overwrite:
        words.append("--overwrite")
    return shlex.join(words)


class DownloadLine:
    """The progress of a download, on a terminal's line: bytes, their share, rate.

    Drawn only once the download is large (a file over `SHOW_AFTER_BYTES`)
    or slow (`SHOW_AFTER_SECONDS`), and redrawn at most every
    `REDRAW_EVERY` seconds; called by the threads that save the files.
    """

    SHOW_AFTER_BYTES = 4 * 1024 * 1024
    SHOW_AFTER_SECONDS = 1.0
    REDRAW_EVERY = 0.1

    def __init__(
        self, stream: IO[str], clock: Clock, files: Sequence[OutputFile]
    ) -> None:
        self._line = StatusLine(stream)
        self._clock = clock
        self._names = [file.name for file in files]
        self._count = len(self._names)
        self._started = clock.monotonic()
        self._drawn_at: Optional[float] = None
        self._files: Dict[Any, Tuple[int, Optional[int]]] = {}
        self._lock = threading.Lock()

    def __call__(self, file: OutputFile, saved: int, size: Optional[int]) -> None:
        with self._lock:
            self._files[file.path] = (saved, size)
            now = self._clock.monotonic()
            if not self._line.shown and not self._worth_showing(now, saved, size):
                return
            if self._drawn_at is not None and now - self._drawn_at < self.REDRAW_EVERY:
                return
            self._drawn_at = now
            self._line.draw(self._text(now))

    def end(self, saved: bool) -> None:
        """End the line: with what was saved, or (`saved` False) erased."""
        with self._lock:
            if not self._line.shown:
                return
            if saved:
                now = self._clock.monotonic()
                total, _ = self._bytes()
                files = "1 file" if self._count == 1 else f"{self._count} files"
                self._line.draw(
                    f"saved {files} ({_size(total)}) in {now - self._started:.1f} s, "
                    f"{self._rate(total, now)}"
                )
            self._line.end(clear=not saved)

    def _worth_showing(self, now: float, saved: int, size: Optional[int]) -> bool:
        large = max(saved, size or 0) > self.SHOW_AFTER_BYTES
        return large or now - self._started >= self.SHOW_AFTER_SECONDS

    def _bytes(self) -> Tuple[int, Optional[int]]:
        """(bytes saved, bytes in all if every file's size is known)."""
        saved = sum(done for done, _ in self._files.values())
        sizes = [size for _, size in self._files.values()]
        if len(sizes) < self._count or None in sizes:
            return saved, None
        return saved, sum(size for size in sizes if size is not None)

    def _rate(self, saved: int, now: float) -> str:
        elapsed = now - self._started
        return f"{_size(saved / elapsed)}/s" if elapsed > 0 else "-"

    def _text(self, now: float) -> str:
        saved, total = self._bytes()
        amount = _size(saved) + (f" of {_size(total)}" if total else "")
        if self._count == 1:
            what = f"saving {self._names[0]}"
        else:
            done = sum(1 for got, size in self._files.values() if got == size)
            what = f"saving {self._count} files ({done} done)"
        return f"{what}: {amount}, {self._rate(saved, now)}"


def _size(count: float) -> str:
    if count < 1024 * 1024:
        return f"{count / 1024:.0f} KiB"
    if count < 1024**3:
        return f"{count / 1024 / 1024:.1f} MiB"
    return f"{count / 1024**3:.2f} GiB"


__all__ = ["DownloadLine", "check", "not_finished", "save_files"]
