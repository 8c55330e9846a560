"""Bombs: answers whose decoded size is huge must be refused with bounded memory."""

from __future__ import annotations

import gzip
import json
import os
import socket
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any, Dict, Optional

import pytest

from predictions import Client, InvalidResponseError
from tests.attacks.conftest import (
    Handler,
    RawServer,
    StartRawServer,
    describe,
    json_answer,
    names_limit,
    read_request,
    response_head,
    run_bounded,
)
from tests.conftest import prediction

ROOT = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024
BOMB_LIMIT = 16 * MiB
SMALL_LIMIT = 1 * MiB
PREFIX = b'{"id": "'
SUFFIX = b'"}'
RSS_CEILING_KIB = 200 * 1024
CHILD_LIMIT = 20.0

_bomb: Optional[bytes] = None


def gzip_bomb() -> bytes:
    """About 1 MiB of gzip that expands to 1 GiB of `{"id": "000...0"}`.

    Built without ever holding the expansion: after a full flush deflate
    forgets its window, so every 1 MiB block of zeros compresses to the same
    bytes, which are repeated; the CRC is computed chunk by chunk.
    """
    global _bomb
    if _bomb is None:
        zeros = b"0" * MiB
        blocks = 1024
        deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
        head = deflate.compress(PREFIX) + deflate.flush(zlib.Z_FULL_FLUSH)
        block = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
        tail = deflate.compress(SUFFIX) + deflate.flush()
        crc = zlib.crc32(PREFIX)
        for _ in range(blocks):
            crc = zlib.crc32(zeros, crc)
        crc = zlib.crc32(SUFFIX, crc)
        size = len(PREFIX) + blocks * MiB + len(SUFFIX)
        gzip_header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
        trailer = struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF)
        _bomb = gzip_header + head + block * blocks + tail + trailer
    return _bomb


def serve_bomb(server: RawServer, conn: socket.socket) -> None:
    """Answer a request with the gzip bomb (honest Content-Length)."""
    if read_request(conn, bytearray()) is None:
        return
    body = gzip_bomb()
    conn.sendall(
        response_head(
            "200 OK",
            (
                ("Content-Type", "application/json"),
                ("Content-Encoding", "gzip"),
                ("Content-Length", str(len(body))),
                ("Connection", "close"),
            ),
        )
    )
    for start in range(0, len(body), 64 * 1024):
        conn.sendall(body[start : start + 64 * 1024])


CHILD = r"""
import json, resource, sys
base_url, limit, address_space = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if address_space:
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
report = {}
try:
    import predictions
    client = predictions.Client(base_url, max_response_bytes=limit, max_retries=0)
    answer = client.predictions.get("bomb")
    report["returned"] = str(answer)[:200]
except BaseException as exc:
    report["error"] = type(exc).__name__
    report["message"] = str(exc)[:1000]
    report["invalid"] = isinstance(exc, predictions.InvalidResponseError)
report["maxrss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(report))
"""


def run_child(base_url: str, limit: int, address_space: int) -> Dict[str, Any]:
    """Get the bomb in a fresh interpreter; its report (maxrss included)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WRIFTAI_")}
    env["PREDICTIONS_PLUGINS"] = ""
    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, base_url, str(limit), str(address_space)],
            capture_output=True,
            timeout=CHILD_LIMIT,
            env=env,
            cwd=str(ROOT),
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the client did not finish within {CHILD_LIMIT} s")
    lines = done.stdout.decode(errors="replace").strip().splitlines()
    assert lines, (
        f"the child printed no report (exit {done.returncode}): "
        f"{done.stderr.decode(errors='replace')[-1500:]}"
    )
    report: Dict[str, Any] = json.loads(lines[-1])
    return report


@pytest.fixture
def bomb_server(raw_server: StartRawServer) -> RawServer:
    gzip_bomb()  # built before the server starts, not while the client waits
    return raw_server(serve_bomb)


def test_gzip_bomb_is_refused_with_bounded_memory(bomb_server: RawServer) -> None:
    """Models ~1 MiB of gzip expanding to 1 GiB: refused, peak RSS under 200 MB."""
    # The 1.5 GiB address-space cap only guards the machine (and the suite's
    # time) against a client that does inflate it all; the test is the peak RSS.
    report = run_child(bomb_server.base_url, BOMB_LIMIT, 1536 * MiB)
    assert report.get("invalid") is True, report
    assert names_limit(report["message"], BOMB_LIMIT), report
    assert report["maxrss_kib"] < RSS_CEILING_KIB, report


def test_gzip_bomb_under_a_1_gib_address_space_is_never_a_memory_error(
    bomb_server: RawServer,
) -> None:
    """Models the bomb in a memory-capped container: never a MemoryError."""
    report = run_child(bomb_server.base_url, BOMB_LIMIT, 1024 * MiB)
    assert report.get("error") != "MemoryError", report
    assert report.get("invalid") is True, report
    assert names_limit(report["message"], BOMB_LIMIT), report


def big_body(size: int = 4 * MiB) -> bytes:
    return PREFIX + b"0" * size + SUFFIX


def serve_with_length(server: RawServer, conn: socket.socket) -> None:
    """A plain body over the limit, with an honest Content-Length."""
    if read_request(conn, bytearray()) is not None:
        conn.sendall(json_answer(big_body(), ("Connection", "close")))


def serve_close_delimited(server: RawServer, conn: socket.socket) -> None:
    """A plain body over the limit, no Content-Length: it ends at the close."""
    if read_request(conn, bytearray()) is None:
        return
    head = response_head(
        "200 OK", (("Content-Type", "application/json"), ("Connection", "close"))
    )
    conn.sendall(head + big_body())


def serve_chunked(server: RawServer, conn: socket.socket) -> None:
    """A plain body over the limit, sent in 64 KiB chunks."""
    if read_request(conn, bytearray()) is None:
        return
    head = response_head(
        "200 OK",
        (("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")),
    )
    conn.sendall(head)
    body = big_body()
    for start in range(0, len(body), 64 * 1024):
        chunk = body[start : start + 64 * 1024]
        conn.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
    conn.sendall(b"0\r\n\r\n")


@pytest.mark.parametrize(
    "handler", [serve_with_length, serve_close_delimited, serve_chunked]
)
def test_plain_body_over_the_limit_is_refused_naming_it(
    raw_server: StartRawServer, handler: Handler
) -> None:
    """Models an oversized plain answer, however it is framed."""
    server = raw_server(handler)

    def call() -> Any:
        client = Client(server.base_url, max_response_bytes=SMALL_LIMIT, max_retries=0)
        return client.predictions.get("big")

    outcome = run_bounded(call, 10.0)
    assert outcome.finished, describe(outcome)
    assert isinstance(outcome.error, InvalidResponseError), describe(outcome)
    assert names_limit(str(outcome.error), SMALL_LIMIT), describe(outcome)


def five_megabytes() -> bytes:
    big = prediction(id="big", output="x" * (5 * 1000 * 1000))
    return json.dumps(big).encode()


def serve_five_megabytes(server: RawServer, conn: socket.socket) -> None:
    if read_request(conn, bytearray()) is not None:
        conn.sendall(json_answer(five_megabytes(), ("Connection", "close")))


def serve_five_megabytes_gzipped(server: RawServer, conn: socket.socket) -> None:
    if read_request(conn, bytearray()) is not None:
        body = gzip.compress(five_megabytes())
        conn.sendall(
            json_answer(body, ("Content-Encoding", "gzip"), ("Connection", "close"))
        )


@pytest.mark.parametrize(
    "handler", [serve_five_megabytes, serve_five_megabytes_gzipped]
)
def test_default_limit_lets_a_5_mb_answer_through(
    raw_server: StartRawServer, handler: Handler
) -> None:
    """Models a large but honest answer: the default limit must be generous."""
    server = raw_server(handler)

    def call() -> Any:
        client = Client(server.base_url, max_retries=0)
        return client.predictions.get("big")

    outcome = run_bounded(call, 10.0)
    assert outcome.finished, describe(outcome)
    assert outcome.error is None, describe(outcome)
    assert outcome.value["id"] == "big"
    assert len(outcome.value["output"]) == 5 * 1000 * 1000
