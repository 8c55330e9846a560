"""Expiry: a prediction, its input and its output are gone a while after it ends."""

from __future__ import annotations

import time
import uuid
from typing import Callable, List

import requests

from predictions.testing import LocalServer
from predictions.testing._api.pages import ListQuery
from predictions.testing._api.store import Store
from predictions.testing._models.builtins import build_registry

from .helpers import create, fetch, wait_until


def test_an_ended_prediction_is_gone_after_expire_after(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(expire_after=0.5)
    created = create(session, server, "demo/echo", {"secret": "input"}).json()
    pid = created["id"]
    assert server.wait(pid)["status"] == "succeeded"
    assert fetch(session, server, pid)["input"] == {"secret": "input"}
    url = f"{server.base_url}/predictions/{pid}"
    wait_until(lambda: session.get(url).status_code == 404)
    assert session.get(url).json() == {"detail": "Prediction not found"}
    assert session.post(url + "/cancel").status_code == 404
    assert session.get(server.base_url + "/predictions").json()["items"] == []
    assert server.prediction(pid) is None
    assert server.predictions == []


def test_a_prediction_that_has_not_ended_never_expires(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(expire_after=0.1)
    created = create(session, server, "demo/sleep", {"seconds": 30}).json()
    time.sleep(0.4)
    assert fetch(session, server, created["id"])["status"] in ("starting", "started")
    cancel = session.post(f"{server.base_url}/predictions/{created['id']}/cancel")
    assert cancel.status_code == 200
    url = f"{server.base_url}/predictions/{created['id']}"
    wait_until(lambda: session.get(url).status_code == 404)


def test_the_clock_starts_when_it_ends_not_when_it_is_created(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(expire_after=0.6, cold_start=0)
    created = create(session, server, "demo/sleep", {"seconds": 0.8}).json()
    assert server.wait(created["id"])["status"] == "succeeded"
    # Older than expire_after, but only just ended: still there.
    assert fetch(session, server, created["id"])["output"] == {"slept": 0.8}


def test_its_idempotency_key_goes_with_it(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(expire_after=0.2)
    key = str(uuid.uuid4())
    first = create(session, server, "demo/echo", 1, Idempotency_Key=key).json()
    server.wait(first["id"])
    url = f"{server.base_url}/predictions/{first['id']}"
    wait_until(lambda: session.get(url).status_code == 404)
    again = create(session, server, "demo/echo", 2, Idempotency_Key=key)
    assert again.status_code == 202  # a new prediction, not a 409
    assert again.json()["id"] != first["id"]


def test_no_expiry_by_default(server: LocalServer, session: requests.Session) -> None:
    created = create(session, server, "demo/echo", 1).json()
    server.wait(created["id"])
    time.sleep(0.2)
    assert fetch(session, server, created["id"])["output"] == 1


def test_expiry_follows_the_order_predictions_ended() -> None:
    now: List[float] = [0.0]
    store = Store(expire_after=10, clock=lambda: now[0])
    version = build_registry(None).find("demo", "echo")
    assert version is not None
    first, _ = store.create(version, 1, None)
    second, _ = store.create(version, 2, None)
    store.update(second, status="succeeded")
    now[0] = 5
    store.update(first, status="failed")
    store.force_status(second.id, "mystery")  # not ended any more
    now[0] = 12
    assert store.get(first.id) is not None
    assert store.get(second.id) is not None  # its old end does not count
    store.force_status(second.id, "abandoned")
    now[0] = 15
    assert store.get(first.id) is None
    assert [r["id"] for r in store.page(ListQuery())["items"]] == [second.id]
    now[0] = 22
    assert store.get(second.id) is None
    assert store.snapshot() == []


def test_a_held_create_answers_even_when_its_prediction_expires_at_once(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(expire_after=0)
    response = create(session, server, "demo/echo", 1, Prefer="wait=10")
    assert response.status_code == 201
    body = response.json()
    assert body["output"] == 1
    assert session.get(response.headers["Location"]).status_code == 404
    assert server.predictions == []
