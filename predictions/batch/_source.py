"""A batch's rows as it sends them: read, keyed, shaped, and the first `limit`.

What can be checked before anything is sent is checked when the source is
opened: the file (its SHA-256, its rows counted, a CSV's header), the
columns to exclude or type against that header. `check_exclusions` then reads
a JSONL file's rows (or a list's) once more, when fields are excluded, to
refuse a field that no row has (a misspelt name would else leave nothing
out) or an exclusion that leaves no row anything to send.
"""

from __future__ import annotations

import itertools
import os
from typing import (
    Any,
    Iterable,
    Iterator,
    Mapping,
    Optional,
    Sequence,
    Sized,
    Union,
)

from predictions.batch._rows import InputFile, Row, python_rows
from predictions.batch._shape import Shape
from predictions.errors import InputError


class Source:
    """The rows of a batch, as it sends them; iterate it for them.

    A file or a list is read afresh by each iteration; other iterables once.

    Args:
        inputs: Input mappings, or the path of a JSONL or CSV file.
        key: The field whose value names each row; None numbers them.
        format: A file's format, "jsonl" or "csv"; None goes by its suffix.
        exclude: Fields left out of what is sent.
        types: CSV columns converted, each to a type of `TYPE_NAMES`.
        limit: Only the first rows, this many; None for all.

    Raises:
        TypeError, ValueError: An argument is not valid (`types` is for a
            CSV file only).
        InputError: The file cannot be read as rows, or a CSV has no column
            to exclude or type, or every column is excluded.
    """

    def __init__(
        self,
        inputs: Union[Iterable[Mapping[str, Any]], str, os.PathLike[str]],
        key: Optional[str] = None,
        format: Optional[str] = None,
        exclude: Sequence[str] = (),
        types: Optional[Mapping[str, str]] = None,
        limit: Optional[int] = None,
    ) -> None:
        self.shape = Shape(exclude, types)
        self.limit = limit
        self.total: Optional[int] = None
        """How many rows it holds (at most `limit`), when known."""
        self.path: Optional[str] = None
        """The input file's absolute path; None for rows from Python."""
        self.sha: Optional[str] = None
        """The input file's SHA-256; None for rows from Python."""
        self._file: Optional[InputFile] = None
        self._python: Iterable[Any] = ()
        self._again = True  # whether the rows can be read twice
        if isinstance(inputs, (str, os.PathLike)):
            self._file = InputFile(inputs, key, format)
            self.total, self.sha = self._file.total, self._file.sha
            self.path = os.path.abspath(self._file.path)
            if self._file.format == "csv":
                self.shape.check_columns(self._file.path, self._file.columns)
        else:
            python_rows(inputs, key)  # refuses what is not rows, at once
            self._python = inputs
            self.total = len(inputs) if isinstance(inputs, Sized) else None
            self._again = isinstance(inputs, Sequence)
        if self.shape.types and (self._file is None or self._file.format != "csv"):
            raise ValueError(
                "types are for the columns of a CSV file, whose cells are text; "
                "the values of JSON lines and of Python rows have their types"
            )
        self._key = key
        if limit is not None and self.total is not None:
            self.total = min(self.total, limit)

    def __iter__(self) -> Iterator[Row]:
        rows: Iterable[Row]
        if self._file is not None:
            rows = self._file
        else:
            rows = python_rows(self._python, self._key)
        if self.limit is not None:
            rows = itertools.islice(rows, self.limit)
        return self.shape.rows(rows)

    def check_exclusions(self) -> None:
        """Read the rows once, if fields are excluded, to check what they had.

        A CSV's header told already; an iterable read once cannot be read
        before the batch (its rows lacking a field have nothing left out).

        Raises:
            InputError: No row has a field to exclude, or the exclusions
                leave no row anything to send.
        """
        shape = self.shape
        csv = self._file is not None and self._file.format == "csv"
        if not shape.exclude or not self._again or csv:
            return
        for _ in self:
            pass
        where = f" of {self._file.path}" if self._file is not None else ""
        missing = shape.missing()
        if missing:
            raise InputError(
                f"no row{where} has the field {missing[0]!r} to exclude "
                "(misspelt?); nothing was sent"
            )
        if shape.emptied and not shape.kept:
            raise InputError(
                f"excluding {', '.join(map(repr, shape.exclude))} leaves no "
                f"row{where} anything to send; nothing was sent"
            )


__all__ = ["Source"]
