"""What the drive_wriftai_*.py scripts share: checks reported as JSON lines.

The scripts run with an official client's own venv, not with this project's:
this module imports only the standard library (it is found beside the script,
whose directory Python puts first on sys.path).

Every check prints one line, `{"name": ..., "ok": ..., "detail": ...}`; a check
that raises is reported as failed with what it raised (for an HTTP error, the
request and the response). The pytest side parses these lines.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import sys
import threading
import time
import traceback
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

TERMINAL = ("succeeded", "failed", "cancelled", "abandoned")
NOT_TERMINAL = ("pending", "starting", "started")


class CheckFailed(AssertionError):
    """A check's expectation was not met."""


def expect(condition: object, message: str) -> None:
    """Fail the current check with `message` unless `condition` holds."""
    if not condition:
        raise CheckFailed(message)


def config() -> Dict[str, Any]:
    """The run's settings, a JSON object in argv[1] (see the pytest test)."""
    return json.loads(sys.argv[1])


def _describe(exc: BaseException) -> str:
    """An exception as a failed check's detail: type, message, HTTP exchange."""
    if isinstance(exc, CheckFailed):
        return str(exc)
    text = f"{type(exc).__name__}: {exc}"
    request = getattr(exc, "request", None)
    response = getattr(exc, "response", None)
    # Best effort: a request or response may be only partly there.
    with contextlib.suppress(Exception):
        if request is not None:
            text += f" | request: {request.method} {request.url}"
            if request.content:
                text += f" body={request.content[:500]!r}"
    with contextlib.suppress(Exception):
        if response is not None:
            body = response.content[:500]
            text += f" | response: {response.status_code} body={body!r}"
    frames = traceback.extract_tb(exc.__traceback__)
    # Where the driver made the call, then where it was raised.
    mine = [f for f in frames if "drive_wriftai" in f.filename][-1:]
    where = "; ".join(
        f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}" for f in mine + frames[-1:]
    )
    return f"{text} (at {where})"


class Checks:
    """Runs checks and prints one JSON line for each."""

    def __init__(self) -> None:
        self.results: Dict[str, bool] = {}

    def report(self, name: str, ok: bool, detail: str) -> None:
        self.results[name] = ok
        line = {"name": name, "ok": ok, "detail": detail}
        print(json.dumps(line), flush=True)

    def _blocked(self, name: str, needs: Tuple[str, ...]) -> bool:
        missing = [n for n in needs if not self.results.get(n)]
        if missing:
            self.report(name, False, "not run: needs " + ", ".join(missing))
        return bool(missing)

    def run(
        self, name: str, fn: Callable[[], Optional[str]], needs: Tuple[str, ...] = ()
    ) -> None:
        """Run `fn`; it returns a detail string or raises."""
        if self._blocked(name, needs):
            return
        start = time.monotonic()
        try:
            detail = fn() or ""
        except Exception as exc:
            self.report(name, False, _describe(exc))
            return
        self.report(name, True, f"{detail} ({time.monotonic() - start:.2f} s)")

    async def arun(
        self,
        name: str,
        fn: Callable[[], Awaitable[Optional[str]]],
        needs: Tuple[str, ...] = (),
    ) -> None:
        """The async twin of `run`."""
        if self._blocked(name, needs):
            return
        start = time.monotonic()
        try:
            detail = (await fn()) or ""
        except Exception as exc:
            self.report(name, False, _describe(exc))
            return
        self.report(name, True, f"{detail} ({time.monotonic() - start:.2f} s)")


def http_status(exc: BaseException) -> Optional[int]:
    """The status code of an HTTP error raised by a client, else None."""
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def expect_http_error(fn: Callable[[], object], statuses: Tuple[int, ...]) -> str:
    """Call `fn`, which must raise an HTTP error with one of `statuses`."""
    try:
        result = fn()
    except Exception as exc:
        status = http_status(exc)
        if status is None:
            raise
        expect(status in statuses, f"expected HTTP {statuses}, got {status}")
        return f"HTTP {status}: {exc.response.content[:200]!r}"  # type: ignore[attr-defined]
    raise CheckFailed(f"expected HTTP {statuses}, got a result: {result!r}")


def poll_until(
    fetch: Callable[[], Dict[str, Any]],
    done: Callable[[Dict[str, Any]], bool],
    timeout: float,
    interval: float = 0.05,
) -> Dict[str, Any]:
    """Call `fetch` until `done(result)`, at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = fetch()
        if done(result):
            return result
        if time.monotonic() > deadline:
            raise CheckFailed(f"still not done after {timeout} s: {result!r}")
        time.sleep(interval)


def missing_keys(data: Dict[str, Any], typed_dict: Any) -> List[str]:
    """The keys a client's TypedDict requires that `data` lacks."""
    keys = getattr(typed_dict, "__required_keys__", None) or typed_dict.__annotations__
    return sorted(k for k in keys if k not in data)


class WebhookReceiver:
    """A webhook receiver on 127.0.0.1 that keeps every delivery it gets."""

    def __init__(self) -> None:
        self.deliveries: List[Tuple[Dict[str, str], bytes]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver._lock:
                    receiver.deliveries.append((headers, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait_for(
        self, prediction_id: str, status: str, timeout: float
    ) -> List[Tuple[Dict[str, str], bytes]]:
        """The deliveries for a prediction once one with `status` has come."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                mine = [
                    (h, b)
                    for h, b in self.deliveries
                    if json.loads(b).get("id") == prediction_id
                ]
            if any(json.loads(b).get("status") == status for _, b in mine):
                return mine
            if time.monotonic() > deadline:
                seen = [json.loads(b).get("status") for _, b in mine]
                raise CheckFailed(
                    f"no {status!r} delivery within {timeout} s; got {seen}"
                )
            time.sleep(0.05)
