"""Every Predictions method, sync and async: the exact requests and the results."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any, Dict, List

import pytest
import responses

from predictions import AsyncWaitOptions, PaginatedResponse, WaitOptions
from predictions.predictions import Predictions
from tests.conftest import BASE, TOKEN, prediction

PAGE_KEYS = ("next_cursor", "previous_cursor", "next_url", "previous_url")


def page(
    items: List[Dict[str, Any]], next_cursor: Any = None, **extra: Any
) -> Dict[str, Any]:
    data: Dict[str, Any] = {"items": items, **dict.fromkeys(PAGE_KEYS)}
    data["next_cursor"] = next_cursor
    data.update(extra)
    return data


def sent(mock: responses.RequestsMock, index: int = 0) -> Any:
    return mock.calls[index].request


# get


def test_get_sends_one_get_with_auth_and_returns_the_dict(
    preds: Predictions, mocked: responses.RequestsMock
) -> None:
    mocked.add("GET", f"{BASE}/predictions/p1", json=prediction(status="started"))
    result = preds.get("p1")
    assert result == prediction(status="started")
    assert type(result) is dict
    request = sent(mocked)
    assert request.method == "GET"
    assert request.url == f"{BASE}/predictions/p1"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.body is None
    assert len(mocked.calls) == 1


def test_async_get(preds: Predictions, mocked: responses.RequestsMock) -> None:
    mocked.add("GET", f"{BASE}/predictions/p1", json=prediction())
    assert asyncio.run(preds.async_get("p1")) == prediction()
    assert sent(mocked).url == f"{BASE}/predictions/p1"


@pytest.mark.parametrize(
    ("prediction_id", "path"),
    [
        ("a/b", "a%2Fb"),
        ("a?b", "a%3Fb"),
        ("a#b", "a%23b"),
        ("%2e%2e", "%252e%252e"),
        ("../models", "..%2Fmodels"),
        ("a b", "a%20b"),
    ],
)
def test_any_other_id_is_one_encoded_path_segment(
    preds: Predictions, mocked: responses.RequestsMock, prediction_id: str, path: str
) -> None:
    mocked.add("GET", f"{BASE}/predictions/{path}", json=prediction(id=prediction_id))
    preds.get(prediction_id)
    assert sent(mocked).path_url == f"/v1/predictions/{path}"


# list


def test_list_sends_the_pagination_options_as_the_query(
    preds: Predictions, mocked: responses.RequestsMock
) -> None:
    item = {k: v for k, v in prediction().items() if k not in ("input", "output")}
    mocked.add("GET", f"{BASE}/predictions", json=page([item], next_cursor="c2"))
    result = preds.list({"cursor": "c1", "page_size": 5})
    assert isinstance(result, PaginatedResponse)
    assert result.items == [item]
    assert result.next_cursor == "c2"
    assert result.previous_cursor is None
    assert sent(mocked).url == f"{BASE}/predictions?cursor=c1&page_size=5"


def test_list_without_options_sends_no_query(
    preds: Predictions, mocked: responses.RequestsMock
) -> None:
    mocked.add("GET", f"{BASE}/predictions", json=page([]))
    assert preds.list().items == []
    assert sent(mocked).url == f"{BASE}/predictions"


def test_list_accepts_extra_keys(
    preds: Predictions, mocked: responses.RequestsMock
) -> None:
    mocked.add("GET", f"{BASE}/predictions", json=page([], total=3, links={}))
    assert preds.list().items == []


def test_async_list(preds: Predictions, mocked: responses.RequestsMock) -> None:
    mocked.add("GET", f"{BASE}/predictions", json=page([prediction()]))
    result = asyncio.run(preds.async_list({"page_size": 1}))
    assert result.items == [prediction()]
    assert sent(mocked).url == f"{BASE}/predictions?page_size=1"


def test_iterate_fetches_pages_lazily(
    preds: Predictions, mocked: responses.RequestsMock
) -> None:
    mocked.add("GET", f"{BASE}/predictions", json=page([prediction(id="a")], "c2"))
    mocked.add("GET", f"{BASE}/predictions", json=page([prediction(id="b")]))
    items = preds.iterate({"page_size": 1})
    assert len(mocked.calls) == 0
    assert next(items)["id"] == "a"
    assert len(mocked.calls) == 1
    assert [p["id"] for p in items] == ["b"]
    assert sent(mocked, 1).url == f"{BASE}/predictions?cursor=c2&page_size=1"


def test_async_iterate(preds: Predictions, mocked: responses.RequestsMock) -> None:
    mocked.add("GET", f"{BASE}/predictions", json=page([prediction(id="a")], "c2"))
    mocked.add("GET", f"{BASE}/predictions", json=page([prediction(id="b")]))

    async def collect() -> List[str]:
        return [p["id"] async for p in preds.async_iterate()]

    assert asyncio.run(collect()) == ["a", "b"]
    assert sent(mocked, 1).url == f"{BASE}/predictions?cursor=c2"


def test_iterate_stops_on_a_repeated_cursor(
    preds: Predictions, mocked: responses.RequestsMock
) -> None:
    from predictions import PredictionsError

    mocked.add("GET", f"{BASE}/predictions", json=page([prediction()], "same"))
    mocked.add("GET", f"{BASE}/predictions", json=page([prediction()], "same"))
    with pytest.raises(PredictionsError, match="twice"):
        list(preds.iterate())
    assert len(mocked.calls) == 2


# create


def test_create_on_the_latest_version(
    preds: Predictions, mocked: responses.RequestsMock
) -> None:
    mocked.add("POST", f"{BASE}/models/o/n/predictions", json=prediction(), status=201)
    params = {"input": {"prompt": "hi"}}
    before = copy.deepcopy(params)
    assert preds.create(params, "o/n") == prediction()
    request = sent(mocked)
    assert request.method == "POST"
    assert json.loads(request.body) == {"input": {"prompt": "hi"}}
    assert request.headers["Content-Type"] == "application/json"
    assert "Validate-Input" not in request.headers
    assert len(request.headers["Idempotency-Key"]) == 36
    assert params == before


def test_create_on_a_version_with_webhook_and_validation(
    preds: Predictions, mocked: responses.RequestsMock
) -> None:
    mocked.add(
        "POST",
        f"{BASE}/models/o/n/versions/3/predictions",
        json=prediction(),
        status=202,
    )
    webhook = {"url": "https://hook.test/x", "secret": "s"}
    params = {"input": [1, 2], "webhook": webhook, "validate_input": False}
    before = copy.deepcopy(params)
    preds.create(params, "o/n:3")  # type: ignore[arg-type]
    request = sent(mocked)
    assert json.loads(request.body) == {"input": [1, 2], "webhook": webhook}
    assert request.headers["Validate-Input"] == "false"
    assert params == before, "the caller's params must not change"


def test_create_validate_input_true_and_params_kept(
    preds: Predictions, mocked: responses.RequestsMock
) -> None:
    mocked.add("POST", f"{BASE}/models/o/n/predictions", json=prediction(), status=201)
    params = {"input": "x", "validate_input": True}
    preds.create(params, "o/n")  # type: ignore[arg-type]
    assert sent(mocked).headers["Validate-Input"] == "true"
    assert params == {"input": "x", "validate_input": True}


def test_each_create_call_has_its_own_idempotency_key(
    preds: Predictions, mocked: responses.RequestsMock
) -> None:
    for _ in range(2):
        mocked.add(
            "POST", f"{BASE}/models/o/n/predictions", json=prediction(), status=201
        )
        preds.create({"input": 1}, "o/n")
    keys = {call.request.headers["Idempotency-Key"] for call in mocked.calls}
    assert len(keys) == 2


def test_model_segments_are_percent_encoded(
    preds: Predictions, mocked: responses.RequestsMock
) -> None:
    mocked.add("POST", f"{BASE}/models/o%C3%A9/n-1_x.y~/predictions", json=prediction())
    preds.create({"input": 1}, "oé/n-1_x.y~")
    assert sent(mocked).path_url == "/v1/models/o%C3%A9/n-1_x.y~/predictions"


def test_async_create(preds: Predictions, mocked: responses.RequestsMock) -> None:
    mocked.add("POST", f"{BASE}/models/o/n/versions/0/predictions", json=prediction())
    params = {"input": {"a": 1}, "validate_input": True}
    result = asyncio.run(preds.async_create(params, "o/n:0"))  # type: ignore[arg-type]
    assert result == prediction()
    request = sent(mocked)
    assert json.loads(request.body) == {"input": {"a": 1}}
    assert request.headers["Validate-Input"] == "true"
    assert params == {"input": {"a": 1}, "validate_input": True}


# wait


def polls(mocked: responses.RequestsMock, statuses: List[str], pid: str = "p1") -> None:
    for status in statuses:
        mocked.add("GET", f"{BASE}/predictions/{pid}", json=prediction(status=status))


@pytest.mark.parametrize(
    "final", ["succeeded", "failed", "cancelled", "canceled", "abandoned"]
)
def test_wait_polls_until_terminal_and_calls_on_poll_each_time(
    preds: Predictions, mocked: responses.RequestsMock, sleeps: List[float], final: str
) -> None:
    polls(mocked, ["pending", "starting", "mystery", "started", final])
    seen: List[str] = []
    result = preds.wait(
        "p1",
        WaitOptions(poll_interval=0.25, on_poll=lambda p: seen.append(p["status"])),
    )
    assert result["status"] == final
    assert seen == ["pending", "starting", "mystery", "started", final]
    assert sleeps == [0.25] * 4
    assert len(mocked.calls) == 5


def test_wait_returns_a_failed_prediction_rather_than_raising(
    preds: Predictions, mocked: responses.RequestsMock
) -> None:
    error = {"source": "external", "message": "boom", "detail": None}
    mocked.add(
        "GET", f"{BASE}/predictions/p1", json=prediction(status="failed", error=error)
    )
    assert preds.wait("p1")["error"] == error


def test_wait_with_default_options_sleeps_one_second(
    preds: Predictions, mocked: responses.RequestsMock, sleeps: List[float]
) -> None:
    polls(mocked, ["pending", "succeeded"])
    preds.wait("p1")
    assert sleeps == [1.0]


def test_async_wait_awaits_on_poll_and_sleeps_on_the_loop(
    preds: Predictions, mocked: responses.RequestsMock, sleeps: List[float]
) -> None:
    polls(mocked, ["pending", "started", "succeeded"])
    seen: List[str] = []

    async def on_poll(p: Any) -> None:
        await asyncio.sleep(0)
        seen.append(p["status"])

    result = asyncio.run(preds.async_wait("p1", AsyncWaitOptions(0.5, on_poll)))
    assert result["status"] == "succeeded"
    assert seen == ["pending", "started", "succeeded"]
    assert sleeps == [0.5, 0.5]


def test_create_with_wait_polls_the_new_prediction(
    preds: Predictions, mocked: responses.RequestsMock, sleeps: List[float]
) -> None:
    mocked.add("POST", f"{BASE}/models/o/n/predictions", json=prediction(id="new"))
    polls(mocked, ["started", "succeeded"], pid="new")
    seen: List[str] = []
    result = preds.create(
        {"input": 1},
        "o/n",
        wait=True,
        wait_options=WaitOptions(0, lambda p: seen.append(p["status"])),
    )
    assert result["status"] == "succeeded"
    assert seen == ["started", "succeeded"]
    assert [c.request.method for c in mocked.calls] == ["POST", "GET", "GET"]


def test_async_create_with_wait(
    preds: Predictions, mocked: responses.RequestsMock
) -> None:
    mocked.add("POST", f"{BASE}/models/o/n/predictions", json=prediction(id="new"))
    polls(mocked, ["pending", "succeeded"], pid="new")
    seen: List[str] = []

    async def on_poll(p: Any) -> None:
        seen.append(p["status"])

    result = asyncio.run(
        preds.async_create(
            {"input": 1}, "o/n", wait=True, wait_options=AsyncWaitOptions(0, on_poll)
        )
    )
    assert result["status"] == "succeeded"
    assert seen == ["pending", "succeeded"]


def test_async_calls_run_on_the_client_executor(
    preds: Predictions, mocked: responses.RequestsMock
) -> None:
    import threading

    threads: List[str] = []
    mocked.add_callback(
        "GET",
        f"{BASE}/predictions/p1",
        callback=lambda request: (
            threads.append(threading.current_thread().name)
            or (200, {}, json.dumps(prediction()))
        ),
    )
    asyncio.run(preds.async_get("p1"))
    assert threads[0].startswith("predictions")
