"""A create: its checks, its idempotency, then a hold or an event stream.

Both create routes end here. The answer is the new prediction (202 while it
runs, 201 once it has ended, after a hold when `Prefer: wait` asks for one);
or, for `"stream": true` with `Prefer: wait[=N]`, its event stream from the
first event (201, `Location` set, N the stream's idle limit).
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from typing import Any, Callable, Dict, List, Optional

from predictions.testing._api import schema as _schema
from predictions.testing._api.events import (
    DEFAULT_STREAMS,
    StreamSettings,
    stream_response,
)
from predictions.testing._api.protocol import (
    DEFAULT_PREFER_WAIT,
    INT_PARSING,
    MAX_PREFER_WAIT,
    Request,
    Response,
    check_create_body,
    error,
    header_true,
    invalid,
    json_body,
    prefer_wait,
    wants_wait,
)
from predictions.testing._api.store import TERMINAL, IdempotencyConflict, Store
from predictions.testing._models.registry import ModelRegistry, split_ref
from predictions.testing._models.runner import Runner


class Creator:
    """Creates predictions for the API."""

    def __init__(
        self,
        store: Store,
        runner: Runner,
        registry: ModelRegistry,
        base_url: Callable[[], str],
        *,
        prefer_wait_default: float = DEFAULT_PREFER_WAIT,
        prefer_wait_max: float = MAX_PREFER_WAIT,
        streams: StreamSettings = DEFAULT_STREAMS,
    ) -> None:
        """Wire the creates.

        Args:
            store: The predictions.
            runner: Runs new predictions.
            registry: The models.
            base_url: Gives the server's base URL (for `Location` headers).
            prefer_wait_default: Seconds `Prefer: wait` (no number) holds a create.
            prefer_wait_max: The longest hold `Prefer: wait=N` gets.
            streams: Idle limits and heartbeats of event streams.
        """
        self.store = store
        self.runner = runner
        self.registry = registry
        self.base_url = base_url
        self.prefer_wait_default = prefer_wait_default
        self.prefer_wait_max = prefer_wait_max
        self.streams = streams

    def _closed(self) -> bool:
        return self.store.closed

    def on_model(self, request: Request, params: List[str]) -> Response:
        """`POST /models/{owner}/{name}[/versions/{number}]/predictions`."""
        owner, name = params[0], params[1]
        version: Optional[int] = None
        if len(params) == 3:
            if not (params[2].isdigit() and params[2].isascii()):
                msg = INT_PARSING
                return invalid(_schema.error(["path", "number"], msg, "int_parsing"))
            version = int(params[2])
        return self._create(request, json_body(request), owner, name, version)

    def from_body(self, request: Request, params: List[str]) -> Response:
        """`POST /predictions`, the model in the body."""
        body = json_body(request)
        ref = body.get("model")
        if "model" not in body:
            return invalid(
                _schema.error(["body", "model"], "Field required", "missing")
            )
        if not isinstance(ref, str):
            return invalid(
                _schema.error(
                    ["body", "model"], "Input should be a valid string", "string_type"
                )
            )
        try:
            owner, name, version = split_ref(ref)
        except ValueError as exc:
            return invalid(_schema.error(["body", "model"], str(exc), "value_error"))
        return self._create(request, body, owner, name, version)

    def _create(
        self,
        request: Request,
        body: Dict[str, Any],
        owner: str,
        name: str,
        version: Optional[int],
    ) -> Response:
        checked = check_create_body(body)
        if checked.errors:
            return invalid(*checked.errors)
        webhook = checked.webhook
        model = self.registry.find(owner, name, version)
        if model is None:
            known = self.registry.find(owner, name) is not None
            return error(404, "Model version not found" if known else "Model not found")
        if (
            header_true(request.headers.get("validate-input"))
            and model.input_schema is not None
        ):
            errors = _schema.validate(
                body["input"], model.input_schema, ["body", "input"]
            )
            if errors:
                return invalid(*errors)
        key = request.headers.get("idempotency-key")
        idempotency = None
        if key:
            # What the request asks for, not how it is spelled: both create
            # paths, `owner/name` and `owner/name:N` of the same version, and
            # key order in the input give the same fingerprint.
            canonical = json.dumps(
                [
                    model.owner,
                    model.name,
                    model.number,
                    body["input"],
                    webhook,
                    checked.stream,
                ],
                sort_keys=True,
                separators=(",", ":"),
            )
            idempotency = (key, hashlib.sha256(canonical.encode("utf-8")).hexdigest())
        try:
            record, created = self.store.create(
                model, body["input"], webhook, idempotency, checked.stream
            )
        except IdempotencyConflict:
            return error(
                409, "Idempotency-Key was already used with a different request"
            )
        # Taken before the runner starts it: without Prefer: wait, a new
        # prediction is always answered pending.
        prediction = self.store.get(record.id)
        if created:
            self.runner.submit(record)
        location = "{}/predictions/{}".format(
            self.base_url(), urllib.parse.quote(record.id, safe="")
        )
        headers = {"Location": location}
        if not created:
            headers["Idempotent-Replayed"] = "true"
        prefer = request.headers.get("prefer")
        events = record.events
        if checked.stream and events is not None and wants_wait(prefer):
            # The create's own answer is the event stream, from its start.
            return stream_response(
                201, events, 0, prefer, self.streams, self._closed, headers
            )
        wait = prefer_wait(prefer, self.prefer_wait_default, self.prefer_wait_max)
        if wait:
            prediction = self.store.wait(record.id, wait)
        if prediction is None:  # cleared by a reset meanwhile
            return error(404, "Prediction not found")
        # 201 once the prediction has ended, 202 while it is still on its way.
        return Response(
            201 if prediction["status"] in TERMINAL else 202, prediction, headers
        )
