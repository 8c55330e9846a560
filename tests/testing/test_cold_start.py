"""Cold starts: a model version not run recently is `starting` before `started`."""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, List

import requests

from predictions.testing import LocalServer

from .helpers import create, fetch, wait_until

LOADING = "Loading demo/echo:1 (cold start)"


def run(session: requests.Session, server: LocalServer, model: str) -> Dict[str, Any]:
    response = create(session, server, model, {"seconds": 0}, Prefer="wait=10")
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_the_first_prediction_of_a_model_passes_through_starting(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(cold_start=0.3)
    created = create(session, server, "demo/echo", 1).json()
    assert created["status"] == "pending"
    seen: List[str] = []

    def starting() -> bool:
        seen.append(fetch(session, server, created["id"])["status"])
        return seen[-1] == "starting"

    wait_until(starting)
    during = fetch(session, server, created["id"])
    assert during["setup_logs"] == ["Setting up demo/echo:1", LOADING]
    assert during["logs"] is None
    done = server.wait(created["id"])
    assert done["status"] == "succeeded"
    assert float(done["setup_time"]) >= 0.3
    assert "started" not in seen  # `starting` came first
    # Warm now: the next one goes straight to `started`.
    warm = run(session, server, "demo/echo")
    assert warm["setup_logs"] == ["Setting up demo/echo:1"]
    assert float(warm["setup_time"]) < 0.3


def test_a_model_goes_cold_after_keep_warm_seconds(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(cold_start=0.01, keep_warm=0.3)
    assert LOADING in run(session, server, "demo/echo")["setup_logs"]
    assert LOADING not in run(session, server, "demo/echo")["setup_logs"]
    time.sleep(0.5)
    assert LOADING in run(session, server, "demo/echo")["setup_logs"]


def test_keep_warm_zero_makes_every_prediction_cold(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(cold_start=0.01, keep_warm=0)
    for _ in range(3):
        assert LOADING in run(session, server, "demo/echo")["setup_logs"]


def test_cold_start_zero_never_shows_starting(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(cold_start=0, keep_warm=0)
    for _ in range(2):
        assert run(session, server, "demo/echo")["setup_logs"] == [
            "Setting up demo/echo:1"
        ]


def test_each_version_is_cold_on_its_own(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(cold_start=0.01)
    run(session, server, "demo/echo")
    server.register("demo/echo", lambda input: input)  # version 2
    second = run(session, server, "demo/echo")
    assert "Loading demo/echo:2 (cold start)" in second["setup_logs"]
    assert LOADING not in run(session, server, "demo/echo:1")["setup_logs"]


def test_predictions_arriving_during_a_load_wait_for_that_load(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(cold_start=1.0)
    first = create(session, server, "demo/sleep", {"seconds": 0}).json()
    wait_until(lambda: fetch(session, server, first["id"])["status"] == "starting")
    time.sleep(0.5)
    second = create(session, server, "demo/sleep", {"seconds": 0}).json()
    wait_until(lambda: fetch(session, server, second["id"])["status"] != "pending")
    assert fetch(session, server, second["id"])["status"] in ("starting", "started")
    assert server.wait(first["id"])["status"] == "succeeded"
    done = server.wait(second["id"])
    assert done["status"] == "succeeded"
    # It joined the load in progress instead of starting one of its own.
    assert float(done["setup_time"]) < 0.9


def test_a_prediction_cancelled_while_starting_leaves_the_load_to_the_others(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(cold_start=0.5)
    first = create(session, server, "demo/sleep", {"seconds": 0}).json()
    second = create(session, server, "demo/sleep", {"seconds": 0}).json()
    wait_until(lambda: fetch(session, server, first["id"])["status"] == "starting")
    url = f"{server.base_url}/predictions/{first['id']}/cancel"
    assert session.post(url).json() is None
    cancelled = server.wait(first["id"])
    assert cancelled["status"] == "cancelled"
    assert cancelled["execution_time"] is None  # it never ran
    assert server.wait(second["id"])["status"] == "succeeded"


def test_reset_makes_models_cold_again(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(cold_start=0.01)
    run(session, server, "demo/echo")
    assert LOADING not in run(session, server, "demo/echo")["setup_logs"]
    server.reset()
    wait_until(lambda: LOADING in run(session, server, "demo/echo")["setup_logs"])
