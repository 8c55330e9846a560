"""What the command line says: what a person needs, in the shell's words (issue 21).

Every message here was checked against what it showed before: a connection
object's repr (`GuardedHTTPConnection(host=...)`, `<... object at 0x...>`), a
model not named, an empty variable called "not set", Python's names for the
command line's options (`force=True`, `api_base_url`, `text.encode()`).
In-process, on the fake clock: retries sleep no real time.
"""

from __future__ import annotations

import re
import socket
import threading
from pathlib import Path
from typing import Any, Iterator, Tuple

import pytest
import responses

from predictions.cli import main
from predictions.testing import LocalServer
from tests.conftest import BASE, FakeClock

# What no message may show: urllib3's objects, Python's tuples and errnos.
INTERNALS = re.compile(r"Connection\(|object at 0x|\(\('|Errno|Error\(")


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> Tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's own errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch, cli_clock: FakeClock) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


def free_port() -> int:
    """A port nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# 1. Connection errors: the host:port and what failed


def test_a_refused_connection_names_the_host_and_port(
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = free_port()
    code, out, err = cli(
        capsys, "get", "x", "--base-url", f"http://127.0.0.1:{port}/v1"
    )
    assert (code, out) == (3, "")
    assert f"could not connect to 127.0.0.1:{port}: connection refused" in err
    assert not INTERNALS.search(err), err
    assert err.count("\n") == 1


def test_a_name_that_does_not_resolve_is_said_so(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def getaddrinfo(host: str, *args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    code, _, err = cli(capsys, "get", "x", "--base-url", "http://api.example.test/v1")
    assert code == 3
    assert (
        "could not connect to api.example.test:80: the host name could not be "
        "resolved (Name or service not known)"
    ) in err
    assert not INTERNALS.search(err), err


def test_a_connect_timeout_names_the_host_and_port(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def connect(self: socket.socket, address: Any) -> None:
        raise socket.timeout("timed out")

    monkeypatch.setattr(socket.socket, "connect", connect)
    code, _, err = cli(capsys, "get", "x", "--base-url", "http://127.0.0.1:9/v1")
    assert code == 3
    assert "connecting to 127.0.0.1:9 timed out after 10 s" in err
    assert not INTERNALS.search(err), err


def test_a_proxy_that_refuses_is_named_as_the_proxy(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    code, _, err = cli(capsys, "get", "x", "--base-url", "http://api.example.test/v1")
    assert code == 3
    assert f"could not connect to the proxy 127.0.0.1:{port}: connection refused" in err
    assert not INTERNALS.search(err), err


@pytest.fixture
def closing_server() -> Iterator[int]:
    """A server that reads each request and closes the connection unanswered."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except socket.timeout:
                continue
            connection.recv(65536)
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join(5)
    listener.close()


def test_a_connection_that_breaks_says_how_with_no_tuple(
    capsys: pytest.CaptureFixture[str], closing_server: int
) -> None:
    base = f"http://127.0.0.1:{closing_server}/v1"
    code, _, err = cli(capsys, "get", "x", "--base-url", base)
    assert code == 3
    assert "the connection broke (remote end closed connection without response)" in (
        err
    )
    assert not INTERNALS.search(err), err


# 2. The model that was not found is named


def test_a_model_not_found_is_named(
    capsys: pytest.CaptureFixture[str], mocked: responses.RequestsMock
) -> None:
    mocked.add(
        "POST",
        f"{BASE}/models/o/no-such-model/predictions",
        json={"detail": "Model not found"},
        status=404,
    )
    code, _, err = cli(capsys, "run", "o/no-such-model", "-i", "x=1")
    assert code == 3
    assert "404 Not Found: Model not found: o/no-such-model" in err


# 3. A variable that is empty is not "not set"


@pytest.mark.parametrize(
    ("value", "said"), [("", "is empty"), ("  ", "holds only white space")]
)
def test_an_empty_token_variable_is_said_to_be_empty(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    mocked: responses.RequestsMock,
    value: str,
    said: str,
) -> None:
    monkeypatch.setenv("MYTOK", value)
    code, _, err = cli(capsys, "get", "x", "--token-env", "MYTOK")
    assert code == 2
    assert f"the environment variable MYTOK (from --token-env) {said}" in err
    assert "not set" not in err
    assert len(mocked.calls) == 0


def test_a_401_with_an_empty_default_token_says_it_is_empty(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    mocked: responses.RequestsMock,
) -> None:
    monkeypatch.setenv("WRIFTAI_ACCESS_TOKEN", "")
    mocked.add("GET", f"{BASE}/predictions/x", json={"detail": "no"}, status=401)
    code, _, err = cli(capsys, "get", "x")
    assert code == 3
    assert "no token was sent: $WRIFTAI_ACCESS_TOKEN is empty" in err


def test_empty_secret_variables_are_said_to_be_empty(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    mocked: responses.RequestsMock,
) -> None:
    monkeypatch.setenv("SECRET", "")
    hook = ["--webhook", "http://127.0.0.1:9/h", "--webhook-secret-env", "SECRET"]
    code, _, err = cli(capsys, "run", "o/n", "-i", "x=1", *hook)
    assert code == 2
    assert "SECRET (from --webhook-secret-env) is empty" in err
    argv = ["webhook", "verify", "--secret-env", "SECRET", "--signature", "t=1,v1=a"]
    code, _, err = cli(capsys, *argv)
    assert code == 2
    assert "the environment variable SECRET is empty" in err
    assert len(mocked.calls) == 0


# 4. The command line's names, not Python's


def test_a_bad_base_url_is_named_by_its_option_or_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = cli(capsys, "get", "x", "--base-url", "127.0.0.1:8765/v1")
    assert code == 2
    assert "--base-url must be an http(s) URL" in err
    assert "api_base_url" not in err
    monkeypatch.setenv("WRIFTAI_API_BASE_URL", "ftp://h/v1")
    code, _, err = cli(capsys, "get", "x")
    assert code == 2
    assert "$WRIFTAI_API_BASE_URL must be an http(s) URL" in err
    assert "api_base_url" not in err


def test_a_token_with_a_control_character_is_named_by_its_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T2", "ab\ncd")
    code, _, err = cli(capsys, "get", "x", "--token-env", "T2")
    assert code == 2
    assert "the token in $T2 holds a control or non-ASCII character" in err
    assert "access_token" not in err
    assert "ab" not in err.replace("able", "")


def batch(
    capsys: pytest.CaptureFixture[str], server: LocalServer, model: str, *argv: str
) -> Tuple[int, str, str]:
    return cli(capsys, "batch", model, "--base-url", server.base_url, *argv)


def test_a_ledger_that_does_not_match_names_the_command_line_s_options(
    capsys: pytest.CaptureFixture[str],
    predictions_server: LocalServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """It said `--force (force=True)`: the command line's and Python's names."""
    monkeypatch.chdir(tmp_path)
    Path("rows.jsonl").write_text('{"text": "a"}\n')
    files = ["--input", "rows.jsonl", "--output", "out.jsonl"]
    code, _, err = batch(capsys, predictions_server, "demo/echo", *files)
    assert code == 0, err
    Path("rows.jsonl").write_text('{"text": "b"}\n')
    sent = len(predictions_server.requests)
    code, _, err = batch(capsys, predictions_server, "demo/echo", *files)
    assert code == 2
    assert "changed since the ledger" in err
    assert "--force goes on" in err
    assert "force=True" not in err
    code, _, err = batch(capsys, predictions_server, "demo/word-count", *files)
    assert code == 2
    assert "give another --ledger FILE" in err
    assert "ledger=" not in err
    assert len(predictions_server.requests) == sent


def test_python_is_told_python_s_names_for_a_ledger_that_does_not_match(
    predictions_server: LocalServer, tmp_path: Path
) -> None:
    from predictions import Client
    from predictions.batch import LedgerMismatchError, run_batch

    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"text": "a"}\n')
    with Client(predictions_server.base_url) as client:
        list(run_batch(rows, "demo/echo", client=client, ledger=tmp_path / "l"))
        rows.write_text('{"text": "b"}\n')
        with pytest.raises(LedgerMismatchError) as info:
            run_batch(rows, "demo/echo", client=client, ledger=tmp_path / "l")
    assert "force=True goes on" in str(info.value)
    assert "--force" not in str(info.value)


# 5. -i KEY=@FILE: a hint for the shell, not for Python


def test_a_missing_file_to_upload_gets_a_hint_for_the_shell(
    capsys: pytest.CaptureFixture[str], mocked: responses.RequestsMock
) -> None:
    code, _, err = cli(capsys, "run", "o/n", "-i", "image=@/no/such/file")
    assert code == 2
    assert "cannot upload /no/such/file (-i image=@/no/such/file): no such file" in err
    assert """-i 'image="@/no/such/file"'""" in err  # text that starts with @
    assert "text.encode()" not in err
    assert "File(" not in err
    assert not INTERNALS.search(err), err
    assert len(mocked.calls) == 0


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("@{dir}", "cannot upload {dir} (-i x=@{dir}): it is a directory, not a file"),
        ("@", "-i x=@ names no file: write -i x=@FILE"),
        ("</no/such/file", "cannot read /no/such/file: no such file or directory"),
    ],
)
def test_files_of_the_input_that_cannot_be_read_are_said_plainly(
    capsys: pytest.CaptureFixture[str],
    mocked: responses.RequestsMock,
    tmp_path: Path,
    value: str,
    said: str,
) -> None:
    code, _, err = cli(capsys, "run", "o/n", "-i", "x=" + value.format(dir=tmp_path))
    assert code == 2
    assert said.format(dir=tmp_path) in err
    assert not INTERNALS.search(err), err


def test_an_upload_that_fails_names_the_file_not_its_repr(
    capsys: pytest.CaptureFixture[str],
    mocked: responses.RequestsMock,
    tmp_path: Path,
) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"\x89PNG" * 10)
    mocked.add("POST", f"{BASE}/uploads", json={"detail": "down"}, status=503)
    code, _, err = cli(capsys, "run", "o/n", "-i", f"image=@{photo}")
    assert code == 3
    assert f"could not upload '{photo}': POST /uploads failed: 503" in err
    assert "File(" not in err
    assert "mime_type" not in err
