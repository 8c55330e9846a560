"""Helpers of the upload tests: start, send parts, complete, over plain HTTP."""

from __future__ import annotations

import hashlib
import http.client
import urllib.parse
from typing import Any, Dict, Iterable, List, Optional, Tuple

import requests

from predictions.testing import LocalServer


def start_upload(
    session: requests.Session,
    server: LocalServer,
    size: int,
    mime_type: str = "application/octet-stream",
    **headers: str,
) -> Dict[str, Any]:
    """`POST /uploads`, which must answer 201."""
    answer = session.post(
        server.base_url + "/uploads",
        json={"size": size, "mime_type": mime_type},
        headers=headers,
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


def put(
    url: str,
    body: Any,
    headers: Optional[Dict[str, str]] = None,
) -> Tuple[int, Dict[str, str], bytes]:
    """One PUT with http.client: exactly the headers given, body as given.

    A body that is an iterable of chunks is sent as it comes (no
    Content-Length is added: pass it).
    """
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        target = parts.path + ("?" + parts.query if parts.query else "")
        conn.putrequest("PUT", target, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        conn.endheaders()
        for chunk in [body] if isinstance(body, bytes) else body:
            conn.send(chunk)
        answer = conn.getresponse()
        data = answer.read()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, data
    finally:
        conn.close()


def put_part(url: str, data: bytes, mime_type: str = "application/octet-stream") -> str:
    """PUT one part as a client should; its ETag."""
    status, headers, body = put(
        url, data, {"Content-Length": str(len(data)), "Content-Type": mime_type}
    )
    assert status == 200, body
    return headers["etag"]


def upload(
    session: requests.Session,
    server: LocalServer,
    data: bytes,
    mime_type: str = "application/octet-stream",
) -> str:
    """Upload bytes part by part and complete; the download URL."""
    started = start_upload(session, server, len(data), mime_type)
    size = started["part_size"]
    etags = [
        put_part(url, data[i * size : (i + 1) * size], mime_type)
        for i, url in enumerate(started["urls"])
    ]
    return complete(session, server, started["id"], etags)


def complete(
    session: requests.Session, server: LocalServer, upload_id: str, etags: List[str]
) -> str:
    """`POST /uploads/{id}/complete`, which must answer 200; the download URL."""
    answer = session.post(
        f"{server.base_url}/uploads/{upload_id}/complete",
        json={"etags": etags},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == {"download_url"}
    return str(answer.json()["download_url"])


def pattern(size: int, chunk: int = 64 * 1024) -> Iterable[bytes]:
    """`size` bytes that are not all alike, made a chunk at a time."""
    block = hashlib.sha256(b"seed").digest() * (chunk // 32)
    sent = 0
    number = 0
    while sent < size:
        piece = (number.to_bytes(8, "big") + block)[: min(chunk, size - sent)]
        yield piece
        sent += len(piece)
        number += 1
