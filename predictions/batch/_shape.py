"""What of a row is sent: the fields left out, and the CSV cells typed.

A batch sends each row's fields as they were read, its key field included.
`exclude` names fields to leave out of what is sent (the key's field among
them, for a key the model should not see). The key is taken from the row as
read, so leaving its field out, or typing it, changes no key.

A CSV cell is text; `types` names the columns to convert before they are
sent, each to one of `TYPE_NAMES`:

- `str`: the text as it is (what every column is unless typed);
- `int`: a whole number (`42`, `-3`; no fraction, no exponent);
- `float`: a number (`1.5`, `-2`, `3e-4`; not `nan`, not `inf`);
- `bool`: `true` or `false`, `yes` or `no`, `1` or `0`, in any case;
- `json`: any JSON value, so that a cell can hold a list or an object.

Spaces around a number or a bool are ignored; an empty cell is none of them.
A cell that does not convert makes its row `invalid`, the error naming its
line, column and value; the other rows run.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional

from predictions.batch._results import where
from predictions.batch._rows import Row, input_sha
from predictions.errors import InputError

TYPE_NAMES = ("str", "int", "float", "bool", "json")
"""The types a CSV column may be given."""

_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_BOOLS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def _to_int(text: str) -> int:
    if not _INT.fullmatch(text.strip()):
        raise ValueError("not an int (a whole number)")
    return int(text)


def _to_float(text: str) -> float:
    value = float(text) if _FLOAT.fullmatch(text.strip()) else math.nan
    if not math.isfinite(value):  # not a number, or past a float's range
        raise ValueError("not a float (a finite number)")
    return value


def _to_bool(text: str) -> bool:
    value = _BOOLS.get(text.strip().lower())
    if value is None:
        raise ValueError("not a bool (true or false, yes or no, 1 or 0)")
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _to_json(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise ValueError(f"not JSON ({reason})") from None


_CONVERTERS: Dict[str, Callable[[str], Any]] = {
    "int": _to_int,
    "float": _to_float,
    "bool": _to_bool,
    "json": _to_json,
}


class Shape:
    """The fields a batch leaves out, and the columns it types, for every row.

    It notes what the rows it shapes held: `missing()` tells, once they were
    all read, which fields to leave out no row had.

    Args:
        exclude: Fields to leave out of what is sent.
        types: CSV columns to convert, each to one of `TYPE_NAMES`.

    Raises:
        TypeError: `exclude` is not a list of names, or `types` not a mapping.
        ValueError: A name is empty, a type is not one of `TYPE_NAMES`, or a
            field is both left out and typed.
    """

    def __init__(
        self, exclude: Iterable[str] = (), types: Optional[Mapping[str, str]] = None
    ) -> None:
        if isinstance(exclude, (str, bytes)) or not hasattr(exclude, "__iter__"):
            raise TypeError(
                f"exclude must be a list of field names, not {exclude!r} "
                "(exclude=['id'] leaves out the field id)"
            )
        if types is not None and not isinstance(types, Mapping):
            raise TypeError(
                f"types must map column names to types, not {types!r} "
                "(types={'age': 'int'})"
            )
        self.exclude = tuple(dict.fromkeys(exclude))
        self.types = dict(types or {})
        for name in (*self.exclude, *self.types):
            if not isinstance(name, str) or not name:
                raise ValueError(
                    f"a field's name must be a non-empty string, not {name!r}"
                )
        for name, kind in self.types.items():
            if kind not in TYPE_NAMES:
                raise ValueError(
                    f"the column {name!r} cannot be typed {kind!r}: a type is "
                    f"one of {', '.join(TYPE_NAMES)}"
                )
            if name in self.exclude:
                raise ValueError(
                    f"the field {name!r} is both excluded and typed: it is not "
                    "sent, so it has no type"
                )
        self._convert = {
            name: _CONVERTERS[kind]
            for name, kind in self.types.items()
            if kind != "str"
        }
        self._found: Dict[str, None] = {}  # the excluded fields some row had
        self.emptied = 0
        """Rows left with nothing to send, their every field excluded."""
        self.kept = 0
        """Rows left with a field to send."""

    @property
    def plain(self) -> bool:
        """Whether rows are sent as they are read."""
        return not self.exclude and not self._convert

    def check_columns(self, path: str, columns: Iterable[str]) -> None:
        """Refuse a CSV that lacks a column to exclude or to type, or keeps none.

        Raises:
            InputError: A column is not in the file, or every column is excluded.
        """
        columns = tuple(columns)
        for name in (*self.exclude, *self.types):
            if name not in columns:
                doing = "exclude" if name in self.exclude else "type"
                raise InputError(
                    f"{path} has no column {name!r} to {doing} (its columns are "
                    f"{', '.join(columns)}); nothing was sent"
                )
        if set(columns) <= set(self.exclude):
            raise InputError(
                f"excluding {', '.join(map(repr, self.exclude))} leaves nothing "
                f"to send: they are every column of {path}; nothing was sent"
            )

    def missing(self) -> List[str]:
        """The fields to exclude that no row shaped so far had."""
        return [name for name in self.exclude if name not in self._found]

    def rows(self, rows: Iterable[Row]) -> Iterator[Row]:
        """Each row as it is sent (see `apply`)."""
        if self.plain:
            return iter(rows)
        return (self.apply(row) for row in rows)

    def apply(self, row: Row) -> Row:
        """The row as it is sent: its fields left out and its cells typed.

        A row already in error is as it was; a cell that does not convert,
        or a row left with nothing to send, makes it `invalid` (an error).
        """
        if self.plain or row.error is not None:
            return row
        sent: Dict[str, Any] = {}
        for name, value in row.input.items():
            if name in self.exclude:
                self._found[name] = None
                continue
            convert = self._convert.get(name)
            if convert is not None and isinstance(value, str):
                try:
                    value = convert(value)
                except ValueError as exc:
                    return self._invalid(
                        row, f"the column {name!r} holds {_shown(value)}: {exc}"
                    )
            sent[name] = value
        if not sent:
            self.emptied += 1
            return self._invalid(
                row, "nothing is left to send: every field it has is excluded"
            )
        self.kept += 1
        return row._replace(input=sent, sha=input_sha(sent))

    @staticmethod
    def _invalid(row: Row, reason: str) -> Row:
        # The SHA of the row as read: a row fixed in the file is one changed.
        return row._replace(
            input=None, error=f"{where(row)}: {reason}", sha=input_sha(row.input)
        )


def _shown(value: str) -> str:
    """A cell for a message: quoted, and cut if long."""
    return repr(value) if len(value) <= 60 else repr(value[:57]) + "..."


__all__ = ["TYPE_NAMES", "Shape"]
