"""`predictions batch`: a model over every row of a file, with a progress line.

With `--dry-run`, the rows are read and checked, and what would be sent is
said on stdout (as JSON with `--json`); nothing is sent.

The results go to `--output` as JSON lines, every row's, in each run (rows
done by an earlier run come from the ledger); the progress line and the
summary go to stderr, or the summary to stdout as JSON with `--json`. With
`--outputs-dir`, each succeeded row's output files are saved there first.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
from typing import IO, TYPE_CHECKING, Any, Dict, List, Optional

from predictions.cli._exit import EXIT_FAILED, EXIT_INTERRUPT, EXIT_OK
from predictions.cli._output import StatusLine
from predictions.errors import UsageError

if TYPE_CHECKING:
    from predictions._clock import Clock

SHOWN_FAILURES = 20
"""Failed rows the text summary lists (the JSON summary lists 100)."""

SAMPLE_WIDTH = 200
"""Characters of a sample input a dry run shows (its JSON shows it whole)."""


def check(args: argparse.Namespace) -> None:
    """The batch's options that cannot go together; raise UsageError."""
    if args.ledger and args.no_ledger:
        raise UsageError("--ledger and --no-ledger cannot go together")
    if args.output == "-" and not (args.ledger or args.no_ledger):
        raise UsageError(
            "with --output - (stdout) give --ledger FILE, so that the batch can "
            "be resumed (or --no-ledger)"
        )
    if args.json and args.output == "-":
        raise UsageError("--json prints the summary on stdout: give --output FILE")
    if not os.path.isfile(args.input):
        raise UsageError(f"--input {args.input}: no such file")
    args.types = field_types(args.types)
    if args.outputs_dir is not None:
        from predictions.files._saving import check_directory

        try:
            check_directory(args.outputs_dir)
        except OSError as exc:
            raise UsageError(
                f"--outputs-dir {args.outputs_dir}: {exc.strerror} (it must be "
                "an existing directory that can be written); nothing was sent"
            ) from None
    files = [("--input", args.input)]
    if args.output != "-":
        files.append(("--output", args.output))
    elif _stdout_path():  # a redirect: `--output - >> rows.jsonl`
        files.append(("--output - (stdout)", _stdout_path()))
    ledger = ledger_path(args)
    if ledger is not None:
        files.append(("--ledger" if args.ledger else "the default ledger", ledger))
    for at, (name, path) in enumerate(files):
        for other, other_path in files[at + 1 :]:
            if _same_file(path, other_path):
                raise UsageError(
                    f"{name} and {other} are the same file ({path}): the batch "
                    "would write over it; nothing was touched"
                )


def field_types(given: List[str]) -> Dict[str, str]:
    """The `--type FIELD=TYPE` options as a mapping; raise UsageError if bad."""
    from predictions.batch._shape import TYPE_NAMES

    types: Dict[str, str] = {}
    for text in given:
        field, equals, kind = (part.strip() for part in text.partition("="))
        if not equals or not field or kind not in TYPE_NAMES:
            raise UsageError(
                f"--type {text}: give FIELD=TYPE, TYPE one of {', '.join(TYPE_NAMES)}"
            )
        if types.setdefault(field, kind) != kind:
            raise UsageError(f"--type gives the column {field!r} two types")
    return types


def _stdout_path() -> str:
    """What stdout writes to, as a path `_same_file` can compare (a redirect)."""
    try:
        return f"/dev/fd/{sys.stdout.fileno()}"
    except (AttributeError, OSError, ValueError):  # replaced (tests), or closed
        return ""


def _same_file(one: str, other: str) -> bool:
    """Whether two paths name one file: through links and relative paths too."""
    if os.path.realpath(one) == os.path.realpath(other):
        return True
    try:
        return os.path.samefile(one, other)  # hard links
    except OSError:  # one does not exist (yet): not the same file
        return False


def ledger_path(args: argparse.Namespace) -> Optional[str]:
    """Where the ledger is: --ledger, else --output + .ledger; None with --no-ledger."""
    if args.no_ledger:
        return None
    return str(args.ledger or args.output + ".ledger")


class ProgressLine:
    """Draws the batch's progress line on stderr.

    Rewritten in place on a terminal; elsewhere (a log), a line every
    `PLAIN_EVERY` seconds of the client's clock.
    """

    PLAIN_EVERY = 10.0

    def __init__(self, stream: IO[str], clock: Clock) -> None:
        self.stream = stream
        self.clock = clock
        self.tty = stream.isatty()
        self.line = StatusLine(stream)
        self.last = clock.monotonic()

    def __call__(self, progress: Any) -> None:
        now = self.clock.monotonic()
        if not self.tty and now - self.last < self.PLAIN_EVERY:
            return  # a log, not a screen: a line now and then; the summary ends it
        self.last = now
        line = progress.describe()
        if self.tty:
            self.line.draw(line)
        else:
            self.stream.write(line + "\n")
            self.stream.flush()

    def end(self) -> None:
        """Leave the line, so that what follows starts on a line of its own."""
        self.line.end()


def run(client: Any, args: argparse.Namespace) -> int:
    """Run the batch command; the exit code."""
    from predictions.batch import LedgerMismatchError, run_batch
    from predictions.errors import InputError

    if args.dry_run:
        return dry_run(args)
    ledger = ledger_path(args)
    # The command draws the batch's one line, plugin or not (the progress
    # plugin, which draws the same line from run_batch, would draw a second).
    client.api.hooks.unregister("progress")
    progress = ProgressLine(sys.stderr, client.api.clock)
    try:
        batch = run_batch(
            args.input,
            args.model,
            client=client,
            ledger=ledger,
            key=args.key,
            concurrency=args.concurrency,
            hold=args.hold,
            ordered=args.ordered,
            retry_failed=args.retry_failed,
            force=args.force,
            poll_interval=args.poll_interval,
            on_progress=progress,
            format=args.format,
            outputs_dir=args.outputs_dir,
            exclude=args.exclude,
            types=args.types,
            limit=args.limit,
        )
    except LedgerMismatchError as exc:  # said with the command line's names
        names = {"ledger": "--ledger FILE", "force": "--force"}
        raise UsageError(exc.explain(names)) from None
    except InputError as exc:
        raise UsageError(str(exc)) from None
    except ValueError as exc:  # --type with a JSONL file; --exclude and --type
        raise UsageError(str(exc)) from None
    except OSError as exc:  # --outputs-dir went away since it was checked
        raise UsageError(f"--outputs-dir {args.outputs_dir}: {exc.strerror}") from None
    summary = Summary()
    files = contextlib.ExitStack()
    output = sys.stdout
    if args.output != "-":
        try:
            output = files.enter_context(open(args.output, "w", encoding="utf-8"))  # noqa: SIM115
        except OSError as exc:
            batch.close()
            raise UsageError(f"--output {args.output}: {exc.strerror}") from None
    try:
        with files, batch:
            for result in batch:
                output.write(json.dumps(result, ensure_ascii=False) + "\n")
                summary.add(result)
            output.flush()
    except KeyboardInterrupt:
        progress.end()
        where = f" (the ledger is {ledger})" if ledger else ""
        print(
            "predictions: interrupted: run the same command again to go on where it "
            f"stopped{where}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPT
    finally:
        progress.end()
    final = batch.progress()
    if args.json:
        print(json.dumps(summary.as_json(final, batch.counts, args, ledger), indent=2))
    else:
        summary.show(final, batch.counts, args, ledger, sys.stderr)
    return EXIT_OK if summary.failed == 0 else EXIT_FAILED


def dry_run(args: argparse.Namespace) -> int:
    """Read and check every row, say what would be sent, send nothing; the exit code."""
    from predictions.batch import preview_batch

    try:
        preview = preview_batch(
            args.input,
            args.model,
            key=args.key,
            format=args.format,
            exclude=args.exclude,
            types=args.types,
            limit=args.limit,
        )
    except ValueError as exc:  # InputError too: the file, a field to exclude
        raise UsageError(str(exc)) from None
    ledger = ledger_path(args)
    if args.json:
        report = {"dry_run": True, **dataclasses.asdict(preview), "ledger": ledger}
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return EXIT_OK if preview.invalid == 0 else EXIT_FAILED
    first = f" (the first {args.limit}: --limit)" if args.limit is not None else ""
    print(
        f"dry run: {preview.rows} rows read from {args.input}{first}: "
        f"{preview.to_send} would be sent to {args.model}, {preview.invalid} "
        "invalid; nothing was sent"
    )
    if preview.errors:
        print("invalid rows:")
        for error in preview.errors:
            print(f"  {error}")
        if preview.invalid > len(preview.errors):
            print(f"  and {preview.invalid - len(preview.errors)} more")
    if preview.samples:
        print("the first inputs, as they would be sent:")
        for sample in preview.samples:
            where = f"line {sample['line']}" if sample["line"] else "row"
            text = json.dumps(sample["input"], ensure_ascii=False)
            if len(text) > SAMPLE_WIDTH:
                text = text[: SAMPLE_WIDTH - 3] + "..."
            print(f"  {where} (key {sample['key']}): {text}")
    if ledger:
        print(f"a real run skips the rows its ledger ({ledger}) has done")
    return EXIT_OK if preview.invalid == 0 else EXIT_FAILED


class Summary:
    """What the rows came to: counts by status, and the first failed rows."""

    def __init__(self) -> None:
        self.by_status: Dict[str, int] = {}
        self.failed = 0
        self.failures: List[Dict[str, Any]] = []

    def add(self, result: Dict[str, Any]) -> None:
        status = result["status"]
        self.by_status[status] = self.by_status.get(status, 0) + 1
        if status != "succeeded":
            self.failed += 1
            if len(self.failures) < 100:
                error = result.get("error") or {}
                message = error.get("message") if isinstance(error, dict) else error
                self.failures.append(
                    {
                        "key": result["key"],
                        "line": result.get("line"),
                        "status": status,
                        "prediction_id": result.get("prediction_id"),
                        "error": message or status,
                    }
                )

    def as_json(
        self, final: Any, counts: Any, args: argparse.Namespace, ledger: Optional[str]
    ) -> Dict[str, Any]:
        return {
            "rows": final.done,
            "succeeded": final.succeeded,
            "failed": self.failed,
            "by_status": dict(sorted(self.by_status.items())),
            "resumed": final.resumed,
            "created": counts["created"],
            "sent_again": counts["resent"],
            "reads": counts["gets"] + counts["scan_pages"],
            "files_saved": counts["files_saved"],
            "bytes_saved": counts["bytes_saved"],
            "outputs_dir": args.outputs_dir,
            "seconds": round(final.elapsed, 3),
            "rows_per_second": round(final.rate, 3),
            "output": args.output,
            "ledger": ledger,
            "failed_rows": self.failures,
        }

    def show(
        self,
        final: Any,
        counts: Any,
        args: argparse.Namespace,
        ledger: Optional[str],
        stream: IO[str],
    ) -> None:
        others = ", ".join(
            f"{n} {status}"
            for status, n in sorted(self.by_status.items())
            if status != "succeeded"
        )
        line = (
            f"batch: {final.done} rows in {final.elapsed:.1f} s: {final.succeeded} "
            f"succeeded, {self.failed} failed" + (f" ({others})" if others else "")
        )
        if final.resumed:
            line += f"; {final.resumed} were done by an earlier run"
        line += f"; {counts['created']} predictions created"
        if counts["resent"]:
            line += f", {counts['resent']} creates sent again with their key"
        if args.outputs_dir is not None:
            saved = counts["files_saved"]
            line += (
                f"; {saved} output file{'' if saved == 1 else 's'} saved "
                f"({counts['bytes_saved']:,} bytes) in {args.outputs_dir}"
            )
        print(line, file=stream)
        if self.failures:
            print("failed rows:", file=stream)
            for failure in self.failures[:SHOWN_FAILURES]:
                where = (
                    f"line {failure['line']}"
                    if failure["line"] is not None
                    else f"row {failure['key']}"
                )
                if args.key:
                    where += f" (key {failure['key']})"
                print(
                    f"  {where}: {failure['status']}: {failure['error']}", file=stream
                )
            if self.failed > SHOWN_FAILURES:
                print(
                    f"  and {self.failed - SHOWN_FAILURES} more (in {args.output})",
                    file=stream,
                )
            print(
                "  (--retry-failed redoes them; invalid rows need their input fixed)",
                file=stream,
            )
        if ledger:
            print(f"results: {args.output}; ledger: {ledger}", file=stream)


__all__ = [
    "ProgressLine",
    "Summary",
    "check",
    "dry_run",
    "field_types",
    "ledger_path",
    "run",
]
