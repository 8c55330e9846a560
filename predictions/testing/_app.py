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
from ._protocol import (
    INT_PARSING,
    BadBody,
    Request,
    Response,
    check_create_body,
    error,
    header_true,
    invalid,
    json_body,
    prefer_wait,
)
from ._ratelimit import RateLimiter
from ._runner import Runner
from ._store import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    TERMINAL,
    IdempotencyConflict,
    NotCancellable,
    Store,
)

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
        token: Optional[str] = None,
    ) -> None:
        """Wire the API.

        Args:
            store: The predictions.
            runner: Runs new predictions, stops cancelled ones.
            registry: The models.
            limiter: Rate limits and their headers.
            token: The bearer token every request must carry; None for none.
        """
        self.store = store
        self.runner = runner
        self.registry = registry
        self.limiter = limiter
        self.token = token

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
        if route.error is not None or route.action is None:
            response = route.error or error(404, "Not Found")
            response.headers.update(self.limiter.headers(route.rate_kind))
            return response
        denied = self._check_token(request.headers.get("authorization"))
        if denied is not None:
            denied.headers.update(self.limiter.headers(route.rate_kind))
            return denied
        allowed, limit_headers = self.limiter.take(route.rate_kind)
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
        scheme, _, credentials = (header or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            return error(
                401, "Not authenticated: send Authorization: Bearer <token>", challenge
            )
        if not hmac.compare_digest(
            credentials.strip().encode("utf-8"), self.token.encode("utf-8")
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
        query = urllib.parse.parse_qs(
            urllib.parse.urlsplit(request.target).query, keep_blank_values=True
        )
        cursor = (query.get("cursor") or [""])[-1] or None
        sizes = query.get("page_size")
        raw_size = sizes[-1] if sizes else None
        page_size = DEFAULT_PAGE_SIZE
        if raw_size is not None:
            loc = ["query", "page_size"]
            try:
                page_size = int(raw_size.strip())
            except ValueError:
                msg = INT_PARSING
                return invalid(_schema.error(loc, msg, "int_parsing"))
            if page_size < 1:
                return invalid(
                    _schema.error(
                        loc,
                        "Input should be greater than or equal to 1",
                        "greater_than_equal",
                    )
                )
            if page_size > MAX_PAGE_SIZE:
                msg = f"Input should be less than or equal to {MAX_PAGE_SIZE}"
                return invalid(_schema.error(loc, msg, "less_than_equal"))
        try:
            return Response(200, self.store.page(cursor, page_size))
        except ValueError:
            return invalid(
                _schema.error(["query", "cursor"], "Invalid cursor", "value_error")
            )

    # ---- writes -------------------------------------------------------------

    def _cancel(self, request: Request, params: List[str]) -> Response:
        try:
            found = self.store.cancel(params[0])
        except NotCancellable as exc:
            return error(409, f"Prediction already {exc}; it cannot be cancelled")
        if found is None:
            return error(404, "Prediction not found")
        record, was_running = found
        if was_running:
            self.runner.cancel(record.id)
        return Response(200, self.store.get(record.id))

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
        webhook, errors = check_create_body(body)
        if errors:
            return invalid(*errors)
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
                [model.owner, model.name, model.number, body["input"], webhook],
                sort_keys=True,
                separators=(",", ":"),
            )
            idempotency = (key, hashlib.sha256(canonical.encode("utf-8")).hexdigest())
        try:
            record, created = self.store.create(
                model, body["input"], webhook, idempotency
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
        wait = prefer_wait(request.headers.get("prefer"))
        if wait:
            prediction = self.store.wait(record.id, wait)
        if prediction is None:  # cleared by a reset meanwhile
            return error(404, "Prediction not found")
        headers = {"Location": prediction["url"]}
        if not created:
            headers["Idempotent-Replayed"] = "true"
        # 201 once the prediction has ended, 202 while it is still on its way.
        return Response(
            201 if prediction["status"] in TERMINAL else 202, prediction, headers
        )
