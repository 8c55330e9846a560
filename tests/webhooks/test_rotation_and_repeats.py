"""The local server's rotated and repeated deliveries, through WebhookReceiver.

While a secret is rotated each delivery carries one `v1=` per secret, and any
one matching is enough; a delivery may come twice, and keying on the
prediction's `id` and `status` tells the repeats.
"""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

import pytest

from predictions import Client, WaitOptions, WebhookReceiver
from predictions.testing import LocalServer

pytestmark = pytest.mark.timeout(60)


def wait_for_both_copies(receiver: WebhookReceiver) -> None:
    def both(prediction: Dict[str, Any]) -> bool:
        copies = [d for d in receiver.deliveries if d["status"] == "succeeded"]
        return prediction["status"] == "succeeded" and len(copies) == 2

    receiver.wait_for(both)


@pytest.mark.predictions_server(
    webhook_rotation_secrets=["whsec-old"], webhook_duplicates=True, cold_start=0
)
def test_both_secrets_verify_and_repeats_are_told_apart(
    predictions_server: LocalServer, predictions_client: Client
) -> None:
    with WebhookReceiver("whsec-old") as old, WebhookReceiver("whsec-new") as new:
        for receiver in (old, new):
            predictions_client.predictions.create(
                {
                    "input": 1,
                    "webhook": {"url": receiver.url, "secret": "whsec-new"},
                },  # type: ignore[typeddict-item]
                "demo/echo",
                wait=True,
                wait_options=WaitOptions(0.02),
            )
        for receiver in (old, new):
            wait_for_both_copies(receiver)
    for receiver in (old, new):
        assert receiver.refused == []
        keys: List[Tuple[str, str]] = [
            (d["id"], d["status"]) for d in receiver.deliveries
        ]
        counts: Dict[Tuple[str, str], int] = {}
        for key in keys:
            counts[key] = counts.get(key, 0) + 1
        assert set(counts.values()) == {2}, counts  # every change came twice
        assert [status for _, status in dict.fromkeys(keys)] == [
            "pending",
            "started",
            "succeeded",
        ]
