"""Bad input to the server: clear errors, no traceback, and it keeps serving."""

from __future__ import annotations

import json
import socket
import time
from typing import Any, Dict, List, Optional

import pytest
import requests

from predictions.testing import LocalServer

from .helpers import json_of, parse_answer, raw_bytes, raw_request

CREATE = "/v1/models/demo/echo/predictions"
JSON = {"Content-Type": "application/json"}


def still_serving(server: LocalServer) -> None:
    status, _, body = raw_request(server, "GET", "/v1/predictions")
    assert status == 200
    assert set(json.loads(body)) >= {"items"}


def check_error(
    status: int, headers: Dict[str, str], body: bytes, expected: int
) -> Any:
    assert status == expected, body
    assert headers["content-type"] == "application/json"
    assert headers["x-request-id"]
    for name in ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"):
        assert headers[name].isdigit()
    detail = json.loads(body)["detail"]
    assert b"Traceback" not in body
    return detail


@pytest.mark.parametrize(
    ("body", "content_type", "expected", "loc"),
    [
        (b"{not json", "application/json", 422, ["body", 1]),
        (b'{"input": NaN}', "application/json", 422, ["body", 0]),
        (b"\xff\xfe", "application/json", 422, ["body", 0]),
        (b"[1, 2]", "application/json", 422, ["body"]),
        (b"", "application/json", 422, ["body"]),
        (b"{}", "application/json", 422, ["body", "input"]),
        (b'{"input": 1, "webhook": 3}', "application/json", 422, ["body", "webhook"]),
        (
            b'{"input": 1, "webhook": {"url": "ftp://x"}}',
            "application/json",
            422,
            ["body", "webhook", "url"],
        ),
        (
            b'{"input": 1, "webhook": {}}',
            "application/json",
            422,
            ["body", "webhook", "url"],
        ),
        (
            b'{"input": 1, "webhook": {"url": "http://x", "secret": 1}}',
            "application/json",
            422,
            ["body", "webhook", "secret"],
        ),
        (b'{"input": 1, "stream": "yes"}', "application/json", 422, ["body", "stream"]),
        (b'{"input": 1, "stream": null}', "application/json", 422, ["body", "stream"]),
        (b'{"input": 1, "stream": 1}', "application/json", 422, ["body", "stream"]),
        (b'{"input": 1}', "text/plain", 415, None),
        (b'{"input": 1}', "application/x-www-form-urlencoded", 415, None),
    ],
)
def test_bad_create_bodies(
    server: LocalServer,
    body: bytes,
    content_type: str,
    expected: int,
    loc: Optional[List[Any]],
) -> None:
    headers = {"Content-Type": content_type}
    status, got_headers, answer = raw_request(server, "POST", CREATE, body, headers)
    detail = check_error(status, got_headers, answer, expected)
    if loc is None:
        assert isinstance(detail, str)
    else:
        assert detail[0]["loc"] == loc
    assert server.predictions == []
    still_serving(server)


def test_json_media_types_and_missing_content_type_are_read_as_json(
    server: LocalServer,
) -> None:
    body = b'{"input": 1}'
    for headers in (
        {"Content-Type": "application/json; charset=utf-8"},
        {"Content-Type": "application/vnd.api+json"},
        {},
    ):
        status, _, _ = raw_request(server, "POST", CREATE, body, headers)
        assert status == 202


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/v1/models/nobody/nothing/predictions", 404),
        ("POST", "/v1/models/demo/echo/versions/2/predictions", 404),
        ("POST", "/v1/models/demo/echo/versions/0/predictions", 404),
        ("POST", "/v1/models/demo/echo/versions/x/predictions", 422),
        ("GET", "/v1/predictions/c0e0d091-d504-4669-bf99-bc477546cb12", 404),
        ("GET", "/v1/predictions?page_size=0", 422),
        ("GET", "/v1/predictions?page_size=101", 422),
        ("GET", "/v1/predictions?page_size=4", 422),
        ("GET", "/v1/predictions?page_size=51", 422),
        ("GET", "/v1/predictions?statuses=done", 422),
        ("GET", "/v1/predictions?statuses=", 422),
        ("GET", "/v1/predictions?page_size=ten", 422),
        ("GET", "/v1/predictions?page_size=", 422),
        ("GET", "/v1/predictions?cursor=garbage!", 422),
        ("GET", "/v1/nothing", 404),
        ("GET", "/v2/predictions", 404),
        ("GET", "/", 404),
        ("GET", "/v1/predictions/", 404),
        ("DELETE", "/v1/predictions", 405),
        ("PUT", "/v1/predictions/x", 405),
        ("GET", "/v1/predictions/x/cancel", 405),
        ("GET", "/v1/models/demo/echo/predictions", 405),
        ("PATCH", "/v1/models/demo/echo/versions/1/predictions", 405),
    ],
)
def test_bad_routes_and_queries(
    server: LocalServer, method: str, path: str, expected: int
) -> None:
    body = b'{"input": 1}' if method == "POST" else None
    headers = {"Content-Type": "application/json"} if body else {}
    status, got_headers, answer = raw_request(server, method, path, body, headers)
    check_error(status, got_headers, answer, expected)
    if expected == 405:
        assert got_headers["allow"]
    still_serving(server)


def test_model_in_body_errors(server: LocalServer) -> None:
    for body, expected in (
        ({"input": 1}, 422),
        ({"input": 1, "model": 3}, 422),
        ({"input": 1, "model": "no-slash"}, 422),
        ({"input": 1, "model": "a/b:x"}, 422),
        ({"input": 1, "model": "nobody/nothing"}, 404),
        ({"input": 1, "model": "demo/echo:9"}, 404),
    ):
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        status, got, answer = raw_request(
            server, "POST", "/v1/predictions", data, headers
        )
        check_error(status, got, answer, expected)


def test_body_over_10_mib_is_413_without_reading_it(server: LocalServer) -> None:
    head = (
        b"POST /v1/models/demo/echo/predictions HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nContent-Length: 20000000\r\n\r\n"
    )
    started = time.monotonic()
    answer = raw_bytes(server, head + b'{"input": ')
    # Waiting for the rest of the body would take the idle timeout (60 s).
    assert time.monotonic() - started < 30
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"Connection: close" in answer
    assert "10 MiB" in json_of(answer)["detail"]
    assert server.predictions == []
    still_serving(server)


def test_body_over_10_mib_sent_whole_still_gets_413(
    server: LocalServer, session: requests.Session
) -> None:
    big = b'{"input": "' + b"x" * (11 * 1024 * 1024) + b'"}'
    try:
        response = session.post(
            server.base_url + "/models/demo/echo/predictions",
            data=big,
            headers={"Content-Type": "application/json"},
        )
    except requests.ConnectionError:
        pass  # an old urllib3 may see the close before the answer
    else:
        assert response.status_code == 413
    assert server.predictions == []
    still_serving(server)


def test_expect_100_continue_with_big_body_is_refused_early(
    server: LocalServer,
) -> None:
    head = (
        b"POST /v1/models/demo/echo/predictions HTTP/1.1\r\nHost: x\r\n"
        b"Expect: 100-continue\r\nContent-Length: 20000000\r\n\r\n"
    )
    answer = raw_bytes(server, head)
    assert answer.startswith(b"HTTP/1.1 413 ")
    still_serving(server)


def test_chunked_bodies(server: LocalServer) -> None:
    body = b'{"input": "chunked"}'
    request = (
        b"POST /v1/models/demo/echo/predictions HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n"
        + f"{len(body):x}\r\n".encode()
        + body
        + b"\r\n0\r\n\r\n"
    )
    answer = raw_bytes(server, request)
    assert answer.startswith(b"HTTP/1.1 202 ")
    assert json_of(answer)["input"] == "chunked"
    bad = (
        b"POST /v1/models/demo/echo/predictions HTTP/1.1\r\nHost: x\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\n"
    )
    assert raw_bytes(server, bad).startswith(b"HTTP/1.1 400 ")
    huge = (
        b"POST /v1/models/demo/echo/predictions HTTP/1.1\r\nHost: x\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nFFFFFFFF\r\n"
    )
    assert raw_bytes(server, huge).startswith(b"HTTP/1.1 413 ")
    still_serving(server)


def test_bad_content_length_is_400(server: LocalServer) -> None:
    request = b"POST /v1/predictions HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"
    answer = raw_bytes(server, request)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert json_of(answer) == {"detail": "Invalid Content-Length"}
    still_serving(server)


def test_header_line_over_64_kib_is_431_json(server: LocalServer) -> None:
    request = (
        b"GET /v1/predictions HTTP/1.1\r\nHost: x\r\nX-Big: "
        + b"a" * (70 * 1024)
        + b"\r\n\r\n"
    )
    answer = raw_bytes(server, request)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b"application/json" in answer
    assert json_of(answer) == {"detail": "Line too long"}
    still_serving(server)


def test_too_many_headers_and_long_request_line(server: LocalServer) -> None:
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(150))
    answer = raw_bytes(server, b"GET /v1/predictions HTTP/1.1\r\n" + many + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 431 ")
    answer = raw_bytes(server, b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 414 ")
    json_of(answer)
    still_serving(server)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET\r\n\r\n", 400),
        (b"GET / HTTP/9.9\r\n\r\n", 505),
        (b"GET /v1/predictions HTTP/x\r\n\r\n", 400),
        (b"GET /v1/predictions HTTP/1.1 extra\r\n\r\n", 400),
        (b"BREW /v1/predictions HTTP/1.1\r\n\r\n", 501),
        (b"\x00\x01\x02\xff\r\n\r\n", 400),
        (b"\r\n\r\n", None),  # no request at all: closed, no answer
    ],
)
def test_garbage_request_lines(
    server: LocalServer, line: bytes, expected: Optional[int]
) -> None:
    answer = raw_bytes(server, line)
    if expected is None:
        assert answer == b""
    else:
        status, headers, body = parse_answer(answer)
        assert answer.startswith(b"HTTP/1.1 ")
        assert headers["connection"] == "close"
        assert isinstance(check_error(status, headers, body, expected), str)
    still_serving(server)


def test_client_vanishing_mid_body_does_not_hurt(server: LocalServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(
            b"POST /v1/models/demo/echo/predictions HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: 100\r\n\r\n{"
        )
    still_serving(server)
    assert server.predictions == []


def test_head_and_keep_alive(server: LocalServer) -> None:
    request = (
        b"HEAD /v1/predictions HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /v1/predictions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    answer = raw_bytes(server, request)
    assert answer.count(b"HTTP/1.1 ") == 2
    assert answer.startswith(b"HTTP/1.1 405 ")
    assert answer.endswith(b"}")


def test_nothing_on_stderr_and_every_answer_has_the_headers(
    server: LocalServer, capfd: pytest.CaptureFixture[str]
) -> None:
    raw_bytes(server, b"GARBAGE\r\n\r\n")
    raw_bytes(
        server, b"GET /v1/predictions HTTP/1.1\r\nX: " + b"a" * 70000 + b"\r\n\r\n"
    )
    for method, path in (
        ("GET", "/v1/x"),
        ("GET", "/v1/predictions"),
        ("POST", CREATE),
    ):
        body = b'{"input": 1}' if method == "POST" else None
        _, headers, _ = raw_request(server, method, path, body)
        assert headers["x-request-id"]
        assert "x-ratelimit-reset" in headers
    out, err = capfd.readouterr()
    assert err == ""
    assert out == ""


def test_a_model_that_breaks_the_server_internals_is_contained(
    server: LocalServer, session: requests.Session
) -> None:
    class Weird(Exception):
        def __str__(self) -> str:
            raise RuntimeError("cannot even print")

    def model(input: Any) -> Any:
        raise Weird

    server.register("me/weird", model)
    response = session.post(
        server.base_url + "/models/me/weird/predictions",
        json={"input": 1},
        headers={"Prefer": "wait=0.5"},
    )
    done = server.wait(response.json()["id"])
    assert done["status"] == "failed"
    assert done["error"]["message"] == "Weird"
    still_serving(server)


@pytest.mark.parametrize(
    "number", [b"1e400", b"-1e400", b"1.5e999", b"Infinity", b"-Infinity", b"NaN"]
)
@pytest.mark.parametrize("path", [CREATE, "/v1/predictions"])
def test_numbers_json_cannot_answer_are_422(
    server: LocalServer, number: bytes, path: str
) -> None:
    body = b'{"model": "demo/echo", "input": {"x": [1, ' + number + b"]}}"
    status, headers, answer = raw_request(server, "POST", path, body, JSON)
    detail = check_error(status, headers, answer, 422)
    assert detail[0]["type"] == "json_invalid"
    assert detail[0]["loc"][0] == "body"
    assert server.predictions == []
    # The largest finite float is fine, and comes back as it went.
    body = b'{"model": "demo/echo", "input": 1.7976931348623157e308}'
    status, _, answer = raw_request(server, "POST", path, body, JSON)
    assert status == 202
    assert json.loads(answer)["input"] == 1.7976931348623157e308


def nested_body(depth: int, close: bool = True) -> bytes:
    """A create body whose input nests `depth` arrays (the body is one more)."""
    return b'{"input": ' + b"[" * depth + (b"]" * depth + b"}" if close else b"")


@pytest.mark.parametrize(
    "body",
    [nested_body(100_000), nested_body(100_000, close=False), nested_body(200)],
    ids=["100000-deep", "100000-deep-unclosed", "201-deep"],
)
def test_json_nested_too_deep_is_422(server: LocalServer, body: bytes) -> None:
    status, headers, answer = raw_request(server, "POST", CREATE, body, JSON)
    detail = check_error(status, headers, answer, 422)
    assert detail[0]["type"] == "json_invalid"
    assert "nest deeper than 200" in detail[0]["ctx"]["error"]
    assert server.predictions == []
    still_serving(server)


def test_json_nested_200_deep_is_accepted_and_echoed(
    server: LocalServer, session: requests.Session
) -> None:
    body = nested_body(199)
    status, _, answer = raw_request(
        server, "POST", CREATE, body, {**JSON, "Prefer": "wait=10"}
    )
    assert status == 201
    done = json.loads(answer)
    expected: Any = []
    for _ in range(198):
        expected = [expected]
    assert done["input"] == expected
    assert done["output"] == expected


def test_an_internal_error_is_a_json_500_with_every_header(
    server: LocalServer,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug of the server's")

    monkeypatch.setattr(server.registry, "find", broken)
    status, headers, body = raw_request(server, "POST", CREATE, b'{"input": 1}', JSON)
    assert check_error(status, headers, body, 500) == "Internal Server Error"
    assert headers["connection"] == "close"
    assert b"a bug" not in body
    assert server.predictions == []
    still_serving(server)
    assert capfd.readouterr() == ("", "")


@pytest.mark.parametrize("size", [b"-5", b"+5", b"0x5", b"5_0", b"", b" "])
def test_chunk_sizes_that_are_not_hex_digits_are_400(
    server: LocalServer, size: bytes
) -> None:
    request = (
        b"POST /v1/models/demo/echo/predictions HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        + size
        + b'\r\n{"input": 1}\r\n0\r\n\r\n'
    )
    status, headers, body = parse_answer(raw_bytes(server, request))
    assert check_error(status, headers, body, 400) == "Invalid chunked encoding"
    assert server.predictions == []
    still_serving(server)


def test_the_request_log_keeps_64_kib_of_each_body(
    server: LocalServer, session: requests.Session
) -> None:
    body = json.dumps({"input": "x" * (200 * 1024)}).encode()
    response = session.post(
        server.base_url + "/models/demo/echo/predictions", data=body, headers=JSON
    )
    assert response.status_code == 202
    (logged,) = server.requests
    assert logged.body == body[: 64 * 1024]
    assert logged.headers["content-length"] == str(len(body))
    # Only the log is cut: the prediction has all of it.
    assert server.predictions[0]["input"] == "x" * (200 * 1024)
