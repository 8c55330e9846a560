"""Receiving WriftAI webhooks with FastAPI: verify the raw body, then parse it.

    WEBHOOK_SECRET=... uvicorn examples.webhooks.fastapi_receiver:app

Take the `Request` and `await request.body()`: a pydantic model parameter would
hand over a parsed and re-encoded body, which no longer matches its
signature and would be refused.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Dict, Optional

from fastapi import FastAPI, HTTPException, Request

from predictions import WebhookVerificationError, verify_webhook
from predictions.webhooks import SIGNATURE_HEADER


def create_app(
    secret: Optional[str] = None,
    on_prediction: Optional[Callable[[Dict[str, Any]], None]] = None,
) -> FastAPI:
    """A FastAPI app with one route, POST /webhooks/wriftai."""
    app = FastAPI()
    key = secret or os.environ["WEBHOOK_SECRET"]

    @app.post("/webhooks/wriftai")
    async def wriftai_webhook(request: Request) -> Dict[str, Any]:
        body = await request.body()  # the raw bytes, exactly as sent
        try:
            verify_webhook(body, request.headers.get(SIGNATURE_HEADER, ""), key)
        except WebhookVerificationError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        prediction = json.loads(body)
        if on_prediction is not None:
            on_prediction(prediction)
        return {"received": prediction["id"]}

    return app
