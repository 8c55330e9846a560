"""Drive the official wriftai 0.34 client against `predictions serve`.

Run with the Python of a venv where only wriftai==0.34.0 is installed:
`python drive_wriftai_034.py '<json settings>'` (see test_official_clients.py).
Each check prints one JSON line. Streaming and file inputs are not covered.
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
    missing_keys,
    poll_until,
)
from wriftai.predictions import (
    AsyncCreateWaitOptions,
    AsyncWaitOptions,
    CreateWaitOptions,
    Prediction,
    PredictionWithDetails,
    WaitOptions,
)

SETTINGS = config()
client = wriftai.Client(
    access_token=SETTINGS["token"], api_base_url=SETTINGS["base_url"], max_retries=0
)
predictions = client.predictions
checks = Checks()
FAST = WaitOptions(poll_interval=0.1)
state: Dict[str, Any] = {}
# Every prediction this script creates, oldest first: the server is its own.
created: List[str] = []


def remember(prediction: Dict[str, Any]) -> Dict[str, Any]:
    created.append(prediction["id"])
    return prediction


def check_fields(prediction: Dict[str, Any], typed_dict: Any, what: str) -> None:
    missing = missing_keys(prediction, typed_dict)
    expect(not missing, f"{what} lacks {missing} that 0.34 declares: {prediction!r}")


# ---- create without wait, get, wait -----------------------------------------


def create_without_wait() -> str:
    started = time.monotonic()
    p = remember(predictions.create(model="demo/sleep", input={"seconds": 1.5}))
    took = time.monotonic() - started
    expect(p["status"] in NOT_TERMINAL, f"status {p['status']!r}, not running")
    expect(took < 1.0, f"create without wait took {took:.2f} s")
    check_fields(p, PredictionWithDetails, "the create's answer")
    expect(p["model"]["owner"] == "demo", f"model {p['model']!r}")
    expect(p["input"] == {"seconds": 1.5}, f"input {p['input']!r}")
    state["running"] = p["id"]
    return f"{p['id']} {p['status']}"


def get() -> str:
    p = predictions.get(state["running"])
    expect(p["id"] == state["running"], f"id {p['id']!r}")
    check_fields(p, PredictionWithDetails, "GET's answer")
    expect(p["status"] in (*NOT_TERMINAL, "succeeded"), f"status {p['status']!r}")
    return p["status"]


def wait() -> str:
    polls: List[str] = []
    options = WaitOptions(
        poll_interval=0.1, on_poll=lambda p: polls.append(p["status"])
    )
    p = predictions.wait(state["running"], options=options)
    expect(p["status"] == "succeeded", f"status {p['status']!r}: {p!r}")
    expect(p["output"] == {"slept": 1.5}, f"output {p['output']!r}")
    expect(p["execution_time"] is not None, "no execution_time")
    return f"{len(polls)} polls: {polls[0]} .. {polls[-1]}"


# ---- create with wait --------------------------------------------------------


def create_wait_fast() -> str:
    polls: List[str] = []
    options = CreateWaitOptions(on_poll=lambda p: polls.append(p["status"]))
    p = remember(
        predictions.create(
            wait=True, wait_options=options, model="demo/echo", input={"x": [1, "y"]}
        )
    )
    expect(p["status"] == "succeeded", f"status {p['status']!r}")
    expect(p["output"] == {"x": [1, "y"]}, f"output {p['output']!r}")
    # Prefer: wait held the create to the end, so the client had no need to poll.
    expect(not polls, f"the create's answer was not final; polled {polls}")
    check_fields(p, PredictionWithDetails, "the create's answer")
    return "finished in the create's answer"


def create_wait_version() -> str:
    p = remember(
        predictions.create(
            wait=True, model="demo/word-count:1", input={"text": "a b a"}
        )
    )
    expect(p["status"] == "succeeded", f"status {p['status']!r}")
    expect(p["output"] == {"a": 2, "b": 1}, f"output {p['output']!r}")
    expect(p["model"]["version_number"] == 1, f"model {p['model']!r}")
    return "demo/word-count:1"


def create_wait_held_then_polled() -> str:
    polls: List[float] = []
    start = time.monotonic()
    options = CreateWaitOptions(
        duration=1.5,  # sent as `Prefer: wait=1.5`
        poll_interval=0.2,
        on_poll=lambda p: polls.append(time.monotonic() - start),
    )
    p = remember(
        predictions.create(
            wait=True, wait_options=options, model="demo/sleep", input={"seconds": 3}
        )
    )
    took = time.monotonic() - start
    expect(p["status"] == "succeeded", f"status {p['status']!r}")
    expect(p["output"] == {"slept": 3}, f"output {p['output']!r}")
    expect(polls, "never polled: the create was held to the end, not 1.5 s")
    expect(polls[0] >= 1.3, f"first poll {polls[0]:.2f} s in: the create was not held")
    expect(polls[0] < 2.8, f"first poll {polls[0]:.2f} s in: held past wait=1.5")
    return f"held {polls[0]:.2f} s, then {len(polls)} polls, {took:.2f} s in all"


def create_wait_no_poll() -> str:
    options = CreateWaitOptions(duration=0.5, poll=False)
    start = time.monotonic()
    p = remember(
        predictions.create(
            wait=True, wait_options=options, model="demo/sleep", input={"seconds": 2}
        )
    )
    took = time.monotonic() - start
    expect(p["status"] in NOT_TERMINAL, f"status {p['status']!r}")
    expect(0.3 <= took < 1.8, f"held {took:.2f} s for wait=0.5")
    return f"{p['status']} after {took:.2f} s"


def create_wait_failed() -> str:
    p = remember(
        predictions.create(wait=True, model="demo/fail", input={"message": "boom"})
    )
    expect(p["status"] == "failed", f"status {p['status']!r}")
    error = p["error"] or {}
    expect(error.get("source") == "external", f"error {error!r}")
    expect("boom" in error.get("message", ""), f"error {error!r}")
    state["failed"] = p["id"]
    return json.dumps(error)


def create_validate_input() -> str:
    detail = expect_http_error(
        lambda: predictions.create(
            model="demo/word-count", input={"words": 1}, validate_input=True
        ),
        (422,),
    )
    p = remember(
        predictions.create(
            wait=True, model="demo/word-count", input={"text": "x"}, validate_input=True
        )
    )
    expect(p["status"] == "succeeded", f"valid input: status {p['status']!r}")
    return detail


def create_with_webhook() -> str:
    secret = "whsec-official-034"
    with WebhookReceiver() as receiver:
        p = remember(
            predictions.create(
                wait=True,
                model="demo/echo",
                input={"hook": True},
                webhook={"url": receiver.url, "secret": secret},
            )
        )
        expect(p["status"] == "succeeded", f"status {p['status']!r}")
        deliveries = receiver.wait_for(p["id"], "succeeded", timeout=15)
    statuses = []
    for headers, body in deliveries:
        signature = headers.get("wriftai-webhook-signature")
        expect(signature, f"a delivery without a signature: {headers!r}")
        wriftai.verify_webhook(payload=body, signature=signature, secret=secret)
        statuses.append(json.loads(body)["status"])
    return f"{len(deliveries)} deliveries, each verified: {statuses}"


# ---- list ----------------------------------------------------------------------


def list_pages() -> str:
    for n in range(6):
        remember(predictions.create(model="demo/echo", input={"n": n}))
    expect(len(created) >= 11, f"only {len(created)} predictions")
    first = predictions.list({"page_size": 5})
    expect(len(first.items) == 5, f"first page has {len(first.items)} items")
    expect(first.next_cursor, "the first page has no next_cursor")
    for item in first.items:
        check_fields(item, Prediction, "a listed item")
    pages = [first]
    while pages[-1].next_cursor:
        expect(len(pages) < 20, "more than 20 pages")
        pages.append(
            predictions.list({"page_size": 5, "cursor": pages[-1].next_cursor})
        )
    listed = [item["id"] for page in pages for item in page.items]
    expect(
        listed == created[::-1],
        f"listed {listed} is not the {len(created)} created, newest first: {created}",
    )
    back = predictions.list({"page_size": 5, "cursor": pages[1].previous_cursor})
    expect(
        [i["id"] for i in back.items] == [i["id"] for i in first.items],
        "previous_cursor of page 2 does not lead back to page 1",
    )
    sizes = [len(page.items) for page in pages]
    return f"{len(listed)} predictions on pages of {sizes}"


def list_statuses() -> str:
    for prediction_id in created:  # all of them end by themselves
        predictions.wait(prediction_id, options=FAST)
    failed = predictions.list({"statuses": ["failed"], "page_size": 50})
    ids = [i["id"] for i in failed.items]
    expect(ids == [state["failed"]], f"statuses=failed gave {failed.items!r}")
    both = predictions.list({"statuses": ["succeeded", "failed"], "page_size": 50})
    expect(both.next_cursor is None, "more than 50 finished predictions")
    kinds = {i["status"] for i in both.items}
    expect(kinds <= {"succeeded", "failed"}, f"statuses {kinds}")
    expect(
        state["failed"] in [i["id"] for i in both.items], "the failed one is missing"
    )
    got = [i["id"] for i in both.items]
    expect(got == created[::-1], f"succeeded+failed: {got} != {created[::-1]}")
    return f"failed: 1, succeeded or failed: {len(got)}"


def list_page_size_bounds() -> str:
    for size in (5, 50):
        predictions.list({"page_size": size})
    details = [
        expect_http_error(lambda s=size: predictions.list({"page_size": s}), (422,))
        for size in (4, 51)
    ]
    return "; ".join(details)


# ---- cancel --------------------------------------------------------------------


def cancel() -> str:
    p = remember(predictions.create(model="demo/sleep", input={"seconds": 30}))
    answer = predictions.cancel(p["id"])
    expect(answer is None, f"cancel answered {answer!r}")
    predictions.cancel(p["id"])  # asking again is fine
    start = time.monotonic()
    seen = poll_until(
        lambda: predictions.get(p["id"]),
        lambda q: q["status"] == "cancelled",
        timeout=10,
    )
    took = time.monotonic() - start
    final = predictions.wait(p["id"], options=FAST)
    expect(final["status"] == "cancelled", f"wait gave {final['status']!r}")
    return f"{seen['status']} {took:.2f} s after the cancel"


def cancel_finished() -> str:
    return expect_http_error(
        lambda: predictions.cancel(state["failed"]), tuple(range(400, 500))
    )


def unauthenticated() -> str:
    anonymous = wriftai.Client(api_base_url=SETTINGS["base_url"], max_retries=0)
    return expect_http_error(lambda: anonymous.predictions.get(created[0]), (401,))


# ---- webhook verify ------------------------------------------------------------


def webhook_verify() -> str:
    hook = SETTINGS["webhook"]
    body = hook["body"].encode("utf-8")
    wriftai.verify_webhook(
        payload=body, signature=hook["header"], secret=hook["secret"]
    )
    try:
        wriftai.verify_webhook(
            payload=body + b" ", signature=hook["header"], secret=hook["secret"]
        )
    except wriftai.WebhookSignatureMismatchError:
        pass
    else:
        raise AssertionError("a changed body verified")
    return "a predictions.webhooks.sign signature verifies; a changed body does not"


# ---- the async twins -----------------------------------------------------------


async def async_checks() -> None:
    quick = AsyncWaitOptions(poll_interval=0.1)
    box: Dict[str, Any] = {}

    async def async_create() -> str:
        p = await predictions.async_create(model="demo/sleep", input={"seconds": 0.5})
        created.append(p["id"])
        expect(p["status"] in NOT_TERMINAL, f"status {p['status']!r}")
        box["id"] = p["id"]
        return f"{p['id']} {p['status']}"

    async def async_get() -> str:
        p = await predictions.async_get(box["id"])
        expect(p["id"] == box["id"], f"id {p['id']!r}")
        check_fields(p, PredictionWithDetails, "GET's answer")
        return p["status"]

    async def async_wait() -> str:
        p = await predictions.async_wait(box["id"], options=quick)
        expect(p["status"] == "succeeded", f"status {p['status']!r}")
        expect(p["output"] == {"slept": 0.5}, f"output {p['output']!r}")
        return "succeeded"

    async def async_create_wait() -> str:
        p = await predictions.async_create(
            wait=True, model="demo/echo", input={"async": 1}
        )
        created.append(p["id"])
        expect(p["status"] == "succeeded", f"status {p['status']!r}")
        expect(p["output"] == {"async": 1}, f"output {p['output']!r}")
        return "finished in the create's answer"

    async def async_create_wait_held() -> str:
        polls: List[str] = []

        async def on_poll(p: Any) -> None:
            polls.append(p["status"])

        options = AsyncCreateWaitOptions(
            duration=0.5, poll_interval=0.2, on_poll=on_poll
        )
        p = await predictions.async_create(
            wait=True, wait_options=options, model="demo/sleep", input={"seconds": 1.5}
        )
        created.append(p["id"])
        expect(p["status"] == "succeeded", f"status {p['status']!r}")
        expect(polls, "never polled after a 0.5 s hold")
        return f"{len(polls)} polls"

    async def async_list() -> str:
        page = await predictions.async_list({"page_size": 5})
        expect(len(page.items) == 5, f"{len(page.items)} items")
        expect(page.items[0]["id"] == created[-1], "not newest first")
        expect(page.next_cursor, "no next_cursor")
        second = await predictions.async_list(
            {"page_size": 5, "cursor": page.next_cursor}
        )
        expect(second.items[0]["id"] == created[-6], "page 2 does not follow page 1")
        failed = await predictions.async_list({"statuses": ["failed"]})
        expect([i["id"] for i in failed.items] == [state["failed"]], "statuses")
        return "2 pages and statuses=failed"

    async def async_cancel() -> str:
        p = await predictions.async_create(model="demo/sleep", input={"seconds": 30})
        created.append(p["id"])
        answer = await predictions.async_cancel(p["id"])
        expect(answer is None, f"cancel answered {answer!r}")
        for _ in range(200):
            if (await predictions.async_get(p["id"]))["status"] == "cancelled":
                return "cancelled"
            await asyncio.sleep(0.05)
        raise AssertionError("not cancelled 10 s after the cancel")

    await checks.arun("async_create", async_create)
    await checks.arun("async_get", async_get, needs=("async_create",))
    await checks.arun("async_wait", async_wait, needs=("async_create",))
    await checks.arun("async_create_wait", async_create_wait)
    await checks.arun("async_create_wait_held_then_polled", async_create_wait_held)
    await checks.arun("async_list", async_list, needs=("list_statuses",))
    await checks.arun("async_cancel", async_cancel)


def main() -> None:
    checks.run("version", lambda: expect_version("0.34.0"))
    checks.run("create_without_wait", create_without_wait)
    checks.run("get", get, needs=("create_without_wait",))
    checks.run("wait", wait, needs=("create_without_wait",))
    checks.run("create_wait_fast", create_wait_fast)
    checks.run("create_wait_version", create_wait_version)
    checks.run("create_wait_held_then_polled", create_wait_held_then_polled)
    checks.run("create_wait_no_poll", create_wait_no_poll)
    checks.run("create_wait_failed", create_wait_failed)
    checks.run("create_validate_input", create_validate_input)
    checks.run("create_with_webhook", create_with_webhook)
    checks.run("list_pages", list_pages)
    checks.run("list_statuses", list_statuses, needs=("create_wait_failed",))
    checks.run("list_page_size_bounds", list_page_size_bounds)
    checks.run("cancel", cancel)
    checks.run("cancel_finished", cancel_finished, needs=("create_wait_failed",))
    checks.run("unauthenticated", unauthenticated)
    checks.run("webhook_verify", webhook_verify)
    asyncio.run(async_checks())


def expect_version(wanted: str) -> str:
    from importlib.metadata import version

    found = version("wriftai")
    expect(found == wanted, f"wriftai {found} is installed, not {wanted}")
    return f"wriftai {found} from {wriftai.__file__}"


if __name__ == "__main__":
    main()
