"""WebhookReceiver at the HTTP level: raw sockets against 127.0.0.1 only.

A bad Content-Length is answered 400 (it used to drop the connection, or hang
on `-1`), a Transfer-Encoding 400, a body past the limit 413, and a client
too slow to send its request cannot hold the receiver: 408, or the
connection is closed. Every socket has a timeout and every test a bound.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Iterator, List, Optional, Tuple

import pytest

from predictions import WebhookReceiver
from predictions.webhooks import SIGNATURE_HEADER, sign

SECRET = "whsec-http"
BODY = json.dumps({"id": "p1", "status": "succeeded"}).encode()
WAIT = 10.0  # bounds a failing test only: a hang shows as no answer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET, read_timeout=1.0, max_body_size=1000) as r:
        yield r


def connect(receiver: WebhookReceiver) -> socket.socket:
    port = int(receiver.url.rsplit(":", 1)[1].strip("/"))
    sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    sock.settimeout(WAIT)
    return sock


def head(*headers: str, signature: Optional[str] = None) -> bytes:
    lines = ["POST / HTTP/1.1", "Host: 127.0.0.1", *headers]
    if signature is not None:
        lines.append(f"{SIGNATURE_HEADER}: {signature}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def answer(sock: socket.socket) -> Tuple[Optional[int], bytes]:
    """Read until the receiver closes; (status, body), status None if no answer."""
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    finally:
        sock.close()
    if not data.startswith(b"HTTP/"):
        return None, data
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def exchange(receiver: WebhookReceiver, raw: bytes) -> Tuple[Optional[int], bytes]:
    sock = connect(receiver)
    sock.sendall(raw)
    return answer(sock)


def signed(*headers: str, body: bytes = BODY) -> bytes:
    return head(*headers, signature=sign(body, SECRET)) + body


def test_a_signed_delivery_over_a_raw_socket_is_204(receiver: WebhookReceiver) -> None:
    status, _ = exchange(receiver, signed(f"Content-Length: {len(BODY)}"))
    assert status == 204
    assert receiver.deliveries == [json.loads(BODY)]


@pytest.mark.parametrize(
    "value", ["abc", "-1", "", "1.5", "0x10", "+5", "1e3", "\u0661", "5 5"]
)
def test_a_malformed_content_length_is_400(
    receiver: WebhookReceiver, value: str
) -> None:
    started = time.monotonic()
    status, text = exchange(receiver, signed(f"Content-Length: {value}"))
    assert status == 400
    assert b"Content-Length" in text
    assert time.monotonic() - started < WAIT / 2  # answered, not timed out
    assert receiver.deliveries == []


def test_a_missing_content_length_is_400(receiver: WebhookReceiver) -> None:
    status, text = exchange(receiver, signed())
    assert (status, text) == (400, b"Content-Length is required")


@pytest.mark.parametrize(
    "headers",
    [
        ("Content-Length: 5", "Content-Length: 6"),
        (f"Content-Length: {len(BODY)}", f"Content-Length: {len(BODY) + 1}"),
        (f"Content-Length: {len(BODY)}, {len(BODY) + 1}",),
        (f"Content-Length: {len(BODY)}", "Content-Length: abc"),
    ],
)
def test_different_content_lengths_are_400(
    receiver: WebhookReceiver, headers: Tuple[str, ...]
) -> None:
    status, text = exchange(receiver, signed(*headers))
    assert status == 400
    assert b"Content-Length" in text
    assert receiver.deliveries == []


@pytest.mark.parametrize(
    "headers",
    [
        (f"Content-Length: {len(BODY)}", f"Content-Length: {len(BODY)}"),
        (f"Content-Length: {len(BODY)}, {len(BODY)}",),
    ],
)
def test_the_same_content_length_twice_is_fine(
    receiver: WebhookReceiver, headers: Tuple[str, ...]
) -> None:
    status, _ = exchange(receiver, signed(*headers))
    assert status == 204


@pytest.mark.parametrize("encoding", ["chunked", "gzip, chunked", "identity"])
def test_a_transfer_encoding_is_400(receiver: WebhookReceiver, encoding: str) -> None:
    # With a Content-Length too, which a smuggled request would rely on.
    raw = signed(f"Content-Length: {len(BODY)}", f"Transfer-Encoding: {encoding}")
    status, text = exchange(receiver, raw)
    assert status == 400
    assert b"Transfer-Encoding" in text
    assert receiver.deliveries == []


def test_a_body_past_the_limit_is_413_unread(receiver: WebhookReceiver) -> None:
    started = time.monotonic()
    status, _ = exchange(receiver, head("Content-Length: 1001", signature="t=1"))
    assert status == 413
    assert time.monotonic() - started < WAIT / 2
    huge = head("Content-Length: " + "9" * 5000, signature="t=1")
    assert exchange(receiver, huge)[0] == 413
    padded = head("Content-Length: " + "0" * 5000 + "1001", signature="t=1")
    assert exchange(receiver, padded)[0] == 413


def test_the_default_limit_is_10_mib() -> None:
    with WebhookReceiver(SECRET) as receiver:
        assert receiver.max_body_size == 10 * 1024 * 1024
        raw = head(f"Content-Length: {10 * 1024 * 1024 + 1}", signature="t=1")
        assert exchange(receiver, raw)[0] == 413


def test_a_body_at_the_limit_is_read() -> None:
    body = json.dumps({"id": "p1", "status": "succeeded", "pad": "x" * 950}).encode()
    with WebhookReceiver(SECRET, max_body_size=len(body)) as receiver:
        raw = signed(f"Content-Length: {len(body)}", body=body)
        assert exchange(receiver, raw)[0] == 204


def test_a_slow_body_is_408_within_the_read_timeout(
    receiver: WebhookReceiver,
) -> None:
    sock = connect(receiver)
    sock.sendall(head(f"Content-Length: {len(BODY)}", signature=sign(BODY, SECRET)))
    started = time.monotonic()
    try:
        for byte in BODY:  # a byte every 0.1 s: each read is quick, the whole not
            sock.sendall(bytes([byte]))
            time.sleep(0.1)
    except OSError:
        pass  # the receiver gave up and closed: what is wanted
    status, text = answer(sock)
    assert status == 408
    assert b"too long" in text
    assert time.monotonic() - started < 1.0 + WAIT / 2
    assert receiver.deliveries == []


def test_slow_headers_are_cut_off(receiver: WebhookReceiver) -> None:
    sock = connect(receiver)
    started = time.monotonic()
    try:
        for byte in b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100:
            sock.sendall(bytes([byte]))
            time.sleep(0.05)
            if time.monotonic() - started > 4:  # 4 times the read timeout
                break
    except OSError:
        pass  # the receiver gave up and closed: what is wanted
    sock.settimeout(2.0)
    try:
        data = sock.recv(1024)
    except ConnectionResetError:
        data = b""
    except socket.timeout:
        pytest.fail("the receiver still holds a client that trickles its headers")
    finally:
        sock.close()
    assert data == b"" or data.startswith(b"HTTP/1.0 408")


def test_a_body_that_ends_early_is_refused(receiver: WebhookReceiver) -> None:
    sock = connect(receiver)
    sock.sendall(head("Content-Length: 500", signature=sign(BODY, SECRET)) + BODY)
    sock.shutdown(socket.SHUT_WR)
    status, _ = answer(sock)
    assert status == 400
    assert receiver.deliveries == []


def test_a_body_in_pieces_within_the_timeout_is_fine(
    receiver: WebhookReceiver,
) -> None:
    sock = connect(receiver)
    sock.sendall(head(f"Content-Length: {len(BODY)}", signature=sign(BODY, SECRET)))
    for start in range(0, len(BODY), 10):
        sock.sendall(BODY[start : start + 10])
        time.sleep(0.01)
    assert answer(sock)[0] == 204


def test_a_signed_body_that_is_not_an_object_is_400(
    receiver: WebhookReceiver,
) -> None:
    for body in (b"[1, 2]", b"5", b"not json", b"\xff\xfe"):
        raw = signed(f"Content-Length: {len(body)}", body=body)
        assert exchange(receiver, raw)[0] == 400
    assert receiver.deliveries == []


def test_the_receiver_keeps_serving_after_refusals(receiver: WebhookReceiver) -> None:
    refusals: List[bytes] = [
        signed("Content-Length: abc"),
        signed("Content-Length: -1"),
        head("Content-Length: 99999", signature="t=1"),
        signed(f"Content-Length: {len(BODY)}", "Transfer-Encoding: chunked"),
    ]
    for raw in refusals:
        assert exchange(receiver, raw)[0] in (400, 413)
    assert len(receiver.refused) == len(refusals)
    assert exchange(receiver, signed(f"Content-Length: {len(BODY)}"))[0] == 204
    assert receiver.wait_for(lambda p: p["id"] == "p1", timeout=WAIT)


@pytest.mark.parametrize(
    ("option", "value", "error"),
    [
        ("read_timeout", 0, ValueError),
        ("read_timeout", -1.0, ValueError),
        ("read_timeout", float("inf"), ValueError),
        ("read_timeout", "5", TypeError),
        ("max_body_size", -1, ValueError),
        ("max_body_size", 1.5, TypeError),
        ("max_body_size", True, TypeError),
        ("tolerance", -1, ValueError),
        ("tolerance", float("nan"), ValueError),
        ("tolerance", "300", TypeError),
    ],
)
def test_bad_options_are_refused_at_once(
    option: str, value: object, error: type
) -> None:
    with pytest.raises(error, match=option):
        WebhookReceiver(SECRET, **{option: value})  # type: ignore[arg-type]
