"""Running models: what they raise, what they get, what they return, and stopping."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Callable, Dict, List, Type

import pytest
import requests

from predictions.testing import LocalServer, PredictionContext
from predictions.testing._api.store import Store
from predictions.testing._models.builtins import build_registry
from predictions.testing._models.runner import Runner

from .helpers import create, strict_json, wait_until


def get(session: requests.Session, server: LocalServer, pid: str) -> Dict[str, Any]:
    """GET a prediction; its body must be strictly valid JSON."""
    response = session.get(f"{server.base_url}/predictions/{pid}")
    assert response.status_code == 200
    return strict_json(response.content)  # type: ignore[no-any-return]


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize("raised", [SystemExit, KeyboardInterrupt])
@pytest.mark.parametrize("is_async", [False, True], ids=["plain", "async"])
def test_a_model_raising_a_base_exception_fails_and_the_server_goes_on(
    server: LocalServer,
    session: requests.Session,
    capfd: pytest.CaptureFixture[str],
    raised: Type[BaseException],
    is_async: bool,
) -> None:
    def plain(input: Any) -> Any:
        raise raised("bye")

    async def awaited(input: Any) -> Any:
        await asyncio.sleep(0)
        raise raised("bye")

    server.register("me/exits", awaited if is_async else plain)
    for _ in range(2):  # the second one shows the runner survived the first
        created = create(session, server, "me/exits", 1).json()
        done = server.wait(created["id"])
        assert done["status"] == "failed"
        assert done["error"] == {
            "source": "external",
            "message": "bye",
            "detail": {"type": raised.__name__},
        }
    later = create(session, server, "demo/echo", "still here").json()
    assert server.wait(later["id"])["output"] == "still here"
    assert capfd.readouterr() == ("", "")


def test_an_exception_without_a_message_is_named(
    server: LocalServer, session: requests.Session
) -> None:
    def model(input: Any) -> Any:
        raise SystemExit

    server.register("me/quiet", model)
    created = create(session, server, "me/quiet", 1).json()
    assert server.wait(created["id"])["error"]["message"] == "SystemExit"


def test_a_registered_model_reading_a_missing_key_names_it(
    server: LocalServer, session: requests.Session
) -> None:
    """Its failure said only `'name'` (issue 19); the built-ins name the key."""

    def greet(input: Any) -> Any:
        return "hello " + input["name"]

    def lookup(input: Any) -> Any:
        return {"a": 1}["b"]  # a KeyError of the model's own, not of its input

    server.register("me/greet", greet)
    server.register("me/lookup", lookup)
    created = create(session, server, "me/greet", {"nom": "x"}).json()
    error = server.wait(created["id"])["error"]
    assert error["message"] == "missing input 'name'"
    assert error["detail"] == {"type": "KeyError"}
    created = create(session, server, "me/lookup", {"b": 2}).json()
    assert server.wait(created["id"])["error"]["message"] == "'b'"


@pytest.mark.parametrize("is_async", [False, True], ids=["plain", "async"])
def test_a_model_cannot_change_the_stored_input(
    server: LocalServer, session: requests.Session, is_async: bool
) -> None:
    def plain(input: Any) -> Any:
        input["items"].append("added")
        input["new"] = True
        return input

    async def awaited(input: Any) -> Any:
        return plain(input)

    server.register("me/mutates", awaited if is_async else plain)
    created = create(session, server, "me/mutates", {"items": [1]}).json()
    done = server.wait(created["id"])
    assert done["output"] == {"items": [1, "added"], "new": True}
    assert done["input"] == {"items": [1]}
    assert get(session, server, created["id"])["input"] == {"items": [1]}


def test_the_output_is_stored_as_json_would_show_it(
    server: LocalServer, session: requests.Session
) -> None:
    kept: List[Dict[Any, Any]] = []

    def model(input: Any) -> Any:
        output = {1: ("a", "b")}
        kept.append(output)
        return output

    server.register("me/tuples", model)
    created = create(session, server, "me/tuples", None).json()
    assert server.wait(created["id"])["output"] == {"1": ["a", "b"]}
    kept[0][2] = ("changed after returning",)
    assert get(session, server, created["id"])["output"] == {"1": ["a", "b"]}


@pytest.mark.parametrize(
    "output",
    [
        float("nan"),
        {"x": float("inf")},
        [1, -float("inf")],
        nested(201),
        nested(5000),
    ],
    ids=["nan", "inf", "-inf", "201-deep", "5000-deep"],
)
def test_an_output_no_json_can_carry_fails_the_prediction(
    server: LocalServer, session: requests.Session, output: Any
) -> None:
    server.register("me/bad-output", lambda input: output)
    created = create(session, server, "me/bad-output", None).json()
    done = server.wait(created["id"])
    assert done["status"] == "failed"
    assert done["output"] is None
    assert done["error"]["source"] == "internal"
    assert done["error"]["message"].startswith("Output is not JSON serialisable")
    assert get(session, server, created["id"]) == done
    later = create(session, server, "demo/echo", 1).json()
    assert server.wait(later["id"])["status"] == "succeeded"


def test_an_output_200_deep_is_fine(
    server: LocalServer, session: requests.Session
) -> None:
    server.register("me/deep", lambda input: nested(200))
    created = create(session, server, "me/deep", None).json()
    assert server.wait(created["id"])["status"] == "succeeded"
    assert get(session, server, created["id"])["output"] == nested(200)


def gate_model() -> Any:
    """A plain model that runs until released (or cancelled), and its calls."""
    release = threading.Event()
    calls: List[Any] = []

    def gated(input: Any, ctx: PredictionContext) -> Any:
        calls.append(input)
        deadline = time.monotonic() + 30  # a failing test must not hang the run
        while not release.wait(0.005):
            if ctx.cancelled or time.monotonic() > deadline:
                return "saw the cancel"
        return input

    return gated, release, calls


def test_cancelling_a_prediction_that_waits_for_a_worker(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(workers=1)
    gated, release, calls = gate_model()
    server.register("me/gated", gated)
    first = create(session, server, "me/gated", 1).json()
    wait_until(lambda: get(session, server, first["id"])["status"] == "started")
    # The only worker thread is busy: the second one is queued, truly pending.
    second = create(session, server, "me/gated", 2).json()
    assert get(session, server, second["id"])["status"] == "pending"
    url = f"{server.base_url}/predictions/{second['id']}/cancel"
    cancelled = session.post(url)
    assert cancelled.status_code == 200
    assert cancelled.json() is None
    # Asynchronous: cancelled a moment later, while the worker is still busy.
    assert server.wait(second["id"])["status"] == "cancelled"
    release.set()
    assert server.wait(first["id"])["status"] == "succeeded"
    third = create(session, server, "me/gated", 3).json()
    assert server.wait(third["id"])["output"] == 3  # the worker was freed
    assert calls == [1, 3]  # the cancelled one never ran
    ended = get(session, server, second["id"])
    assert ended["status"] == "cancelled"
    assert ended["setup_logs"] is None
    assert ended["execution_time"] is None


def test_a_cancelled_plain_function_holds_its_worker_until_it_returns(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(workers=1)
    release = threading.Event()

    def stubborn(input: Any) -> Any:  # ignores ctx.cancelled
        release.wait(30)
        return input

    server.register("me/stubborn", stubborn)
    first = create(session, server, "me/stubborn", 1).json()
    wait_until(lambda: get(session, server, first["id"])["status"] == "started")
    url = f"{server.base_url}/predictions/{first['id']}/cancel"
    assert session.post(url).json() is None
    assert server.wait(first["id"])["status"] == "cancelled"
    # demo/sleep is async: it needs no thread of the pool.
    second = create(session, server, "demo/sleep", {"seconds": 0}).json()
    assert server.wait(second["id"])["status"] == "succeeded"
    server.register("me/plain", lambda input: input)
    third = create(session, server, "me/plain", 3).json()
    # Its thread still runs the cancelled model: the next plain one waits.
    assert get(session, server, third["id"])["status"] == "pending"
    release.set()
    assert server.wait(third["id"])["output"] == 3
    assert get(session, server, first["id"])["status"] == "cancelled"


def test_a_prediction_cancelled_before_its_task_runs_never_starts() -> None:
    calls: List[Any] = []

    def model(input: Any) -> Any:
        calls.append(input)
        return input

    store = Store()
    runner = Runner(store, workers=1)
    version = build_registry({"me/model": model}).find("me", "model")
    assert version is not None
    runner.start()
    try:
        cancelled, _ = store.create(version, 1, None)
        # The store says cancelled before the runner gets to it (a cancel
        # racing the create): the task finds it ended and leaves it so.
        store.cancel(cancelled.id)
        runner.submit(cancelled)
        later, _ = store.create(version, 2, None)
        runner.submit(later)
        done = store.wait(later.id, 10)
        assert done is not None
        assert done["status"] == "succeeded"
    finally:
        runner.stop()
    assert calls == [2]
    ended = store.get(cancelled.id)
    assert ended is not None
    assert ended["status"] == "cancelled"
    assert ended["setup_logs"] is None


def test_stop_cancels_every_prediction_not_yet_ended(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    before = set(threading.enumerate())
    server = make_server(workers=1)
    gated, _release, calls = gate_model()
    server.register("me/gated", gated)
    sleeping = create(session, server, "demo/sleep", {"seconds": 30}).json()
    running = create(session, server, "me/gated", "running").json()
    wait_until(lambda: calls == ["running"])
    wait_until(lambda: get(session, server, sleeping["id"])["status"] == "started")
    pending = create(session, server, "me/gated", "pending").json()
    done = create(session, server, "demo/sleep", {"seconds": 0}).json()
    assert server.wait(done["id"])["status"] == "succeeded"
    session.close()
    server.stop()
    statuses = {p["id"]: p["status"] for p in server.predictions}
    assert statuses == {
        sleeping["id"]: "cancelled",
        running["id"]: "cancelled",
        pending["id"]: "cancelled",
        done["id"]: "succeeded",
    }
    assert calls == ["running"]  # the pending one never ran
    # The plain function was told (ctx.cancelled), and so returned: no thread
    # is left behind.
    wait_until(lambda: set(threading.enumerate()) - before == set())
