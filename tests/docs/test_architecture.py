"""The architecture page names every module of the package, and only those."""

from __future__ import annotations

import pathlib
import re
from typing import Set

ROOT = pathlib.Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "architecture.rst"

# ``predictions/_http/api.py`` names a module; ``predictions/_http/`` a package
# (its __init__.py).
NAMED = re.compile(r"``(predictions/(?:[\w/]*/)?(?:\w+\.py)?)``")


def modules() -> Set[str]:
    """The package's modules as the page names them."""
    names = set()
    for path in (ROOT / "predictions").rglob("*.py"):
        relative = path.relative_to(ROOT).as_posix()
        if path.name == "__init__.py":
            relative = relative[: -len("__init__.py")]
        names.add(relative)
    return names


def named() -> Set[str]:
    return set(NAMED.findall(PAGE.read_text(encoding="utf-8")))


def test_every_module_is_on_the_page() -> None:
    missing = sorted(modules() - named())
    assert missing == [], f"docs/architecture.rst does not name {missing}"


def test_the_page_names_no_module_that_does_not_exist() -> None:
    gone = sorted(named() - modules())
    assert gone == [], f"docs/architecture.rst names {gone}, which do not exist"


def test_the_page_is_in_the_docs_table_of_contents() -> None:
    index = (ROOT / "docs" / "index.rst").read_text(encoding="utf-8")
    assert re.search(r"^\s+architecture$", index, re.MULTILINE)
