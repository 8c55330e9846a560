"""The rows of a batch: from Python, or read from a JSONL or CSV file.

Each row has a key (its line number, its position, or the value of a key
field), the input to send, and the SHA-256 of that input (so a resumed batch
knows a row whose input changed). A row that cannot be an input (not a JSON
object, a CSV line with the wrong number of fields, a missing key) carries an
error instead and fails alone; the others run.

Reading is streamed: a file is read a line at a time, never whole, and no
line (no CSV record) may hold more than `MAX_ROW_BYTES`: a longer one is one
`invalid` row, skipped without being held, and what follows it is read from
the start of the next line (the next record).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import json
import os
from typing import (
    Any,
    Iterable,
    Iterator,
    Mapping,
    NamedTuple,
    Optional,
    TextIO,
    Tuple,
)

from predictions.errors import InputError

MAX_ROW_BYTES = 16 * 1024 * 1024
"""The longest row a file may hold (a line of JSONL, a record of CSV)."""

_CHUNK = 1024 * 1024


class Row(NamedTuple):
    """One row of a batch."""

    seq: int
    """Its position among the rows, from 0."""
    key: str
    """What names it in the ledger and the results."""
    line: Optional[int]
    """Its line in the input file (its first line, for CSV); None from Python."""
    input: Any
    """The input to send; None when `error` is set."""
    error: Optional[str]
    """Why the row cannot be sent, or None."""
    sha: str
    """The SHA-256 of its input (of its text, when it has an error)."""


def input_sha(value: Any) -> str:
    """The SHA-256 of an input, whatever the order of its keys."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _text_sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()


def _key_of(
    value: Any, key_field: Optional[str], number: int, where: str
) -> Tuple[str, Optional[str]]:
    """The row's key, and an error if its key field is missing or unusable."""
    if key_field is None:
        return str(number), None
    key = value.get(key_field) if isinstance(value, Mapping) else None
    if isinstance(key, bool) or not isinstance(key, (str, int)) or key == "":
        return f"{where} {number}", (
            f"{where} {number}: the key field {key_field!r} is missing, empty, "
            "or not a string or an integer"
        )
    return str(key), None


def python_rows(inputs: Iterable[Any], key_field: Optional[str]) -> Iterator[Row]:
    """Rows from Python: each item an input mapping; keys are 1, 2, 3...

    Raises:
        TypeError: `inputs` is bytes, a mapping or not iterable (not rows);
            raised at once, not on the first `next()`.
    """
    if isinstance(inputs, (bytes, Mapping)) or not hasattr(inputs, "__iter__"):
        raise TypeError(
            "inputs must be an iterable of input mappings, or the path of a "
            ".jsonl or .csv file, not " + type(inputs).__name__
        )
    return _python_rows(inputs, key_field)


def _python_rows(inputs: Iterable[Any], key_field: Optional[str]) -> Iterator[Row]:
    for seq, value in enumerate(inputs):
        number = seq + 1
        key, error = _key_of(value, key_field, number, "row")
        if not isinstance(value, Mapping):
            error = f"row {number}: not a mapping but {type(value).__name__}"
        if error is not None:
            yield Row(seq, key, None, None, error, _text_sha(repr(value)))
            continue
        try:
            sha = input_sha(value)
        except (TypeError, ValueError) as exc:
            yield Row(seq, key, None, None, f"row {number}: not JSON: {exc}", "")
            continue
        yield Row(seq, key, None, value, None, sha)


class InputFile:
    """A JSONL or CSV file of rows, read as a stream.

    Args:
        path: The file; its format is taken from its suffix (`.jsonl`,
            `.ndjson`, `.json` lines, or `.csv`) unless `format` says.
        key_field: The field whose value is each row's key; None for the
            row's line number.
        format: "jsonl" or "csv", or None to go by the suffix.

    Raises:
        InputError: The file cannot be opened, is not UTF-8, or (CSV) has no
            header line naming its columns.
    """

    def __init__(
        self,
        path: os.PathLike[str] | str,
        key_field: Optional[str] = None,
        format: Optional[str] = None,
    ) -> None:
        self.path = os.fspath(path)
        self.key_field = key_field
        suffix = os.path.splitext(self.path)[1].lower()
        self.format = format or ("csv" if suffix == ".csv" else "jsonl")
        if self.format not in ("jsonl", "csv"):
            raise ValueError(f"format must be 'jsonl' or 'csv', not {format!r}")
        self.sha, self.total = self._survey()
        """How many rows the file holds (its records that are not blank)."""
        self.columns: Tuple[str, ...] = ()
        """A CSV's columns, as its header names them."""
        if self.format == "csv":  # a file with no header is refused at once
            self.total = self._count_records()

    def _survey(self) -> Tuple[str, int]:
        """One pass: the file's SHA-256 and its lines that are not blank.

        Raises:
            InputError: The file cannot be read or is not UTF-8.
        """
        digest = hashlib.sha256()
        decoder = codecs.getincrementaldecoder("utf-8-sig")()
        lines, number, partial, skipping = 0, 1, "", False
        try:
            with open(self.path, "rb") as file:
                for chunk in iter(lambda: file.read(_CHUNK), b""):
                    digest.update(chunk)
                    try:
                        text = decoder.decode(chunk)
                    except UnicodeDecodeError as exc:
                        number += chunk[: max(exc.start, 0)].count(b"\n")
                        raise InputError(
                            f"{self.path} is not UTF-8 text (near line {number}); "
                            "nothing was sent"
                        ) from None
                    *complete, partial = (partial + text).split("\n")
                    if complete and skipping:  # the end of a line too long
                        complete[0], skipping = "", False
                    lines += sum(1 for line in complete if line.strip())
                    number += len(complete)
                    if len(partial) > MAX_ROW_BYTES and not skipping:
                        lines, partial, skipping = lines + 1, "", True  # counted
                    elif skipping:
                        partial = ""  # not kept: the rest of a line too long
                try:
                    decoder.decode(b"", final=True)
                except UnicodeDecodeError:
                    raise InputError(
                        f"{self.path} ends inside a UTF-8 character (line {number}); "
                        "nothing was sent"
                    ) from None
        except OSError as exc:
            raise InputError(f"cannot read {self.path}: {exc.strerror}") from None
        return digest.hexdigest(), lines + bool(partial.strip() and not skipping)

    def _count_records(self) -> int:
        """A CSV's rows (a record may span lines); refuses a file with no header."""
        with self._csv_records() as (records, self.columns):
            return sum(1 for _, text in records if text is None or text.strip())

    @contextlib.contextmanager
    def _csv_records(
        self,
    ) -> Iterator[Tuple[Iterator[Tuple[int, Optional[str]]], Tuple[str, ...]]]:
        """The CSV's records past its header (see `_records`), and the header.

        csv's own limit on a field's size (128 KiB) is lifted to a row's while
        it is open: a record is never longer than that when it is parsed.
        """
        limit = csv.field_size_limit()
        csv.field_size_limit(MAX_ROW_BYTES)
        try:
            with open(self.path, encoding="utf-8-sig", newline="") as file:
                records = _records(file)
                first = next(records, (1, ""))[1]
                yield records, self._header(first)
        finally:
            csv.field_size_limit(limit)

    def __iter__(self) -> Iterator[Row]:
        return self._csv() if self.format == "csv" else self._jsonl()

    def _lines(self) -> Iterator[Tuple[int, Optional[str]]]:
        """(line number, text) for each line; text None for a line too long."""
        with open(self.path, "rb") as file:
            number = 0
            while True:
                raw = file.readline(MAX_ROW_BYTES + 1)
                if not raw:
                    return
                number += 1
                if len(raw) > MAX_ROW_BYTES and not raw.endswith(b"\n"):
                    while raw and not raw.endswith(b"\n"):  # skip the rest of it
                        raw = file.readline(_CHUNK)
                    yield number, None
                    continue
                yield number, raw.decode("utf-8-sig" if number == 1 else "utf-8")

    def _jsonl(self) -> Iterator[Row]:
        seq = 0
        for number, text in self._lines():
            if text is not None and not text.strip():
                continue
            value, error = _parse_json_object(text, number)
            key, key_error = _key_of(value, self.key_field, number, "line")
            error = error or key_error
            if error is not None:
                yield Row(seq, key, number, None, error, _text_sha(text or ""))
            else:
                yield Row(seq, key, number, value, None, input_sha(value))
            seq += 1

    def _csv(self) -> Iterator[Row]:
        with self._csv_records() as (records, header):
            seq = 0
            for number, text in records:
                if text is not None and not text.strip():
                    continue
                try:
                    if text is None:
                        raise csv.Error(f"longer than {MAX_ROW_BYTES} bytes")
                    fields = next(csv.reader([text]), [])
                except csv.Error as exc:
                    key = f"line {number}"
                    yield Row(seq, key, number, None, f"line {number}: {exc}", "")
                    seq += 1
                    continue
                if not fields or fields == [""]:
                    continue
                if len(fields) != len(header):
                    error: Optional[str] = (
                        f"line {number}: {len(fields)} fields where the header "
                        f"names {len(header)}"
                    )
                    value: Any = None
                else:
                    value, error = dict(zip(header, fields)), None
                key, key_error = _key_of(value, self.key_field, number, "line")
                error = error or key_error
                if error is not None:
                    text = ",".join(fields)
                    yield Row(seq, key, number, None, error, _text_sha(text))
                else:
                    yield Row(seq, key, number, value, None, input_sha(value))
                seq += 1

    def _header(self, first: Optional[str]) -> Tuple[str, ...]:
        """The CSV's first record, which must name its columns."""
        try:
            if first is None:
                raise csv.Error(f"longer than {MAX_ROW_BYTES} bytes")
            header = tuple(name.strip() for name in next(csv.reader([first]), ()))
        except csv.Error as exc:
            raise InputError(f"{self.path}, line 1: {exc}") from None
        problem = None
        if not header:
            problem = "it is empty"
        elif any(not name for name in header):
            problem = "a column has no name"
        elif len(set(header)) != len(header):
            problem = "two columns have the same name"
        elif any(_is_number(name) for name in header):
            problem = "a column's name is a number: is line 1 data?"
        if problem is not None:
            raise InputError(
                f"{self.path} has no header: a CSV must start with a line naming "
                f"its columns, and {problem}; nothing was sent"
            )
        if self.key_field is not None and self.key_field not in header:
            raise InputError(
                f"{self.path} has no column {self.key_field!r} (the key field); "
                f"its columns are {', '.join(header)}"
            )
        return header


def _records(file: TextIO) -> Iterator[Tuple[int, Optional[str]]]:
    """(first line number, text) of each CSV record; text None when too long.

    A record ends at a line end outside quotes, as csv's default dialect has
    it. A record longer than `MAX_ROW_BYTES` is read on to its end but not
    held, so the next record starts where it should, never mid-field.
    """
    ended = 0  # line ends read so far
    while True:
        line = file.readline(MAX_ROW_BYTES + 1)
        if not line:
            return
        first, parts, size, quotes = ended + 1, [line], _size(line), _Quotes()
        while True:
            quotes.feed(line)
            if line.endswith(("\n", "\r")):
                ended += 1
                if not quotes.open():
                    break  # the record's end
            if size > MAX_ROW_BYTES:
                parts = []  # too long: read on to its end, holding nothing
            line = file.readline(MAX_ROW_BYTES + 1 if parts else _CHUNK)
            if not line:
                break  # the file's end
            size += _size(line)
            if parts:
                parts.append(line)
        yield first, ("".join(parts) if parts and size <= MAX_ROW_BYTES else None)


def _size(text: str) -> int:
    """The bytes of `text` in UTF-8 (the row limit is in bytes, as for JSONL)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


class _Quotes:
    """Whether a CSV record is inside a quoted field, fed its text in pieces.

    csv's default dialect: a quote opens a quoted field only at a field's
    start, `""` inside one is a quote, and a piece may end between the two.
    """

    def __init__(self) -> None:
        self.quoted = False
        self.pending = False  # a quote ended the last piece, inside a field
        self.before = "\n"  # the character before the next piece

    def open(self) -> bool:
        """Whether a line end now is inside a quoted field."""
        return self.quoted and not self.pending

    def feed(self, text: str) -> None:
        """Follow the quotes of the record's next piece."""
        at = 0
        if self.pending:
            self.pending = False
            if text.startswith('"'):
                at = 1  # `""` cut between two pieces: still quoted
            else:
                self.quoted = False
        while True:
            found = text.find('"', at)
            if found < 0:
                break
            if self.quoted:
                if found + 1 == len(text):
                    self.pending = True
                    break
                if text[found + 1] == '"':
                    at = found + 2
                    continue
                self.quoted = False
            elif (text[found - 1] if found else self.before) in ",\n\r":
                self.quoted = True
            at = found + 1
        if text:
            self.before = text[-1]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse_json_object(text: Optional[str], number: int) -> Tuple[Any, Optional[str]]:
    """A line's JSON object, or the reason it is not one."""
    if text is None:
        return None, f"line {number}: longer than {MAX_ROW_BYTES} bytes"
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        return None, f"line {number}: not JSON ({reason})"
    if not isinstance(value, dict):
        kind = "a list" if isinstance(value, list) else type(value).__name__
        if value is None:
            kind = "null"
        return None, f"line {number}: not a JSON object but {kind}"
    return value, None


__all__ = [
    "MAX_ROW_BYTES",
    "InputError",
    "InputFile",
    "Row",
    "input_sha",
    "python_rows",
]
