"""One plugin warning, one message on stderr: a warning, not a log line too (issue 21).

A library user gets Python's warning (filterable; `logging.captureWarnings`
logs it); the command line shows it as one `predictions: warning:` line.
"""

from __future__ import annotations

import json
import logging
import os
import pathlib
import subprocess
import sys
from typing import Any, Dict, Tuple

import pytest
import responses

from predictions import Client, PluginWarning, hookimpl
from predictions.cli import main
from tests.conftest import BASE, prediction

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOT_INSTALLED = "PREDICTIONS_PLUGINS names plugin 'nope', which is not installed"


class Boom:
    @hookimpl
    def predictions_on_response(self) -> None:
        raise RuntimeError("kaboom")


def test_a_failing_hook_is_one_warning_and_no_log_line(
    mocked: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    mocked.add("GET", f"{BASE}/predictions/p1", json=prediction())
    caplog.set_level(logging.DEBUG, logger="predictions")
    with Client(BASE, plugins=[Boom()]) as client, pytest.warns(
        PluginWarning
    ) as caught:
        client.predictions.get("p1")
    (warning,) = caught
    assert str(warning.message).endswith(
        "failed in predictions_on_response: RuntimeError: kaboom"
    )
    assert [r.getMessage() for r in caplog.records if "kaboom" in r.getMessage()] == []


def test_the_command_line_shows_a_plugin_warning_as_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREDICTIONS_PLUGINS", "nope")
    code = main(["run", "--local", "demo/echo", "-i", "text=hi", "--prefer-wait", "5"])
    out, err = capsys.readouterr()
    assert (code, json.loads(out)) == (0, {"text": "hi"})
    (line,) = err.splitlines()
    assert line.startswith(f"predictions: warning: {NOT_INSTALLED} (installed: ")


def test_the_command_line_leaves_other_warnings_as_python_shows_them(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import warnings

    from predictions._logs import plugin_warnings_to_stderr

    with pytest.warns(UserWarning, match="not a plugin's"), plugin_warnings_to_stderr():
        warnings.warn("not a plugin's", UserWarning, stacklevel=1)
    assert capsys.readouterr().err == ""


def stderr_of(*argv: str) -> Tuple[int, str, str]:
    """Run Python with `argv` as a user would: default warnings, no logging set-up."""
    env: Dict[str, Any] = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREDICTIONS_", "PYTHONWARNINGS"))
    }
    env["PREDICTIONS_PLUGINS"] = "nope"
    done = subprocess.run(
        [sys.executable, *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(ROOT),
        timeout=60,
    )
    return done.returncode, done.stdout, done.stderr


def test_a_python_user_sees_one_message() -> None:
    code, _, err = stderr_of(
        "-c", "from predictions import Client; Client('http://127.0.0.1:9/v1').close()"
    )
    assert code == 0, err
    assert err.count(NOT_INSTALLED) == 1, err


def test_a_command_line_user_sees_one_line() -> None:
    code, out, err = stderr_of(
        "-c",
        "import sys; from predictions.cli import main; sys.exit(main())",
        "run",
        "--local",
        "demo/echo",
        "-i",
        "text=hi",
        "--prefer-wait",
        "5",
    )
    assert (code, json.loads(out)) == (0, {"text": "hi"}), err
    (line,) = err.splitlines()
    assert line.startswith(f"predictions: warning: {NOT_INSTALLED} (installed: ")
