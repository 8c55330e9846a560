"""Receivers: the standard library one, the Flask and FastAPI recipes, the CLI check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, Dict, List

import pytest

from predictions import Client, WaitOptions, WebhookReceiver
from predictions.testing import LocalServer
from predictions.webhooks import SIGNATURE_HEADER, sign

SECRET = "whsec-test"


def delivery(prediction_id: str = "p1") -> bytes:
    return json.dumps(
        {"id": prediction_id, "status": "succeeded", "output": [1, 2]}
    ).encode()


def test_the_local_servers_signed_deliveries_verify_end_to_end(
    predictions_server: LocalServer, predictions_client: Client
) -> None:
    seen: List[Dict[str, Any]] = []
    with WebhookReceiver(SECRET, seen.append) as receiver:
        done = predictions_client.predictions.create(
            {
                "input": {"text": "a b"},
                "webhook": {"url": receiver.url, "secret": SECRET},
            },  # type: ignore[typeddict-item]
            "demo/word-count",
            wait=True,
            wait_options=WaitOptions(0.02),
        )
        final = receiver.wait_for(lambda p: p["status"] == "succeeded")
    assert final["id"] == done["id"]
    assert final["output"] == {"a": 1, "b": 1}
    assert receiver.refused == []
    assert [p["status"] for p in seen][-1] == "succeeded"


def test_deliveries_with_another_secret_are_refused(
    predictions_server: LocalServer, predictions_client: Client
) -> None:
    with WebhookReceiver(SECRET) as receiver:
        predictions_client.predictions.create(
            {"input": 1, "webhook": {"url": receiver.url, "secret": "not-the-secret"}},  # type: ignore[typeddict-item]
            "demo/echo",
            wait=True,
            wait_options=WaitOptions(0.02),
        )
        with pytest.raises(TimeoutError):
            receiver.wait_for(lambda p: True, timeout=1.0)
    assert receiver.deliveries == []
    assert receiver.refused, "each delivery was refused"


def test_the_receiver_refuses_an_empty_secret() -> None:
    with pytest.raises(ValueError, match="secret"):
        WebhookReceiver("")


# The recipes, through their frameworks' test clients


def test_flask_recipe_reads_the_raw_body() -> None:
    flask_receiver = pytest.importorskip("examples.webhooks.flask_receiver")
    got: List[Dict[str, Any]] = []
    app = flask_receiver.create_app(SECRET, got.append)
    client = app.test_client()
    body = delivery()
    headers = {SIGNATURE_HEADER: sign(body, SECRET), "Content-Type": "application/json"}
    ok = client.post("/webhooks/wriftai", data=body, headers=headers)
    assert ok.status_code == 200
    assert got == [json.loads(body)]
    reserialised = json.dumps(json.loads(body), sort_keys=True, indent=1).encode()
    refused = client.post("/webhooks/wriftai", data=reserialised, headers=headers)
    assert refused.status_code == 400
    assert "no signature matches" in refused.get_json()["detail"]
    unsigned = client.post("/webhooks/wriftai", data=body)
    assert unsigned.status_code == 400
    assert len(got) == 1


def test_fastapi_recipe_reads_the_raw_body() -> None:
    fastapi_receiver = pytest.importorskip("examples.webhooks.fastapi_receiver")
    from fastapi.testclient import TestClient

    got: List[Dict[str, Any]] = []
    client = TestClient(fastapi_receiver.create_app(SECRET, got.append))
    body = delivery("p2")
    headers = {SIGNATURE_HEADER: sign(body, SECRET), "Content-Type": "application/json"}
    ok = client.post("/webhooks/wriftai", content=body, headers=headers)
    assert ok.status_code == 200
    assert ok.json() == {"received": "p2"}
    reserialised = json.dumps(json.loads(body), separators=(",", ":")).encode()
    assert reserialised != body
    refused = client.post("/webhooks/wriftai", content=reserialised, headers=headers)
    assert refused.status_code == 400
    assert len(got) == 1


# predictions webhook verify


def run_cli(
    *args: str, body: bytes, secret: str = SECRET
) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    env = dict(os.environ, HOOK_SECRET=secret)
    return subprocess.run(
        [sys.executable, "-m", "predictions", "webhook", "verify", *args],
        input=body,
        capture_output=True,
        env=env,
        timeout=60,
    )


def test_cli_webhook_verify() -> None:
    body = delivery()
    header = sign(body, SECRET)
    valid = run_cli("--secret-env", "HOOK_SECRET", "--signature", header, body=body)
    assert (valid.returncode, valid.stdout.strip()) == (0, b"valid")
    tampered = run_cli(
        "--secret-env", "HOOK_SECRET", "--signature", header, body=body + b" "
    )
    assert tampered.returncode == 1
    assert b"invalid: no signature matches" in tampered.stdout
    missing = run_cli(
        "--secret-env", "UNSET_SECRET_X", "--signature", header, body=body
    )
    assert missing.returncode == 2
    assert b"UNSET_SECRET_X" in missing.stderr
    no_signature = run_cli("--secret-env", "HOOK_SECRET", body=body)
    assert no_signature.returncode == 2
