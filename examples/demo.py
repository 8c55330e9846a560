"""The main job, end to end, against the local server: `make demo`.

Starts a local WriftAI-compatible server in this process, then uses the client
as a user would: every built-in model, a wait that shows each status change,
several predictions at once through the async API, a failed prediction and its
error, and a webhook whose signature is verified.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import queue
import threading
import time
from typing import Any, List, Tuple

from predictions import (
    AsyncWaitOptions,
    Client,
    JsonValue,
    PredictionWithIO,
    WaitOptions,
    WebhookVerificationError,
    list_plugins,
    verify_webhook,
)
from predictions.testing import LocalServer

POLL = 0.1


def heading(text: str) -> None:
    print(f"\n== {text}")


def built_in_models(client: Client) -> None:
    heading("One prediction on each built-in model")
    jobs: List[Tuple[str, JsonValue]] = [
        ("demo/echo", {"greeting": "hello"}),
        ("demo/word-count", {"text": "to be or not to be"}),
        ("demo/sleep", {"seconds": 0.3}),
    ]
    for model, data in jobs:
        done = client.predictions.create(
            {"input": data}, model, wait=True, wait_options=WaitOptions(POLL)
        )
        print(f"{model:16} {done['status']:9} output={json.dumps(done['output'])}")


def status_changes(client: Client) -> None:
    heading("Waiting on demo/sleep, showing each status change")
    # Printed after the wait: while it runs, the progress plugin (installed by
    # `make demo`) owns the terminal's last lines and redraws them in place.
    start = time.monotonic()
    changes: List[str] = []
    last = {"status": ""}

    def on_poll(prediction: PredictionWithIO) -> None:
        logs = prediction.get("logs") or []
        if prediction["status"] != last["status"] or logs:
            latest = logs[-1] if logs else ""
            changes.append(
                f"  {time.monotonic() - start:5.2f}s  {prediction['status']:9} {latest}"
            )
        last["status"] = prediction["status"]

    created = client.predictions.create({"input": {"seconds": 1}}, "demo/sleep")
    done = client.predictions.wait(created["id"], WaitOptions(0.25, on_poll))
    print(f"  created {created['id']} ({created['status']})")
    print("\n".join(changes))
    print(f"  {done['status']} in {done['execution_time']} s of execution")


def many_at_once(client: Client) -> None:
    heading("Ten predictions at once through the async API")

    async def main() -> None:
        start = time.monotonic()
        results = await asyncio.gather(
            *(
                client.predictions.async_create(
                    {"input": {"seconds": 0.5}},
                    "demo/sleep",
                    wait=True,
                    wait_options=AsyncWaitOptions(POLL),
                )
                for _ in range(10)
            )
        )
        statuses = sorted({r["status"] for r in results})
        print(
            f"  {len(results)} predictions, statuses {statuses}, "
            f"{time.monotonic() - start:.2f}s in all (each sleeps 0.5 s)"
        )

    asyncio.run(main())


def a_failure(client: Client) -> None:
    heading("A prediction that fails is returned with its error")
    failed = client.predictions.create(
        {"input": {"message": "the model ran out of patience"}},
        "demo/fail",
        wait=True,
        wait_options=WaitOptions(POLL),
    )
    error = failed["error"]
    assert error is not None
    print(f"  status={failed['status']} source={error['source']}")
    print(f"  message={error['message']!r}")


def webhook(client: Client) -> None:
    heading("A webhook, signed by the server and verified here")
    secret = "whsec-demo"
    received: queue.Queue[Tuple[bytes, str]] = queue.Queue()

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.put((body, self.headers.get("wriftai-webhook-signature", "")))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    hooks = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=hooks.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{hooks.server_address[1]}/hook"
        client.predictions.create(
            {
                "input": {"text": "signed and sealed"},
                "webhook": {"url": url, "secret": secret},
            },
            "demo/word-count",
            wait=True,
            wait_options=WaitOptions(POLL),
        )
        while True:
            body, signature = received.get(timeout=10)
            status = json.loads(body)["status"]
            try:
                verify_webhook(body, signature, secret)
                print(
                    f"  delivery ({status:9}) signature verified: {signature[:40]}..."
                )
            except WebhookVerificationError as exc:
                print(f"  delivery ({status:9}) REFUSED: {exc}")
                raise
            try:
                verify_webhook(body + b" ", signature, secret)
            except WebhookVerificationError:
                pass
            else:  # pragma: no cover - would be a verification bug
                raise AssertionError("a changed body was accepted")
            if status == "succeeded":
                print("  a body changed by one byte is refused, as it should be")
                break
    finally:
        hooks.shutdown()
        hooks.server_close()


def main() -> None:
    with LocalServer() as server:
        print(f"Local WriftAI-compatible server at {server.base_url}")
        plugins = [p.name for p in list_plugins() if p.error is None]
        print(f"Plugins installed: {', '.join(plugins) or 'none'}")
        if "progress" in plugins:
            print("(the progress plugin draws each wait's live line on stderr)")
        with Client(api_base_url=server.base_url) as client:
            built_in_models(client)
            status_changes(client)
            many_at_once(client)
            a_failure(client)
            webhook(client)
            page = client.predictions.list({"page_size": 50})
            print(f"\n{len(page.items)} predictions on the server; done.")


if __name__ == "__main__":
    main()
