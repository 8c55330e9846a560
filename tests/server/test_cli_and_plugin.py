"""The `serve` command line and the pytest plugin, each in a real process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest
import requests

from predictions.testing import LocalServer, RateLimit
from predictions.testing._serve import main

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
        "predictions.testing._serve",
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
        (["--colour"], ["--colour"]),
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
    assert "--fault SPEC" in capsys.readouterr().out


def test_serve_rejects_a_bad_port_in_a_real_process() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "predictions", "serve", "--port", "70000"],
        env=environment(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "predictions serve: error: argument --port: must be between 0 and 65535,"
        " not 70000 (see --help)"
    ]


@pytest.mark.parametrize("host", ["nul\x00host", "\udcff"])
def test_serve_reports_a_host_it_cannot_bind(
    capsys: pytest.CaptureFixture[str], host: str
) -> None:
    assert main(["serve", "--host", host, "--port", "0"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("predictions serve: cannot listen on ")
    assert err.count("\n") == 1


def test_rate_limits_and_ports_that_cannot_work_are_refused() -> None:
    for rates in ((float("inf"), 1.0), (1.0, float("nan")), (0.0, 1.0), (1.0, -1.0)):
        with pytest.raises(ValueError, match="positive finite"):
            RateLimit(*rates)
    for port in (-1, 65536):
        with pytest.raises(ValueError, match="65535"):
            LocalServer(port=port)


def test_serve_reports_a_taken_port(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 1
    assert "cannot listen" in capsys.readouterr().err


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
