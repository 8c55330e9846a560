"""Helpers for the local server's tests: polling, raw HTTP, creating."""

from __future__ import annotations

import http.client
import json
import socket
import time
from typing import Any, Callable, Dict, Optional, Tuple

import pytest
import requests

from predictions.testing import LocalServer


def wait_until(
    check: Callable[[], bool], timeout: float = 10.0, interval: float = 0.005
) -> None:
    """Poll `check` until it is true; fail the test after `timeout` seconds.

    The timeout only bounds a failing test: generous, for a loaded machine.
    """
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail("condition not met in time")
        time.sleep(interval)


def raw_request(
    server: LocalServer,
    method: str,
    path: str,
    body: Optional[bytes] = None,
    headers: Optional[Dict[str, str]] = None,
) -> Tuple[int, Dict[str, str], bytes]:
    """Send one request with http.client (exactly the bytes given)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        conn.close()


def raw_bytes(server: LocalServer, data: bytes, timeout: float = 30.0) -> bytes:
    """Write raw bytes on a fresh connection; return all the server answers."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def json_of(answer: bytes) -> Any:
    """The JSON body of a raw HTTP answer."""
    return json.loads(answer.split(b"\r\n\r\n", 1)[1])


def create(
    session: requests.Session,
    server: LocalServer,
    model: str,
    input: Any,
    **headers: str,
) -> requests.Response:
    """Create on `owner/name[:version]` by path; `Validate_Input=` sends a header."""
    owner_name, _, version = model.partition(":")
    path = f"/models/{owner_name}/predictions"
    if version:
        path = f"/models/{owner_name}/versions/{version}/predictions"
    hdrs = {k.replace("_", "-"): v for k, v in headers.items()}
    return session.post(server.base_url + path, json={"input": input}, headers=hdrs)


def fetch(
    session: requests.Session, server: LocalServer, prediction_id: str
) -> Dict[str, Any]:
    """GET one prediction, which must exist."""
    response = session.get(f"{server.base_url}/predictions/{prediction_id}", timeout=30)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def parse_answer(answer: bytes) -> Tuple[int, Dict[str, str], bytes]:
    """Status, headers (names lower-cased) and body of one raw HTTP answer."""
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split(" ", 2)[1]), headers, body


def strict_json(data: bytes) -> Any:
    """Decode JSON that must be strictly valid: no NaN, no infinities."""

    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(data, parse_constant=refuse)
