"""Receiving WriftAI webhooks with Flask: verify the raw body, then parse it.

    WEBHOOK_SECRET=... flask --app examples/webhooks/flask_receiver.py run

The signature covers the body's exact bytes: read them with
`request.get_data()` before anything parses them. `request.json` re-encoded
would not match (keys and spaces change), and would be refused.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Dict, Optional, Tuple

from flask import Flask, request

from predictions import WebhookVerificationError, verify_webhook
from predictions.webhooks import SIGNATURE_HEADER


def create_app(
    secret: Optional[str] = None,
    on_prediction: Optional[Callable[[Dict[str, Any]], None]] = None,
) -> Flask:
    """A Flask app with one route, POST /webhooks/wriftai."""
    app = Flask(__name__)
    key = secret or os.environ["WEBHOOK_SECRET"]

    @app.post("/webhooks/wriftai")
    def wriftai_webhook() -> Tuple[Dict[str, Any], int]:
        body = request.get_data()  # the raw bytes, exactly as sent
        try:
            verify_webhook(body, request.headers.get(SIGNATURE_HEADER, ""), key)
        except WebhookVerificationError as exc:
            return {"detail": str(exc)}, 400
        prediction = json.loads(body)
        if on_prediction is not None:
            on_prediction(prediction)
        return {"received": prediction["id"]}, 200

    return app
