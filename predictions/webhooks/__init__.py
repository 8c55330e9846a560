"""Webhooks: signing and verifying deliveries, and a receiver to take them.

A signed delivery carries `wriftai-webhook-signature: t=<unix>,v1=<hex>...`,
each `v1` being HMAC-SHA256(secret, f"{t}.".encode() + raw_body) in hex.
`sign` and `verify` live in `predictions.webhooks._signing`; `WebhookReceiver`
(an HTTP server in a thread) in `predictions.webhooks._receiver`, imported on
first use so that `verify` alone costs no http.server and threads.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, List

# Handed on: what `verify` raises, as callers have caught it from here.
from predictions.errors import WebhookVerificationError as WebhookVerificationError
from predictions.webhooks._signing import (
    DEFAULT_TOLERANCE,
    MAX_BODY_SIZE,
    READ_TIMEOUT,
    SIGNATURE_HEADER,
    sign,
    verify,
    verify_webhook,
)

if TYPE_CHECKING:  # handed on by __getattr__ below, on first use
    from predictions.webhooks._receiver import WebhookReceiver as WebhookReceiver


def __getattr__(name: str) -> Any:
    if name != "WebhookReceiver":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = importlib.import_module("predictions.webhooks._receiver").WebhookReceiver
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted({*globals(), "WebhookReceiver"})


__all__ = [
    "DEFAULT_TOLERANCE",
    "MAX_BODY_SIZE",
    "READ_TIMEOUT",
    "SIGNATURE_HEADER",
    "WebhookReceiver",
    "sign",
    "verify",
    "verify_webhook",
]
