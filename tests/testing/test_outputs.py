"""Output files: what models save, and how the storage port serves them."""

from __future__ import annotations

import hashlib
import time
import urllib.parse
from typing import Any, Callable, Dict

import pytest
import requests

from predictions.testing import LocalServer, PredictionContext

from .helpers import create
from .outputs import DATA, MODELS, run, saved_url, with_query


@pytest.fixture
def server(make_server: Callable[..., LocalServer]) -> LocalServer:
    """A server with `test/save` beside the built-ins."""
    return make_server(models=MODELS)


# ---- save_file and data_url ---------------------------------------------------


def test_a_name_is_the_last_segment_percent_encoded(
    server: LocalServer, session: requests.Session
) -> None:
    name = "résumé (final) #2?.txt"
    url = saved_url(
        session, server, text="hi", name=name, mime_type="text/plain; charset=utf-8"
    )
    segment = urllib.parse.urlsplit(url).path.rsplit("/", 1)[1]
    assert not set("#? ") & set(segment)
    assert urllib.parse.unquote(segment) == name
    answer = session.get(url, timeout=30)
    assert answer.content == b"hi"
    assert answer.headers["Content-Type"] == "text/plain;charset=utf-8"


@pytest.mark.parametrize(
    ("input", "words"),
    [
        ({"name": "a/b"}, "name must be a file name"),
        ({"name": ".."}, "name must be a file name"),
        ({"name": "x" * 256}, "name must be a file name"),
        ({"mime_type": "text"}, "mime_type must be type/subtype"),
        ({"mime_type": "text/plain\r\nX-Evil: 1"}, "mime_type must be type/subtype"),
    ],
)
def test_save_file_refuses_what_cannot_be_served(
    server: LocalServer,
    session: requests.Session,
    input: Dict[str, Any],
    words: str,
) -> None:
    prediction = create(session, server, "test/save", input, Prefer="wait").json()
    assert prediction["status"] == "failed"
    assert words in prediction["error"]["message"]


def test_save_file_takes_chunks_and_refuses_text(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    def chunks(input: object, ctx: PredictionContext) -> object:
        url = ctx.save_file((bytes([i]) * 1000 for i in range(50)), name="c.bin")
        try:
            ctx.save_file("text", name="t.txt")  # type: ignore[arg-type]
        except TypeError as exc:
            return {"file": url, "text": str(exc)}
        raise AssertionError("text was saved")

    server = make_server(models={"test/chunks": chunks})
    output = run(session, server, "test/chunks", {})["output"]
    assert "content must be bytes" in output["text"]
    body = session.get(output["file"], timeout=30).content
    assert body == b"".join(bytes([i]) * 1000 for i in range(50))


def test_data_url_helper() -> None:
    assert PredictionContext.data_url(b"\x00\xff") == (
        "data:application/octet-stream;base64,AP8="
    )
    assert PredictionContext.data_url(b"a", "text/csv; header=present") == (
        "data:text/csv;header=present;base64,YQ=="
    )
    with pytest.raises(ValueError, match="mime_type"):
        PredictionContext.data_url(b"a", "text/plain,evil")
    with pytest.raises(TypeError):
        PredictionContext.data_url("a")  # type: ignore[arg-type]


# ---- serving ----------------------------------------------------------------


def test_get_and_head(server: LocalServer, session: requests.Session) -> None:
    url = saved_url(session, server)
    etag = f'"{hashlib.md5(DATA).hexdigest()}"'
    answer = session.get(url, timeout=30)
    assert answer.status_code == 200
    assert answer.content == DATA
    for response in (answer, session.head(url, timeout=30)):
        assert response.headers["Content-Length"] == str(len(DATA))
        assert response.headers["Content-Type"] == "application/octet-stream"
        assert response.headers["ETag"] == etag
        assert response.headers["Accept-Ranges"] == "bytes"
    recorded = [r for r in server.storage_requests if r.path.startswith("/outputs/")]
    assert [r.method for r in recorded] == ["GET", "HEAD"]
    for request in recorded:
        assert "authorization" not in request.headers
        assert "cookie" not in request.headers
    assert not any(r.path.startswith("/outputs/") for r in server.requests)


@pytest.mark.parametrize(
    ("range_", "start", "stop"),
    [
        ("bytes=0-9", 0, 10),
        ("bytes=100-", 100, len(DATA)),
        ("bytes=-5", len(DATA) - 5, len(DATA)),
        ("bytes=-999999", 0, len(DATA)),
        ("bytes=102390-999999", 102390, len(DATA)),
        ("bytes=7-7", 7, 8),
    ],
)
def test_one_range_is_a_206(
    server: LocalServer, session: requests.Session, range_: str, start: int, stop: int
) -> None:
    url = saved_url(session, server)
    answer = session.get(url, headers={"Range": range_}, timeout=30)
    assert answer.status_code == 206
    assert answer.content == DATA[start:stop]
    assert answer.headers["Content-Length"] == str(stop - start)
    assert answer.headers["Content-Range"] == f"bytes {start}-{stop - 1}/{len(DATA)}"
    assert answer.headers["ETag"] == f'"{hashlib.md5(DATA).hexdigest()}"'


@pytest.mark.parametrize(
    "range_", ["bytes=102400-", "bytes=999999-1000000", "bytes=-0"]
)
def test_a_range_past_the_end_is_a_416(
    server: LocalServer, session: requests.Session, range_: str
) -> None:
    url = saved_url(session, server)
    answer = session.get(url, headers={"Range": range_}, timeout=30)
    assert answer.status_code == 416
    assert answer.headers["Content-Range"] == f"bytes */{len(DATA)}"
    assert "detail" in answer.json()


@pytest.mark.parametrize(
    "range_",
    ["bytes=0-1,5-6", "items=0-1", "bytes=9-2", "bytes=x-", "bytes 0-1", "bytes=--1"],
)
def test_ranges_a_host_ignores_give_the_whole_file(
    server: LocalServer, session: requests.Session, range_: str
) -> None:
    answer = session.get(
        saved_url(session, server), headers={"Range": range_}, timeout=30
    )
    assert (answer.status_code, answer.content) == (200, DATA)
    assert "Content-Range" not in answer.headers


def test_if_range(server: LocalServer, session: requests.Session) -> None:
    url = saved_url(session, server)
    etag = f'"{hashlib.md5(DATA).hexdigest()}"'
    same = session.get(
        url, headers={"Range": "bytes=10-", "If-Range": etag}, timeout=30
    )
    assert (same.status_code, same.content) == (206, DATA[10:])
    for other in ('"0123"', f"W/{etag}", "Wed, 21 Oct 2015 07:28:00 GMT"):
        headers = {"Range": "bytes=10-", "If-Range": other}
        changed = session.get(url, headers=headers, timeout=30)
        assert (changed.status_code, changed.content) == (200, DATA)


def test_head_ignores_range(server: LocalServer, session: requests.Session) -> None:
    url = saved_url(session, server)
    head = session.head(url, headers={"Range": "bytes=0-9"}, timeout=30)
    assert head.status_code == 200
    assert head.headers["Content-Length"] == str(len(DATA))


def test_output_ranges_off_answers_200(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(models=MODELS, output_ranges=False)
    answer = session.get(
        saved_url(session, server), headers={"Range": "bytes=0-9"}, timeout=30
    )
    assert (answer.status_code, answer.content) == (200, DATA)
    assert "Accept-Ranges" not in answer.headers
    assert answer.headers["ETag"] == f'"{hashlib.md5(DATA).hexdigest()}"'


# ---- what the storage port refuses ------------------------------------------


def test_a_bad_signature_is_a_403(
    server: LocalServer, session: requests.Session
) -> None:
    url = saved_url(session, server)
    expires = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["expires"][0]
    later = str(float(expires) + 3600)
    for forged in (
        with_query(url, sig="0" * 64),
        with_query(url, expires=later),
        url.split("?")[0],
        url.replace("/data.bin?", "/other.bin?"),
    ):
        answer = session.get(forged, timeout=30)
        assert answer.status_code == 403, forged
        assert answer.json() == {
            "detail": "Bad or missing signature for this output URL"
        }


def test_authorization_is_refused(
    server: LocalServer, session: requests.Session
) -> None:
    url = saved_url(session, server)
    answer = session.get(url, headers={"Authorization": "Bearer secret"}, timeout=30)
    assert answer.status_code == 400
    assert "Authorization" in answer.json()["detail"]
    assert server.storage_requests[-1].headers["authorization"] == "Bearer secret"


def test_only_get_and_head(server: LocalServer, session: requests.Session) -> None:
    answer = session.put(saved_url(session, server), data=b"x", timeout=30)
    assert answer.status_code == 405
    assert answer.headers["Allow"] == "GET, HEAD"


def test_an_expired_url_is_gone(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(models=MODELS, output_lifetime=0.3)
    url = saved_url(session, server)
    expires = float(
        urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["expires"][0]
    )
    assert expires - time.time() <= 0.301  # made to the millisecond
    # The server compares the same clock with the URL's own expiry.
    time.sleep(max(0.0, expires - time.time()) + 0.02)
    for _ in range(2):  # the first finds it expired and deletes it; so does the next
        gone = session.get(url, timeout=30)
        assert gone.status_code == 410
        assert gone.json() == {"detail": "This output URL has expired"}


def test_reset_forgets_output_files(
    server: LocalServer, session: requests.Session
) -> None:
    url = saved_url(session, server)
    server.reset()
    answer = session.get(url, timeout=30)
    assert answer.status_code == 404
    assert answer.json() == {"detail": "File not found"}
