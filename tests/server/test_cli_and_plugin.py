"""The `serve` command line and the pytest plugin, each in a real process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict

import pytest
import requests

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


def test_serve_rejects_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--fault", "nonsense"]) == 2
    assert main(["--rate-limit", "speed=3"]) == 2
    assert main(["--help"]) == 0
    assert "--fault SPEC" in capsys.readouterr().out


def test_serve_reports_a_taken_port(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 1
    assert "cannot listen" in capsys.readouterr().err


def test_pytest_plugin_fixtures(tmp_path: Path) -> None:
    test_file = tmp_path / "test_uses_fixtures.py"
    test_file.write_text(
        textwrap.dedent(
            """
            import sys

            import pytest
            import requests


            def test_server(predictions_server):
                url = predictions_server.base_url + "/predictions"
                assert requests.get(url).status_code == 200


            @pytest.mark.predictions_server(token="tok")
            def test_marker(predictions_server):
                url = predictions_server.base_url + "/predictions"
                assert requests.get(url).status_code == 401


            def test_client(predictions_client, predictions_server):
                assert predictions_client is not None
                assert predictions_server.running


            def test_plugin_imports_cheaply():
                import predictions.testing.pytest_plugin  # noqa: F401
            """
        )
    )
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
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout
