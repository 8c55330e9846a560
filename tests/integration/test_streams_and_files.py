"""Streams and file inputs against the local server, over real sockets (issue 13)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from typing import Any, List

import pytest

from predictions import Client, File
from predictions.testing import LocalServer

TEXT = "the quick brown fox jumps over the lazy dog \u2028 done"


@pytest.fixture(scope="module")
def server() -> Any:
    with LocalServer(part_size=64 * 1024) as server:
        yield server


@pytest.fixture
def client(server: LocalServer) -> Any:
    with Client(server.base_url, trust_env=False) as client:
        yield client


def outputs(events: List[Any]) -> str:
    return "".join(e["data"] for e in events if e["event"] == "output")


def test_a_created_stream_yields_every_word_in_order(client: Client) -> None:
    events = list(
        client.predictions.create(
            {"input": {"text": TEXT, "delay": 0.01}},
            "demo/stream-words",
            wait=True,
            stream=True,
        )
    )
    assert events[0]["event"] == "init"
    assert events[-1]["event"] == "done"
    assert outputs(events) == TEXT
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids)), "no event twice"


def test_a_stream_read_later_and_resumed_after_an_idle_close(client: Client) -> None:
    created = client.predictions.create(
        {"input": {"text": "a b c d e f", "delay": 0.4}},
        "demo/stream-words",
        stream=True,
    )
    assert created["stream"] is True
    # The server closes after 1 s with no event: the stream resumes by itself.
    events = list(client.predictions.stream(created["id"], wait=1))
    assert outputs(events) == "a b c d e f"
    assert events[-1]["data"]["status"] == "succeeded"


def test_resuming_by_hand_after_an_id(client: Client) -> None:
    done = list(
        client.predictions.create(
            {"input": {"text": "one two three"}}, "demo/stream-words", True, stream=True
        )
    )
    prediction_id = done[0]["data"]["id"]
    after = list(client.predictions.stream(prediction_id, after_id=done[1]["id"]))
    assert [e["id"] for e in after] == [e["id"] for e in done[2:]]


def test_async_streams(client: Client) -> None:
    async def main() -> List[str]:
        async def one(text: str) -> str:
            stream = await client.predictions.async_create(
                {"input": {"text": text}}, "demo/stream-words", wait=True, stream=True
            )
            return outputs([e async for e in stream])

        return await asyncio.gather(*(one(f"text number {i}") for i in range(20)))

    assert asyncio.run(main()) == [f"text number {i}" for i in range(20)]


def test_a_file_is_uploaded_and_read_by_the_model(
    client: Client, server: LocalServer, tmp_path: Any
) -> None:
    data = os.urandom(300 * 1024 + 17)  # five parts of 64 KiB, the last short
    path = tmp_path / "photo.png"
    path.write_bytes(data)
    params = {"input": {"file": File(str(path))}}
    before = len(server.storage_requests)
    done = client.predictions.create(params, "demo/file-info", wait=True)
    assert done["status"] == "succeeded", done.get("error")
    assert done["output"] == {
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    assert isinstance(params["input"]["file"], File), "the caller's input unchanged"
    parts = [r for r in server.storage_requests[before:] if r.method == "PUT"]
    assert len(parts) == 5
    assert all("authorization" not in r.headers for r in parts)
    assert all(r.headers["content-type"] == "image/png" for r in parts)


def test_async_create_uploads_files_too(client: Client) -> None:
    data = b"hello, file" * 1000

    async def main() -> Any:
        return await client.predictions.async_create(
            {"input": {"file": File(data)}}, "demo/file-info", wait=True
        )

    done = asyncio.run(main())
    assert done["output"]["sha256"] == hashlib.sha256(data).hexdigest()


def test_create_reports_upload_progress(client: Client) -> None:
    data = os.urandom(200 * 1024)
    seen: List[Any] = []
    done = client.predictions.create(
        {"input": {"file": File(data)}},
        "demo/file-info",
        wait=True,
        upload_progress=lambda sent, total: seen.append((sent, total)),
    )
    assert done["output"]["size"] == len(data)
    assert seen[-1] == (len(data), len(data))
    assert [sent for sent, _ in seen] == sorted(sent for sent, _ in seen)


def test_jsonlog_records_the_end_of_a_stream(
    server: LocalServer, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import predictions_jsonlog

    path = tmp_path / "events.jsonl"
    monkeypatch.setenv("PREDICTIONS_JSONLOG", str(path))
    with Client(server.base_url, plugins=[predictions_jsonlog]) as client:
        events = list(
            client.predictions.create(
                {"input": {"text": "a b"}}, "demo/stream-words", True, stream=True
            )
        )
    records = [json.loads(line) for line in path.read_text().splitlines()]
    terminals = [r for r in records if r["event"] == "terminal"]
    assert len(terminals) == 1
    assert terminals[0]["id"] == events[0]["data"]["id"]
    assert terminals[0]["status"] == "succeeded"
    assert records[0]["event"] == "create"


def test_a_streamed_create_ends_at_the_waits_deadline(client: Client) -> None:
    """It ran on to the end, however late (issue 19): the wait's timeout holds
    for a create that answers with its stream, in every read of it."""
    from predictions import WaitOptions, WaitTimeoutError

    seen: List[Any] = []
    events = client.predictions.create(
        {"input": {"text": "one two three four", "delay": 2}},
        "demo/stream-words",
        wait=True,
        stream=True,
        wait_options=WaitOptions(timeout=1),
    )
    with pytest.raises(WaitTimeoutError) as caught:
        seen.extend(events)
    assert [e["event"] for e in seen] == ["init"]
    assert caught.value.prediction is not None
    assert caught.value.prediction["id"] == seen[0]["data"]["id"]
