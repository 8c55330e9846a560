"""The demo models that make output files: demo/image, demo/files, demo/data-url."""

from __future__ import annotations

import base64
import hashlib
import http.client
import struct
import tracemalloc
import urllib.parse
import zlib
from typing import Any, Dict, List, Tuple

import pytest
import requests

from predictions.testing import LocalServer

from .helpers import create
from .outputs import run


def png_chunks(data: bytes) -> List[Tuple[bytes, bytes]]:
    """`(type, data)` of each chunk of a PNG, every CRC checked."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        chunks.append((kind, body))
        offset += 12 + length
    return chunks


@pytest.mark.parametrize(
    ("input", "size", "pixel"),
    [
        ({}, (64, 64), b"\xff\x88\x00"),
        ({"width": 300, "height": 2, "color": "#0f0"}, (300, 2), b"\x00\xff\x00"),
        ({"width": 1, "height": 5, "color": "#123456"}, (1, 5), b"\x12\x34\x56"),
    ],
)
def test_demo_image_is_a_png_of_the_size_asked(
    server: LocalServer,
    session: requests.Session,
    input: Dict[str, Any],
    size: Tuple[int, int],
    pixel: bytes,
) -> None:
    url = run(session, server, "demo/image", input)["output"]["image"]
    parts = urllib.parse.urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == server.storage_url
    assert parts.path.startswith("/outputs/")
    assert parts.path.endswith("/image.png")
    assert set(urllib.parse.parse_qs(parts.query)) == {"expires", "sig"}
    answer = session.get(url, timeout=30)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "image/png"
    chunks = png_chunks(answer.content)
    assert chunks[0][0] == b"IHDR"
    assert struct.unpack(">II", chunks[0][1][:8]) == size
    assert chunks[-1] == (b"IEND", b"")
    pixels = zlib.decompress(b"".join(d for k, d in chunks if k == b"IDAT"))
    width, height = size
    assert pixels == (b"\x00" + pixel * width) * height


@pytest.mark.parametrize(
    ("input", "words"),
    [
        ({"width": 0}, "width"),
        ({"height": 4097}, "height"),
        ({"width": True}, "width"),
        ({"color": "orange"}, "#rrggbb"),
    ],
)
def test_demo_image_fails_on_bad_input(
    server: LocalServer,
    session: requests.Session,
    input: Dict[str, Any],
    words: str,
) -> None:
    prediction = create(session, server, "demo/image", input, Prefer="wait").json()
    assert prediction["status"] == "failed"
    assert words in prediction["error"]["message"]


def test_demo_files_are_pseudo_random_and_the_same_each_time(
    server: LocalServer, session: requests.Session
) -> None:
    size = 3 * 1024 * 1024 + 5  # three blocks and a bit
    urls = run(session, server, "demo/files", {"count": 3, "size": size})["output"]
    assert [u.split("?")[0].rsplit("/", 1)[1] for u in urls["files"]] == [
        "file-1.bin",
        "file-2.bin",
        "file-3.bin",
    ]
    bodies = []
    for url in urls["files"]:
        answer = session.get(url, timeout=30)
        assert answer.headers["Content-Type"] == "application/octet-stream"
        assert len(answer.content) == size
        assert answer.headers["ETag"] == f'"{hashlib.md5(answer.content).hexdigest()}"'
        bodies.append(answer.content)
    assert len(set(bodies)) == 3  # each file its own
    blocks = {bodies[0][i : i + 1024 * 1024] for i in range(0, size, 1024 * 1024)}
    assert len(blocks) == 4  # no two blocks alike
    again = run(session, server, "demo/files", {"size": size})["output"]["files"]
    assert session.get(again[0], timeout=30).content == bodies[0]


def test_demo_files_defaults_none_and_empty(
    server: LocalServer, session: requests.Session
) -> None:
    (url,) = run(session, server, "demo/files", {})["output"]["files"]
    assert len(session.get(url, timeout=30).content) == 1024
    assert run(session, server, "demo/files", {"count": 0})["output"] == {"files": []}
    (empty,) = run(session, server, "demo/files", {"size": 0})["output"]["files"]
    answer = session.get(empty, timeout=30)
    assert (answer.status_code, answer.content) == (200, b"")
    assert answer.headers["ETag"] == f'"{hashlib.md5(b"").hexdigest()}"'
    failed = create(session, server, "demo/files", {"count": 1001}, Prefer="wait")
    assert (
        "count must be an integer from 0 to 1000" in failed.json()["error"]["message"]
    )


@pytest.mark.parametrize("text", ["hello", "", "naïve ☃\n" * 100])
def test_demo_data_url(
    server: LocalServer, session: requests.Session, text: str
) -> None:
    input = {"text": text} if text != "hello" else {}
    url = run(session, server, "demo/data-url", input)["output"]["file"]
    head, _, data = url.partition(",")
    assert head == "data:text/plain;base64"
    assert base64.b64decode(data, validate=True).decode("utf-8") == text


def test_demo_data_url_refuses_more_than_64_kib(
    server: LocalServer, session: requests.Session
) -> None:
    too_long = create(
        session, server, "demo/data-url", {"text": "é" * 32769}, Prefer="wait"
    )
    assert "at most 65536 bytes" in too_long.json()["error"]["message"]
    refused = create(
        session,
        server,
        "demo/data-url",
        {"text": "x" * 65537},
        Prefer="wait",
        Validate_Input="true",
    )
    assert refused.status_code == 422


BIG = 50 * 1000 * 1000
"""50 MB: some fifty blocks of pseudo-random bytes."""

BOUND = 8 * 1024 * 1024
"""The most the whole process may allocate at once meanwhile: a few 1 MiB
blocks, never the file. (Measured: about 5 MiB.)"""


def test_a_50_mb_file_is_made_and_served_in_bounded_memory(
    server: LocalServer, session: requests.Session
) -> None:
    # Server and client share this process: tracemalloc sees both.
    tracemalloc.start()
    try:
        (url,) = run(session, server, "demo/files", {"size": BIG})["output"]["files"]
        parts = urllib.parse.urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        got, received = hashlib.md5(), 0
        try:
            conn.request("GET", f"{parts.path}?{parts.query}")
            answer = conn.getresponse()
            assert answer.status == 200
            etag = answer.getheader("ETag")
            for chunk in iter(lambda: answer.read(64 * 1024), b""):
                got.update(chunk)
                received += len(chunk)
        finally:
            conn.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert received == BIG
    assert etag == f'"{got.hexdigest()}"'
    assert peak < BOUND, f"peak {peak / 2**20:.1f} MiB"
