"""The webhooks page's example of de-duplicating repeated deliveries runs as written."""

from __future__ import annotations

import json
import pathlib
import re
import textwrap
from typing import Any, Dict, List

import pytest

from predictions.webhooks import sign

PAGE = pathlib.Path(__file__).resolve().parents[2] / "docs" / "webhooks.rst"
SECRET = "whsec-docs"


def example() -> str:
    text = PAGE.read_text(encoding="utf-8")
    section = text.split("Handling each delivery once\n", 1)[1]
    assert "Deliveries can repeat" in section
    after = section.split("Deliveries can repeat", 1)[1]
    match = re.search(r"\.\. code-block:: python\n\n((?:   .*\n|\n)+)", after)
    assert match, "the paragraph has a Python example"
    return textwrap.dedent(match.group(1))


def test_the_dedup_example_handles_each_change_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    namespace: Dict[str, Any] = {"__name__": "webhooks_page_dedup"}
    exec(compile(example(), str(PAGE), "exec"), namespace)
    handled: List[Dict[str, Any]] = []
    namespace["handle"] = handled.append  # the example's "your code"
    receive = namespace["receive"]

    def delivery(status: str) -> bytes:
        # An id of its own: the example tries its receiver on deliveries too.
        return json.dumps({"id": "p-test", "status": status}).encode()

    for status in ["pending", "pending", "started", "succeeded", "succeeded"]:
        body = delivery(status)
        assert receive(body, sign(body, SECRET)) in (200, 204)  # repeats too
    assert [p["status"] for p in handled] == ["pending", "started", "succeeded"]
    body = delivery("failed")
    assert receive(body, sign(body, "another secret")) == 400
    assert len(handled) == 3
