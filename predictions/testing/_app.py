"""The API itself, apart from sockets: routes, checks, answers.

`App.match` names the route of a request line (the HTTP layer needs the name
before it reads the body, to pick a fault); `App.handle` answers it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import _schema
from ._models import ModelRegistry, split_ref
from ._pages import parse_list_query
from ._protocol import (
    DEFAULT_PREFER_WAIT,
    INT_PARSING,
    MAX_PREFER_WAIT,
    BadBody,
    Request,
    Response,
    bearer_token,
    check_create_body,
    error,
    header_true,
    invalid,
    json_body,
    prefer_wait,
)
from ._ratelimit import RateLimiter
from ._runner import Runner
from ._store import TERMINAL, IdempotencyConflict, NotCancellable, Store

CANCEL_DELAY = 0.05
"""Seconds between a cancel's answer and its effect (ours: short, observable)."""

Action = Callable[[Request, List[str]], Response]


@dataclass
class Route:
    """What `App.match` found: the route's name, or the error to answer."""

    name: Optional[str]
    rate_kind: str = "read"
    action: Optional[Action] = None
    params: List[str] = field(default_factory=list)
    error: Optional[Response] = None


class App:
    """The WriftAI predictions API over a store, a runner and a model registry."""

    def __init__(
        self,
        store: Store,
        runner: Runner,
        registry: ModelRegistry,
        limiter: RateLimiter,
        base_url: Callable[[], str],
        token: Optional[str] = None,
        *,
        prefer_wait_default: float = DEFAULT_PREFER_WAIT,
        prefer_wait_max: float = MAX_PREFER_WAIT,
        cancel_delay: float = CANCEL_DELAY,
    ) -> None:
        """Wire the API.

        Args:
            store: The predictions.
            runner: Runs new predictions, stops cancelled ones.
            registry: The models.
            limiter: Rate limits and their headers.
            base_url: Gives the server's base URL (for `Location` headers).
            token: The bearer token every request must carry; None for none.
            prefer_wait_default: Seconds `Prefer: wait` (no number) holds a create.
            prefer_wait_max: The longest hold `Prefer: wait=N` gets.
            cancel_delay: Seconds after a cancel's answer that it takes effect.
        """
        self.store = store
        self.runner = runner
        self.registry = registry
        self.limiter = limiter
        self.base_url = base_url
        self.token = token
        self.prefer_wait_default = prefer_wait_default
        self.prefer_wait_max = prefer_wait_max
        self.cancel_delay = cancel_delay

    # ---- routing ------------------------------------------------------------

    def match(self, method: str, target: str) -> Route:
        """Find the route of a request line.

        Args:
            method: The HTTP method.
            target: The request target (path and query).

        Returns:
            The route; its `error` is set for an unknown path (404) or a
            method the path does not take (405).
        """
        path = target.split("?", 1)[0]
        parts = path.split("/")
        if len(parts) < 3 or parts[0] != "" or parts[1] != "v1":
            return Route(None, error=error(404, "Not Found"))
        # Split first, then decode each segment once: "a%2Fb" stays one segment.
        seg = [urllib.parse.unquote(p, errors="replace") for p in parts[2:]]
        table: List[Tuple[bool, Dict[str, Tuple[str, str, Action]], List[str]]] = [
            (
                len(seg) == 4 and seg[0] == "models" and seg[3] == "predictions",
                {"POST": ("create", "create", self._create_on_model)},
                seg[1:3],
            ),
            (
                len(seg) == 6
                and seg[0] == "models"
                and seg[3] == "versions"
                and seg[5] == "predictions",
                {"POST": ("create", "create", self._create_on_model)},
                seg[1:3] + seg[4:5],
            ),
            (
                seg == ["predictions"],
                {
                    "GET": ("list", "read", self._list),
                    "POST": ("create", "create", self._create_from_body),
                },
                [],
            ),
            (
                len(seg) == 2 and seg[0] == "predictions",
                {"GET": ("get", "read", self._get)},
                seg[1:],
            ),
            (
                len(seg) == 3 and seg[0] == "predictions" and seg[2] == "cancel",
                {"POST": ("cancel", "read", self._cancel)},
                seg[1:2],
            ),
        ]
        for matched, methods, params in table:
            if not matched:
                continue
            if method not in methods:
                allow = ", ".join(sorted(methods))
                return Route(
                    None, error=error(405, "Method Not Allowed", {"Allow": allow})
                )
            name, rate_kind, action = methods[method]
            return Route(name, rate_kind, action, params)
        return Route(None, error=error(404, "Not Found"))

    def handle(self, route: Route, request: Request) -> Response:
        """Answer a request on a matched route: auth, rate limit, then the action.

        Args:
            route: From `match`.
            request: The whole request.

        Returns:
            The answer, with the rate-limit headers.
        """
        header = request.headers.get("authorization")
        denied = self._check_token(header)
        # Rate limits are per token: a token the server refuses gets none.
        caller = None if denied is not None else bearer_token(header)
        if route.error is not None or route.action is None:
            response = route.error or error(404, "Not Found")
            response.headers.update(self.limiter.headers(route.rate_kind, caller))
            return response
        if denied is not None:
            denied.headers.update(self.limiter.headers(route.rate_kind))
            return denied
        allowed, limit_headers = self.limiter.take(route.rate_kind, caller)
        if not allowed:
            return error(429, "Rate limit exceeded", limit_headers)
        try:
            response = route.action(request, route.params)
        except BadBody as bad:
            response = bad.response
        response.headers.update(limit_headers)
        return response

    def _check_token(self, header: Optional[str]) -> Optional[Response]:
        if self.token is None:
            return None
        challenge = {"WWW-Authenticate": "Bearer"}
        credentials = bearer_token(header)
        if credentials is None:
            return error(
                401, "Not authenticated: send Authorization: Bearer <token>", challenge
            )
        if not hmac.compare_digest(
            credentials.encode("utf-8"), self.token.encode("utf-8")
        ):
            return error(401, "Invalid access token", challenge)
        return None

    # ---- reads --------------------------------------------------------------

    def _get(self, request: Request, params: List[str]) -> Response:
        prediction = self.store.get(params[0])
        if prediction is None:
            return error(404, "Prediction not found")
        return Response(200, prediction)

    def _list(self, request: Request, params: List[str]) -> Response:
        query, errors = parse_list_query(request.target)
        if errors:
            return invalid(*errors)
        return Response(200, self.store.page(query))

    # ---- writes -------------------------------------------------------------

    def _cancel(self, request: Request, params: List[str]) -> Response:
        try:
            pending = self.store.request_cancel(params[0])
        except NotCancellable as exc:
            return error(409, f"Prediction already {exc}; it cannot be cancelled")
        if pending is None:
            return error(404, "Prediction not found")
        if pending:
            self.runner.cancel(params[0], self.cancel_delay)
        # Asynchronous, as the hosted API: `null` now, `cancelled` a moment later.
        return Response(200, None)

    def _create_on_model(self, request: Request, params: List[str]) -> Response:
        owner, name = params[0], params[1]
        version: Optional[int] = None
        if len(params) == 3:
            if not (params[2].isdigit() and params[2].isascii()):
                msg = INT_PARSING
                return invalid(_schema.error(["path", "number"], msg, "int_parsing"))
            version = int(params[2])
        return self._create(request, json_body(request), owner, name, version)

    def _create_from_body(self, request: Request, params: List[str]) -> Response:
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
        wait = prefer_wait(
            request.headers.get("prefer"),
            self.prefer_wait_default,
            self.prefer_wait_max,
        )
        if wait:
            prediction = self.store.wait(record.id, wait)
        if prediction is None:  # cleared by a reset meanwhile
            return error(404, "Prediction not found")
        location = "{}/predictions/{}".format(
            self.base_url(), urllib.parse.quote(record.id, safe="")
        )
        headers = {"Location": location}
        if not created:
            headers["Idempotent-Replayed"] = "true"
        # 201 once the prediction has ended, 202 while it is still on its way.
        return Response(
            201 if prediction["status"] in TERMINAL else 202, prediction, headers
        )
