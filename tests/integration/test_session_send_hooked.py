"""A tool hooking `requests.Session.send` sees every request, over real sockets.

Every request the local server receives (its API port and its storage port:
retried gets, uploads' part PUTs, output files' GETs) went through the
patched `Session.send`, once per attempt.
"""

from __future__ import annotations

import asyncio
import collections
import os
from pathlib import Path
from typing import Any, Counter, Dict, List, Tuple
from urllib.parse import urlsplit

from predictions import Client, File
from predictions.testing import LocalServer
from predictions.testing._http.faults import Fault
from tests.conftest import FakeClock

FAULTS = [  # each a retry: the first get, the first part PUT, the first output GET
    Fault("status", route="get", status=503, sequence=[1]),
    Fault("status", route="part", status=503, sequence=[1]),
    Fault("status", route="output", status=503, sequence=[1]),
]


def work(server: LocalServer, folder: Path) -> None:
    """A create with a three-part upload, a retried get, an async get, downloads."""
    with Client(
        server.base_url,
        access_token="secret",
        trust_env=False,
        timeout=(5, 5),
        clock=FakeClock(),  # retries' backoff: no real sleep
    ) as client:
        data = os.urandom(150 * 1024)  # three parts of 64 KiB, the last short
        done = client.predictions.create(
            {"input": {"file": File(data)}}, "demo/file-info", wait=True
        )
        assert done["output"]["size"] == len(data)
        client.predictions.get(done["id"])
        asyncio.run(client.predictions.async_get(done["id"]))
        files = client.predictions.create(
            {"input": {"count": 2, "size": 1000}}, "demo/files", wait=True
        )
        saved = client.predictions.download(files, folder)
        assert len(saved["files"]) == 2


def received(server: LocalServer) -> Counter[Tuple[str, str]]:
    """Every request both ports received: (method, port and target)."""
    api_port = urlsplit(server.base_url).port
    storage_port = urlsplit(server.storage_url).port
    return collections.Counter(
        [(r.method, f"{api_port} {r.path}") for r in server.requests]
        + [(r.method, f"{storage_port} {r.path}") for r in server.storage_requests]
    )


def test_a_patched_session_send_sees_every_request_the_server_receives(
    session_sends: List[Dict[str, Any]], tmp_path: Path
) -> None:
    with LocalServer(token="secret", part_size=64 * 1024, faults=FAULTS) as server:
        work(server, tmp_path)
        seen = collections.Counter(
            (c["method"], f"{urlsplit(c['url']).port} {url_target(c['url'])}")
            for c in session_sends
        )
        assert seen == received(server)
    puts = [m for m, _ in seen.elements() if m == "PUT"]
    assert len(puts) == 4, "three parts, the first one twice"
    output_gets = [t for m, t in seen.elements() if m == "GET" and "/outputs/" in t]
    assert len(output_gets) >= 3, "two files, the first one twice"
    assert all(c["kwargs"]["allow_redirects"] is False for c in session_sends)


def url_target(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")
