"""Uploads: part URLs on the storage port, what it refuses, completion, downloads."""

from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.parse
from typing import Callable

import pytest
import requests

from predictions.testing import Fault, LocalServer, RateLimit

from .raw_stream import RawConnection, request_bytes
from .uploads import complete, put, put_part, start_upload, upload

PART = 64 * 1024


@pytest.fixture
def small_parts(make_server: Callable[..., LocalServer]) -> LocalServer:
    """A server whose parts are 64 KiB."""
    return make_server(part_size=PART)


def test_round_trip_with_the_sha256_of_the_download(
    small_parts: LocalServer, session: requests.Session
) -> None:
    server = small_parts
    data = os.urandom(3 * PART + 1234)
    started = start_upload(session, server, len(data), "image/png")
    assert set(started) == {"id", "urls", "part_size"}
    assert started["part_size"] == PART
    assert len(started["urls"]) == 4
    for index, url in enumerate(started["urls"]):
        parts = urllib.parse.urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == server.storage_url
        assert parts.path == f"/parts/{started['id']}/{index}"
        assert parts.query.startswith("sig=")
    assert server.storage_url != server.base_url.rsplit("/", 1)[0]  # another origin
    etags = []
    for index, url in enumerate(started["urls"]):
        piece = data[index * PART : (index + 1) * PART]
        etag = put_part(url, piece, "image/png")
        assert etag == '"' + hashlib.md5(piece).hexdigest() + '"'
        etags.append(etag)
    url = complete(session, server, started["id"], etags)
    assert url.startswith(server.storage_url + "/files/")
    download = session.get(url, timeout=30)
    assert download.status_code == 200
    assert download.headers["Content-Type"] == "image/png"
    assert download.headers["Content-Length"] == str(len(data))
    assert hashlib.sha256(download.content).digest() == hashlib.sha256(data).digest()
    head = session.head(url, timeout=30)
    assert head.status_code == 200
    assert head.headers["Content-Length"] == str(len(data))
    # Part PUTs and downloads went to the storage port, and only there.
    storage = [(r.method, r.path.split("?")[0]) for r in server.storage_requests]
    assert storage[:4] == [
        ("PUT", f"/parts/{started['id']}/{index}") for index in range(4)
    ]
    assert not any(r.path.startswith("/parts") for r in server.requests)
    assert all(r.body == b"" for r in server.storage_requests)


def test_part_urls_refuse_an_authorization_header(
    small_parts: LocalServer, session: requests.Session
) -> None:
    started = start_upload(session, small_parts, 10)
    status, _, body = put(
        started["urls"][0],
        b"x" * 10,
        {"Content-Length": "10", "Authorization": "Bearer secret-token"},
    )
    assert status == 400
    assert "Authorization" in json.loads(body)["detail"]
    recorded = small_parts.storage_requests[-1]
    assert recorded.headers["authorization"] == "Bearer secret-token"  # seen
    # Nothing was stored: completing has no part to find.
    answer = session.post(
        f"{small_parts.base_url}/uploads/{started['id']}/complete",
        json={"etags": ['"' + hashlib.md5(b"x" * 10).hexdigest() + '"']},
        timeout=10,
    )
    assert answer.status_code == 400
    assert answer.json() == {"detail": "Part 0 was never uploaded"}


@pytest.mark.parametrize(
    "change",
    ["missing", "empty", "altered", "other part's", "other upload's"],
)
def test_part_urls_refuse_a_bad_signature(
    small_parts: LocalServer, session: requests.Session, change: str
) -> None:
    started = start_upload(session, small_parts, 2 * PART)
    other = start_upload(session, small_parts, 2 * PART)
    url = started["urls"][0]
    base, _, sig = url.partition("?sig=")
    if change == "missing":
        url = base
    elif change == "empty":
        url = base + "?sig="
    elif change == "altered":
        url = base + "?sig=" + ("0" if sig[0] != "0" else "1") + sig[1:]
    elif change == "other part's":
        url = base + "?" + started["urls"][1].partition("?")[2]
    else:
        url = base + "?" + other["urls"][0].partition("?")[2]
    status, _, body = put(url, b"x" * PART, {"Content-Length": str(PART)})
    assert status == 403
    assert json.loads(body) == {"detail": "Bad or missing signature for this part URL"}


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({"Content-Length": "100"}, "Part 1 is 1000 bytes; Content-Length says 100"),
        ({"Content-Length": "1001"}, "Part 1 is 1000 bytes; Content-Length says 1001"),
        ({"Transfer-Encoding": "chunked"}, "Send Content-Length: 1000"),
        ({}, "Send Content-Length: 1000"),
    ],
)
def test_a_part_needs_its_exact_content_length(
    small_parts: LocalServer,
    session: requests.Session,
    headers: dict,  # type: ignore[type-arg]
    detail: str,
) -> None:
    started = start_upload(session, small_parts, PART + 1000)
    url = urllib.parse.urlsplit(started["urls"][1])
    target = url.path + "?" + url.query
    body = b""
    if "Content-Length" in headers:
        body = b"y" * int(headers["Content-Length"])
    elif headers:
        body = b"3e8\r\n" + b"y" * 1000 + b"\r\n0\r\n\r\n"
    with RawConnection(url.port or 80) as conn:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        conn.send(f"PUT {target} HTTP/1.1\r\nHost: x\r\n{head}\r\n".encode() + body)
        status, _ = conn.head()
        answer = json.loads(conn.body())
    assert status == 400
    assert answer["detail"].startswith(detail)


def test_the_connection_stays_usable_after_a_refused_part(
    small_parts: LocalServer, session: requests.Session
) -> None:
    started = start_upload(session, small_parts, 100)
    url = urllib.parse.urlsplit(started["urls"][0])
    target = url.path + "?" + url.query
    with RawConnection(url.port or 80) as conn:
        conn.send(
            request_bytes("PUT", target, {"Authorization": "Bearer t"}, b"z" * 100)
        )
        assert conn.head()[0] == 400
        conn.body()
        conn.send(request_bytes("PUT", target, {}, b"z" * 100))
        assert conn.head()[0] == 200
        assert conn.headers["etag"] == '"' + hashlib.md5(b"z" * 100).hexdigest() + '"'


def test_complete_refuses_etags_that_do_not_match(
    small_parts: LocalServer, session: requests.Session
) -> None:
    server = small_parts
    started = start_upload(session, server, 2 * PART)
    etags = [put_part(url, bytes([i]) * PART) for i, url in enumerate(started["urls"])]
    url = f"{server.base_url}/uploads/{started['id']}/complete"
    swapped = session.post(url, json={"etags": etags[::-1]}, timeout=10)
    assert swapped.status_code == 400
    assert swapped.json()["detail"].startswith("ETag of part 0 does not match")
    short = session.post(url, json={"etags": etags[:1]}, timeout=10)
    assert short.status_code == 400
    assert short.json() == {"detail": "The upload has 2 parts; 1 ETags given"}
    for body in ({}, {"etags": "x"}, {"etags": [1]}):
        assert session.post(url, json=body, timeout=10).status_code == 422
    missing = session.post(
        f"{server.base_url}/uploads/nope/complete", json={"etags": []}, timeout=10
    )
    assert missing.status_code == 404
    # Quotes are optional; completing twice with the same ETags is fine.
    first = complete(session, server, started["id"], [e.strip('"') for e in etags])
    assert complete(session, server, started["id"], etags) == first
    other = session.post(url, json={"etags": [etags[0], etags[0]]}, timeout=10)
    assert other.status_code == 409
    # Once completed, its parts are final.
    status, _, _ = put(started["urls"][0], b"a" * PART, {"Content-Length": str(PART)})
    assert status == 409


def test_an_empty_file_has_no_parts(
    server: LocalServer, session: requests.Session
) -> None:
    started = start_upload(session, server, 0, "text/plain")
    assert started["urls"] == []
    url = complete(session, server, started["id"], [])
    download = session.get(url, timeout=10)
    assert download.status_code == 200
    assert download.content == b""
    assert download.headers["Content-Type"] == "text/plain"


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"mime_type": "a/b"}, ["body", "size"]),
        ({"size": -1, "mime_type": "a/b"}, ["body", "size"]),
        ({"size": True, "mime_type": "a/b"}, ["body", "size"]),
        ({"size": 1.5, "mime_type": "a/b"}, ["body", "size"]),
        ({"size": 64 * 1024 * 10000 + 1, "mime_type": "a/b"}, ["body", "size"]),
        ({"size": 1}, ["body", "mime_type"]),
        ({"size": 1, "mime_type": 5}, ["body", "mime_type"]),
        ({"size": 1, "mime_type": "a/b\r\nX-Evil: 1"}, ["body", "mime_type"]),
    ],
)
def test_a_bad_upload_body_is_a_422(
    small_parts: LocalServer,
    session: requests.Session,
    body: dict,
    loc: list,  # type: ignore[type-arg]
) -> None:
    answer = session.post(small_parts.base_url + "/uploads", json=body, timeout=10)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == loc


def test_uploads_need_the_token_and_count_as_creates_but_parts_do_not(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(
        token="tok",
        part_size=16,
        rate_limit=RateLimit(reads_per_second=0.01, creates_per_second=0.01, burst=1),
    )
    anonymous = session.post(
        server.base_url + "/uploads", json={"size": 1, "mime_type": "a/b"}, timeout=10
    )
    assert anonymous.status_code == 401
    started = start_upload(session, server, 16 * 20, Authorization="Bearer tok")
    again = session.post(
        server.base_url + "/uploads",
        json={"size": 1, "mime_type": "a/b"},
        headers={"Authorization": "Bearer tok"},
        timeout=10,
    )
    assert again.status_code == 429  # one create a burst
    for url in started["urls"]:  # twenty PUTs, no token, no limit
        put_part(url, b"p" * 16)


def test_a_download_url_expires(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(download_lifetime=0.2)
    url = upload(session, server, b"short-lived")
    assert session.get(url, timeout=10).content == b"short-lived"
    time.sleep(0.3)
    expired = session.get(url, timeout=10)
    assert expired.status_code == 403
    assert expired.json() == {"detail": "This download URL has expired"}
    assert session.get(url + "x", timeout=10).status_code == 404
    refused = session.get(url, headers={"Authorization": "Bearer t"}, timeout=10)
    assert refused.status_code == 400


def test_an_injected_part_fault_fails_one_put_and_the_retry_works(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(
        part_size=PART, faults=[Fault("status", route="part", sequence=[1], status=503)]
    )
    started = start_upload(session, server, PART)
    url = started["urls"][0]
    status, _, body = put(url, b"q" * PART, {"Content-Length": str(PART)})
    assert status == 503
    assert json.loads(body) == {"detail": "Injected fault: 503"}
    etag = put_part(url, b"q" * PART)
    download = session.get(complete(session, server, started["id"], [etag]), timeout=10)
    assert download.content == b"q" * PART
    assert server.faults is not None
    assert server.faults.history == [("part", 1, "status:503")]


def test_the_storage_port_knows_only_parts_and_files(
    server: LocalServer, session: requests.Session
) -> None:
    storage = server.storage_url
    assert session.get(storage + "/v1/predictions", timeout=10).status_code == 404
    assert session.post(storage + "/files/x", timeout=10).status_code == 405
    assert session.get(storage + "/parts/a/0?sig=x", timeout=10).status_code == 405


def test_file_info_reads_an_uploaded_file(
    small_parts: LocalServer, session: requests.Session
) -> None:
    data = os.urandom(2 * PART + 5)
    url = upload(session, small_parts, data)
    created = session.post(
        small_parts.base_url + "/predictions",
        json={"model": "demo/file-info", "input": {"file": url}},
        headers={"Prefer": "wait=10", "Validate-Input": "true"},
        timeout=30,
    ).json()
    assert created["status"] == "succeeded", created
    assert created["output"] == {
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


@pytest.mark.parametrize("where", ["elsewhere", "api port", "unknown file"])
def test_file_info_refuses_a_url_this_server_does_not_serve(
    server: LocalServer, session: requests.Session, where: str
) -> None:
    url = {
        "elsewhere": "https://example.com/files/abc",
        "api port": server.base_url + "/files/abc",
        "unknown file": server.storage_url + "/files/abc",
    }[where]
    done = session.post(
        server.base_url + "/predictions",
        json={"model": "demo/file-info", "input": {"file": url}},
        headers={"Prefer": "wait=10"},
        timeout=30,
    ).json()
    assert done["status"] == "failed"
    message = done["error"]["message"]
    if where == "unknown file":
        assert message == f"{url!r}: File not found"
    else:
        assert "is not a download URL of this server" in message


def test_stop_removes_the_files_and_reset_forgets_uploads(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server()
    url = upload(session, server, b"kept until reset")
    server.reset()
    assert server.storage_requests == []
    assert session.get(url, timeout=10).status_code == 404
    folder = server._parts.uploads._dir
    assert folder is not None
    assert os.listdir(folder.name) == []
    server.stop()
    assert not os.path.exists(folder.name)
