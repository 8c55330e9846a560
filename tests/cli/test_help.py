"""Every option's help text and the placeholder its usage shows agree (issue 21)."""

from __future__ import annotations

import argparse
import re
from typing import Iterator, List, Set, Tuple

from predictions.cli import _values as values
from predictions.cli._args import build_parser
from predictions.cli._serve_args import build_parser as build_serve_parser

# A placeholder a help text may use: a word in capitals (KEY=VALUE, DIR, S);
# not one inside a value's form (KEY=@FILE, [,delay=S]) nor a variable ($NAME).
PLACEHOLDER = re.compile(r"(?<![\w$.=/@<\[,-])([A-Z][A-Z_]*(?:=[A-Z]+)?)(?![\w(])")
# Placeholders that are words too ("a download URL of an upload").
WORDS = {"URL", "TOKEN"}


def parsers() -> List[argparse.ArgumentParser]:
    found = []
    todo = [build_parser(), build_serve_parser()]
    while todo:
        parser = todo.pop()
        found.append(parser)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                todo.extend(action.choices.values())
    return found


def options() -> Iterator[Tuple[str, argparse.Action]]:
    """Each option that takes a value, with the parser's name."""
    for parser in parsers():
        for action in parser._actions:
            if action.option_strings and action.nargs != 0 and action.help:
                yield parser.prog, action


def shown(action: argparse.Action) -> str:
    """The placeholder `--help` shows after the option."""
    formatter = argparse.HelpFormatter("predictions")
    return formatter._format_args(action, action.dest.upper())


def test_a_help_text_names_the_value_as_its_usage_shows_it() -> None:
    """`--timeout` said "give up after S seconds" next to `--timeout TIMEOUT`."""
    everyone: Set[str] = {shown(action) for _, action in options()}
    wrong = []
    for prog, action in options():
        text = action.help or ""
        mine = shown(action)
        for match in PLACEHOLDER.finditer(text):
            word = match.group(1)
            before = text[: match.start()].rstrip()
            if re.search(r"(^|\s)-{1,2}[a-z][\w-]*$", before):
                continue  # another option's value, named with it: "--output FILE"
            if word in WORDS or word == mine:
                continue
            if len(word) == 1 or word in everyone:
                wrong.append(f"{prog} {action.option_strings[0]} {mine}: {word!r}")
    assert wrong == []


def test_every_option_of_seconds_shows_seconds() -> None:
    """One word for one thing: --timeout SECONDS, as serve's options have it."""
    seconds = {values.seconds, values.positive_seconds}
    found = [(prog, a) for prog, a in options() if a.type in seconds]
    assert len(found) > 20
    wrong = [
        f"{prog} {action.option_strings[0]} {shown(action)}"
        for prog, action in found
        if shown(action) != "SECONDS"
    ]
    assert wrong == []
