"""What the command line reads and prints: inputs, outputs, predictions as a table."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from typing import IO, Any, Dict, List, Optional, Sequence

from predictions.errors import UsageError


def read_input(fields: List[str], input_json: Optional[str]) -> Any:
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
                f"-i {field!r} has no '=': write -i KEY=VALUE, -i KEY=@FILE, "
                "-i 'KEY=<FILE' or -i 'KEY={\"json\": true}'"
            )
        if value.startswith("@"):  # a file to upload, as curl -F has it
            data[key] = _file(key, value[1:])
        elif value.startswith("<"):  # a text file's contents
            data[key] = _read_file(value[1:])
        else:
            data[key] = _json_or_text(value)
    return data


def _file(key: str, path: str) -> Any:
    """The file `-i KEY=@PATH` uploads; why not in the shell's words, not Python's."""
    from predictions.files import File

    if not path:
        raise UsageError(f"-i {key}=@ names no file: write -i {key}=@FILE")
    given = f"cannot upload {path} (-i {key}=@{path})"
    try:
        return File(path)
    except FileNotFoundError:
        text = shlex.quote(f'{key}="@{path}"')
        raise UsageError(
            f"{given}: no such file; to send a text that starts with @, give it "
            f"as JSON: -i {text}"
        ) from None
    except IsADirectoryError:
        raise UsageError(f"{given}: it is a directory, not a file") from None
    except OSError as exc:
        raise UsageError(f"{given}: {_strerror(exc)}") from None
    except ValueError:  # a pipe, a device: File() needs a size
        raise UsageError(
            f"{given}: not a regular file (a pipe, a device?): save what to send "
            "into a file first"
        ) from None


def _json_or_text(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def _read_file(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {_strerror(exc)}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"cannot read {path}: it is not UTF-8 text ({exc.reason} at byte "
            f"{exc.start})"
        ) from None


def _strerror(exc: OSError) -> str:
    """An OSError's reason alone ("no such file or directory"): no errno."""
    text = exc.strerror or str(exc)
    return text[:1].lower() + text[1:]


def env_problem(name: str) -> Optional[str]:
    """Why the environment variable `name` gives no value; None if it does."""
    value = os.environ.get(name)
    if value is None:
        return "is not set"
    if not value:
        return "is empty"
    return None if value.strip() else "holds only white space"


def print_output(output: Any) -> None:
    print(output if isinstance(output, str) else json.dumps(output, indent=2))


def error_message(prediction: Dict[str, Any]) -> Optional[str]:
    error = prediction.get("error") or {}
    return error.get("message") if isinstance(error, dict) else None


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2))


def print_table(items: Sequence[Dict[str, Any]]) -> None:
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


def is_terminal(stream: IO[str]) -> bool:
    """Whether a stream is a terminal (a replaced one, in tests, may not say)."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class StatusLine:
    """One line on a terminal, redrawn in place, ended before anything else prints.

    A text longer than the terminal is cut to its width: a line that wraps
    cannot be redrawn in place.
    """

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.shown = False

    def draw(self, text: str) -> None:
        width = shutil.get_terminal_size().columns - 1
        self.stream.write("\r\x1b[2K" + text[: max(width, 20)])
        self.stream.flush()
        self.shown = True

    def end(self, clear: bool = False) -> None:
        """Leave the line as it is (`clear`: erase it), the cursor on a fresh line."""
        if self.shown:
            self.stream.write("\r\x1b[2K" if clear else "\n")
            self.stream.flush()
            self.shown = False


__all__ = [
    "StatusLine",
    "UsageError",
    "env_problem",
    "error_message",
    "is_terminal",
    "print_json",
    "print_output",
    "print_table",
    "read_input",
]
