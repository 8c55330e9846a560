"""`make demo` runs examples/demo.py: it must run to the end and show each part."""

from __future__ import annotations

import importlib.util
import os
import pathlib
import subprocess
import sys

DEMO = pathlib.Path(__file__).resolve().parents[2] / "examples" / "demo.py"


def test_the_demo_runs_to_the_end() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREDICTIONS_")}
    result = subprocess.run(
        [sys.executable, str(DEMO)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
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
    if importlib.util.find_spec("predictions_progress") is not None:
        # make demo installs the progress plugin: its lines go to stderr.
        assert "demo/sleep:1 started" in result.stderr
        assert "demo/sleep:1 succeeded (waited" in result.stderr
