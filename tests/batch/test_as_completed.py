"""Batch tools: as_completed (sync and async), and a client sent to worker processes."""

from __future__ import annotations

import asyncio
import multiprocessing
import pickle
from typing import Any, List

import pytest
import responses

from predictions import (
    Client,
    NotFoundError,
    WaitTimeoutError,
    as_completed,
    async_as_completed,
)
from predictions.testing import LocalServer


def sleepers(client: Client, seconds: List[float]) -> List[Any]:
    return [
        client.predictions.create({"input": {"seconds": s}}, "demo/sleep")
        for s in seconds
    ]


def test_as_completed_yields_in_the_order_they_finish(
    predictions_client: Client,
) -> None:
    created = sleepers(predictions_client, [0.6, 0.05, 0.3])
    done = list(as_completed(created, client=predictions_client, poll_interval=0.02))
    assert [p["id"] for p in done] == [
        created[1]["id"],
        created[2]["id"],
        created[0]["id"],
    ]
    assert all(p["status"] == "succeeded" for p in done)


def test_as_completed_takes_ids_and_finished_predictions(
    predictions_client: Client,
) -> None:
    finished = predictions_client.predictions.create(
        {"input": 1}, "demo/echo", wait=True
    )
    pending = sleepers(predictions_client, [0.1])[0]
    items = [pending["id"], finished, pending["id"]]  # duplicates count once
    done = list(as_completed(items, client=predictions_client, poll_interval=0.02))
    assert [p["id"] for p in done] == [finished["id"], pending["id"]]


def test_async_as_completed(predictions_client: Client) -> None:
    created = sleepers(predictions_client, [0.4, 0.05, 0.2, 0.05])

    async def main() -> List[str]:
        stream = async_as_completed(
            created, client=predictions_client, poll_interval=0.02
        )
        return [p["id"] async for p in stream]

    order = asyncio.run(main())
    assert sorted(order) == sorted(p["id"] for p in created)
    assert order[-1] == created[0]["id"]
    assert order[-2] == created[2]["id"]


def test_as_completed_times_out(predictions_client: Client) -> None:
    created = sleepers(predictions_client, [30, 0])
    stream = as_completed(
        created, client=predictions_client, poll_interval=0.02, timeout=0.3
    )
    assert next(stream)["id"] == created[1]["id"]
    with pytest.raises(WaitTimeoutError, match="1 predictions did not finish"):
        next(stream)


def test_a_missing_prediction_ends_the_batch(predictions_client: Client) -> None:
    with pytest.raises(NotFoundError):
        list(as_completed(["no-such-id"], client=predictions_client))


@pytest.mark.parametrize(
    ("items", "kwargs", "error"),
    [
        (["ok", ""], {}, ValueError),
        ([".."], {}, ValueError),
        ([42], {}, TypeError),
        ([{"no": "id"}], {}, TypeError),
        ("abc", {}, TypeError),
        (["ok"], {"poll_interval": -1}, ValueError),
        (["ok"], {"poll_interval": "1"}, TypeError),
        (["ok"], {"timeout": 0}, ValueError),
        (["ok"], {"timeout": "soon"}, TypeError),  # a str for a number (issue 11)
    ],
)
def test_bad_input_fails_before_anything_is_sent(
    items: Any, kwargs: Any, error: type, mocked: responses.RequestsMock
) -> None:
    with Client("https://api.test/v1") as client:
        with pytest.raises(error):
            as_completed(items, client=client, **kwargs)
        with pytest.raises(error):
            async_as_completed(items, client=client, **kwargs)
    assert len(mocked.calls) == 0


# A client travels to worker processes


def run_in_worker(job: Any) -> Any:
    client, text = job
    with client:
        done = client.predictions.create(
            {"input": {"text": text}}, "demo/word-count", wait=True
        )
        return done["output"], client.settings.timeout, client.settings.max_workers


def test_a_client_pickles_with_its_settings_and_runs_in_a_pool() -> None:
    with LocalServer(token="s3cret") as server:
        client = Client(server.base_url, "s3cret", timeout=(3, 7), max_workers=5)
        copy = pickle.loads(pickle.dumps(client))
        assert copy.base_url == client.base_url
        assert copy.api is not client.api
        assert copy.settings == client.settings
        context = multiprocessing.get_context("spawn")
        with context.Pool(2) as pool:
            results = pool.map(run_in_worker, [(client, "a b a"), (client, "c")])
        client.close()
    assert results == [({"a": 2, "b": 1}, (3.0, 7.0), 5), ({"c": 1}, (3.0, 7.0), 5)]
    assert len(server.predictions) == 2


def test_a_used_client_still_pickles(predictions_client: Client) -> None:
    predictions_client.predictions.list()
    asyncio.run(predictions_client.predictions.async_list())
    copy = pickle.loads(pickle.dumps(predictions_client))
    assert copy.predictions.list().items == []
    copy.close()
