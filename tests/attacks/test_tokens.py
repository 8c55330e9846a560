"""Token hygiene: whitespace trimmed, control characters refused, secrets kept."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from predictions import (
    APIConnectionError,
    Client,
    NotFoundError,
    PredictionsError,
)
from predictions.testing import LocalServer
from tests.attacks.conftest import HOST, describe, run_bounded

ROOT = Path(__file__).resolve().parents[2]
CLI_LIMIT = 20.0


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WRIFTAI_ACCESS_TOKEN", "WRIFTAI_API_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def authorizations(server: LocalServer) -> List[str]:
    return [r.headers.get("authorization", "") for r in server.requests]


def test_token_with_a_trailing_newline_is_sent_trimmed(
    local_server: LocalServer,
) -> None:
    """Models a token pasted with its newline (e.g. read from a file)."""

    def call() -> Any:
        with Client(local_server.base_url, access_token="tok\n") as client:
            return client.predictions.list()

    outcome = run_bounded(call, 10.0)
    assert outcome.finished, describe(outcome)
    assert outcome.error is None, describe(outcome)
    assert authorizations(local_server) == ["Bearer tok"]


def test_token_from_the_environment_is_sent_trimmed(
    local_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Models WRIFTAI_ACCESS_TOKEN exported with spaces and a newline."""
    monkeypatch.setenv("WRIFTAI_ACCESS_TOKEN", "  tok\n")

    def call() -> Any:
        with Client(local_server.base_url) as client:
            return client.predictions.list()

    outcome = run_bounded(call, 10.0)
    assert outcome.finished, describe(outcome)
    assert outcome.error is None, describe(outcome)
    assert authorizations(local_server) == ["Bearer tok"]


@pytest.mark.parametrize("token", ["to\x00ken-SECRET", "to\rken-SECRET"])
def test_token_with_a_control_character_is_refused_without_echoing_it(
    token: str,
) -> None:
    """Models header injection through the token; the refusal must not leak it."""
    with pytest.raises(ValueError, match=r"(?i)token") as caught:
        Client("http://127.0.0.1:9/v1", access_token=token)
    assert "SECRET" not in str(caught.value)
    assert "SECRET" not in repr(caught.value)


@pytest.mark.parametrize("token", ["to\rken-SECRET", "to\nken-SECRET"])
def test_token_from_the_environment_with_a_control_character_is_refused(
    token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Models a control character smuggled in through WRIFTAI_ACCESS_TOKEN."""
    monkeypatch.setenv("WRIFTAI_ACCESS_TOKEN", token)
    with pytest.raises(ValueError, match=r"(?i)token") as caught:
        Client("http://127.0.0.1:9/v1")
    assert "SECRET" not in str(caught.value)


def run_cli(token: str, *argv: str) -> Tuple[int, str, str]:
    env: Dict[str, str] = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREDICTIONS_", "WRIFTAI_"))
    }
    env["PREDICTIONS_PLUGINS"] = ""
    env["WRIFTAI_ACCESS_TOKEN"] = token
    try:
        done = subprocess.run(
            [sys.executable, "-m", "predictions", *argv],
            capture_output=True,
            text=True,
            timeout=CLI_LIMIT,
            env=env,
            cwd=str(ROOT),
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the command did not end within {CLI_LIMIT} s")
    return done.returncode, done.stdout, done.stderr


@pytest.fixture
def prediction_id(local_server: LocalServer) -> str:
    with Client(local_server.base_url, max_retries=0) as client:
        return client.predictions.create({"input": {"a": 1}}, "demo/echo")["id"]


def test_cli_get_with_a_token_ending_in_a_newline_works(
    local_server: LocalServer, prediction_id: str
) -> None:
    """Models `export WRIFTAI_ACCESS_TOKEN=$(cat token-file)` with its newline."""
    code, out, err = run_cli(
        "tok\n", "get", prediction_id, "--base-url", local_server.base_url
    )
    assert code == 0, err
    assert prediction_id in out
    assert authorizations(local_server)[-1] == "Bearer tok"


@pytest.mark.parametrize("token", ["to\rken-SECRET", "to\x1bken-SECRET"])
def test_cli_with_a_control_character_in_the_token_exits_2_without_leaking_it(
    local_server: LocalServer, prediction_id: str, token: str
) -> None:
    """Models a corrupted token in the environment of the command line."""
    sent_before = len(local_server.requests)
    code, out, err = run_cli(
        token, "get", prediction_id, "--base-url", local_server.base_url
    )
    assert "SECRET" not in out + err, f"exit {code}; stderr: {err[-800:]}"
    assert "Traceback" not in err, f"exit {code}; stderr: {err[-800:]}"
    assert code == 2, f"exit {code}; stderr: {err[-800:]}"
    assert len(local_server.requests) == sent_before, "a request was sent"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def chain(exc: BaseException) -> List[BaseException]:
    """The exception and every cause or context behind it."""
    seen: List[BaseException] = []
    current = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def assert_no_password(exc: BaseException) -> None:
    for link in chain(exc):
        assert "hunter2" not in str(link), f"{type(link).__name__}: {link}"
        assert "hunter2" not in repr(link), f"{type(link).__name__}: {link!r}"


def test_password_in_the_base_url_stays_out_of_the_client_repr() -> None:
    """Models a base URL carrying user:password, printed by a debugger or a log."""
    client = Client(f"http://user:hunter2@{HOST}:{free_port()}/v1")
    try:
        assert "hunter2" not in repr(client)
        assert "hunter2" not in str(client)
    finally:
        client.close()


def test_password_in_the_base_url_stays_out_of_connection_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Models a user:password base URL while the server is down (connection refused)."""
    caplog.set_level(logging.DEBUG)
    base = f"http://user:hunter2@{HOST}:{free_port()}/v1"

    def call() -> Any:
        with Client(base, timeout=(2, 2), max_retries=0) as client:
            return client.predictions.get("x")

    outcome = run_bounded(call, 10.0)
    assert outcome.finished, describe(outcome)
    assert isinstance(outcome.error, APIConnectionError), describe(outcome)
    assert_no_password(outcome.error)
    assert "hunter2" not in caplog.text


def test_password_in_the_base_url_stays_out_of_a_not_found_error(
    local_server: LocalServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Models a user:password base URL and a 404 answer."""
    caplog.set_level(logging.DEBUG)
    base = f"http://user:hunter2@{HOST}:{local_server.port}/v1"

    def call() -> Any:
        with Client(base, max_retries=0) as client:
            return client.predictions.get("no-such-prediction")

    outcome = run_bounded(call, 10.0)
    assert outcome.finished, describe(outcome)
    assert isinstance(outcome.error, NotFoundError), describe(outcome)
    assert isinstance(outcome.error, PredictionsError)
    assert_no_password(outcome.error)
    assert "hunter2" not in caplog.text
