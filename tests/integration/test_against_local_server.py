"""Every client method, sync and async, against the local server over real sockets."""

from __future__ import annotations

import asyncio
import copy
import http.server
import logging
import threading
from typing import Any, ClassVar, Iterator, List, Tuple

import pytest

from predictions import (
    AsyncWaitOptions,
    AuthenticationError,
    Client,
    NotFoundError,
    UnprocessableEntityError,
    WaitOptions,
    verify_webhook,
)
from predictions.testing import LocalServer

FAST = WaitOptions(poll_interval=0.01)
ASYNC_FAST = AsyncWaitOptions(poll_interval=0.01)


def test_echo_sync(predictions_client: Client, predictions_server: LocalServer) -> None:
    params = {"input": {"text": "hello"}}
    before = copy.deepcopy(params)
    created = predictions_client.predictions.create(params, "demo/echo")
    assert created["model"] == {"owner": "demo", "name": "echo", "version_number": 1}
    done = predictions_client.predictions.wait(created["id"], FAST)
    assert done["status"] == "succeeded"
    assert done["output"] == {"text": "hello"}
    assert params == before
    assert predictions_client.predictions.get(created["id"])["output"] == {
        "text": "hello"
    }


def test_every_built_in_model_with_wait(predictions_client: Client) -> None:
    create = predictions_client.predictions.create
    count = create({"input": {"text": "a b a"}}, "demo/word-count", True, FAST)
    assert count["output"] == {"a": 2, "b": 1}
    slept = create({"input": {"seconds": 0.05}}, "demo/sleep:1", True, FAST)
    assert slept["status"] == "succeeded"
    assert slept["logs"]
    assert slept["execution_time"] is not None
    failed = create({"input": {"message": "nope"}}, "demo/fail", True, FAST)
    assert failed["status"] == "failed"
    assert failed["error"]["source"] == "external"
    assert "nope" in failed["error"]["message"]


def test_on_poll_sees_every_poll_in_order(predictions_client: Client) -> None:
    statuses: List[str] = []
    options = WaitOptions(
        poll_interval=0.01,
        on_poll=lambda p: statuses.append(p["status"]),
        prefer_wait=0,  # polled from the start: the create is not held
    )
    result = predictions_client.predictions.create(
        {"input": {"seconds": 0.2}}, "demo/sleep", wait=True, wait_options=options
    )
    assert statuses[-1] == "succeeded" == result["status"]
    assert len(statuses) >= 3
    # `starting`: the model's first prediction is a cold start.
    assert set(statuses[:-1]) <= {"pending", "starting", "started"}


def test_a_held_create_returns_the_result_with_no_poll(
    predictions_client: Client, predictions_server: LocalServer
) -> None:
    """Prefer: wait (issue 12): the server holds the create until it finishes."""
    before = len(predictions_server.requests)
    for wait_options in (WaitOptions(), WaitOptions(prefer_wait=5)):
        done = predictions_client.predictions.create(
            {"input": {"seconds": 0.2}}, "demo/sleep", True, wait_options
        )
        assert done["status"] == "succeeded"
    sent = predictions_server.requests[before:]
    assert [r.method for r in sent] == ["POST", "POST"]
    assert [r.headers.get("prefer") for r in sent] == ["wait", "wait=5"]


def test_a_create_longer_than_the_hold_is_then_polled(
    predictions_client: Client, predictions_server: LocalServer
) -> None:
    before = len(predictions_server.requests)
    done = predictions_client.predictions.create(
        {"input": {"seconds": 1.5}},
        "demo/sleep",
        True,
        WaitOptions(poll_interval=0.1, prefer_wait=1),
    )
    assert done["status"] == "succeeded"
    methods = [r.method for r in predictions_server.requests[before:]]
    assert methods[0] == "POST"
    assert 1 <= methods.count("GET") <= 8


def test_validate_input(
    predictions_client: Client, predictions_server: LocalServer
) -> None:
    with pytest.raises(UnprocessableEntityError) as info:
        predictions_client.predictions.create(
            {"input": {"words": 1}, "validate_input": True}, "demo/word-count"
        )
    assert "text" in info.value.message
    assert predictions_server.predictions == []
    created = predictions_client.predictions.create(
        {"input": {"text": "x"}, "validate_input": True}, "demo/word-count"
    )
    request = [r for r in predictions_server.requests if r.method == "POST"][-1]
    assert request.headers["validate-input"] == "true"
    assert b"validate_input" not in request.body
    assert created["status"] in ("pending", "started", "succeeded")


def test_unknown_model_version_and_prediction(predictions_client: Client) -> None:
    with pytest.raises(NotFoundError):
        predictions_client.predictions.create({"input": {}}, "nobody/nothing")
    with pytest.raises(NotFoundError):
        predictions_client.predictions.create({"input": {}}, "demo/echo:99")
    with pytest.raises(NotFoundError):
        predictions_client.predictions.get("no-such-id")


@pytest.mark.parametrize("prediction_id", ["a/b", "a?b", "a#b", "%2e%2e", "../models"])
def test_odd_ids_reach_exactly_one_segment(
    predictions_client: Client, predictions_server: LocalServer, prediction_id: str
) -> None:
    with pytest.raises(NotFoundError):
        predictions_client.predictions.get(prediction_id)
    path = predictions_server.requests[-1].path
    assert path.startswith("/v1/predictions/")
    assert "/" not in path[len("/v1/predictions/") :]
    assert "?" not in path


def test_version_numbers_and_registered_models(
    predictions_client: Client, predictions_server: LocalServer
) -> None:
    assert predictions_server.register("me/shout", lambda i: str(i).upper()) == 1
    assert predictions_server.register("me/shout", lambda i: str(i) + "!") == 2
    create = predictions_client.predictions.create
    assert create({"input": "hi"}, "me/shout:1", True, FAST)["output"] == "HI"
    assert create({"input": "hi"}, "me/shout", True, FAST)["output"] == "hi!"


def test_list_pages_and_iterate(predictions_client: Client) -> None:
    # The hosted API's smallest page is 5: twelve predictions make three pages.
    ids = [
        predictions_client.predictions.create({"input": i}, "demo/echo")["id"]
        for i in range(12)
    ]
    first = predictions_client.predictions.list({"page_size": 5})
    assert [p["id"] for p in first.items] == ids[::-1][:5]
    assert first.next_cursor
    assert "input" not in first.items[0]
    second = predictions_client.predictions.list(
        {"cursor": first.next_cursor, "page_size": 5}
    )
    assert [p["id"] for p in second.items] == ids[::-1][5:10]
    everything = [
        p["id"] for p in predictions_client.predictions.iterate({"page_size": 5})
    ]
    assert everything == ids[::-1]


def test_async_methods(predictions_client: Client) -> None:
    preds = predictions_client.predictions

    async def main() -> Tuple[Any, ...]:
        seen: List[str] = []

        async def on_poll(p: Any) -> None:
            seen.append(p["status"])

        created = await preds.async_create(
            {"input": {"text": "x y"}}, "demo/word-count"
        )
        got = await preds.async_get(created["id"])
        done = await preds.async_wait(created["id"], AsyncWaitOptions(0.01, on_poll))
        page = await preds.async_list({"page_size": 10})
        both = await asyncio.gather(
            *(
                preds.async_create(
                    {"input": {"seconds": 0.05}}, "demo/sleep", True, ASYNC_FAST
                )
                for _ in range(20)
            )
        )
        listed = [p["id"] async for p in preds.async_iterate({"page_size": 7})]
        return created, got, done, page, listed, both, seen

    created, got, done, page, listed, both, seen = asyncio.run(main())
    assert got["id"] == created["id"]
    assert done["output"] == {"x": 1, "y": 1}
    assert seen[-1] == "succeeded"
    assert created["id"] in [p["id"] for p in page.items]
    assert len(listed) == 21
    assert [p["status"] for p in both] == ["succeeded"] * 20


@pytest.mark.parametrize("final", ["cancelled", "abandoned"])
def test_unknown_statuses_continue_and_cancelled_or_abandoned_end_a_wait(
    predictions_client: Client, predictions_server: LocalServer, final: str
) -> None:
    created = predictions_client.predictions.create(
        {"input": {"seconds": 30}}, "demo/sleep"
    )
    for _ in range(500):  # let the runner start it, so nothing overwrites "mystery"
        if predictions_server.prediction(created["id"])["status"] == "started":  # type: ignore[index]
            break
        threading.Event().wait(0.01)
    predictions_server.set_status(created["id"], "mystery")
    statuses: List[str] = []

    def on_poll(p: Any) -> None:
        statuses.append(p["status"])
        if len(statuses) == 3:
            predictions_server.set_status(created["id"], final)

    result = predictions_client.predictions.wait(
        created["id"], WaitOptions(0.01, on_poll)
    )
    assert result["status"] == final
    assert statuses == ["mystery"] * 3 + [final]


def test_one_idempotency_key_per_create(
    predictions_client: Client, predictions_server: LocalServer
) -> None:
    for _ in range(3):
        predictions_client.predictions.create({"input": 1}, "demo/echo")
    keys = [
        r.headers["idempotency-key"]
        for r in predictions_server.requests
        if r.method == "POST"
    ]
    assert len(set(keys)) == 3
    assert len(predictions_server.predictions) == 3


@pytest.mark.predictions_server(token="s3cret")
def test_auth(predictions_server: LocalServer) -> None:
    with Client(predictions_server.base_url) as anonymous, pytest.raises(
        AuthenticationError
    ):
        anonymous.predictions.list()
    with Client(predictions_server.base_url, "wrong") as wrong, pytest.raises(
        AuthenticationError
    ):
        wrong.predictions.create({"input": 1}, "demo/echo")
    assert predictions_server.predictions == []
    with Client(predictions_server.base_url, "s3cret") as client:
        assert client.predictions.list().items == []


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: ClassVar[List[Tuple[bytes, str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((body, self.headers.get("wriftai-webhook-signature", "")))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Tuple[str, List[Tuple[bytes, str]]]]:
    received: ClassVar[List[Tuple[bytes, str]]] = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()
    thread.join()


def test_signed_webhooks_verify(
    predictions_client: Client,
    predictions_server: LocalServer,
    receiver: Tuple[str, List[Tuple[bytes, str]]],
) -> None:
    url, received = receiver
    webhook = {"url": url, "secret": "whsec"}
    done = predictions_client.predictions.create(
        {"input": {"text": "x"}, "webhook": webhook},
        "demo/word-count",
        True,
        FAST,  # type: ignore[typeddict-item]
    )
    assert done["status"] == "succeeded"
    for _ in range(200):
        if any(b'"succeeded"' in body for body, _ in received):
            break
        threading.Event().wait(0.02)
    assert received
    for body, signature in received:
        verify_webhook(body, signature, "whsec")


def test_one_client_from_many_threads(
    predictions_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="urllib3")
    errors: List[BaseException] = []
    results: List[str] = []

    def work() -> None:
        try:
            p = predictions_client.predictions.create(
                {"input": 1}, "demo/echo", True, FAST
            )
            results.append(p["status"])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results == ["succeeded"] * 32
    assert "Connection pool is full" not in caplog.text
