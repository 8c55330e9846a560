"""Webhook deliveries: every status change, signed, in order, retried."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pytest
import requests

from predictions.testing import LocalServer

from .helpers import wait_until


class Receiver:
    """A tiny webhook receiver: records deliveries; can fail or hold the first."""

    def __init__(self) -> None:
        self.received: List[Tuple[Dict[str, str], bytes]] = []
        self.fail_first = 0
        self.hold_first = False
        self.release = threading.Event()
        self.attempts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.attempts += 1
                if receiver.attempts == 1 and receiver.hold_first:
                    receiver.release.wait(60)
                if receiver.attempts <= receiver.fail_first:
                    self.send_response(500)
                else:
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    receiver.received.append((headers, body))
                    self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, args=(0.01,), daemon=True
        )
        self.thread.start()

    def statuses(self) -> List[str]:
        return [json.loads(body)["status"] for _, body in self.received]

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def create(
    session: requests.Session,
    server: LocalServer,
    webhook: Dict[str, Any],
    **input: Any,
) -> Dict[str, Any]:
    response = session.post(
        server.base_url + "/models/demo/sleep/predictions",
        json={"input": input, "webhook": webhook},
    )
    assert response.status_code == 202, response.text
    return response.json()  # type: ignore[no-any-return]


def expected_signature(secret: str, header: str, body: bytes) -> str:
    timestamp = header.split(",")[0].split("=")[1]
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def test_every_status_change_is_delivered_signed_and_in_order(
    server: LocalServer, session: requests.Session, receiver: Receiver
) -> None:
    secret = "whsec_test"
    created = create(
        session, server, {"url": receiver.url, "secret": secret}, seconds=0.05
    )
    done = server.wait(created["id"])
    wait_until(lambda: len(receiver.received) == 4)
    # A model's first prediction is a cold start: `starting` comes too.
    assert receiver.statuses() == ["pending", "starting", "started", "succeeded"]
    for headers, body in receiver.received:
        assert headers["content-type"] == "application/json"
        signature = headers["wriftai-webhook-signature"]
        timestamp, v1 = signature.split(",")
        assert timestamp.startswith("t=")
        assert abs(int(timestamp[2:]) - time.time()) < 60
        assert v1 == "v1=" + expected_signature(secret, signature, body)
    last = json.loads(receiver.received[-1][1])
    assert last == done  # the same shape as GET
    # The attempt is logged once the receiver has answered: wait for it too.
    wait_until(lambda: len(server.webhook_deliveries) == 4)
    deliveries = server.webhook_deliveries
    assert [d.status for d in deliveries] == [
        "pending",
        "starting",
        "started",
        "succeeded",
    ]
    assert all(d.ok and d.attempt == 1 and not d.duplicate for d in deliveries)


def test_signature_verifies_with_the_client_module(
    server: LocalServer, session: requests.Session, receiver: Receiver
) -> None:
    webhooks = pytest.importorskip("predictions.webhooks")
    created = create(session, server, {"url": receiver.url, "secret": "k"}, seconds=0)
    server.wait(created["id"])
    wait_until(lambda: len(receiver.received) == 4)
    for headers, body in receiver.received:
        webhooks.verify(body, headers["wriftai-webhook-signature"], "k")


def test_no_secret_no_signature(
    server: LocalServer, session: requests.Session, receiver: Receiver
) -> None:
    created = create(session, server, {"url": receiver.url}, seconds=0)
    server.wait(created["id"])
    wait_until(lambda: len(receiver.received) == 4)
    assert all("wriftai-webhook-signature" not in h for h, _ in receiver.received)


def test_failed_deliveries_are_retried_with_backoff(
    make_server: Callable[..., LocalServer],
    session: requests.Session,
    receiver: Receiver,
) -> None:
    server = make_server(webhook_retries=3, webhook_backoff=0.01, cold_start=0)
    receiver.fail_first = 2
    created = create(session, server, {"url": receiver.url, "secret": "k"}, seconds=0)
    server.wait(created["id"])
    wait_until(lambda: len(receiver.received) == 3)
    assert receiver.statuses() == ["pending", "started", "succeeded"]
    wait_until(lambda: len(server.webhook_deliveries) == 5)
    attempts = [(d.status, d.attempt, d.ok) for d in server.webhook_deliveries]
    assert attempts[:3] == [
        ("pending", 1, False),
        ("pending", 2, False),
        ("pending", 3, True),
    ]
    assert server.webhook_deliveries[0].response_status == 500


def test_gives_up_after_the_retries(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(
        webhook_retries=1, webhook_backoff=0.01, webhook_timeout=0.5, cold_start=0
    )
    created = create(session, server, {"url": "http://127.0.0.1:9/nothing"}, seconds=0)
    server.wait(created["id"])
    wait_until(lambda: len(server.webhook_deliveries) == 6)
    deliveries = server.webhook_deliveries
    assert not any(d.ok for d in deliveries)
    assert {d.attempt for d in deliveries} == {1, 2}
    assert all(d.error for d in deliveries)


def test_a_slow_receiver_never_delays_the_prediction(
    make_server: Callable[..., LocalServer],
    session: requests.Session,
    receiver: Receiver,
) -> None:
    server = make_server(webhook_timeout=60, cold_start=0)
    receiver.hold_first = True  # the first delivery waits until released
    created = create(session, server, {"url": receiver.url}, seconds=0)
    wait_until(lambda: receiver.attempts == 1)
    # The prediction ends while its first delivery is still held.
    assert server.wait(created["id"], timeout=30)["status"] == "succeeded"
    assert receiver.received == []
    assert server.webhook_deliveries == []
    receiver.release.set()
    wait_until(lambda: len(receiver.received) == 3)
    assert receiver.statuses() == ["pending", "started", "succeeded"]


def test_cancel_is_delivered(
    make_server: Callable[..., LocalServer],
    session: requests.Session,
    receiver: Receiver,
) -> None:
    server = make_server(cold_start=0)
    created = create(session, server, {"url": receiver.url}, seconds=10)
    wait_until(lambda: server.prediction(created["id"])["status"] == "started")  # type: ignore[index]
    session.post(f"{server.base_url}/predictions/{created['id']}/cancel")
    wait_until(lambda: len(receiver.received) == 3)
    assert receiver.statuses() == ["pending", "started", "cancelled"]


def test_a_rotation_signs_with_every_secret_the_webhooks_own_last(
    make_server: Callable[..., LocalServer],
    session: requests.Session,
    receiver: Receiver,
) -> None:
    webhooks = pytest.importorskip("predictions.webhooks")
    server = make_server(webhook_rotation_secrets=["old-1", "old-2"], cold_start=0)
    created = create(session, server, {"url": receiver.url, "secret": "new"}, seconds=0)
    server.wait(created["id"])
    wait_until(lambda: len(receiver.received) == 3)
    for headers, body in receiver.received:
        signature = headers["wriftai-webhook-signature"]
        timestamp, *parts = signature.split(",")
        assert timestamp.startswith("t=")
        assert parts == [
            "v1=" + expected_signature(secret, signature, body)
            for secret in ("old-1", "old-2", "new")
        ]
        for secret in ("new", "old-1", "old-2"):
            webhooks.verify(body, signature, secret)
        with pytest.raises(webhooks.WebhookVerificationError):
            webhooks.verify(body, signature, "another")


def test_a_rotation_signs_only_signed_deliveries_and_each_secret_once(
    make_server: Callable[..., LocalServer],
    session: requests.Session,
    receiver: Receiver,
) -> None:
    server = make_server(webhook_rotation_secrets=["same", ""], cold_start=0)
    unsigned = create(session, server, {"url": receiver.url}, seconds=0)
    server.wait(unsigned["id"])
    wait_until(lambda: len(receiver.received) == 3)
    assert all("wriftai-webhook-signature" not in h for h, _ in receiver.received)
    signed = create(session, server, {"url": receiver.url, "secret": "same"}, seconds=0)
    server.wait(signed["id"])
    wait_until(lambda: len(receiver.received) == 6)
    for headers, _ in receiver.received[3:]:
        assert headers["wriftai-webhook-signature"].count("v1=") == 1


def test_every_event_can_be_delivered_twice(
    make_server: Callable[..., LocalServer],
    session: requests.Session,
    receiver: Receiver,
) -> None:
    server = make_server(webhook_duplicates=True, cold_start=0, webhook_retries=2)
    receiver.fail_first = 1  # the first attempt fails: the copy comes after the retry
    created = create(session, server, {"url": receiver.url, "secret": "k"}, seconds=0)
    server.wait(created["id"])
    wait_until(lambda: len(receiver.received) == 6)
    assert receiver.statuses() == [
        "pending",
        "pending",
        "started",
        "started",
        "succeeded",
        "succeeded",
    ]
    bodies = [body for _, body in receiver.received]
    assert bodies[0::2] == bodies[1::2]  # the same payload twice
    wait_until(lambda: len(server.webhook_deliveries) == 7)
    assert [
        (d.status, d.attempt, d.ok, d.duplicate) for d in server.webhook_deliveries
    ] == [
        ("pending", 1, False, False),
        ("pending", 2, True, False),
        ("pending", 1, True, True),
        ("started", 1, True, False),
        ("started", 1, True, True),
        ("succeeded", 1, True, False),
        ("succeeded", 1, True, True),
    ]
