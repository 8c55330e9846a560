"""The plugins page's "Writing a plugin" example runs as written."""

from __future__ import annotations

import pathlib
import re
import textwrap

PAGE = pathlib.Path(__file__).resolve().parents[2] / "docs" / "plugins.rst"


def example() -> str:
    text = PAGE.read_text(encoding="utf-8")
    section = text.split("Writing a plugin\n----------------\n", 1)[1]
    match = re.search(r"\.\. code-block:: python\n\n((?:   .*\n|\n)+)", section)
    assert match, "the section has a Python example"
    return textwrap.dedent(match.group(1))


def test_the_plugin_example_runs(capsys: object) -> None:
    code = example()
    assert "@hookimpl" in code
    namespace: dict = {"__name__": "plugins_page_example"}
    exec(compile(code, str(PAGE), "exec"), namespace)
    tracing = namespace["tracing"]
    assert tracing.waits[0][0] == "succeeded"
    # Every request was traced (a held create is one request: no poll).
    assert len(tracing.trace_ids) == len(namespace["sent"]) >= 1
