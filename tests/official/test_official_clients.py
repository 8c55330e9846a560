"""The official clients against `predictions serve` (issue 12, item 9).

wriftai 0.34 (the newest) runs every predictions call it has that the issues
cover: create in its forms with and without wait, get, list with `statuses`
and pages, wait, cancel, webhook verify, event streams (`create(wait=True,
stream=True)`, `create(stream=True)` then `stream`, resuming with `after_id`
and after idle closes) and file inputs (`wriftai.File` of bytes, a path and a
file object, uploaded in parts), and the async twins (issue 13, item 10).
wriftai 0.17 runs its calls except `list`, whose five-key page the hosted API
no longer sends; it has no streams or file inputs.

Each client is pip-installed into a venv of its own (conftest.py) and runs a
driver script (drive_wriftai_*.py) as a subprocess against a `predictions
serve` subprocess; the script prints one JSON line per check.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import threading
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from predictions.webhooks import sign

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TOKEN = "official-client-token"
SERVER_START_TIMEOUT = 30.0
DRIVER_TIMEOUT = 240.0
# Upload parts of 128 KiB, so the drivers' few hundred KB go in several parts.
PART_SIZE = 128 * 1024

pytestmark = [pytest.mark.official, pytest.mark.timeout(900)]

CHECKS_034 = (
    "version",
    "create_without_wait",
    "get",
    "wait",
    "create_wait_fast",
    "create_wait_version",
    "create_wait_held_then_polled",
    "create_wait_no_poll",
    "create_wait_failed",
    "create_validate_input",
    "create_with_webhook",
    "list_pages",
    "list_statuses",
    "list_page_size_bounds",
    "cancel",
    "cancel_finished",
    "unauthenticated",
    "webhook_verify",
    "stream_create_wait",
    "stream_create_then_stream",
    "stream_resume_after_id",
    "stream_idle_resume",
    "file_input",
    "async_create",
    "async_get",
    "async_wait",
    "async_create_wait",
    "async_create_wait_held_then_polled",
    "async_list",
    "async_cancel",
    "async_stream_create_wait",
    "async_stream",
    "async_file_input",
)

CHECKS_017 = (
    "version",
    "create_without_wait",
    "create_version_without_wait",
    "get",
    "wait",
    "create_wait",
    "create_wait_slow",
    "create_wait_failed",
    "create_validate_input",
    "create_with_webhook",
    "unauthenticated",
    "webhook_verify",
    "async_create",
    "async_get",
    "async_wait",
    "async_create_wait",
)


def clean_environment() -> Dict[str, str]:
    """This environment without proxies, WriftAI settings or Python paths."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.upper().endswith("_PROXY")
        and not key.upper().startswith("WRIFTAI_")
        and key.upper() not in ("PYTHONPATH", "PYTHONHOME")
    }
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


@contextlib.contextmanager
def serve(*args: str) -> Iterator[Tuple[str, pathlib.Path]]:
    """Run `predictions serve --port 0 ARGS`; yield its base URL and its log."""
    env = clean_environment()
    env["PYTHONPATH"] = str(ROOT)  # this checkout's predictions
    with tempfile.TemporaryDirectory() as tmp:
        log = pathlib.Path(tmp) / "serve.log"
        command = [sys.executable, "-m", "predictions", "serve", "--port", "0"]
        with open(log, "w") as stderr:
            process = subprocess.Popen(
                [*command, "--host", "127.0.0.1", *args],
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=env,
                text=True,
            )
        try:
            first: List[str] = []
            reader = threading.Thread(
                target=lambda: first.append(process.stdout.readline()),  # type: ignore[union-attr]
                daemon=True,
            )
            reader.start()
            reader.join(SERVER_START_TIMEOUT)
            base_url = first[0].strip() if first else ""
            if not base_url.startswith("http://127.0.0.1:"):
                pytest.fail(
                    f"predictions serve did not print its URL within"
                    f" {SERVER_START_TIMEOUT} s (got {base_url!r}):\n{log.read_text()}"
                )
            yield base_url, log
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)
            if process.stdout is not None:
                process.stdout.close()


def webhook_sample() -> Dict[str, str]:
    """A body signed by `predictions.webhooks.sign`, for the drivers to verify."""
    body = json.dumps({"id": "p-signed", "status": "succeeded", "output": "é"})
    secret = "whsec-signed-by-predictions"
    return {"body": body, "secret": secret, "header": sign(body.encode(), secret)}


def run_driver(
    python: str,
    script: str,
    base_url: str,
    log: pathlib.Path,
    expected: Tuple[str, ...],
) -> List[Dict[str, Any]]:
    """Run a driver script; fail naming every failed or missing check."""
    settings = {
        "base_url": base_url,
        "token": TOKEN,
        "webhook": webhook_sample(),
        "part_size": PART_SIZE,
    }
    command = [python, str(HERE / script), json.dumps(settings)]
    with tempfile.TemporaryDirectory() as cwd:
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=DRIVER_TIMEOUT,
                env=clean_environment(),
                cwd=cwd,
            )
            stdout, stderr, code = done.stdout, done.stderr, done.returncode
        except subprocess.TimeoutExpired as exc:
            stdout = _text(exc.stdout)
            stderr = _text(exc.stderr) + f"\n[killed after {DRIVER_TIMEOUT} s]"
            code = None
    results = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    names = [r["name"] for r in results]
    problems = [f"{r['name']}: {r['detail']}" for r in results if not r["ok"]]
    problems += [f"{name}: not reported" for name in expected if name not in names]
    problems += [f"{name}: not expected" for name in names if name not in expected]
    if len(set(names)) != len(names):
        problems.append(f"checks reported twice: {names}")
    if code != 0:
        problems.append(f"{script} exited with {code}:\n{stderr[-4000:]}")
    if problems:
        passed = [r["name"] for r in results if r["ok"]]
        pytest.fail(
            f"{len(problems)} problem(s) with {script}:\n- "
            + "\n- ".join(problems)
            + f"\npassed: {passed}\nserver log:\n{log.read_text()[-4000:]}",
            pytrace=False,
        )
    return results


def _text(data: Any) -> str:
    if data is None:
        return ""
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else data


def test_wriftai_034_against_predictions_serve(wriftai_034_python: str) -> None:
    with serve("--token", TOKEN, "--verbose", "--part-size", str(PART_SIZE)) as (
        base_url,
        log,
    ):
        results = run_driver(
            wriftai_034_python, "drive_wriftai_034.py", base_url, log, CHECKS_034
        )
    assert [r["name"] for r in results] == list(CHECKS_034)


def test_wriftai_017_against_predictions_serve(wriftai_017_python: str) -> None:
    with serve("--token", TOKEN, "--verbose") as (base_url, log):
        results = run_driver(
            wriftai_017_python, "drive_wriftai_017.py", base_url, log, CHECKS_017
        )
    assert [r["name"] for r in results] == list(CHECKS_017)
