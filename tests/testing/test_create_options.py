"""The create headers: Prefer: wait, Validate-Input and Idempotency-Key."""

from __future__ import annotations

import time
import uuid
from typing import Any, Callable, List, Optional

import pytest
import requests

from predictions.testing import LocalServer
from predictions.testing._api.protocol import prefer_wait

from .helpers import create


def test_prefer_wait_answers_the_finished_prediction(
    server: LocalServer, session: requests.Session
) -> None:
    started = time.monotonic()
    response = create(session, server, "demo/sleep", {"seconds": 0.1}, Prefer="wait=60")
    # Answered when the prediction ended, not when the wait ran out.
    assert time.monotonic() - started < 30
    assert response.status_code == 201
    assert response.json()["status"] == "succeeded"


def test_prefer_wait_answers_the_pending_one_when_too_slow(
    server: LocalServer, session: requests.Session
) -> None:
    started = time.monotonic()
    response = create(
        session, server, "demo/sleep", {"seconds": 60}, Prefer="respond-async, wait=0.2"
    )
    elapsed = time.monotonic() - started
    # Held for the wait, and answered long before the prediction ends.
    assert 0.2 <= elapsed < 30
    assert response.status_code == 202
    assert response.json()["status"] in ("pending", "starting", "started")


def test_no_prefer_answers_at_once(
    server: LocalServer, session: requests.Session
) -> None:
    for prefer in ("", "wait=abc", "handling=lenient", "wait=nan"):
        started = time.monotonic()
        response = create(session, server, "demo/sleep", {"seconds": 60}, Prefer=prefer)
        assert time.monotonic() - started < 30  # not the prediction's 60 s
        assert response.status_code == 202
        assert response.json()["status"] == "pending"


@pytest.mark.parametrize(
    ("model", "input", "loc", "type_"),
    [
        ("demo/sleep", {}, ["body", "input", "seconds"], "missing"),
        ("demo/sleep", {"seconds": "x"}, ["body", "input", "seconds"], "float_type"),
        ("demo/sleep", {"seconds": True}, ["body", "input", "seconds"], "float_type"),
        (
            "demo/sleep",
            {"seconds": 61},
            ["body", "input", "seconds"],
            "less_than_equal",
        ),
        (
            "demo/sleep",
            {"seconds": -1},
            ["body", "input", "seconds"],
            "greater_than_equal",
        ),
        ("demo/sleep", [1], ["body", "input"], "dict_type"),
        ("demo/word-count", {"text": 3}, ["body", "input", "text"], "string_type"),
        ("demo/word-count", None, ["body", "input"], "dict_type"),
    ],
)
def test_validate_input_rejects_bad_input_with_422(
    server: LocalServer,
    session: requests.Session,
    model: str,
    input: Any,
    loc: List[Any],
    type_: str,
) -> None:
    response = create(session, server, model, input, Validate_Input="true")
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail[0]["loc"] == loc
    assert detail[0]["type"] == type_
    assert detail[0]["msg"]
    assert server.predictions == []


def test_validate_input_accepts_good_input_and_is_off_by_default(
    server: LocalServer, session: requests.Session
) -> None:
    ok = create(session, server, "demo/sleep", {"seconds": 0}, Validate_Input="true")
    assert ok.status_code == 202
    off = create(
        session, server, "demo/sleep", {"seconds": "x"}, Validate_Input="false"
    )
    assert off.status_code == 202
    assert server.wait(off.json()["id"])["status"] == "failed"
    anything = create(session, server, "demo/echo", [1, "x"], Validate_Input="true")
    assert anything.status_code == 202


def test_custom_schema(server: LocalServer, session: requests.Session) -> None:
    schema = {
        "type": "object",
        "properties": {
            "mode": {"enum": ["a", "b"]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "name": {"type": "string", "minLength": 2},
        },
        "additionalProperties": False,
    }
    server.register("me/strict", lambda input: input, input_schema=schema)
    bad = create(
        session,
        server,
        "me/strict",
        {"mode": "c", "tags": ["x", 1], "name": "x", "extra": 1},
        Validate_Input="true",
    ).json()["detail"]
    assert {tuple(e["loc"][2:]): e["type"] for e in bad} == {
        ("mode",): "enum",
        ("tags", 1): "string_type",
        ("name",): "string_too_short",
        ("extra",): "extra_forbidden",
    }


def test_idempotency_key_same_body_gives_the_same_prediction(
    server: LocalServer, session: requests.Session
) -> None:
    key = str(uuid.uuid4())
    first = create(session, server, "demo/echo", {"x": 1}, Idempotency_Key=key)
    again = create(session, server, "demo/echo", {"x": 1}, Idempotency_Key=key)
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(server.predictions) == 1
    other = create(session, server, "demo/echo", {"x": 1}, Idempotency_Key="other")
    assert other.json()["id"] != first.json()["id"]


def test_idempotency_key_different_body_is_409(
    server: LocalServer, session: requests.Session
) -> None:
    key = str(uuid.uuid4())
    create(session, server, "demo/echo", {"x": 1}, Idempotency_Key=key)
    response = create(session, server, "demo/echo", {"x": 2}, Idempotency_Key=key)
    assert response.status_code == 409
    assert "Idempotency-Key" in response.json()["detail"]
    other_model = create(session, server, "demo/sleep", {"x": 1}, Idempotency_Key=key)
    assert other_model.status_code == 409
    assert len(server.predictions) == 1


def test_idempotency_key_is_about_the_request_not_its_spelling(
    server: LocalServer, session: requests.Session
) -> None:
    key = str(uuid.uuid4())
    webhook = {"url": "http://127.0.0.1:9/hook", "secret": None}
    first = session.post(
        server.base_url + "/models/demo/echo/predictions",
        json={"input": {"a": 1, "b": 2}, "webhook": webhook},
        headers={"Idempotency-Key": key},
    )
    assert first.status_code == 202
    assert server.wait(first.json()["id"])["status"] == "succeeded"
    # The other create path, the version spelled out, keys in another order,
    # a webhook without its null secret.
    for path, body in (
        ("/predictions", {"model": "demo/echo", "input": {"a": 1, "b": 2}}),
        ("/predictions", {"model": "demo/echo:1", "input": {"b": 2, "a": 1}}),
        ("/models/demo/echo/versions/1/predictions", {"input": {"b": 2, "a": 1}}),
    ):
        again = session.post(
            server.base_url + path,
            json={**body, "webhook": {"url": webhook["url"]}},
            headers={"Idempotency-Key": key},
        )
        assert again.status_code == 201, again.text  # it has ended
        assert again.json()["id"] == first.json()["id"]
        assert again.headers["Idempotent-Replayed"] == "true"
    assert len(server.predictions) == 1
    # What the request asks for still counts: another version, another
    # webhook, another input.
    server.register("demo/echo", lambda input: input)  # version 2, now latest
    for path, body in (
        ("/predictions", {"model": "demo/echo", "input": {"a": 1, "b": 2}}),
        ("/predictions", {"model": "demo/echo:1", "input": {"a": 1, "b": 3}}),
        (
            "/predictions",
            {"model": "demo/echo:1", "input": {"a": 1, "b": 2}, "webhook": None},
        ),
    ):
        other = session.post(
            server.base_url + path,
            json={"webhook": webhook, **body},
            headers={"Idempotency-Key": key},
        )
        assert other.status_code == 409, body
    assert len(server.predictions) == 1


def test_prefer_wait_with_no_number_holds_for_the_default(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(prefer_wait_default=0.3)
    started = time.monotonic()
    slow = create(session, server, "demo/sleep", {"seconds": 30}, Prefer="wait")
    elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 20
    assert slow.status_code == 202
    assert slow.json()["status"] in ("starting", "started")
    quick = create(session, server, "demo/echo", 1, Prefer="respond-async, wait")
    assert quick.status_code == 201
    assert quick.json()["status"] == "succeeded"


def test_prefer_wait_with_no_number_holds_by_default(
    server: LocalServer, session: requests.Session
) -> None:
    response = create(session, server, "demo/sleep", {"seconds": 0.2}, Prefer="wait")
    assert response.status_code == 201
    assert response.json()["output"] == {"slept": 0.2}


def test_every_hold_is_capped(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(prefer_wait_default=30, prefer_wait_max=0.3)
    for prefer in ("wait=30", "wait"):
        started = time.monotonic()
        response = create(session, server, "demo/sleep", {"seconds": 30}, Prefer=prefer)
        assert 0.3 <= time.monotonic() - started < 20
        assert response.status_code == 202


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, 0.0),
        ("", 0.0),
        ("wait", 7.0),
        ("WAIT", 7.0),
        ("wait; x=1", 7.0),
        ("respond-async, wait", 7.0),
        ("wait=2", 2.0),
        ('wait="2.5"', 2.5),
        ("wait=0", 0.0),
        ("wait=-3", 0.0),
        ("wait=99", 10.0),
        ("wait=abc", 0.0),
        ("wait=", 0.0),
        ("wait=nan", 0.0),
        ("handling=lenient", 0.0),
    ],
)
def test_prefer_wait_parsing(header: Optional[str], seconds: float) -> None:
    assert prefer_wait(header, default=7.0, maximum=10.0) == seconds


def test_every_create_answer_has_location(
    server: LocalServer, session: requests.Session
) -> None:
    key = str(uuid.uuid4())
    answers = [
        create(session, server, "demo/echo", 1),
        create(session, server, "demo/echo:1", 1, Prefer="wait=10"),
        create(session, server, "demo/echo", 2, Idempotency_Key=key),
        create(session, server, "demo/echo", 2, Idempotency_Key=key),
        session.post(
            server.base_url + "/predictions", json={"model": "demo/echo", "input": 3}
        ),
        session.post(
            server.base_url + "/predictions",
            json={"model": "demo/echo", "input": 3},
            headers={"Prefer": "wait=10"},
        ),
    ]
    assert sorted({a.status_code for a in answers}) == [201, 202]
    for answer in answers:
        body = answer.json()
        assert "url" not in body
        location = answer.headers["Location"]
        assert location == f"{server.base_url}/predictions/{body['id']}"
        assert session.get(location).json()["id"] == body["id"]


def test_create_with_the_model_in_the_body_takes_every_field(
    server: LocalServer, session: requests.Session
) -> None:
    webhook = {"url": "http://127.0.0.1:9/hook", "secret": "s"}
    response = session.post(
        server.base_url + "/predictions",
        json={
            "model": "demo/echo:1",
            "input": {"x": 1},
            "webhook": webhook,
            "stream": True,
        },
        # No Prefer: with stream and Prefer: wait, the answer is the stream.
        headers={"Validate-Input": "true"},
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["stream"] is True
    assert body["model"] == {"owner": "demo", "name": "echo", "version_number": 1}
    assert server.wait(body["id"])["output"] == {"x": 1}
    plain = session.post(
        server.base_url + "/predictions",
        json={"model": "demo/echo", "input": 1, "stream": False},
    )
    assert plain.json()["stream"] is False


def test_stream_is_part_of_the_idempotent_request(
    server: LocalServer, session: requests.Session
) -> None:
    key = str(uuid.uuid4())
    url = server.base_url + "/predictions"
    headers = {"Idempotency-Key": key}
    body = {"model": "demo/echo", "input": 1}
    first = session.post(url, json=body, headers=headers)
    same = session.post(url, json={**body, "stream": False}, headers=headers)
    assert same.json()["id"] == first.json()["id"]
    other = session.post(url, json={**body, "stream": True}, headers=headers)
    assert other.status_code == 409
