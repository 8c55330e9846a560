"""The API itself, apart from sockets: routes, checks, answers.

`App.match` names the route of a request line (the HTTP layer needs the name
before it reads the body, to pick a fault); `App.handle` answers it.
"""

from __future__ import annotations

import hmac
import urllib.parse
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

from predictions.testing._api import schema as _schema
from predictions.testing._api.creating import Creator
from predictions.testing._api.events import stream_response
from predictions.testing._api.pages import parse_list_query
from predictions.testing._api.protocol import (
    INT_PARSING,
    BadBody,
    Request,
    Response,
    bearer_token,
    check_complete_body,
    check_upload_body,
    error,
    invalid,
    json_body,
)
from predictions.testing._api.ratelimit import RateLimiter
from predictions.testing._api.store import NotCancellable
from predictions.testing._api.uploads import UploadRefused, Uploads

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
        creator: Creator,
        limiter: RateLimiter,
        token: Optional[str] = None,
        *,
        cancel_delay: float = CANCEL_DELAY,
        uploads: Uploads,
    ) -> None:
        """Wire the API.

        Args:
            creator: Creates predictions; its store, runner (which also stops
                cancelled predictions) and stream settings serve every route.
            limiter: Rate limits and their headers.
            token: The bearer token every request must carry; None for none.
            cancel_delay: Seconds after a cancel's answer that it takes effect.
            uploads: Where uploads go.
        """
        self.creator = creator
        self.store = creator.store
        self.runner = creator.runner
        self.streams = creator.streams
        self.limiter = limiter
        self.token = token
        self.cancel_delay = cancel_delay
        self.uploads = uploads

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
                {"POST": ("create", "create", self.creator.on_model)},
                seg[1:3],
            ),
            (
                len(seg) == 6
                and seg[0] == "models"
                and seg[3] == "versions"
                and seg[5] == "predictions",
                {"POST": ("create", "create", self.creator.on_model)},
                seg[1:3] + seg[4:5],
            ),
            (
                seg == ["predictions"],
                {
                    "GET": ("list", "read", self._list),
                    "POST": ("create", "create", self.creator.from_body),
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
            (
                len(seg) == 3 and seg[0] == "predictions" and seg[2] == "stream",
                {"GET": ("stream", "read", self._stream)},
                seg[1:2],
            ),
            (
                seg == ["uploads"],
                {"POST": ("upload", "create", self._create_upload)},
                [],
            ),
            (
                len(seg) == 3 and seg[0] == "uploads" and seg[2] == "complete",
                {"POST": ("complete", "read", self._complete_upload)},
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

    def _stream(self, request: Request, params: List[str]) -> Response:
        after = _after_id(request.target)
        if after is None:
            msg = INT_PARSING
            return invalid(_schema.error(["query", "after_id"], msg, "int_parsing"))
        record, events = self.store.events(params[0])
        if record is None:
            return error(404, "Prediction not found")
        if events is None:
            if record.stream:
                return error(409, "The prediction's events have expired")
            return error(409, "Prediction was not created with stream: true")
        prefer = request.headers.get("prefer")
        return stream_response(
            200, events, after, prefer, self.streams, lambda: self.store.closed
        )

    # ---- uploads ------------------------------------------------------------

    def _create_upload(self, request: Request, params: List[str]) -> Response:
        size, mime_type, errors = check_upload_body(
            json_body(request), self.uploads.max_size
        )
        if errors:
            return invalid(*errors)
        return Response(201, self.uploads.create(size, mime_type))

    def _complete_upload(self, request: Request, params: List[str]) -> Response:
        etags, errors = check_complete_body(json_body(request))
        if errors:
            return invalid(*errors)
        try:
            url = self.uploads.complete(params[0], etags)
        except UploadRefused as exc:
            return error(exc.status, exc.detail)
        return Response(200, {"download_url": url})


def _after_id(target: str) -> Optional[int]:
    """The `after_id` of a stream's query: 0 when absent, None when not a number."""
    query = urllib.parse.urlsplit(target).query
    values = urllib.parse.parse_qs(query, keep_blank_values=True).get("after_id")
    if not values:
        return 0
    text = values[-1].strip()
    if not (text.isdigit() and text.isascii()):
        return None
    # int() refuses over 4300 digits; an id that long is past every event.
    digits = text.lstrip("0") or "0"
    return int(digits) if len(digits) <= 18 else 10**18
