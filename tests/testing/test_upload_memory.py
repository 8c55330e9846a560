"""A large upload costs the server no more memory than a few chunks."""

from __future__ import annotations

import hashlib
import http.client
import time
import tracemalloc
import urllib.parse
from typing import Callable, Iterator

import requests

from predictions.testing import LocalServer

from .uploads import complete, pattern, put, start_upload

SIZE = 50 * 1000 * 1000
"""50 MB: six 8 MiB parts and a smaller last one."""

BOUND = 4 * 1024 * 1024
"""The most the whole process may allocate at once meanwhile: half of one
8 MiB part, so no part (let alone the file) is ever held whole. (Measured:
about 0.4 MiB.)"""


def test_a_50_mb_upload_and_download_in_bounded_memory(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server()  # parts of 8 MiB, the default
    started = start_upload(session, server, SIZE)
    size = started["part_size"]
    assert size == 8 * 1024 * 1024
    assert len(started["urls"]) == 6
    sent = hashlib.sha256()

    def part(index: int) -> Iterator[bytes]:
        # The pattern of the whole file, cut to this part, a chunk at a time.
        begin, end = index * size, min((index + 1) * size, SIZE)
        offset = 0
        for chunk in pattern(SIZE):
            low, high = max(begin, offset), min(end, offset + len(chunk))
            if low < high:
                piece = chunk[low - offset : high - offset]
                sent.update(piece)
                yield piece
            offset += len(chunk)
            if offset >= end:
                return

    # Server and client share this process: tracemalloc sees both, so the
    # bound holds for the server's threads with room to spare.
    tracemalloc.start()
    try:
        etags = []
        for index, url in enumerate(started["urls"]):
            length = min(size, SIZE - index * size)
            status, headers, body = put(
                url, part(index), {"Content-Length": str(length)}
            )
            assert status == 200, body
            etags.append(headers["etag"])
        download_url = complete(session, server, started["id"], etags)
        got, received = hashlib.sha256(), 0
        parts = urllib.parse.urlsplit(download_url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        try:
            conn.request("GET", parts.path)
            answer = conn.getresponse()
            assert answer.status == 200
            assert answer.getheader("Content-Length") == str(SIZE)
            while True:
                chunk = answer.read(64 * 1024)
                if not chunk:
                    break
                got.update(chunk)
                received += len(chunk)
        finally:
            conn.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert received == SIZE
    assert got.digest() == sent.digest()
    assert peak < BOUND, f"{peak / 2**20:.1f} MiB allocated at the peak"


def bodies_held(server: LocalServer) -> int:
    """The bytes of request bodies the API's port holds now."""
    ports = server._parts.ports
    assert ports is not None
    return ports.api.bodies._held


def test_bodies_in_flight_are_bounded_across_connections() -> None:
    """40 bodies of 10 MiB at once took the server from 36 to 436 MB (issue 19):
    what does not fit the port's budget is refused (503) before it is read."""
    import socket

    from predictions.testing._http.limits import MAX_BODIES_IN_FLIGHT

    size = 10 * 1024 * 1024
    head = (
        "POST /v1/models/demo/echo/predictions HTTP/1.1\r\nHost: x\r\n"
        f"Content-Length: {size}\r\n\r\n"
    ).encode()
    fits = MAX_BODIES_IN_FLIGHT // size
    with LocalServer() as server:
        held = []
        try:
            for _ in range(fits):  # each sends its head and half its body, and waits
                sock = socket.create_connection(("127.0.0.1", server.port), 10)
                sock.sendall(head + b"x" * (size // 2))
                held.append(sock)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and bodies_held(server) < fits * size:
                time.sleep(0.01)
            assert bodies_held(server) == fits * size
            one_more = requests.post(
                f"{server.base_url}/models/demo/echo/predictions",
                data=b"x" * size,
                headers={"Content-Type": "application/json"},
                timeout=10,
            )
            assert one_more.status_code == 503
            assert "too many request bodies" in one_more.json()["detail"]
        finally:
            for sock in held:
                sock.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and bodies_held(server):
            time.sleep(0.01)
        assert bodies_held(server) == 0, "every byte taken is given back"
