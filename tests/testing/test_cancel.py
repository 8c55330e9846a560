"""Cancelling is asynchronous: `null` at once, `cancelled` a moment later."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any, Callable, List

import pytest
import requests

from predictions.testing import LocalServer, PredictionContext

from .helpers import create, fetch, wait_until


def cancel(
    session: requests.Session, server: LocalServer, prediction_id: str
) -> requests.Response:
    return session.post(f"{server.base_url}/predictions/{prediction_id}/cancel")


def test_cancel_answers_null_and_the_status_changes_a_moment_later(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(cancel_delay=0.5)
    created = create(session, server, "demo/sleep", {"seconds": 30}).json()
    pid = created["id"]
    wait_until(lambda: fetch(session, server, pid)["status"] == "started")
    asked = time.monotonic()
    response = cancel(session, server, pid)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.content == b"null"
    assert fetch(session, server, pid)["status"] == "started"  # not yet
    again = cancel(session, server, pid)  # asking again is fine
    assert (again.status_code, again.content) == (200, b"null")
    assert server.wait(pid, timeout=10)["status"] == "cancelled"
    assert time.monotonic() - asked >= 0.5
    third = cancel(session, server, pid)  # and so is asking once it took effect
    assert (third.status_code, third.content) == (200, b"null")
    time.sleep(0.05)  # the cancelled task stays cancelled
    done = fetch(session, server, pid)
    assert done["status"] == "cancelled"
    assert done["output"] is None
    assert done["execution_time"] is not None


def test_the_default_delay_is_short(
    server: LocalServer, session: requests.Session
) -> None:
    created = create(session, server, "demo/sleep", {"seconds": 30}).json()
    pid = created["id"]
    wait_until(lambda: fetch(session, server, pid)["status"] == "started")
    asked = time.monotonic()
    assert cancel(session, server, pid).json() is None
    assert server.wait(pid, timeout=10)["status"] == "cancelled"
    assert time.monotonic() - asked < 5


def test_cancel_delay_zero_still_answers_before_the_change(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(cancel_delay=0)
    created = create(session, server, "demo/sleep", {"seconds": 30}).json()
    assert cancel(session, server, created["id"]).content == b"null"
    assert server.wait(created["id"], timeout=10)["status"] == "cancelled"


def test_a_plain_model_is_told_when_the_cancel_takes_effect(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(cancel_delay=0.3)
    seen: List[bool] = []
    told = threading.Event()

    def cooperative(input: Any, ctx: PredictionContext) -> None:
        deadline = time.monotonic() + 30
        while not ctx.cancelled and time.monotonic() < deadline:
            time.sleep(0.005)
        seen.append(ctx.cancelled)
        told.set()

    server.register("me/coop", cooperative)
    created = create(session, server, "me/coop", None).json()
    pid = created["id"]
    wait_until(lambda: fetch(session, server, pid)["status"] == "started")
    assert cancel(session, server, pid).json() is None
    assert not told.is_set()  # the answer came before the cancel took effect
    assert told.wait(10)
    assert seen == [True]
    wait_until(lambda: fetch(session, server, pid)["status"] == "cancelled")


def test_a_prediction_ending_before_the_cancel_takes_effect_keeps_its_end(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(cancel_delay=0.5)
    release = threading.Event()

    async def held(input: Any) -> Any:
        while not release.is_set():
            await asyncio.sleep(0.005)
        return "finished"

    server.register("me/held", held)
    created = create(session, server, "me/held", None).json()
    pid = created["id"]
    wait_until(lambda: fetch(session, server, pid)["status"] == "started")
    assert cancel(session, server, pid).json() is None
    release.set()
    assert server.wait(pid)["status"] == "succeeded"
    time.sleep(0.6)  # past the delay: the late cancel changes nothing
    assert fetch(session, server, pid)["output"] == "finished"
    conflict = cancel(session, server, pid)
    assert conflict.status_code == 409
    assert "succeeded" in conflict.json()["detail"]


def test_a_pending_prediction_is_cancelled_too(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(workers=1, cold_start=0)
    release = threading.Event()
    server.register("me/blocker", lambda input: release.wait(30))
    first = create(session, server, "me/blocker", None).json()
    wait_until(lambda: fetch(session, server, first["id"])["status"] == "started")
    second = create(session, server, "me/blocker", None).json()
    assert fetch(session, server, second["id"])["status"] == "pending"
    assert cancel(session, server, second["id"]).json() is None
    assert server.wait(second["id"])["status"] == "cancelled"
    release.set()
    assert server.wait(first["id"])["status"] == "succeeded"


def test_a_status_forced_back_to_a_running_one_is_cancelled_at_once(
    server: LocalServer, session: requests.Session
) -> None:
    created = create(session, server, "demo/echo", 1).json()
    assert server.wait(created["id"])["status"] == "succeeded"
    server.set_status(created["id"], "mystery")  # no task runs it any more
    assert cancel(session, server, created["id"]).json() is None
    assert server.wait(created["id"])["status"] == "cancelled"


@pytest.mark.parametrize(
    ("model", "input", "status"),
    [("demo/echo", {}, "succeeded"), ("demo/fail", {}, "failed")],
)
def test_cancelling_an_ended_prediction_is_409(
    server: LocalServer, session: requests.Session, model: str, input: Any, status: str
) -> None:
    created = create(session, server, model, input).json()
    assert server.wait(created["id"])["status"] == status
    response = cancel(session, server, created["id"])
    assert response.status_code == 409
    assert status in response.json()["detail"]
    assert fetch(session, server, created["id"])["status"] == status


def test_cancelling_an_abandoned_one_is_409_and_an_unknown_one_404(
    server: LocalServer, session: requests.Session
) -> None:
    created = create(session, server, "demo/sleep", {"seconds": 5}).json()
    server.set_status(created["id"], "abandoned")
    assert cancel(session, server, created["id"]).status_code == 409
    unknown = cancel(session, server, str(uuid.uuid4()))
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "Prediction not found"}
