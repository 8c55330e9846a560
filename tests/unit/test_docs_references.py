"""The docs: what the API reference lists, and the files they point at exist."""

from __future__ import annotations

import ast
import os
import pathlib
import re
from typing import Iterator, List, Set, Tuple

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

TOP = r"\.ci|benchmarks|constraints|docs|examples|plugins|predictions|scripts|tests"
"""The repository's folders (DESIGN.md, "The house")."""

# A path in the repository (`examples/webhooks/`, `tests/unit`), or a file the
# project would hold (`API.md`, `conftest.py`). `essay.txt` and the like are
# the reader's own files in the command line's examples: not looked for.
PATH = re.compile(
    rf"(?<![\w./-])(?:(?:{TOP})/[\w./-]*|[\w.-]+\.(?:py|md|rst|cfg|toml|ini))(?![\w/-])"
)
BUILT = ("docs/_build",)  # what `make docs` writes: not in the repository


def references(text: str) -> Iterator[str]:
    for match in PATH.finditer(text):
        path = match.group(0).rstrip(".")
        if not path.startswith(BUILT):
            yield path


def exists(path: str, tracked: Set[str]) -> bool:
    if "/" in path:
        return (ROOT / path).exists()
    return any(name == path for name in tracked)


def tracked_names() -> Set[str]:
    """The names of the repository's files (not those of venvs and builds)."""
    names: Set[str] = set()
    for _, subfolders, files in os.walk(ROOT):
        subfolders[:] = [
            name
            for name in subfolders
            if not name.startswith((".venv", ".git", "build", "_build"))
        ]
        names.update(files)
    return names


def rst_sources() -> List[pathlib.Path]:
    # The pages include parts of README.rst: it is rendered too.
    return [*sorted(DOCS.glob("*.rst")), ROOT / "README.rst"]


def docstrings() -> Iterator[Tuple[str, str]]:
    """Every docstring of the package (autodoc renders them), with where it is."""
    for path in sorted((ROOT / "predictions").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if not isinstance(body, list):
                continue
            for item in body:
                if (
                    isinstance(item, ast.Expr)
                    and isinstance(item.value, ast.Constant)
                    and isinstance(item.value.value, str)
                ):
                    where = f"{path.relative_to(ROOT)}:{item.lineno}"
                    yield where, item.value.value


def test_the_pattern_finds_paths_and_not_the_readers_files() -> None:
    text = (
        "see ``examples/webhooks/``, tests/unit and API.md; "
        "run it on essay.txt or body.json; built into docs/_build/html."
    )
    assert list(references(text)) == ["examples/webhooks/", "tests/unit", "API.md"]


def test_the_rst_sources_point_only_at_files_in_the_repository() -> None:
    tracked = tracked_names()
    missing = [
        (source.name, path)
        for source in rst_sources()
        for path in references(source.read_text(encoding="utf-8"))
        if not exists(path, tracked)
    ]
    assert missing == []


def test_the_docstrings_point_only_at_files_in_the_repository() -> None:
    tracked = tracked_names()
    missing = [
        (where, path)
        for where, text in docstrings()
        for path in references(text)
        if not exists(path, tracked)
    ]
    assert missing == []


def test_the_api_reference_lists_verify_webhook_and_the_conveniences() -> None:
    api = (DOCS / "api.rst").read_text(encoding="utf-8")
    # Each under the path it is imported from (tests/docs/test_site.py
    # checks every public name in a built site).
    top = api.split(".. currentmodule:: predictions\n", 1)[1]
    for directive in (
        ".. autofunction:: verify_webhook\n",
        ".. autofunction:: run\n",
        ".. autofunction:: async_run\n",
        ".. autoexception:: PredictionFailedError\n",
    ):
        assert directive in top
