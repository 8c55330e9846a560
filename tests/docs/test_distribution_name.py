"""The distribution's name is its own: no install line or dependency names the
bare `predictions`, an unrelated project on the package index (issue 19)."""

from __future__ import annotations

import configparser
import pathlib
import re
import shlex
from typing import Iterator, List, Tuple

ROOT = pathlib.Path(__file__).resolve().parents[2]
NAME = "wriftai-predictions"
# A requirement's name: what comes before extras, a version or a marker.
REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
PIP_INSTALL = re.compile(r"pip\s+install\s+(.+)")
OTHER_DEPENDENCIES = {"opentelemetry-api"}
"""What a first-party plugin may depend on besides the client (otel's)."""


def sources() -> List[pathlib.Path]:
    names = ["README.rst", "setup.cfg", "Makefile", "pyproject.toml"]
    found = [ROOT / name for name in names]
    for pattern in ("docs/*.rst", "plugins/**/*.md", "plugins/*/pyproject.toml"):
        found += sorted(ROOT.glob(pattern))
    found += sorted((ROOT / "predictions").rglob("*.py"))
    found += sorted((ROOT / "examples").rglob("*.py"))
    found += sorted((ROOT / "scripts").rglob("*.sh"))
    return [path for path in found if path.is_file()]


def installed(line: str) -> Iterator[str]:
    """The distributions a `pip install ...` line names (not paths or options)."""
    match = PIP_INSTALL.search(line)
    if match is None:
        return
    try:
        words = shlex.split(match.group(1).split("#")[0], posix=True)
    except ValueError:
        words = match.group(1).split()
    for word in words:
        word = word.strip("`'\"")
        if word.startswith(("-", ".", "/", "$")) or "/" in word:
            continue  # an option, a path, a variable
        name = REQUIREMENT_NAME.match(word)
        if name:
            yield name.group(1)


def dependencies(path: pathlib.Path) -> Iterator[Tuple[str, str]]:
    text = path.read_text(encoding="utf-8")
    for block in re.findall(r"dependencies\s*=\s*\[(.*?)\]", text, re.DOTALL):
        for item in re.findall(r"[\"']([^\"']+)[\"']", block):
            name = REQUIREMENT_NAME.match(item)
            if name:
                yield name.group(1), item


def test_the_distribution_is_named_wriftai_predictions() -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    assert config["metadata"]["name"] == NAME


def test_no_install_line_names_the_bare_name() -> None:
    bare = []
    for path in sources():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            if any(name.lower() == "predictions" for name in installed(line)):
                bare.append(f"{path.relative_to(ROOT)}:{number + 1}: {line.strip()}")
    assert bare == []


def test_no_dependency_names_the_bare_name() -> None:
    bare = []
    docs = [ROOT / "README.rst", *sorted(ROOT.glob("docs/*.rst"))]
    for path in [*ROOT.glob("plugins/*/pyproject.toml"), *docs]:
        bare += [
            f"{path.relative_to(ROOT)}: {item}"
            for name, item in dependencies(path)
            if name.lower() == "predictions"
        ]
    assert bare == []
    plugins = sorted(ROOT.glob("plugins/*/pyproject.toml"))
    assert plugins
    for path in plugins:
        names = [name for name, _ in dependencies(path)]
        assert names[0] == NAME, path  # the client, by its own name
        # and otherwise only what a plugin's job needs: otel, the API alone
        assert set(names[1:]) <= OTHER_DEPENDENCIES, path


def test_the_checks_catch_the_bare_name() -> None:
    assert list(installed('pip install "predictions[dask]"')) == ["predictions"]
    assert list(installed("pip install -U predictions==1.0")) == ["predictions"]
    assert list(installed("pip install . ./plugins/progress")) == []
    assert list(installed(f"pip install {NAME}")) == [NAME]
