"""`predictions serve` reads its token from the environment, not the command line.

The token on the command line shows in the process list (`ps`,
`/proc/PID/cmdline`): `--token-env NAME` (default `$PREDICTIONS_SERVE_TOKEN`)
reads it from a variable instead; `--token` still works, with a warning.
The running server is a real process; usage errors are checked in-process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar, Dict, List, Optional, Tuple

import pytest
import requests

from predictions.cli._serve import main

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cret-token"


def serve(args: List[str], env: Dict[str, str]) -> Tuple[int, str, int, int]:
    """Run `serve --port 0 ARGS`; ask without and with the token; stop it.

    Returns:
        The status without the token, stderr, the status with it, the exit code.
    """
    environment = {k: v for k, v in os.environ.items() if "TOKEN" not in k}
    environment.update(env)
    environment["PYTHONPATH"] = str(ROOT)
    command = [sys.executable, "-m", "predictions", "serve", "--port", "0", *args]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip() + "/predictions"
        with requests.Session() as session:
            session.trust_env = False
            anonymous = session.get(url, timeout=10).status_code
            headers = {"Authorization": f"Bearer {SECRET}"}
            with_token = session.get(url, headers=headers, timeout=10).status_code
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=10)
        return anonymous, err, with_token, process.returncode
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")


def test_token_env_names_the_variable_the_token_is_read_from() -> None:
    anonymous, err, with_token, code = serve(
        ["--token-env", "MY_SERVER_TOKEN"], {"MY_SERVER_TOKEN": SECRET}
    )
    assert (anonymous, with_token, code) == (401, 200, 0)
    assert "warning" not in err
    assert SECRET not in err
    assert "every request needs the token" in err


def test_the_default_variable_is_predictions_serve_token() -> None:
    anonymous, _, with_token, _ = serve([], {"PREDICTIONS_SERVE_TOKEN": SECRET})
    assert (anonymous, with_token) == (401, 200)


def test_no_token_anywhere_requires_none() -> None:
    # A hosted-API token in the environment does not turn auth on.
    anonymous, err, _, _ = serve([], {"WRIFTAI_ACCESS_TOKEN": SECRET})
    assert anonymous == 200
    assert "needs the token" not in err


def test_token_on_the_command_line_works_with_a_warning_why() -> None:
    anonymous, err, with_token, code = serve(["--token", SECRET], {})
    assert (anonymous, with_token, code) == (401, 200, 0)
    warning = [line for line in err.splitlines() if "warning" in line]
    assert len(warning) == 1
    assert warning[0].startswith("predictions serve: warning: --token puts")
    for words in ("process list", "--token-env", "PREDICTIONS_SERVE_TOKEN"):
        assert words in warning[0]
    assert SECRET not in err


@pytest.mark.parametrize(
    ("args", "env", "words"),
    [
        (["--token-env", "UNSET_TOKEN_VAR"], {}, ["$UNSET_TOKEN_VAR", "not set"]),
        (["--token-env", "EMPTY_TOKEN_VAR"], {"EMPTY_TOKEN_VAR": " "}, ["empty"]),
        (["--token-env", "A", "--token", "t"], {"A": "t"}, ["not both"]),
        (["--token-env", "BAD_TOKEN_VAR"], {"BAD_TOKEN_VAR": "a\x07b"}, ["control"]),
        (["--token-e", "A"], {"A": "t"}, ["--token-e"]),  # no prefix matching
    ],
)
def test_an_unusable_token_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: List[str],
    env: Dict[str, str],
    words: List[str],
) -> None:
    for name in ("UNSET_TOKEN_VAR", "PREDICTIONS_SERVE_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["serve", "--port", "0", *args]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    error = [line for line in err.splitlines() if "warning" not in line]
    assert len(error) == 1
    assert error[0].startswith("predictions serve: error: ")
    for word in words:
        assert word in error[0]


class NotStarting:
    """Stands in for LocalServer: records its arguments, then fails to bind."""

    given: ClassVar[Dict[str, Any]] = {}

    def __init__(self, **kwargs: Any) -> None:
        NotStarting.given = kwargs

    def start(self) -> None:
        raise OSError("not this time")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], {"request_timeout": 30.0, "max_connections": 256, "token": None}),
        (
            ["--request-timeout", "5", "--max-connections", "9"],
            {"request_timeout": 5.0, "max_connections": 9},
        ),
        (["--request-timeout", "0"], {"request_timeout": 0.0}),
    ],
)
def test_the_connection_limits_reach_the_server(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: List[str],
    expected: Dict[str, Optional[float]],
) -> None:
    monkeypatch.delenv("PREDICTIONS_SERVE_TOKEN", raising=False)
    monkeypatch.setattr("predictions.testing._server.LocalServer", NotStarting)
    assert main(["serve", "--port", "0", *args]) == 1
    capsys.readouterr()
    for name, value in expected.items():
        assert NotStarting.given[name] == value


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--max-connections", "0"], ["--max-connections", "at least 1"]),
        (["--max-connections", "many"], ["--max-connections", "many"]),
        (["--request-timeout", "-1"], ["--request-timeout", "-1"]),
    ],
)
def test_bad_connection_limits_are_usage_errors(
    capsys: pytest.CaptureFixture[str], args: List[str], words: List[str]
) -> None:
    assert main(["serve", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("predictions serve: error: ")
    for word in words:
        assert word in err


def test_help_shows_the_new_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for option in (
        "--token-env NAME",
        "PREDICTIONS_SERVE_TOKEN",
        "process list",
        "--request-timeout SECONDS",
        "--max-connections N",
    ):
        assert option in out
