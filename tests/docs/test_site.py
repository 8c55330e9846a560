"""The built site: every documented name under the path a user imports it from.

Sphinx builds the docs once (seconds: this file is on the SLOW list); the
tests read what a reader and other projects' docs see: the inventory
(`objects.inv`, every documented name, with the `:canonical:` paths autodoc
adds for re-exported classes), and each page's text (signatures, "Bases:",
type annotations), and the code blocks as rendered, docstrings' included.
"""

from __future__ import annotations

import html
import importlib
import pathlib
import re
import subprocess
import sys
import zlib
from typing import Iterator, List, Set

import pytest

from tests.docs.test_pages import WIDTH

pytest.importorskip("sphinx")
pytest.importorskip("furo")

ROOT = pathlib.Path(__file__).resolve().parents[2]
PRIVATE = re.compile(r"\bpredictions(?:\.\w+)*\._[A-Za-z]\w*")
"""A dotted path through a private module or name: `predictions._settings`."""

PUBLIC_MODULES = (
    "predictions",
    "predictions.batch",
    "predictions.dask",
    "predictions.testing",
    "predictions.webhooks",
)
"""The faces whose every name the reference documents (`__all__`), each under
the first of them that exports it."""

# Pages that name private modules on purpose: the map of the code, and the
# highlighted sources behind each "[source]" link.
MAPS = ("architecture.html", "_modules/")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("site")
    command = [
        sys.executable, "-m", "sphinx", "-q", "-b", "html",
        "-d", str(out / "doctrees"), str(ROOT / "docs"), str(out / "html"),
    ]  # fmt: skip
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    return out / "html"


def inventory(path: pathlib.Path) -> List[str]:
    """The Python names of a Sphinx inventory (`objects.inv`, version 2)."""
    with path.open("rb") as stream:
        header = [stream.readline() for _ in range(4)]
        assert header[0].startswith(b"# Sphinx inventory version 2")
        lines = zlib.decompress(stream.read()).decode("utf-8").splitlines()
    names = []
    for line in lines:
        name, role = line.split(" ", 2)[:2]
        if role.startswith("py:"):
            names.append(name)
    return names


def private(names: List[str]) -> List[str]:
    return [name for name in names if PRIVATE.search(name)]


def public_names() -> Iterator[str]:
    """Every name of the public faces, by the first face that exports it."""
    seen: Set[int] = set()
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            value = getattr(module, name)
            if name.startswith("__") or id(value) in seen:
                continue
            if callable(value):  # a class or a function: one object, one path
                seen.add(id(value))
            yield f"{module_name}.{name}"


def pages(site: pathlib.Path) -> Iterator[pathlib.Path]:
    for page in sorted(site.rglob("*.html")):
        relative = page.relative_to(site).as_posix()
        if not relative.startswith(MAPS):
            yield page


def text_of(markup: str) -> str:
    markup = re.sub(r"<(script|style)\b.*?</\1>", "", markup, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def test_the_check_finds_a_private_path() -> None:
    names = ["predictions._batch_run.BatchRun", "predictions.batch.BatchRun"]
    assert private(names) == ["predictions._batch_run.BatchRun"]
    assert private(["predictions.batch._run.BatchRun.close"]) != []
    assert private(["predictions.Client.__init__", "predictions.run"]) == []


def test_the_inventory_names_only_public_paths(site: pathlib.Path) -> None:
    names = inventory(site / "objects.inv")
    assert "predictions.Client" in names
    assert private(names) == []


def test_every_public_name_is_documented_where_it_is_imported_from(
    site: pathlib.Path,
) -> None:
    documented = set(inventory(site / "objects.inv"))
    missing = [name for name in public_names() if name not in documented]
    assert missing == [], "add them to docs/api.rst"


def test_no_page_shows_a_private_path(site: pathlib.Path) -> None:
    shown = {
        page.relative_to(site).as_posix(): sorted(set(PRIVATE.findall(text)))
        for page in pages(site)
        for text in [text_of(page.read_text(encoding="utf-8"))]
        if PRIVATE.search(text)
    }
    assert shown == {}


def test_no_rendered_code_line_needs_a_scrollbar(site: pathlib.Path) -> None:
    wide = []
    for page in pages(site):
        markup = page.read_text(encoding="utf-8")
        for block in re.findall(r"<pre>(.*?)</pre>", markup, flags=re.S):
            for line in text_of(block).splitlines():
                if len(line) > WIDTH:
                    wide.append(f"{page.relative_to(site)}: {line[:40]}...")
    assert wide == []
