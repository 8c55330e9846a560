"""Every Python code block of README.rst and docs/*.rst runs as written.

Each `.. code-block:: python` is saved as a file and run as one (`python
block.py`, as a reader who saved it would: a block that only works under
`python -c` fails), in a process of its own, with a timeout, and with no
network: a name other than the loopback cannot be resolved, nor a socket
connected to anything but the loopback (in the processes it starts too).

A block whose first line says "Against the local server" is given one, a fresh
`LocalServer`, through `WRIFTAI_API_BASE_URL` (as the README's Quickstart has
the reader set it); the others get no base URL, so a block that needs a server
but does not say so fails. A block whose first line says it "Needs
WEBHOOK_SECRET" gets that variable. A block whose first line says it "needs
the dask extra" runs where Dask is installed (`make test`'s venv) and is
skipped elsewhere (the matrix installs only the `test` extra). A block
whose first line says it runs "with predictions-NAME installed" gets that
installed plugin (`PREDICTIONS_PLUGINS=NAME`; the others get none). A block
directly preceded by the RST comment
`.. not-run: <reason>` is not run; there are very few of those, each with a
reason. Console blocks (`$ ...`) are not run here: the command line has tests
of its own (tests/cli).
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional

import pytest

from predictions.testing import LocalServer

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "README.rst", *sorted((ROOT / "docs").glob("*.rst"))]
LOCAL_SERVER = "Against the local server"
NEEDS_WEBHOOK_SECRET = "Needs WEBHOOK_SECRET"
NEEDS_DASK = "needs the dask extra"
WITH_PLUGIN = re.compile(r"with predictions-([a-z]+) installed")
NOT_RUN = re.compile(r"^\.\. not-run:\s*(.*)$")
DIRECTIVE = re.compile(r"^(\s*)\.\. code-block:: python\s*$")
TIMEOUT = 60
MAX_NOT_RUN = 2

# Installed in every process of a block (as `sitecustomize`, which Python
# imports at start-up from PYTHONPATH) before the block runs: no network but the
# loopback. The block itself runs as a file (`python block.py`), as a reader who
# saved it would run it: worker processes that re-import the main module
# (multiprocessing's spawn, Dask) see what they would see then.
NO_NETWORK = """
import socket

_LOOPBACK = {"localhost", "127.0.0.1", "::1"}
_getaddrinfo = socket.getaddrinfo
_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


def _host(host):
    return host.decode() if isinstance(host, bytes) else host


def _getaddrinfo_local(host, *args, **kwargs):
    if host is not None and _host(host) not in _LOOPBACK:
        raise socket.gaierror(f"no network in the docs' tests: {_host(host)}")
    return _getaddrinfo(host, *args, **kwargs)


def _check(address):
    if isinstance(address, tuple) and _host(address[0]) not in _LOOPBACK:
        raise ConnectionRefusedError(f"no network in the docs' tests: {address!r}")


def _connect_local(self, address):
    _check(address)
    return _connect(self, address)


def _connect_ex_local(self, address):
    _check(address)
    return _connect_ex(self, address)


socket.getaddrinfo = _getaddrinfo_local
socket.socket.connect = _connect_local
socket.socket.connect_ex = _connect_ex_local
"""


@dataclass
class Block:
    path: pathlib.Path
    line: int  # of the directive, 1-based
    code: str
    not_run: Optional[str]

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT).as_posix()}:{self.line}"

    @property
    def first_line(self) -> str:
        return self.code.lstrip("\n").split("\n", 1)[0]


def blocks_of(path: pathlib.Path) -> Iterator[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        match = DIRECTIVE.match(line)
        if not match:
            continue
        indent = len(match.group(1))
        body: List[str] = []
        for following in lines[index + 1 :]:
            if following.strip() and len(following) - len(following.lstrip()) <= indent:
                break
            body.append(following)
        # The directive's options (":caption: ...") come before a blank line.
        while body and body[0].strip().startswith(":"):
            body.pop(0)
        previous = next(
            (earlier for earlier in reversed(lines[:index]) if earlier.strip()), ""
        )
        not_run = NOT_RUN.match(previous.strip())
        yield Block(
            path=path,
            line=index + 1,
            code=textwrap.dedent("\n".join(body)).strip("\n") + "\n",
            not_run=not_run.group(1).strip() if not_run else None,
        )


BLOCKS = [block for source in SOURCES for block in blocks_of(source)]


def test_the_blocks_are_found() -> None:
    names = {block.path.name for block in BLOCKS}
    assert "README.rst" in names
    assert len(BLOCKS) >= 10
    for source in SOURCES:
        text = source.read_text(encoding="utf-8")
        # Only one spelling of a Python block, so that none escapes this test.
        assert not re.search(r"^\s*\.\. (code|sourcecode):: python", text, re.M)


def test_very_few_blocks_are_not_run_and_each_says_why() -> None:
    skipped = [block for block in BLOCKS if block.not_run is not None]
    assert len(skipped) <= MAX_NOT_RUN, [block.name for block in skipped]
    for block in skipped:
        assert block.not_run, f"{block.name}: `.. not-run:` without a reason"
        # The reason is visible in the block too, not only in the RST source.
        assert block.first_line.startswith("#"), block.name


def test_a_block_that_uses_the_environment_s_client_says_where_it_runs() -> None:
    for block in BLOCKS:
        if block.not_run is None and re.search(r"\bClient\(\)", block.code):
            assert LOCAL_SERVER in block.first_line, block.name


@pytest.mark.parametrize(
    "block",
    [block for block in BLOCKS if block.not_run is None],
    ids=lambda block: block.name,
)
def test_the_block_runs(block: Block, tmp_path: pathlib.Path) -> None:
    if NEEDS_DASK in block.first_line:
        pytest.importorskip("distributed")
    result = run_block(block.code, block.first_line, tmp_path)
    assert result.returncode == 0, (
        f"{block.name} exited {result.returncode}\n"
        f"--- code\n{block.code}--- stdout\n{result.stdout}--- stderr\n{result.stderr}"
    )


def test_a_block_runs_as_a_saved_file_would(tmp_path: pathlib.Path) -> None:
    code = (
        "import __main__, os, sys\n"
        "assert os.path.samefile(__main__.__file__, sys.argv[0]), sys.argv\n"
        "print('as a file')\n"
    )
    result = run_block(code, "", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "as a file\n"


SPAWNS = """
import multiprocessing
import sys

{guard}worker = multiprocessing.get_context("spawn").Process(target=print, args=["hi"])
{indent}worker.start()
{indent}worker.join()
{indent}sys.exit(worker.exitcode)
"""


def test_a_block_whose_workers_re_import_it_needs_the_main_guard(
    tmp_path: pathlib.Path,
) -> None:
    # Under `python -c` the spawned worker re-imports nothing, and this passed.
    unguarded = run_block(SPAWNS.format(guard="", indent=""), "", tmp_path / "a")
    assert unguarded.returncode == 1
    assert "freeze_support" in unguarded.stderr  # multiprocessing's own advice
    guarded = SPAWNS.format(guard='if __name__ == "__main__":\n    ', indent="    ")
    result = run_block(guarded, "", tmp_path / "b")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hi\n"


def test_a_block_gets_the_installed_plugin_its_first_line_names(
    tmp_path: pathlib.Path,
) -> None:
    code = "import os\nprint(repr(os.environ['PREDICTIONS_PLUGINS']))\n"
    named = "# Against nothing, with predictions-otel installed."
    assert run_block(code, named, tmp_path / "a").stdout == "'otel'\n"
    assert run_block(code, "# Plain.", tmp_path / "b").stdout == "''\n"


def test_a_block_reaches_no_network(tmp_path: pathlib.Path) -> None:
    code = "import socket\nsocket.getaddrinfo('example.com', 443)\n"
    result = run_block(code, "", tmp_path)
    assert result.returncode != 0
    assert "no network in the docs' tests: example.com" in result.stderr


def run_block(
    code: str, first_line: str, tmp_path: pathlib.Path
) -> subprocess.CompletedProcess[str]:
    """Run `code` as `python block.py`, with what its first line asks for."""
    site = tmp_path / "site"
    site.mkdir(parents=True)
    script = tmp_path / "block.py"
    script.write_text(code, encoding="utf-8")
    (site / "sitecustomize.py").write_text(NO_NETWORK, encoding="utf-8")
    env: Dict[str, str] = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("WRIFTAI_")
        and key.upper() not in {"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"}
        and key != "PREDICTIONS_JSONLOG"
    }
    env["NO_PROXY"] = "*"
    env["PYTHONPATH"] = os.pathsep.join(
        [str(site), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    if NEEDS_WEBHOOK_SECRET in first_line:
        env["WEBHOOK_SECRET"] = "docs-test-secret"
    plugin = WITH_PLUGIN.search(first_line)
    env["PREDICTIONS_PLUGINS"] = plugin.group(1) if plugin else ""
    command = [sys.executable, str(script)]
    if LOCAL_SERVER in first_line:
        with LocalServer() as server:
            env["WRIFTAI_API_BASE_URL"] = server.base_url
            return run(command, env, tmp_path)
    return run(command, env, tmp_path)


def run(
    command: List[str], env: Dict[str, str], cwd: pathlib.Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        env=env,
        cwd=str(cwd),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
