"""Official wriftai clients, each pip-installed into a venv of its own.

A venv is made once per machine, wriftai version and Python version, in a
folder under the system's temporary directory, and reused while it works.
Installing needs the package index: when pip cannot reach it, the tests that
need the venv are skipped, saying so; any other failure fails them.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
from typing import Iterator, List, Optional

import pytest

MARKER = "official"
# The official clients need Python 3.10 or newer (their Requires-Python).
OFFICIAL_PYTHON = (3, 10)
PIP_TIMEOUT = 600
# What pip says when the index is out of reach (no network, DNS, a proxy).
UNREACHABLE = (
    "NewConnectionError",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Name or service not known",
    "nodename nor servname",
    "getaddrinfo failed",
    "Network is unreachable",
    "No route to host",
    "Connection refused",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "Read timed out",
    "ProxyError",
    "Max retries exceeded",
    "Could not fetch URL",
)


def pytest_configure(config: pytest.Config) -> None:
    """Declare the marker of these tests."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}: installs official wriftai clients from the package index and"
        " drives them against `predictions serve`; run once per CI run,"
        f" deselected on the Python matrix (-m 'not {MARKER}')",
    )


def _python_version(python: str) -> Optional[List[int]]:
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return [int(part) for part in out.stdout.split()]


def base_python() -> str:
    """A Python the official clients install on: this one, else python3.1x."""
    if sys.version_info[:2] >= OFFICIAL_PYTHON:
        return sys.executable
    for minor in range(14, OFFICIAL_PYTHON[1] - 1, -1):
        found = shutil.which(f"python3.{minor}")
        version = _python_version(found) if found else None
        if version and tuple(version) >= OFFICIAL_PYTHON:
            return str(found)
    pytest.fail(
        f"the official wriftai clients need Python >= 3.10; this is"
        f" {sys.version.split()[0]} and no python3.10+ is on PATH"
    )


def venv_python(venv: pathlib.Path) -> pathlib.Path:
    if os.name == "nt":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def _installed_version(python: pathlib.Path) -> Optional[str]:
    if not python.exists():
        return None
    code = "import wriftai, importlib.metadata as m; print(m.version('wriftai'))"
    try:
        out = subprocess.run(
            [str(python), "-c", code], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@contextlib.contextmanager
def _locked(path: pathlib.Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (where the platform has flock)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock
        yield
        return
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def official_client_python(version: str) -> str:
    """The Python of a venv with exactly `wriftai==version` installed."""
    python = base_python()
    major, minor = _python_version(python) or [0, 0]
    cache = pathlib.Path(tempfile.gettempdir()) / "predictions-official-clients"
    cache.mkdir(parents=True, exist_ok=True)
    venv = cache / f"wriftai-{version}-py{major}.{minor}"
    with _locked(cache / f"{venv.name}.lock"):
        if _installed_version(venv_python(venv)) == version:
            return str(venv_python(venv))
        shutil.rmtree(venv, ignore_errors=True)
        made = subprocess.run(
            [python, "-m", "venv", str(venv)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if made.returncode != 0:
            pytest.fail(f"could not make a venv at {venv}:\n{made.stderr}")
        command = [
            str(venv_python(venv)),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--retries",
            "2",
            "--timeout",
            "30",
            f"wriftai=={version}",
        ]
        try:
            pip = subprocess.run(
                command, capture_output=True, text=True, timeout=PIP_TIMEOUT
            )
        except subprocess.TimeoutExpired:
            shutil.rmtree(venv, ignore_errors=True)
            pytest.fail(f"pip install wriftai=={version} ran over {PIP_TIMEOUT} s")
        if pip.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            output = pip.stdout + pip.stderr
            signs = [sign for sign in UNREACHABLE if sign in output]
            if signs:
                pytest.skip(
                    f"pip cannot reach the package index to install"
                    f" wriftai=={version} ({', '.join(signs)}):"
                    f" {output.strip().splitlines()[-1]}"
                )
            pytest.fail(f"pip install wriftai=={version} failed:\n{output}")
        found = _installed_version(venv_python(venv))
        if found != version:
            pytest.fail(
                f"after pip install wriftai=={version}, the venv at {venv}"
                f" imports wriftai {found}"
            )
    return str(venv_python(venv))


@pytest.fixture(scope="session")
def wriftai_034_python() -> str:
    """The Python of a venv with wriftai 0.34.0 (the newest)."""
    return official_client_python("0.34.0")


@pytest.fixture(scope="session")
def wriftai_017_python() -> str:
    """The Python of a venv with wriftai 0.17.0 (the seed's)."""
    return official_client_python("0.17.0")
