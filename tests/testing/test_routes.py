"""Every route of API.md, the lifecycle, models and the inspection helpers."""

from __future__ import annotations

import asyncio
import re
import threading
import time
import uuid
from datetime import datetime, timedelta
from typing import Any, Callable, Dict, List

import pytest
import requests

from predictions.testing import LocalServer, PredictionContext

from .helpers import create, wait_until

PREDICTION_KEYS = {
    "id",
    "created_at",
    "status",
    "updated_at",
    "setup_time",
    "execution_time",
    "model",
}
IO_KEYS = PREDICTION_KEYS | {
    "input",
    "output",
    "logs",
    "setup_logs",
    "error",
    "metrics",
    "stream",
}
PAGE_KEYS = {"items", "next_cursor", "previous_cursor"}


def test_base_url_and_context_manager() -> None:
    with LocalServer() as server:
        assert re.match(r"^http://127\.0\.0\.1:\d+/v1$", server.base_url)
        assert server.running
    assert not server.running
    server.stop()  # twice is fine


def test_create_on_latest_version_answers_pending_prediction(
    server: LocalServer, session: requests.Session
) -> None:
    response = create(session, server, "demo/echo", {"a": [1, 2]})
    assert response.status_code == 202
    body = response.json()
    assert set(body) == IO_KEYS
    assert uuid.UUID(body["id"]).version == 4
    assert body["model"] == {"owner": "demo", "name": "echo", "version_number": 1}
    assert body["input"] == {"a": [1, 2]}
    assert body["stream"] is False
    assert body["metrics"] is None
    location = response.headers["Location"]
    assert location == f"{server.base_url}/predictions/{body['id']}"
    assert response.headers["x-request-id"]
    assert session.get(location).json()["id"] == body["id"]
    done = server.wait(body["id"])
    assert done["status"] == "succeeded"
    assert done["output"] == {"a": [1, 2]}
    assert set(done) == IO_KEYS
    assert isinstance(done["metrics"]["predict_time"], float)


def test_lifecycle_fields(server: LocalServer, session: requests.Session) -> None:
    release = threading.Event()

    def held(input: Any, ctx: PredictionContext) -> Any:
        ctx.log("holding")
        release.wait(30)  # until the test has seen it running
        time.sleep(0.05)
        ctx.log("released")
        return "done"

    server.register("me/held", held)
    created = create(session, server, "me/held", None).json()
    assert created["status"] == "pending"
    assert created["setup_time"] is None
    assert created["execution_time"] is None
    assert created["logs"] is None
    assert created["setup_logs"] is None
    assert created["error"] is None
    url = f"{server.base_url}/predictions/{created['id']}"
    seen: List[Dict[str, Any]] = []

    def running() -> bool:
        seen.append(session.get(url).json())
        return seen[-1]["logs"] == ["holding"]

    wait_until(running)
    assert seen[-1]["status"] == "started"
    # Its model's first prediction: a cold start.
    assert seen[-1]["setup_logs"] == [
        "Setting up me/held:1",
        "Loading me/held:1 (cold start)",
    ]
    assert re.fullmatch(r"\d+\.\d{3}", seen[-1]["setup_time"])
    assert seen[-1]["execution_time"] is None
    assert seen[-1]["output"] is None
    release.set()
    done = server.wait(created["id"])
    got = session.get(url).json()
    assert got == done
    assert got["status"] == "succeeded"
    assert got["output"] == "done"
    assert got["logs"] == ["holding", "released"]
    assert re.fullmatch(r"\d+\.\d{3}", got["execution_time"])
    assert float(got["execution_time"]) >= 0.05
    assert got["metrics"] == {"predict_time": round(float(got["execution_time"]), 3)}
    created_at = datetime.fromisoformat(got["created_at"])
    updated_at = datetime.fromisoformat(got["updated_at"])
    assert created_at.utcoffset() == timedelta(0)
    assert updated_at > created_at


def test_demo_sleep_logs_its_steps(
    server: LocalServer, session: requests.Session
) -> None:
    response = create(session, server, "demo/sleep", {"seconds": 0.2}, Prefer="wait=60")
    assert response.status_code == 201
    done = response.json()
    assert done["output"] == {"slept": 0.2}
    assert done["logs"] == ["sleeping 0.2 s", "step 1/2", "step 2/2"]
    assert float(done["execution_time"]) >= 0.2


def test_failing_model_reports_external_error(
    server: LocalServer, session: requests.Session
) -> None:
    created = create(session, server, "demo/fail", {"message": "boom"}).json()
    done = server.wait(created["id"])
    assert done["status"] == "failed"
    assert done["error"] == {
        "source": "external",
        "message": "boom",
        "detail": {"type": "RuntimeError"},
    }
    assert done["output"] is None


def test_word_count(server: LocalServer, session: requests.Session) -> None:
    created = create(session, server, "demo/word-count", {"text": "a b a"}).json()
    assert server.wait(created["id"])["output"] == {"a": 2, "b": 1}


def test_create_on_a_given_version(
    server: LocalServer, session: requests.Session
) -> None:
    assert server.register("me/model", lambda input: "v1") == 1
    assert server.register("me/model", lambda input: "v2") == 2
    latest = create(session, server, "me/model", None).json()
    first = create(session, server, "me/model:1", None).json()
    assert latest["model"]["version_number"] == 2
    assert first["model"]["version_number"] == 1
    assert server.wait(latest["id"])["output"] == "v2"
    assert server.wait(first["id"])["output"] == "v1"


def test_create_with_model_in_the_body(
    server: LocalServer, session: requests.Session
) -> None:
    for model, version in (("demo/echo", 1), ("demo/echo:1", 1)):
        response = session.post(
            server.base_url + "/predictions", json={"model": model, "input": 5}
        )
        assert response.status_code == 202, response.text
        assert response.json()["model"]["version_number"] == version


def test_registered_models_sync_async_and_context(
    server: LocalServer, session: requests.Session
) -> None:
    def plain(input: Any, ctx: PredictionContext) -> Any:
        ctx.log("plain ran")
        return input * 2

    async def awaited(input: Any, ctx: PredictionContext) -> Any:
        await asyncio.sleep(0.01)
        ctx.log("async ran")
        return input + 1

    class AsyncCallable:
        async def __call__(self, input: Any) -> Any:
            await asyncio.sleep(0)
            return "called"

    server.register("me/plain", plain)
    server.register("me/object", AsyncCallable())
    server.register("me/async", awaited)
    server.register("me/bad-output", lambda input: object())
    a = create(session, server, "me/plain", 21).json()
    b = create(session, server, "me/async", 41).json()
    c = create(session, server, "me/bad-output", 0).json()
    assert server.wait(a["id"])["output"] == 42
    assert server.wait(a["id"])["logs"] == ["plain ran"]
    assert server.wait(b["id"])["output"] == 42
    assert server.wait(b["id"])["logs"] == ["async ran"]
    d = create(session, server, "me/object", 0).json()
    assert server.wait(d["id"])["output"] == "called"
    bad = server.wait(c["id"])
    assert bad["status"] == "failed"
    assert bad["error"]["source"] == "internal"


def test_models_argument_replaces_adds_and_removes() -> None:
    with LocalServer(
        models={
            "demo/echo": lambda input: "replaced",
            "demo/fail": None,
            "me/new": (lambda input: input, {"type": "object"}),
        }
    ) as server:
        refs = server.registry.refs()
        assert "demo/echo:1" in refs
        assert "me/new:1" in refs
        assert "demo/fail:1" not in refs
        response = requests.post(
            server.base_url + "/models/demo/echo/predictions",
            json={"input": 1},
            headers={"Prefer": "wait=5"},
        )
        assert response.json()["output"] == "replaced"


def test_get_unknown_prediction_is_404(
    server: LocalServer, session: requests.Session
) -> None:
    for pid in (str(uuid.uuid4()), "not-a-uuid"):
        response = session.get(f"{server.base_url}/predictions/{pid}")
        assert response.status_code == 404
        assert response.json() == {"detail": "Prediction not found"}


def test_list_pages_newest_first_with_cursors(
    server: LocalServer, session: requests.Session
) -> None:
    ids = [create(session, server, "demo/echo", i).json()["id"] for i in range(12)]
    newest = ids[::-1]
    url = server.base_url + "/predictions"
    first = session.get(url, params={"page_size": 5}).json()
    assert set(first) == PAGE_KEYS
    assert [p["id"] for p in first["items"]] == newest[:5]
    assert all(set(item) == PREDICTION_KEYS for item in first["items"])
    assert first["previous_cursor"] is None
    second = session.get(
        url, params={"cursor": first["next_cursor"], "page_size": 5}
    ).json()
    assert set(second) == PAGE_KEYS
    assert [p["id"] for p in second["items"]] == newest[5:10]
    third = session.get(
        url, params={"cursor": second["next_cursor"], "page_size": 5}
    ).json()
    assert [p["id"] for p in third["items"]] == newest[10:]
    assert third["next_cursor"] is None
    back = session.get(
        url, params={"cursor": third["previous_cursor"], "page_size": 5}
    ).json()
    assert [p["id"] for p in back["items"]] == newest[5:10]
    back = session.get(
        url, params={"cursor": back["previous_cursor"], "page_size": 5}
    ).json()
    assert [p["id"] for p in back["items"]] == newest[:5]
    assert back["previous_cursor"] is None


def test_list_defaults_to_25_and_accepts_5_to_50(
    server: LocalServer, session: requests.Session
) -> None:
    for i in range(55):
        create(session, server, "demo/echo", i)
    url = server.base_url + "/predictions"
    assert len(session.get(url).json()["items"]) == 25
    page = session.get(url + "?page_size=50&cursor=").json()
    assert len(page["items"]) == 50
    assert page["next_cursor"] is not None
    assert len(session.get(url, params={"page_size": 5}).json()["items"]) == 5
    assert len(session.get(url, params={"page_size": " 7 "}).json()["items"]) == 7


@pytest.mark.parametrize(
    ("size", "type_", "ctx"),
    [
        ("4", "greater_than_equal", {"ge": 5}),
        ("0", "greater_than_equal", {"ge": 5}),
        ("-1", "greater_than_equal", {"ge": 5}),
        ("51", "less_than_equal", {"le": 50}),
        ("100", "less_than_equal", {"le": 50}),
    ],
)
def test_list_page_size_out_of_range_is_422(
    server: LocalServer, session: requests.Session, size: str, type_: str, ctx: Any
) -> None:
    response = session.get(server.base_url + "/predictions?page_size=" + size)
    assert response.status_code == 422
    (detail,) = response.json()["detail"]
    assert detail["loc"] == ["query", "page_size"]
    assert detail["type"] == type_
    assert detail["ctx"] == ctx
    assert str(next(iter(ctx.values()))) in detail["msg"]


def test_path_segments_are_decoded_once_after_splitting(
    server: LocalServer, session: requests.Session
) -> None:
    server.register("m\u00fcller/na.me", lambda input: "odd")
    ok = session.post(
        server.base_url + "/models/m%C3%BCller/na.me/predictions",
        json={"input": 1},
        headers={"Prefer": "wait=5"},
    )
    assert ok.json()["output"] == "odd"
    # "demo%2Fecho" is one segment named "demo/echo", not two.
    response = session.post(
        server.base_url + "/models/demo%2Fecho/x/predictions", json={"input": 1}
    )
    assert response.status_code == 404
    response = session.get(server.base_url + "/predictions%2Fx")
    assert response.status_code == 404


def test_server_helpers(server: LocalServer, session: requests.Session) -> None:
    created = create(session, server, "demo/echo", 1).json()
    assert server.prediction(created["id"]) is not None
    assert server.prediction("nope") is None
    with pytest.raises(KeyError):
        server.wait("nope")
    with pytest.raises(KeyError):
        server.set_status("nope", "abandoned")
    slow = create(session, server, "demo/sleep", {"seconds": 60}).json()
    with pytest.raises(TimeoutError):
        server.wait(slow["id"], timeout=0.05)
    server.set_status(slow["id"], "starting")
    assert server.prediction(slow["id"])["status"] == "starting"  # type: ignore[index]
    logged = server.requests
    assert logged[0].method == "POST"
    assert logged[0].path == "/v1/models/demo/echo/predictions"
    assert logged[0].headers["content-type"] == "application/json"
    assert logged[0].body == b'{"input": 1}'
    server.reset()
    assert server.predictions == []
    assert server.requests == []


def test_register_rejects_bad_references(server: LocalServer) -> None:
    bad: List[str] = ["noslash", "a/b:1", "/x", "a/", "a/b/c", "a/..", "a/b c"]
    for ref in bad:
        with pytest.raises(ValueError):  # noqa: PT011 - the message varies
            server.register(ref, lambda input: input)
    not_callable: Callable[..., Any] = 3  # type: ignore[assignment]
    with pytest.raises(TypeError):
        server.register("a/b", not_callable)
