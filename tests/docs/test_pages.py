"""The docs are a site a reader can find their way in, and read without scrolling.

Every page is named by the index's "Where to go next" and linked from the
README (GitHub shows `docs/*.rst` itself), and no line of a code block is
wider than a laptop shows: with the furo theme, a code block shows 90
characters (DejaVu Sans Mono, the widest of the theme's fonts) without a
horizontal scrollbar at a window 1366, 1280 or 1024 pixels wide, measured
in headless Chromium; the 91st needs the scrollbar. Lines are kept to about
80, for the margin.
"""

from __future__ import annotations

import pathlib
import re
from typing import Iterator, List, Tuple

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = ROOT / "README.rst"
WIDTH = 90
"""The characters a code block line shows on a laptop's screen (see above)."""

# A literal block starts with a code directive, or a paragraph ending in
# `::` (a directive such as `.. toctree::` is not one).
CODE_DIRECTIVE = re.compile(
    r"^(\s*)\.\. (?:code-block|code|sourcecode|parsed-literal)::.*$"
)
LITERAL_PARAGRAPH = re.compile(r"^(\s*)(?!\.\. )\S.*::\s*$")


def pages() -> List[pathlib.Path]:
    return sorted(DOCS.glob("*.rst"))


def literal_blocks(text: str) -> Iterator[List[Tuple[int, str]]]:
    """Each literal block: its lines (1-based numbers, text dedented)."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        start = CODE_DIRECTIVE.match(line) or LITERAL_PARAGRAPH.match(line)
        if start is None:
            continue
        indent = len(start.group(1))
        body: List[Tuple[int, str]] = []
        number = index + 1
        # A directive's options (`:caption: ...`) come before a blank line.
        while number < len(lines) and lines[number].strip().startswith(":"):
            number += 1
        for later in lines[number:]:
            number += 1
            if later.strip() and len(later) - len(later.lstrip()) <= indent:
                break
            if later.strip():
                body.append((number, later))
        if body:
            margin = min(len(text) - len(text.lstrip()) for _, text in body)
            yield [(number, text[margin:]) for number, text in body]


def wide_lines(path: pathlib.Path) -> Iterator[Tuple[int, int]]:
    """Each code line wider than WIDTH: its line number, and its width."""
    for block in literal_blocks(path.read_text(encoding="utf-8")):
        for number, line in block:
            if len(line) > WIDTH:
                yield number, len(line)


def test_the_parser_finds_every_kind_of_block() -> None:
    text = (
        "A paragraph::\n\n   literal one\n\n"
        ".. code-block:: console\n   :caption: c\n\n   $ console two\n\n"
        ".. toctree::\n\n   not code\n\n"
        "- an item ending in a literal::\n\n     three\n"
    )
    found = list(literal_blocks(text))
    assert found == [[(3, "literal one")], [(8, "$ console two")], [(16, "three")]]


def test_no_code_line_needs_a_scrollbar_on_a_laptop() -> None:
    wide = [
        f"{path.relative_to(ROOT).as_posix()}:{number}: {width} characters"
        for path in [README, *pages()]
        for number, width in wide_lines(path)
    ]
    assert wide == [], f"code lines over {WIDTH} characters (keep them to ~80)"


def test_the_width_test_catches_a_wide_line(tmp_path: pathlib.Path) -> None:
    page = tmp_path / "page.rst"
    page.write_text(".. code-block:: python\n\n   x = " + "1" * 87 + "\n")
    assert list(wide_lines(page)) == [(3, WIDTH + 1)]


def test_the_index_names_every_page() -> None:
    index = (DOCS / "index.rst").read_text(encoding="utf-8")
    named = set(re.findall(r":doc:`(?:[^`<]*<)?([\w-]+)>?`", index))
    missing = [path.stem for path in pages() if path.stem != "index"]
    assert sorted(set(missing) - named) == []


def test_the_readme_links_to_every_page_and_each_link_works() -> None:
    readme = README.read_text(encoding="utf-8")
    linked = re.findall(r"<(docs/[\w-]+\.rst)>`_", readme)
    for link in linked:
        assert (ROOT / link).is_file(), link
    missing = [
        path.relative_to(ROOT).as_posix()
        for path in pages()
        if path.stem != "index" and path.relative_to(ROOT).as_posix() not in linked
    ]
    assert missing == []


def test_the_readme_is_a_front_door() -> None:
    readme = README.read_text(encoding="utf-8")
    titles = re.findall(r"^(.+)\n-+\n", readme, re.MULTILINE)
    assert titles == [
        "Two commands",
        "Installation",
        "Quickstart",
        "Tracing",
        "The guides",
    ]
    # The pages include its parts; a part left out of its markers is lost.
    for part in ("intro", "install", "quickstart"):
        assert f".. {part}-start" in readme
        assert f".. {part}-end" in readme
