"""Drive the official wriftai 0.34 client against `predictions serve`.

Run with the Python of a venv where only wriftai==0.34.0 is installed:
`python drive_wriftai_034.py '<json settings>'` (see test_official_clients.py).
Each check prints one JSON line.

Streams (API.md "Events (streaming)") are read with `create(wait=True,
stream=True)`, `create(stream=True)` then `stream`, `stream(after_id=...)` and
the client's own resume after an idle close; file inputs (API.md "Uploads")
go in as `wriftai.File` of bytes, a path and a file object, uploaded by the
client in parts (the test serves with a small `--part-size`). The async twins
of both run last.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import os
import pathlib
import tempfile
import time
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import urlsplit

import httpx
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


class Recorder:
    """Keeps (method, URL, headers) of every request an httpx client sends."""

    def __init__(self) -> None:
        self.requests: List[Tuple[str, httpx.URL, httpx.Headers]] = []

    def hook(self, request: httpx.Request) -> None:
        self.requests.append((request.method, request.url, request.headers))

    async def async_hook(self, request: httpx.Request) -> None:
        self.hook(request)


# A second client, the same but for httpx clients that record each request:
# to see the client's own resumes and the part PUTs of its uploads.
recorder = Recorder()
recorded = wriftai.Client(
    access_token=SETTINGS["token"],
    api_base_url=SETTINGS["base_url"],
    max_retries=0,
    http_client=httpx.Client(
        timeout=httpx.Timeout(None, connect=10.0),
        event_hooks={"request": [recorder.hook]},
    ),
    async_http_client=httpx.AsyncClient(
        timeout=httpx.Timeout(None, connect=10.0),
        event_hooks={"request": [recorder.async_hook]},
    ),
).predictions
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


# ---- streams -------------------------------------------------------------------

# Words with runs of spaces, a tab, non-ASCII and U+2028 (a line separator
# that is not an SSE line break, API.md): demo/stream-words streams each word
# with the whitespace after it, so the pieces joined are the text.
TEXT = "Streams  carry words one by one: café, naïve 日本語\u2028and\ta tab "


def check_events(
    events: List[Dict[str, Any]], text: str, prediction_id: Optional[str] = None
) -> Dict[str, Any]:
    """Events of demo/stream-words: init, outputs joined to `text`, then done.

    Returns the init event's data (the prediction).
    """
    kinds = [e["event"] for e in events]
    expect(kinds and kinds[0] == "init", f"the first event is not init: {kinds}")
    expect(kinds[-1] == "done", f"the last event is not done: {events[-1:]!r}")
    expect(
        all(kind == "output" for kind in kinds[1:-1]),
        f"not only output events between init and done: {kinds}",
    )
    ids = [e["id"] for e in events]
    expect(len(set(ids)) == len(ids), f"event ids repeat: {ids}")
    init = events[0]["data"]
    expect(isinstance(init, dict) and init.get("id"), f"init's data: {init!r}")
    if prediction_id is not None:
        expect(init["id"] == prediction_id, f"init is of {init['id']!r}")
    expect(init.get("stream") is True, f"init's prediction has stream={init!r}")
    pieces = [e["data"] for e in events[1:-1]]
    expect(len(pieces) >= 2, f"the text came in {len(pieces)} output event(s)")
    expect(all(isinstance(p, str) for p in pieces), f"pieces: {pieces!r}")
    expect("".join(pieces) == text, f"pieces {pieces!r} do not join to {text!r}")
    done = events[-1]["data"]
    expect(
        isinstance(done, dict)
        and done.get("id") == init["id"]
        and done.get("status") == "succeeded",
        f"done's data is not the succeeded prediction: {done!r}",
    )
    return init


def collect(events: Any, on_init: Any = None) -> List[Dict[str, Any]]:
    """Read a stream to its end; call `on_init(prediction)` on its init."""
    got: List[Dict[str, Any]] = []
    with contextlib.closing(events):
        for event in events:
            got.append(event)
            if event["event"] == "init" and on_init is not None:
                on_init(event["data"])
    return got


def stream_create_wait() -> str:
    start = time.monotonic()
    arrivals: List[float] = []
    events: List[Dict[str, Any]] = []
    stream = predictions.create(
        wait=True,
        stream=True,
        model="demo/stream-words",
        input={"text": TEXT, "delay": 0.05},
    )
    with contextlib.closing(stream):
        for event in stream:
            arrivals.append(time.monotonic() - start)
            events.append(event)
            if event["event"] == "init":
                remember(event["data"])
    init = check_events(events, TEXT)
    final = predictions.get(init["id"])
    expect(final["output"] == TEXT, f"the prediction's output {final['output']!r}")
    # The words come 0.05 s apart: they must arrive as they come, not at the end.
    spread = arrivals[-1] - arrivals[1]
    expect(spread >= 0.2, f"all events arrived within {spread:.2f} s: buffered?")
    return f"{len(events)} events ({len(events) - 2} outputs) over {spread:.2f} s"


def stream_create_then_stream() -> str:
    p = remember(
        predictions.create(
            stream=True, model="demo/stream-words", input={"text": TEXT, "delay": 0.05}
        )
    )
    expect(p["stream"] is True, f"the created prediction has stream={p['stream']!r}")
    expect(p["status"] in NOT_TERMINAL, f"status {p['status']!r}")
    check_fields(p, PredictionWithDetails, "the create's answer")
    events = collect(predictions.stream(p["id"]))
    check_events(events, TEXT, p["id"])
    state["streamed"] = (p["id"], events)
    return f"{p['id']}: {len(events)} events"


def stream_resume_after_id() -> str:
    # Of a finished prediction: after any event, exactly the events after it.
    prediction_id, events = state["streamed"]
    for index in (0, 1, len(events) // 2, len(events) - 2):
        after = events[index]["id"]
        again = collect(predictions.stream(prediction_id, after_id=after))
        expect(
            again == events[index + 1 :],
            f"after_id={after}: got {[e['id'] for e in again]}, expected"
            f" {[e['id'] for e in events[index + 1 :]]}",
        )
    # Of a running one: break off after three events, resume after the last.
    p = remember(
        predictions.create(
            stream=True, model="demo/stream-words", input={"text": TEXT, "delay": 0.1}
        )
    )
    first: List[Dict[str, Any]] = []
    with contextlib.closing(predictions.stream(p["id"])) as stream:
        for event in stream:
            first.append(event)
            if len(first) == 3:
                break
    status = predictions.get(p["id"])["status"]
    expect(status in NOT_TERMINAL, f"already {status} when the stream broke off")
    rest = collect(predictions.stream(p["id"], after_id=first[-1]["id"]))
    check_events(first + rest, TEXT, p["id"])
    return (
        f"4 resumes of a finished stream; a running one broke off after"
        f" {[e['id'] for e in first]} ({status}), resumed with {len(rest)} events"
    )


def stream_idle_resume() -> str:
    """The client's own resume when the server closes an idle stream."""
    text = "idle between words"
    slow = {"text": text, "delay": 0.5}
    found: List[str] = []
    # create(wait, stream) with duration=0.2: the create's stream closes after
    # 0.2 s without an event, and the client goes on with stream(after_id=).
    mark = len(recorder.requests)
    events = collect(
        recorded.create(
            wait=True,
            stream=True,
            wait_options=CreateWaitOptions(duration=0.2),
            model="demo/stream-words",
            input=slow,
        ),
        on_init=remember,
    )
    prediction_id = check_events(events, text)["id"]
    found.append(resumes("create", recorder.requests[mark:], prediction_id, events))
    # stream(wait=0.2) of a running prediction: the same, from the start.
    p = remember(recorded.create(stream=True, model="demo/stream-words", input=slow))
    mark = len(recorder.requests)
    events = collect(recorded.stream(p["id"], wait=0.2))
    check_events(events, text, p["id"])
    found.append(resumes("stream", recorder.requests[mark:], p["id"], events))
    return "; ".join(found)


def resumes(
    what: str, sent: List[Any], prediction_id: str, events: List[Dict[str, Any]]
) -> str:
    """Check the stream requests sent: resumed after idle closes, in order."""
    path = f"/predictions/{prediction_id}/stream"
    gets = [(url, headers) for method, url, headers in sent if url.path.endswith(path)]
    expect(
        all(h.get("prefer") == "wait=0.2" for _, h in gets),
        f"{what}: a stream request without Prefer: wait=0.2",
    )
    after = [url.params.get("after_id") for url, _ in gets]
    expect(len(after) >= 2, f"{what}: {len(after)} stream request(s): no idle close?")
    ids = [e["id"] for e in events]
    if what == "stream":
        expect(after[0] is None, f"the first stream request had after_id={after[0]}")
        after = after[1:]
    # Each resume is after an event the client had, in order (repeats are
    # fine: a resume that got nothing before the next idle close).
    expect(
        all(a in ids for a in after) and after == sorted(after, key=ids.index),
        f"{what}: resumed with after_id {after}; events {ids}",
    )
    return f"{what}: {len(gets)} stream requests, after_id {after}"


# ---- file inputs -----------------------------------------------------------------

FILE_SIZE = 300_007
PART_SIZE = SETTINGS["part_size"]  # what the test serves with (--part-size)


def file_forms(data: bytes, folder: str) -> Dict[str, wriftai.File]:
    """The same bytes as each kind of content a wriftai.File takes."""
    path = pathlib.Path(folder, "sample.png")
    path.write_bytes(data)
    return {
        "bytes": wriftai.File(data),
        "path": wriftai.File(path),
        "file object": wriftai.File(io.BytesIO(data), mime_type="application/x-demo"),
    }


def check_file_prediction(
    label: str, p: Dict[str, Any], file: wriftai.File, digest: str, sent: List[Any]
) -> str:
    """demo/file-info's answer and the upload's requests, for one file."""
    expect(p["status"] == "succeeded", f"{label}: {p['status']} {p.get('error')!r}")
    wanted = {"size": FILE_SIZE, "sha256": digest}
    expect(p["output"] == wanted, f"{label}: output {p['output']!r} != {wanted!r}")
    url = p["input"]["file"]
    expect(isinstance(url, str), f"{label}: the input's file is {url!r}")
    api = urlsplit(SETTINGS["base_url"]).netloc
    puts = [(u, h) for method, u, h in sent if method == "PUT"]
    parts = -(-FILE_SIZE // PART_SIZE)
    expect(len(puts) == parts, f"{label}: {len(puts)} part PUTs, not {parts}")
    expect(
        all(u.netloc.decode() != api for u, _ in puts),
        f"{label}: a part went to the API's own host and port",
    )
    expect(
        not any("authorization" in h for _, h in puts),
        f"{label}: a part PUT carried Authorization",
    )
    types = {h.get("content-type") for _, h in puts}
    expect(types == {file.mime_type}, f"{label}: parts sent as {types}")
    return f"{label} ({file.mime_type}): {len(puts)} parts"


def file_input() -> str:
    data = os.urandom(FILE_SIZE)
    digest = hashlib.sha256(data).hexdigest()
    found: List[str] = []
    with tempfile.TemporaryDirectory() as folder:
        for label, file in file_forms(data, folder).items():
            mark = len(recorder.requests)
            p = remember(
                recorded.create(wait=True, model="demo/file-info", input={"file": file})
            )
            sent = recorder.requests[mark:]
            found.append(check_file_prediction(label, p, file, digest, sent))
    return f"{FILE_SIZE} bytes, sha256 {digest[:12]}..: " + "; ".join(found)


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

    async def acollect(events: Any) -> List[Dict[str, Any]]:
        got: List[Dict[str, Any]] = []
        async with contextlib.aclosing(events):
            async for event in events:
                got.append(event)
                if event["event"] == "init":
                    remember(event["data"])
        return got

    async def async_stream_create_wait() -> str:
        stream = await predictions.async_create(
            wait=True,
            stream=True,
            model="demo/stream-words",
            input={"text": TEXT, "delay": 0.02},
        )
        events = await acollect(stream)
        init = check_events(events, TEXT)
        final = await predictions.async_get(init["id"])
        expect(final["output"] == TEXT, f"output {final['output']!r}")
        return f"{len(events)} events"

    async def async_stream() -> str:
        p = await predictions.async_create(
            stream=True, model="demo/stream-words", input={"text": TEXT, "delay": 0.02}
        )
        remember(p)
        expect(p["stream"] is True, f"stream={p['stream']!r}")
        events: List[Dict[str, Any]] = []
        async with contextlib.aclosing(predictions.async_stream(p["id"])) as stream:
            async for event in stream:
                events.append(event)
        check_events(events, TEXT, p["id"])
        middle = events[len(events) // 2]["id"]
        again: List[Dict[str, Any]] = []
        resumed = predictions.async_stream(p["id"], after_id=middle)
        async with contextlib.aclosing(resumed) as stream:
            async for event in stream:
                again.append(event)
        expect(
            again == events[len(events) // 2 + 1 :],
            f"after_id={middle}: got {[e['id'] for e in again]}",
        )
        return f"{len(events)} events; after_id={middle} gave {len(again)}"

    async def async_file_input() -> str:
        data = os.urandom(FILE_SIZE)
        digest = hashlib.sha256(data).hexdigest()
        found: List[str] = []
        with tempfile.TemporaryDirectory() as folder:
            for label, file in file_forms(data, folder).items():
                mark = len(recorder.requests)
                p = await recorded.async_create(
                    wait=True, model="demo/file-info", input={"file": file}
                )
                remember(p)
                sent = recorder.requests[mark:]
                found.append(check_file_prediction(label, p, file, digest, sent))
        return "; ".join(found)

    await checks.arun("async_create", async_create)
    await checks.arun("async_get", async_get, needs=("async_create",))
    await checks.arun("async_wait", async_wait, needs=("async_create",))
    await checks.arun("async_create_wait", async_create_wait)
    await checks.arun("async_create_wait_held_then_polled", async_create_wait_held)
    await checks.arun("async_list", async_list, needs=("list_statuses",))
    await checks.arun("async_cancel", async_cancel)
    await checks.arun("async_stream_create_wait", async_stream_create_wait)
    await checks.arun("async_stream", async_stream)
    await checks.arun("async_file_input", async_file_input)


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
    checks.run("stream_create_wait", stream_create_wait)
    checks.run("stream_create_then_stream", stream_create_then_stream)
    checks.run(
        "stream_resume_after_id",
        stream_resume_after_id,
        needs=("stream_create_then_stream",),
    )
    checks.run("stream_idle_resume", stream_idle_resume)
    checks.run("file_input", file_input)
    asyncio.run(async_checks())


def expect_version(wanted: str) -> str:
    from importlib.metadata import version

    found = version("wriftai")
    expect(found == wanted, f"wriftai {found} is installed, not {wanted}")
    return f"wriftai {found} from {wriftai.__file__}"


if __name__ == "__main__":
    main()
