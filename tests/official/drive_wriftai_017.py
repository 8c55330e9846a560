"""Drive the official wriftai 0.17 client against `predictions serve`.

Run with the Python of a venv where only wriftai==0.17.0 is installed:
`python drive_wriftai_017.py '<json settings>'` (see test_official_clients.py).
Each check prints one JSON line.

Not run: `list`, whose page type needs `next_url` and `previous_url`, which
the hosted API no longer sends (API.md "Shapes"); and `wait` on a cancelled
prediction, since 0.17 knows only succeeded and failed as ends.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Dict, List

import wriftai
from _driver import (
    NOT_TERMINAL,
    Checks,
    WebhookReceiver,
    config,
    expect,
    expect_http_error,
)
from wriftai.predictions import AsyncWaitOptions, WaitOptions

SETTINGS = config()
client = wriftai.Client(
    api_base_url=SETTINGS["base_url"], access_token=SETTINGS["token"]
)
predictions = client.predictions
checks = Checks()
FAST = WaitOptions(poll_interval=0.1)
state: Dict[str, Any] = {}

# What 0.17's PredictionWithIO declares, less the seed's `url`, `logs` and
# `setup_logs`, which the hosted API dropped or may leave out (API.md "Shapes").
FIELDS = (
    "id",
    "created_at",
    "status",
    "updated_at",
    "setup_time",
    "execution_time",
    "model",
    "input",
    "output",
    "error",
)


def check_fields(prediction: Dict[str, Any], what: str) -> None:
    missing = [k for k in FIELDS if k not in prediction]
    expect(not missing, f"{what} lacks {missing}: {prediction!r}")


def expect_version(wanted: str) -> str:
    from importlib.metadata import version

    found = version("wriftai")
    expect(found == wanted, f"wriftai {found} is installed, not {wanted}")
    return f"wriftai {found} from {wriftai.__file__}"


def create_without_wait() -> str:
    started = time.monotonic()
    p = predictions.create({"input": {"seconds": 1.5}}, model="demo/sleep")
    took = time.monotonic() - started
    expect(p["status"] in NOT_TERMINAL, f"status {p['status']!r}, not running")
    expect(took < 1.0, f"create without wait took {took:.2f} s")
    check_fields(p, "the create's answer")
    expect(p["input"] == {"seconds": 1.5}, f"input {p['input']!r}")
    state["running"] = p["id"]
    return f"{p['id']} {p['status']}"


def create_version_without_wait() -> str:
    p = predictions.create({"input": {"text": "a b a"}}, model="demo/word-count:1")
    expect(p["model"]["version_number"] == 1, f"model {p['model']!r}")
    final = predictions.wait(p["id"], options=FAST)
    expect(final["output"] == {"a": 2, "b": 1}, f"output {final['output']!r}")
    return "POST /models/demo/word-count/versions/1/predictions"


def get() -> str:
    p = predictions.get(state["running"])
    expect(p["id"] == state["running"], f"id {p['id']!r}")
    check_fields(p, "GET's answer")
    return p["status"]


def wait() -> str:
    polls: List[str] = []
    options = WaitOptions(
        poll_interval=0.1, on_poll=lambda p: polls.append(p["status"])
    )
    p = predictions.wait(state["running"], options=options)
    expect(p["status"] == "succeeded", f"status {p['status']!r}: {p!r}")
    expect(p["output"] == {"slept": 1.5}, f"output {p['output']!r}")
    return f"{len(polls)} polls: {polls[0]} .. {polls[-1]}"


def create_wait() -> str:
    p = predictions.create(
        {"input": {"x": [1, "y"]}}, model="demo/echo", wait=True, wait_options=FAST
    )
    expect(p["status"] == "succeeded", f"status {p['status']!r}")
    expect(p["output"] == {"x": [1, "y"]}, f"output {p['output']!r}")
    return "succeeded"


def create_wait_slow() -> str:
    p = predictions.create(
        {"input": {"seconds": 1}}, model="demo/sleep", wait=True, wait_options=FAST
    )
    expect(p["status"] == "succeeded", f"status {p['status']!r}")
    expect(p["output"] == {"slept": 1}, f"output {p['output']!r}")
    return "succeeded"


def create_wait_failed() -> str:
    p = predictions.create(
        {"input": {"message": "boom"}}, model="demo/fail", wait=True, wait_options=FAST
    )
    expect(p["status"] == "failed", f"status {p['status']!r}")
    error = p["error"] or {}
    expect(error.get("source") == "external", f"error {error!r}")
    expect("boom" in error.get("message", ""), f"error {error!r}")
    return json.dumps(error)


def create_validate_input() -> str:
    detail = expect_http_error(
        lambda: predictions.create(
            {"input": {"words": 1}, "validate_input": True}, model="demo/word-count"
        ),
        (422,),
    )
    p = predictions.create(
        {"input": {"text": "x"}, "validate_input": True},
        model="demo/word-count",
        wait=True,
        wait_options=FAST,
    )
    expect(p["status"] == "succeeded", f"valid input: status {p['status']!r}")
    return detail


def create_with_webhook() -> str:
    secret = "whsec-official-017"
    with WebhookReceiver() as receiver:
        p = predictions.create(
            {
                "input": {"hook": True},
                "webhook": {"url": receiver.url, "secret": secret},
            },
            model="demo/echo",
            wait=True,
            wait_options=FAST,
        )
        expect(p["status"] == "succeeded", f"status {p['status']!r}")
        deliveries = receiver.wait_for(p["id"], "succeeded", timeout=15)
    statuses = []
    for headers, body in deliveries:
        signature = headers.get("wriftai-webhook-signature")
        expect(signature, f"a delivery without a signature: {headers!r}")
        wriftai.verify_webhook(payload=body, signature_header=signature, secret=secret)
        statuses.append(json.loads(body)["status"])
    return f"{len(deliveries)} deliveries, each verified: {statuses}"


def unauthenticated() -> str:
    anonymous = wriftai.Client(api_base_url=SETTINGS["base_url"])
    return expect_http_error(
        lambda: anonymous.predictions.get(state["running"]), (401,)
    )


def webhook_verify() -> str:
    from wriftai.webhook import SignatureMismatchError

    hook = SETTINGS["webhook"]
    body = hook["body"].encode("utf-8")
    wriftai.verify_webhook(
        payload=body, signature_header=hook["header"], secret=hook["secret"]
    )
    try:
        wriftai.verify_webhook(
            payload=body + b" ", signature_header=hook["header"], secret=hook["secret"]
        )
    except SignatureMismatchError:
        pass
    else:
        raise AssertionError("a changed body verified")
    return "a predictions.webhooks.sign signature verifies; a changed body does not"


async def async_checks() -> None:
    quick = AsyncWaitOptions(poll_interval=0.1)
    box: Dict[str, Any] = {}

    async def async_create() -> str:
        p = await predictions.async_create(
            {"input": {"seconds": 0.5}}, model="demo/sleep"
        )
        expect(p["status"] in NOT_TERMINAL, f"status {p['status']!r}")
        box["id"] = p["id"]
        return f"{p['id']} {p['status']}"

    async def async_get() -> str:
        p = await predictions.async_get(box["id"])
        expect(p["id"] == box["id"], f"id {p['id']!r}")
        check_fields(p, "GET's answer")
        return p["status"]

    async def async_wait() -> str:
        p = await predictions.async_wait(box["id"], options=quick)
        expect(p["status"] == "succeeded", f"status {p['status']!r}")
        expect(p["output"] == {"slept": 0.5}, f"output {p['output']!r}")
        return "succeeded"

    async def async_create_wait() -> str:
        p = await predictions.async_create(
            {"input": {"async": 1}}, model="demo/echo:1", wait=True, wait_options=quick
        )
        expect(p["status"] == "succeeded", f"status {p['status']!r}")
        expect(p["output"] == {"async": 1}, f"output {p['output']!r}")
        return "succeeded"

    await checks.arun("async_create", async_create)
    await checks.arun("async_get", async_get, needs=("async_create",))
    await checks.arun("async_wait", async_wait, needs=("async_create",))
    await checks.arun("async_create_wait", async_create_wait)


def main() -> None:
    checks.run("version", lambda: expect_version("0.17.0"))
    checks.run("create_without_wait", create_without_wait)
    checks.run("create_version_without_wait", create_version_without_wait)
    checks.run("get", get, needs=("create_without_wait",))
    checks.run("wait", wait, needs=("create_without_wait",))
    checks.run("create_wait", create_wait)
    checks.run("create_wait_slow", create_wait_slow)
    checks.run("create_wait_failed", create_wait_failed)
    checks.run("create_validate_input", create_validate_input)
    checks.run("create_with_webhook", create_with_webhook)
    checks.run("unauthenticated", unauthenticated, needs=("create_without_wait",))
    checks.run("webhook_verify", webhook_verify)
    asyncio.run(async_checks())


if __name__ == "__main__":
    main()
