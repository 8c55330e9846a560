"""A large upload costs the server no more memory than a few chunks."""

from __future__ import annotations

import hashlib
import http.client
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
