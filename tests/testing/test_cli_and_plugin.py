"""The `serve` command line and the pytest plugin, each in a real process."""

from __future__ import annotations

import inspect
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar, Dict, List, Type

import pytest
import requests

from predictions.cli._serve import main
from predictions.testing import LocalServer, RateLimit

ROOT = Path(__file__).resolve().parents[2]


def environment() -> Dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    return env


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")
def test_serve_prints_its_url_and_stops_on_ctrl_c() -> None:
    command = [
        sys.executable,
        "-m",
        "predictions.cli._serve",
        "serve",
        "--port",
        "0",
        "--token",
        "t",
        "--rate-limit",
        "reads=100,creates=100",
        "--fault",
        "503@get,seq=1",
        "--seed",
        "3",
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment(),
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        assert base_url.endswith("/v1")
        headers = {"Authorization": "Bearer t"}
        url = base_url + "/predictions/x"
        assert requests.get(url, headers=headers).status_code == 503
        assert requests.get(url, headers=headers).status_code == 404
        assert requests.get(url).status_code == 401
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        assert process.stdout is not None
        assert process.stderr is not None
        process.stdout.close()
        process.stderr.close()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--fault", "nonsense"], ["--fault", "nonsense"]),
        (["--fault", "delay,delay=inf"], ["--fault", "finite"]),
        (["--rate-limit", "speed=3"], ["--rate-limit", "speed=3"]),
        (["--rate-limit", "reads=inf"], ["--rate-limit", "finite", "inf"]),
        (["--rate-limit", "creates=nan"], ["--rate-limit", "finite", "nan"]),
        (["--rate-limit", "reads=0"], ["--rate-limit", "positive"]),
        (["--rate-limit", "reads=x"], ["--rate-limit", "not a number"]),
        (["--port", "70000"], ["--port", "65535", "70000"]),
        (["--port", "-1"], ["--port", "65535", "-1"]),
        (["--port", "eighty"], ["--port", "eighty"]),
        (["--seed", "x"], ["--seed"]),
        (["--cold-start", "-1"], ["--cold-start", "-1"]),
        (["--cancel-delay", "nan"], ["--cancel-delay", "nan"]),
        (["--keep-warm", "soon"], ["--keep-warm", "soon"]),
        (["--expire-after", "inf"], ["--expire-after", "inf"]),
        (["--prefer-wait-default", "-0.5"], ["--prefer-wait-default"]),
        (["--prefer-wait-max", "x"], ["--prefer-wait-max"]),
        (["--rate-limit", "retry_after=2"], ["--rate-limit", "retry_after"]),
        (["--rate-limit", "anonymous=0"], ["--rate-limit", "positive"]),
        (["--colour"], ["--colour"]),
        (["--part-size", "0"], ["--part-size", "at least 1"]),
        (["--part-size", "1MB"], ["--part-size", "1MB"]),
        (["--storage-port", "65536"], ["--storage-port", "65535"]),
        (["--stream-heartbeat", "-1"], ["--stream-heartbeat"]),
        (["--output-lifetime", "nan"], ["--output-lifetime", "nan"]),
        (["--fault", "stall@outputs"], ["--fault", "outputs"]),
        (["--fault", "503@parts"], ["--fault", "parts"]),
    ],
)
def test_serve_rejects_bad_arguments_in_one_line(
    capsys: pytest.CaptureFixture[str], args: List[str], words: List[str]
) -> None:
    assert main(["serve", *args]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("predictions serve: error: ")
    assert err.count("\n") == 1
    for word in words:
        assert word in err


def test_serve_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for option in (
        "--fault SPEC",
        "--prefer-wait-default SECONDS",
        "--prefer-wait-max SECONDS",
        "--cancel-delay SECONDS",
        "--cold-start SECONDS",
        "--keep-warm SECONDS",
        "--expire-after SECONDS",
        "--webhook-rotation-secret SECRET",
        "--webhook-duplicates",
        "--events-expire-after SECONDS",
        "--stream-idle-default SECONDS",
        "--stream-idle-max SECONDS",
        "--stream-heartbeat SECONDS",
        "--storage-port PORT",
        "--part-size BYTES",
        "--download-lifetime SECONDS",
        "--output-lifetime SECONDS",
        "--no-output-ranges",
        "complete,",
        "download",
        "output (an",
        "stall",
        "retry_after=1",
        "anonymous=1",
    ):
        assert option in out


class NotStarting:
    """Stands in for LocalServer: records its arguments, then fails to bind."""

    given: ClassVar[Dict[str, Any]] = {}

    def __init__(self, **kwargs: Any) -> None:
        NotStarting.given = kwargs

    def start(self) -> None:
        raise OSError("not this time")


def test_serve_hands_every_option_to_the_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("predictions.testing._server.LocalServer", NotStarting)
    argv = [
        "serve",
        "--port",
        "0",
        "--rate-limit",
        "reads=5,anonymous=2,retry_after=1",
        "--prefer-wait-default",
        "12",
        "--prefer-wait-max",
        "30",
        "--cancel-delay",
        "0.5",
        "--cold-start",
        "0",
        "--keep-warm",
        "9",
        "--expire-after",
        "3600",
        "--webhook-rotation-secret",
        "old",
        "--webhook-rotation-secret",
        "older",
        "--webhook-duplicates",
        "--events-expire-after",
        "60",
        "--stream-idle-default",
        "7",
        "--stream-idle-max",
        "8",
        "--stream-heartbeat",
        "0.5",
        "--storage-port",
        "0",
        "--part-size",
        "65536",
        "--download-lifetime",
        "120",
        "--output-lifetime",
        "0.5",
        "--no-output-ranges",
    ]
    assert main(argv) == 1
    assert "not this time" in capsys.readouterr().err
    given = NotStarting.given
    assert given["rate_limit"] == RateLimit(
        reads_per_second=5, anonymous_per_second=2, retry_after=True
    )
    assert given["prefer_wait_default"] == 12
    assert given["prefer_wait_max"] == 30
    assert given["cancel_delay"] == 0.5
    assert given["cold_start"] == 0
    assert given["keep_warm"] == 9
    assert given["expire_after"] == 3600
    assert given["webhook_rotation_secrets"] == ["old", "older"]
    assert given["webhook_duplicates"] is True
    assert given["events_expire_after"] == 60
    assert given["stream_idle_default"] == 7
    assert given["stream_idle_max"] == 8
    assert given["stream_heartbeat"] == 0.5
    assert given["storage_port"] == 0
    assert given["part_size"] == 65536
    assert given["download_lifetime"] == 120
    assert given["output_lifetime"] == 0.5
    assert given["output_ranges"] is False


def test_serve_defaults_are_the_servers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("predictions.testing._server.LocalServer", NotStarting)
    assert main(["serve", "--port", "0"]) == 1
    capsys.readouterr()
    given = NotStarting.given
    assert given["rate_limit"] is None
    assert given["expire_after"] is None
    assert given["webhook_rotation_secrets"] == []
    assert given["webhook_duplicates"] is False
    assert given["events_expire_after"] is None
    assert given["output_ranges"] is True
    defaults = inspect.signature(LocalServer).parameters
    for name in (
        "prefer_wait_default",
        "prefer_wait_max",
        "cancel_delay",
        "cold_start",
        "keep_warm",
        "stream_idle_default",
        "stream_idle_max",
        "stream_heartbeat",
        "storage_port",
        "part_size",
        "download_lifetime",
        "output_lifetime",
        "request_timeout",
        "max_connections",
    ):
        assert given[name] == defaults[name].default, name


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("cold_start", -1, ValueError),
        ("cancel_delay", float("nan"), ValueError),
        ("keep_warm", float("inf"), ValueError),
        ("prefer_wait_default", "60", TypeError),
        ("prefer_wait_max", None, TypeError),
        ("expire_after", -0.1, ValueError),
        ("expire_after", True, TypeError),
        ("webhook_rotation_secrets", "old", TypeError),
        ("stream_idle_default", -1, ValueError),
        ("stream_idle_max", float("inf"), ValueError),
        ("stream_heartbeat", "5", TypeError),
        ("download_lifetime", float("nan"), ValueError),
        ("output_lifetime", -1, ValueError),
        ("output_lifetime", "3600", TypeError),
        ("output_ranges", "no", TypeError),
        ("events_expire_after", -1, ValueError),
        ("storage_port", 70000, ValueError),
        ("storage_port", "8001", TypeError),
        ("part_size", 0, ValueError),
        ("part_size", 1.5, TypeError),
    ],
)
def test_local_server_refuses_options_that_cannot_work(
    name: str, value: Any, error: Type[Exception]
) -> None:
    with pytest.raises(error, match=name):
        LocalServer(**{name: value})


FIXTURE_TESTS = """
import os

import pytest
import requests


def direct():
    session = requests.Session()
    session.trust_env = False
    return session


def test_server(predictions_server):
    with direct() as session:
        response = session.get(predictions_server.base_url + "/predictions")
    assert response.status_code == 200


@pytest.mark.predictions_server(token="tok")
def test_marker_and_the_client_gets_the_token(predictions_server, predictions_client):
    with direct() as session:
        response = session.get(predictions_server.base_url + "/predictions")
    assert response.status_code == 401
    created = predictions_client.predictions.create({"input": 1}, "demo/echo")
    assert predictions_server.wait(created["id"])["output"] == 1


def test_client(predictions_client, predictions_server):
    created = predictions_client.predictions.create({"input": {"x": 1}}, "demo/echo")
    assert created["status"] == "pending"
    done = predictions_server.wait(created["id"])
    got = predictions_client.predictions.get(created["id"])
    assert got == done
    assert got["output"] == {"x": 1}
    assert [r.path for r in predictions_server.requests] == [
        "/v1/models/demo/echo/predictions",
        "/v1/predictions/" + created["id"],
    ]


@pytest.mark.skipif("HTTP_PROXY" not in os.environ, reason="no proxy set")
def test_the_proxy_would_stop_a_client_that_trusts_the_environment(
    predictions_server,
):
    with pytest.raises(requests.ConnectionError):
        requests.get(predictions_server.base_url + "/predictions", timeout=30)


def test_plugin_imports_cheaply():
    import predictions.testing.pytest_plugin  # noqa: F401
"""

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_plugin_imports_cheaply(tmp_path: Path) -> None:
    check_cheap = tmp_path / "cheap.py"
    check_cheap.write_text(
        "import sys\n"
        "import predictions.testing.pytest_plugin\n"
        "assert 'predictions.testing._server' not in sys.modules\n"
        "assert 'http.server' not in sys.modules\n"
    )
    env = environment()
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    cheap = subprocess.run(
        [sys.executable, str(check_cheap)], env=env, capture_output=True, text=True
    )
    assert cheap.returncode == 0, cheap.stderr


@pytest.mark.parametrize("proxy", [False, True], ids=["no-proxy", "unusable-proxy"])
def test_pytest_plugin_fixtures(tmp_path: Path, proxy: bool) -> None:
    test_file = tmp_path / "test_uses_fixtures.py"
    test_file.write_text(FIXTURE_TESTS)
    env = environment()
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    for name in (*PROXY_VARIABLES, "NO_PROXY"):
        env.pop(name, None)
        env.pop(name.lower(), None)
    if proxy:
        # Nothing listens there: a request sent through it fails at once.
        url = f"http://127.0.0.1:{unused_port()}"
        for name in PROXY_VARIABLES:
            env[name] = env[name.lower()] = url
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "predictions.testing.pytest_plugin",
            str(test_file),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    expected = "5 passed" if proxy else "4 passed, 1 skipped"
    assert expected in result.stdout, result.stdout


def test_serve_help_shows_examples_that_parse(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every other command's --help had examples; serve's had none (issue 19)."""
    from predictions.cli._serve_args import EXAMPLES, build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    assert "examples:\n  predictions serve" in capsys.readouterr().out
    for line in EXAMPLES.splitlines()[1:]:
        words = line.split()
        assert words[:2] == ["predictions", "serve"], line
        build_parser().parse_args(words[2:])  # exits 2 if it does not parse
