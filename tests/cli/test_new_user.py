"""The command line as a new user meets it (issue 14, items 1 to 9)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import time
from typing import List, Tuple

import pytest

from predictions.cli._args import EXAMPLES, build_parser
from predictions.testing import LocalServer
from tests.cli.run import cli

TIMEOUT = 60  # seconds any subprocess here may take, at most


def clean_env() -> dict:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREDICTIONS_", "WRIFTAI_"))
    }


def python_m(*argv: str) -> List[str]:
    return [sys.executable, "-m", "predictions", *argv]


@pytest.fixture
def base(predictions_server: LocalServer) -> List[str]:
    return ["--base-url", predictions_server.base_url]


@pytest.fixture(autouse=True)
def no_token_nor_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WRIFTAI_ACCESS_TOKEN", "WRIFTAI_API_BASE_URL", "PREDICTIONS_LOG"):
        monkeypatch.delenv(name, raising=False)


# 1. No prefix matching; --token-env; where a 401's token came from


def test_an_abbreviated_option_is_an_error_not_another_option(
    capsys: pytest.CaptureFixture[str],
    base: List[str],
    predictions_server: LocalServer,
) -> None:
    code, _, err = cli(capsys, "get", "x", "--token", "sekrit", *base)
    assert code == 2
    assert "unrecognized arguments: --token sekrit" in err
    code, _, err = cli(capsys, "list", "--page", "5", *base)
    assert (code, "--page" in err) == (2, True)
    assert predictions_server.requests == []


def test_token_env_naming_an_unset_variable_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
    base: List[str],
    predictions_server: LocalServer,
) -> None:
    code, _, err = cli(capsys, "get", "x", "--token-env", "NO_SUCH_TOKEN_VAR", *base)
    assert code == 2
    assert "NO_SUCH_TOKEN_VAR" in err
    assert err.count("\n") == 1
    assert predictions_server.requests == []
    # The default variable unset is allowed: no token is sent.
    code, _, err = cli(capsys, "get", "no-such-id", *base)
    assert code == 3, err


@pytest.mark.predictions_server(token="right-token")
def test_a_401_says_where_the_token_is_read_from(
    capsys: pytest.CaptureFixture[str],
    base: List[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, _, err = cli(capsys, "list", *base)
    assert code == 3
    assert "401" in err
    assert "no token was sent: $WRIFTAI_ACCESS_TOKEN is not set" in err
    monkeypatch.setenv("MY_TOKEN", "wrong-token")
    code, _, err = cli(capsys, "list", "--token-env", "MY_TOKEN", *base)
    assert code == 3
    assert "the token is read from $MY_TOKEN (--token-env)" in err
    assert "wrong-token" not in err
    assert err.count("\n") == 1


# 2. The base URL


@pytest.mark.parametrize("from_env", [False, True])
def test_a_base_url_without_a_scheme_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    from_env: bool,
) -> None:
    if from_env:
        monkeypatch.setenv("WRIFTAI_API_BASE_URL", "127.0.0.1:8765/v1")
        argv = ["get", "x"]
    else:
        argv = ["get", "x", "--base-url", "127.0.0.1:8765/v1"]
    code, out, err = cli(capsys, *argv)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1, err
    assert "'127.0.0.1:8765/v1'" in err
    assert ("$WRIFTAI_API_BASE_URL" if from_env else "--base-url") in err
    assert "token" not in err


def test_local_and_a_base_url_together_are_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = cli(
        capsys, "run", "--local", "demo/echo", "--base-url", "http://h/v1"
    )
    assert code == 2
    assert "--local" in err


def test_a_404_from_a_base_url_without_v1_gets_a_hint(
    capsys: pytest.CaptureFixture[str], predictions_server: LocalServer
) -> None:
    root = predictions_server.base_url[: -len("/v1")]
    code, _, err = cli(capsys, "list", "--base-url", root)
    assert code == 3
    assert "404" in err
    assert f"is the base URL missing /v1? it is {root}" in err
    code, _, err = cli(
        capsys, "get", "no-such-id", "--base-url", predictions_server.base_url
    )
    assert code == 3
    assert "404" in err
    assert "/v1?" not in err, "a real 'not found' gets no hint"


# 3. A reader that goes away


def test_a_reader_that_goes_away_ends_the_command_quietly(
    predictions_server: LocalServer, base: List[str]
) -> None:
    code = subprocess.run(
        python_m("run", "demo/echo", "-i", "n=1", *base),
        capture_output=True, timeout=TIMEOUT, env=clean_env(),
    ).returncode  # fmt: skip
    assert code == 0
    read, write = os.pipe()
    os.close(read)  # as `head -1` has done by the time the output comes
    try:
        result = subprocess.run(
            python_m("list", "--all", "--json", *base),
            stdout=write, stderr=subprocess.PIPE, timeout=TIMEOUT, env=clean_env(),
        )  # fmt: skip
    finally:
        os.close(write)
    assert result.stderr == b""
    assert result.returncode == 141, "as the shell shows a program ended by SIGPIPE"


def test_list_piped_into_head(predictions_server: LocalServer, base: List[str]) -> None:
    for n in range(3):
        subprocess.run(
            python_m("run", "demo/echo", "-i", f"n={n}", "--no-wait", *base),
            capture_output=True, timeout=TIMEOUT, env=clean_env(), check=True,
        )  # fmt: skip
    command = " ".join(python_m("list", "--all", *base)) + " | head -1"
    result = subprocess.run(
        ["sh", "-c", command],
        capture_output=True, text=True, timeout=TIMEOUT, env=clean_env(),
    )  # fmt: skip
    assert result.returncode == 0
    assert result.stdout.split() == [
        "ID",
        "MODEL",
        "STATUS",
        "CREATED",
        "SETUP",
        "EXECUTION",
    ]
    assert "Traceback" not in result.stderr
    assert "BrokenPipe" not in result.stderr


# 4. Ctrl-C during run


def interrupt_a_run(
    base: List[str], server: LocalServer, *extra: str
) -> Tuple[int, str]:
    process = subprocess.Popen(
        python_m("run", "demo/sleep", "-i", "seconds=60", "--poll-interval", "0.05",
                 *extra, *base),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**clean_env(), "PREDICTIONS_PLUGINS": ""},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + TIMEOUT
        while not server.predictions and time.monotonic() < deadline:
            time.sleep(0.025)
        time.sleep(0.3)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=TIMEOUT)
    finally:
        process.kill()
        process.wait(timeout=TIMEOUT)
    return process.returncode, err


def test_ctrl_c_says_the_id_that_it_still_runs_and_how_to_cancel_it(
    predictions_server: LocalServer, base: List[str]
) -> None:
    code, err = interrupt_a_run(base, predictions_server)
    assert code == 130, err
    prediction_id = predictions_server.predictions[0]["id"]
    assert f"prediction {prediction_id} is still running on the server" in err
    assert f"predictions cancel {prediction_id}" in err
    assert "Traceback" not in err
    assert predictions_server.predictions[0]["status"] in ("starting", "started")


def test_ctrl_c_with_cancel_on_interrupt_says_the_cancel_was_asked_for(
    predictions_server: LocalServer, base: List[str]
) -> None:
    code, err = interrupt_a_run(base, predictions_server, "--cancel-on-interrupt")
    assert code == 130, err
    prediction_id = predictions_server.predictions[0]["id"]
    assert f"prediction {prediction_id}: the server was asked to cancel it" in err
    assert predictions_server.wait(prediction_id)["status"] == "cancelled"


# 5. get shows the output or the error


def test_get_shows_the_output_or_the_error_of_a_finished_prediction(
    capsys: pytest.CaptureFixture[str], base: List[str], predictions_server: LocalServer
) -> None:
    ids = []
    for argv in (["demo/echo", "-i", "text=hi"], ["demo/fail", "-i", "message=nope"]):
        _, out, _ = cli(capsys, "run", *argv, "--no-wait", *base)
        ids.append(json.loads(out)["id"])
        predictions_server.wait(ids[-1])
    code, out, _ = cli(capsys, "get", ids[0], *base)
    assert code == 0
    table, _, output = out.partition("\n\noutput:\n")
    assert ids[0] in table
    assert json.loads(output) == {"text": "hi"}
    code, out, _ = cli(capsys, "get", ids[1], *base)
    assert code == 0
    assert out.endswith("\n\nerror: nope\n")


# 7. --local, help texts and examples


@pytest.mark.parametrize("command", ["get", "wait", "cancel", "list"])
def test_local_is_only_on_run(capsys: pytest.CaptureFixture[str], command: str) -> None:
    argv = [command, "--local"] + ([] if command == "list" else ["some-id"])
    code, _, err = cli(capsys, *argv)
    assert code == 2
    assert "unrecognized arguments: --local" in err


def parsers() -> List[argparse.ArgumentParser]:
    found = []
    todo = [build_parser()]
    while todo:
        parser = todo.pop()
        found.append(parser)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                todo.extend(action.choices.values())
    return found


def test_every_option_has_help_text_and_no_abbreviations() -> None:
    for parser in parsers():
        assert parser.allow_abbrev is False, parser.prog
        for action in parser._actions:
            assert action.help, f"{parser.prog} {action.dest} has no help"


def test_no_example_sends_a_local_model_to_the_hosted_api() -> None:
    assert set(EXAMPLES) >= {"run", "get", "list", "wait", "cancel", "plugins"}
    for text in EXAMPLES.values():
        for line in text.splitlines():
            if "demo/" in line:
                assert "--local" in line, line


def test_run_local_no_wait_says_the_server_is_gone() -> None:
    result = subprocess.run(
        python_m("run", "--local", "demo/sleep", "-i", "seconds=5", "--no-wait"),
        capture_output=True, text=True, timeout=TIMEOUT, env=clean_env(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    prediction_id = json.loads(result.stdout)["id"]
    assert "the local server stopped as this command exited" in result.stderr
    assert f"prediction {prediction_id} is gone with it" in result.stderr


# 8. The logging switch


@pytest.mark.predictions_server(token="sekrit-token")
@pytest.mark.parametrize("switch", ["--verbose", "env"])
def test_verbose_and_predictions_log_show_the_requests_never_the_token(
    capsys: pytest.CaptureFixture[str],
    base: List[str],
    monkeypatch: pytest.MonkeyPatch,
    switch: str,
) -> None:
    monkeypatch.setenv("WRIFTAI_ACCESS_TOKEN", "sekrit-token")
    argv = ["list", *base]
    if switch == "env":
        monkeypatch.setenv("PREDICTIONS_LOG", "debug")
    else:
        argv.append(switch)
    logger = logging.getLogger("predictions")
    level, handlers = logger.level, list(logger.handlers)
    code, _, err = cli(capsys, *argv)
    assert code == 0, err
    assert "predictions: GET /v1/predictions -> 200 in " in err
    assert "(attempt 1)" in err
    assert "sekrit-token" not in err
    assert (logger.level, logger.handlers) == (level, handlers), "undone after"
    code, _, err = cli(capsys, "list", *base)
    assert "GET" not in err or switch == "env"


def test_a_wrong_predictions_log_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREDICTIONS_LOG", "loud")
    code, _, err = cli(capsys, "list", "--base-url", "http://127.0.0.1:9/v1")
    assert code == 2
    assert "PREDICTIONS_LOG must be debug or info, not 'loud'" in err


# 9. A local model's missing input


def test_a_missing_input_key_is_named(
    capsys: pytest.CaptureFixture[str], base: List[str]
) -> None:
    code, _, err = cli(capsys, "run", "demo/word-count", "-i", "txt=a b", *base)
    assert code == 1
    assert "failed: missing input 'text'" in err
