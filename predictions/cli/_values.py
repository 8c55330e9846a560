"""The command line's parsers and argument types, shared by every command.

A parser here exits 2 on a usage error, with a pointer to `--help`, and takes
no abbreviated option (with prefix matching, `--token sekrit` was taken as
`--token-env sekrit`). An argument type turns the text into a number and
checks its range, or says in one line what is wrong.
"""

from __future__ import annotations

import argparse
import math
from typing import Any, Callable, NoReturn, TypeVar

from predictions.cli._exit import EXIT_USAGE

T = TypeVar("T")
N = TypeVar("N", int, float)


class Parser(argparse.ArgumentParser):
    """A parser that exits 2 with a pointer to --help, and takes no abbreviations."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        """Print `PROG: error: MESSAGE (see --help)` and exit with status 2."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def number(
    convert: Callable[[str], N], noun: str, allowed: Callable[[N], bool], rule: str
) -> Callable[[str], N]:
    """An argparse type: a number `convert` reads, then checked.

    Args:
        convert: `int` or `float`.
        noun: What the number is, for "not a NOUN: 'text'".
        allowed: Whether the number is in range.
        rule: The error of a number out of range; `{value}` stands for the
            number, `{text}` for the argument as given.
    """

    def parse(text: str) -> N:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a {noun}: {text!r}") from None
        if not allowed(value):
            raise argparse.ArgumentTypeError(rule.format(value=value, text=text))
        return value

    return parse


def checked(parse: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse type that reports a ValueError's own message."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


seconds = number(
    float,
    "number of seconds",
    lambda value: math.isfinite(value) and value >= 0,
    "must be a finite number of seconds >= 0, not {text}",
)
"""A duration in seconds: a finite number, at least 0."""
positive_seconds = number(
    float,
    "number of seconds",
    lambda value: math.isfinite(value) and value > 0,
    "must be a finite number of seconds > 0, not {text}",
)
"""A duration in seconds: a finite number, more than 0."""
count = number(
    int, "whole number", lambda value: value >= 1, "must be at least 1, not {value}"
)
"""A count: an integer, at least 1."""
