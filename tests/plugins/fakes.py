"""Installed plugins, faked by patching importlib.metadata.distributions (as pluggy)."""

from __future__ import annotations

import contextlib
import importlib.metadata
import pathlib
import sys
from typing import Dict, Iterator, Sequence

import pytest

import predictions.plugins


class FakeDist:
    """Just what predictions.plugins reads of a distribution."""

    def __init__(self, name: str, version: str, entry_points: Dict[str, str]) -> None:
        self.metadata = {"Name": name}
        self.version = version
        self.entry_points = [
            importlib.metadata.EntryPoint(ep_name, value, "predictions.plugins")
            for ep_name, value in entry_points.items()
        ] + [importlib.metadata.EntryPoint("other", "os", "console_scripts")]


@contextlib.contextmanager
def installed(
    monkeypatch: pytest.MonkeyPatch,
    folder: pathlib.Path,
    modules: Dict[str, str],
    dists: Sequence[FakeDist],
) -> Iterator[None]:
    """`dists` look installed, their entry points naming `modules` (name: source).

    `PREDICTIONS_PLUGINS` is unset (every plugin selected); the modules are
    forgotten on the way out, and discovery runs again on next use.
    """
    for name, source in modules.items():
        (folder / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setattr(importlib.metadata, "distributions", lambda: iter(dists))
    monkeypatch.delenv("PREDICTIONS_PLUGINS", raising=False)
    predictions.plugins._forget_installed()
    try:
        yield
    finally:
        predictions.plugins._forget_installed()
        for name in modules:
            sys.modules.pop(name, None)


# A shelf of installed plugins: one that loads, three a client refuses, one
# that fails to import; and the reasons each is listed with.
HOOK = "from predictions import hookimpl\n\n\n@hookimpl\n"

MODULES = {
    "fake_good": HOOK + "def predictions_on_poll(prediction, polls):\n    pass\n",
    "fake_typo": HOOK + "def predictions_on_polll(prediction):\n    pass\n",
    "fake_colour": HOOK + "def predictions_on_poll(prediction, colour):\n    pass\n",
    "fake_wrapper": """
from predictions import hookimpl


class Plugin:
    @hookimpl(hookwrapper=True)
    def predictions_on_create(self, prediction):
        yield
""",
    "fake_gone": 'raise ImportError("fake_gone needs a missing library")\n',
}

DISTS = [
    FakeDist("predictions-good", "1.0", {"good": "fake_good"}),
    FakeDist("predictions-typo", "2.0", {"typo": "fake_typo"}),
    FakeDist("predictions-colour", "3.0", {"colour": "fake_colour"}),
    FakeDist("predictions-wrapper", "4.0", {"wrapper": "fake_wrapper:Plugin"}),
    FakeDist("predictions-gone", "5.0", {"gone": "fake_gone"}),
]

REASONS = {
    "typo": "unknown hook 'predictions_on_polll' (did you mean 'predictions_on_poll'?)",
    "colour": "hook 'predictions_on_poll' has no argument 'colour' "
    "(its arguments: prediction, polls, elapsed, operation)",
    "wrapper": "hook 'predictions_on_create' is a wrapper "
    "(predictions hooks are plain observers)",
    "gone": "ImportError: fake_gone needs a missing library",
}
