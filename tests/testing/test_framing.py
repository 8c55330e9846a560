"""Ambiguous body framing is a 400 and a closed connection, on both ports.

RFC 9112 6.3: several differing `Content-Length` values, an invalid one, or a
`Transfer-Encoding` beside a `Content-Length` cannot be read safely (a proxy
in front may read the body another way: request smuggling). Raw sockets, so
that exactly these headers are sent; every read is bounded by `TIMEOUT`.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from typing import Dict, List, Tuple

import pytest
import requests

from predictions.testing import LocalServer

from .raw_stream import RawConnection
from .uploads import start_upload

ECHO = "/v1/models/demo/echo/predictions"
BODY = b'{"input": 1}'
SMUGGLED = b"GET /v1/predictions HTTP/1.1\r\nHost: x\r\n\r\n"

AMBIGUOUS: List[Tuple[List[str], str]] = [
    (
        ["Content-Length: 12", "Content-Length: 52"],
        "Content-Length has several different values",
    ),
    (["Content-Length: 12, 52"], "Content-Length has several different values"),
    (["Content-Length: 12", "Content-Length: 12, 13"], "several different values"),
    (["Content-Length: twelve"], "Invalid Content-Length"),
    (["Content-Length: +12"], "Invalid Content-Length"),
    (
        ["Transfer-Encoding: chunked", "Content-Length: 12"],
        "Transfer-Encoding and Content-Length together",
    ),
    (
        ["Content-Length: 12", "Transfer-Encoding: chunked"],
        "Transfer-Encoding and Content-Length together",
    ),
    (["Transfer-Encoding: chunked, gzip"], "Transfer-Encoding must end with chunked"),
]


def request(method: str, target: str, headers: List[str], body: bytes) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def refused_and_closed(port: int, data: bytes) -> Tuple[int, Dict[str, str], bytes]:
    """Send `data`; the one answer, which must close the connection."""
    with RawConnection(port) as conn:
        conn.send(data)
        status, headers = conn.head()
        body = conn.body()
        # Closed after the one answer: whatever followed the head is never
        # read as a request of its own.
        assert conn.until_closed() == b""
    return status, headers, body


@pytest.mark.parametrize(("headers", "detail"), AMBIGUOUS)
def test_the_api_port_refuses_ambiguous_framing(
    server: LocalServer, headers: List[str], detail: str
) -> None:
    # The body holds a second request, as a smuggler would send it.
    data = request("POST", ECHO, headers, BODY + b"\r\n" + SMUGGLED)
    status, answer_headers, body = refused_and_closed(server.port, data)
    assert status == 400
    assert answer_headers["connection"] == "close"
    assert detail in json.loads(body)["detail"]
    assert answer_headers["x-ratelimit-limit"]  # as every API answer has
    assert server.predictions == []
    assert [r.path for r in server.requests] == [ECHO]  # the smuggled one never


@pytest.mark.parametrize(("headers", "detail"), AMBIGUOUS)
def test_the_storage_port_refuses_ambiguous_framing(
    server: LocalServer,
    session: requests.Session,
    headers: List[str],
    detail: str,
) -> None:
    started = start_upload(session, server, 12)
    url = urllib.parse.urlsplit(started["urls"][0])
    target = f"{url.path}?{url.query}"
    data = request("PUT", target, headers, b"x" * 12 + SMUGGLED)
    status, answer_headers, body = refused_and_closed(url.port or 80, data)
    assert status == 400
    assert answer_headers["connection"] == "close"
    assert detail in json.loads(body)["detail"]
    assert [r.path for r in server.storage_requests] == [target]
    # Nothing was stored: completing with the ETag the part would have fails.
    etag = f'"{hashlib.md5(b"x" * 12).hexdigest()}"'
    answer = session.post(
        f"{server.base_url}/uploads/{started['id']}/complete",
        json={"etags": [etag]},
        timeout=10,
    )
    assert answer.status_code == 400


def test_no_100_continue_for_a_request_refused_for_its_framing(
    server: LocalServer,
) -> None:
    headers = ["Expect: 100-continue", "Content-Length: 12", "Content-Length: 13"]
    with RawConnection(server.port) as conn:
        conn.send(request("POST", ECHO, headers, b""))
        status, _ = conn.head()
        assert status == 400
        conn.body()
        assert conn.until_closed() == b""


@pytest.mark.parametrize(
    "headers",
    [
        ["Content-Length: 12", "Content-Length: 12"],
        ["Content-Length: 12, 12"],
        ["Content-Length: 012"],
    ],
)
def test_one_length_repeated_is_accepted(
    server: LocalServer, headers: List[str]
) -> None:
    # RFC 9110 8.6 allows a recipient to take one value repeated as that value.
    with RawConnection(server.port) as conn:
        conn.send(request("POST", ECHO, headers, BODY))
        status, answer_headers = conn.head()
        assert status in (201, 202), conn.body()
        assert json.loads(conn.body())["input"] == 1
        assert answer_headers.get("connection") != "close"
        # The connection is still good for the next request.
        conn.send(request("GET", "/v1/predictions", [], b""))
        assert conn.head()[0] == 200


def test_a_part_with_one_length_repeated_is_stored(
    server: LocalServer, session: requests.Session
) -> None:
    started = start_upload(session, server, 12)
    url = urllib.parse.urlsplit(started["urls"][0])
    headers = ["Content-Length: 12", "Content-Length: 12"]
    with RawConnection(url.port or 80) as conn:
        conn.send(request("PUT", f"{url.path}?{url.query}", headers, b"x" * 12))
        status, answer_headers = conn.head()
        assert status == 200, conn.body()
        assert answer_headers["etag"]


# Chunked bodies, after an attack (issue 19)


def test_a_chunk_size_line_too_long_is_refused_not_read_in_part(
    server: LocalServer,
) -> None:
    """A 70 KB chunk-size line was read in part: the rest, and a request hidden
    in the chunk data after it, were run (smuggling behind a proxy)."""
    hidden = b"POST /v1/models/demo/echo/predictions HTTP/1.1\r\nHost: x\r\n"
    hidden += b"Content-Length: 12\r\n\r\n" + BODY
    extension = b"5;" + b"x" * (70 * 1024 - 2) + b"\r\n"
    body = extension + b"abcde\r\n" + f"{len(hidden):x}\r\n".encode() + hidden
    data = request(
        "POST", ECHO, ["Transfer-Encoding: chunked"], body + b"\r\n0\r\n\r\n"
    )
    status, _, answer = refused_and_closed(server.port, data)
    assert status == 400
    assert "line too long" in json.loads(answer)["detail"]
    assert server.predictions == []
    assert [r.path for r in server.requests] == [ECHO]


@pytest.mark.parametrize(
    "after", [b"junk\r\n", b"\r\r\n", b"xx"], ids=["junk", "bare-cr", "no-crlf"]
)
def test_junk_after_chunk_data_is_refused(server: LocalServer, after: bytes) -> None:
    body = f"{len(BODY):x}\r\n".encode() + BODY + after + b"0\r\n\r\n" + SMUGGLED
    data = request("POST", ECHO, ["Transfer-Encoding: chunked"], body)
    status, _, answer = refused_and_closed(server.port, data)
    assert status == 400
    assert "junk after chunk data" in json.loads(answer)["detail"]
    assert server.predictions == []


def test_a_well_formed_chunked_body_is_still_taken(server: LocalServer) -> None:
    body = b"5;ext=1\r\n" + BODY[:5] + b"\r\n" + f"{len(BODY) - 5:x}\r\n".encode()
    body += BODY[5:] + b"\r\n0\r\nX-Trailer: 1\r\n\r\n"
    with RawConnection(server.port) as conn:
        conn.send(request("POST", ECHO, ["Transfer-Encoding: chunked"], body))
        status, _ = conn.head()
        conn.body()
    assert status == 202
    assert server.predictions[0]["input"] == 1


def test_an_after_id_of_thousands_of_digits_is_past_every_event(
    server: LocalServer, session: requests.Session
) -> None:
    """It answered 500 (int() refuses over 4300 digits)."""
    created = session.post(
        f"{server.base_url}/models/demo/echo/predictions",
        json={"input": {"text": "x"}, "stream": True},
        timeout=10,
    ).json()
    server.wait(created["id"])
    answer = session.get(
        f"{server.base_url}/predictions/{created['id']}/stream",
        params={"after_id": "9" * 5000},
        headers={"Prefer": "wait=1"},
        timeout=10,
    )
    assert answer.status_code == 200
    assert b"event: output" not in answer.content
