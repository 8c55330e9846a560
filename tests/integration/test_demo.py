"""`make demo` runs examples/demo.py: it must run to the end and show each part."""

from __future__ import annotations

import pathlib
import subprocess
import sys

DEMO = pathlib.Path(__file__).resolve().parents[2] / "examples" / "demo.py"


def test_the_demo_runs_to_the_end() -> None:
    result = subprocess.run(
        [sys.executable, str(DEMO)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for expected in (
        "demo/echo        succeeded",
        "demo/word-count  succeeded",
        "demo/sleep       succeeded",
        "started",
        "10 predictions, statuses ['succeeded']",
        "status=failed source=external",
        "signature verified",
        "is refused",
        "done.",
    ):
        assert expected in out, (expected, out)
    assert "Traceback" not in result.stderr
