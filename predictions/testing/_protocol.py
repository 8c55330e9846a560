"""Requests and answers in the API's shapes: JSON bodies, errors, headers."""

from __future__ import annotations

import json
import math
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ._schema import ValidationError
from ._schema import error as field_error

INT_PARSING = "Input should be a valid integer, unable to parse string as an integer"

DEFAULT_PREFER_WAIT = 60.0
"""How long `Prefer: wait` with no number holds a create, in seconds (ours)."""

MAX_PREFER_WAIT = 60.0
"""The longest `Prefer: wait=N` the server honours, in seconds (ours)."""

MAX_JSON_DEPTH = 200
"""How deeply arrays and objects may nest in a request body (ours).

Deep enough for any real input, and far enough below Python's recursion limit
(1000) that copying, validating, encoding and signing an accepted body, or a
model's output, never meets it."""


def dumps(value: Any) -> bytes:
    """Encode a value as the server sends JSON: compact, UTF-8, strictly valid.

    Raises:
        ValueError: The value holds NaN or an infinity (not JSON), or a cycle.
        TypeError: The value holds something JSON cannot represent.
    """
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode("utf-8")


def too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether arrays and objects nest more than `limit` levels in a JSON value.

    Walks the value without recursion, so any depth can be measured.
    """
    stack = [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


@dataclass
class Request:
    """A request as the API sees it (header names lower-cased)."""

    method: str
    target: str
    headers: Dict[str, str]
    body: bytes = b""


@dataclass
class Response:
    """An answer: a JSON payload, or raw bytes when `raw` is set."""

    status: int
    payload: Any = None
    headers: Dict[str, str] = field(default_factory=dict)
    raw: Optional[bytes] = None
    content_type: str = "application/json"

    def body(self) -> bytes:
        """The bytes to send."""
        if self.raw is not None:
            return self.raw
        return dumps(self.payload)


def error(
    status: int, detail: Any, headers: Optional[Dict[str, str]] = None
) -> Response:
    """A FastAPI-style error: `{"detail": ...}`."""
    return Response(status, {"detail": detail}, dict(headers or {}))


def invalid(*errors: ValidationError) -> Response:
    """A FastAPI-style 422 with a list of validation errors."""
    return error(422, list(errors))


class BadBody(Exception):
    """The request body cannot be used; `response` says why."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e400: valid JSON, but no JSON can answer it
        raise ValueError(f"{text} is out of range for a number")
    return number


def _json_invalid(loc: List[Any], reason: str) -> BadBody:
    item = field_error(loc, "JSON decode error", "json_invalid")
    item["ctx"] = {"error": reason}
    return BadBody(invalid(item))


def json_body(request: Request) -> Dict[str, Any]:
    """Decode a request's body as a JSON object.

    A missing `Content-Type` is read as JSON (as FastAPI does); another media
    type than `application/json` or `*+json` is refused with 415. NaN, the
    infinities and numbers too large for a float (`1e400`) are refused, and so
    is nesting deeper than `MAX_JSON_DEPTH`.

    Raises:
        BadBody: With a 422 (missing, malformed, not an object) or a 415.
    """
    if not request.body.strip():
        raise BadBody(invalid(field_error(["body"], "Field required", "missing")))
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type and media_type != "application/json" and "+json" not in media_type:
        detail = f"Unsupported Media Type: send application/json, not {media_type}"
        raise BadBody(error(415, detail))
    too_deep_reason = f"Arrays and objects nest deeper than {MAX_JSON_DEPTH} levels"
    try:
        body = json.loads(
            request.body.decode("utf-8"),
            parse_constant=_reject_constant,
            parse_float=_finite_float,
        )
    except RecursionError:
        raise _json_invalid(["body"], too_deep_reason) from None
    except (ValueError, UnicodeDecodeError) as exc:
        position = int(getattr(exc, "pos", None) or getattr(exc, "start", 0) or 0)
        reason = getattr(exc, "msg", None) or getattr(exc, "reason", None) or str(exc)
        raise _json_invalid(["body", position], str(reason)) from None
    if not isinstance(body, dict):
        msg = "Input should be a valid dictionary"
        raise BadBody(invalid(field_error(["body"], msg, "model_attributes_type")))
    if too_deep(body):
        raise _json_invalid(["body"], too_deep_reason)
    return body


@dataclass
class CreateBody:
    """What a create body asks for, besides the model and the input."""

    webhook: Optional[Dict[str, Any]] = None
    """`{"url", "secret"}`, or None."""
    stream: bool = False
    """Whether the prediction's events may be streamed."""
    errors: List[ValidationError] = field(default_factory=list)
    """Validation errors; the body is usable when there are none."""


def check_create_body(body: Dict[str, Any]) -> CreateBody:
    """Check a create body's `input`, `webhook` and `stream`.

    `stream` may be left out (false); when given it must be a JSON boolean.

    Returns:
        The webhook, the stream flag and the validation errors.
    """
    checked = CreateBody()
    errors = checked.errors
    if "input" not in body:
        errors.append(field_error(["body", "input"], "Field required", "missing"))
    stream = body.get("stream", False)
    if isinstance(stream, bool):
        checked.stream = stream
    else:
        msg = "Input should be a valid boolean"
        errors.append(field_error(["body", "stream"], msg, "bool_type"))
    webhook = body.get("webhook")
    if webhook is None:
        return checked
    loc = ["body", "webhook"]
    if not isinstance(webhook, dict):
        msg = "Input should be a valid dictionary"
        errors.append(field_error(loc, msg, "dict_type"))
        return checked
    url, secret = webhook.get("url"), webhook.get("secret")
    if "url" not in webhook:
        errors.append(field_error([*loc, "url"], "Field required", "missing"))
    elif not isinstance(url, str):
        msg = "Input should be a valid string"
        errors.append(field_error([*loc, "url"], msg, "string_type"))
    else:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            msg = "Input should be a valid URL with an http or https scheme"
            errors.append(field_error([*loc, "url"], msg, "url_parsing"))
    if secret is not None and not isinstance(secret, str):
        msg = "Input should be a valid string"
        errors.append(field_error([*loc, "secret"], msg, "string_type"))
    checked.webhook = {"url": url, "secret": secret}
    return checked


def bearer_token(header: Optional[str]) -> Optional[str]:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    scheme, _, credentials = (header or "").strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() != "bearer" or not credentials:
        return None
    return credentials


def header_true(value: Optional[str]) -> bool:
    """Whether a boolean header (`Validate-Input`) says true."""
    return (value or "").strip().lower() in ("true", "1")


def prefer_wait(
    value: Optional[str],
    default: float = DEFAULT_PREFER_WAIT,
    maximum: float = MAX_PREFER_WAIT,
) -> float:
    """Seconds a `Prefer` header asks a create to be held (other directives ignored).

    Args:
        value: The header's value, or None.
        default: What `wait` with no number asks for.
        maximum: The cap on any hold.

    Returns:
        `wait=N` gives N, `wait` alone gives `default`, both capped at
        `maximum`; no `wait` directive, or one whose number is not a number,
        gives 0 (no hold).
    """
    for directive in (value or "").split(","):
        key, equals, number = directive.split(";", 1)[0].partition("=")
        if key.strip().lower() != "wait":
            continue
        if not equals:
            seconds = default
        else:
            try:
                seconds = float(number.strip().strip('"'))
            except ValueError:
                return 0.0
            if math.isnan(seconds):
                return 0.0
        return min(max(seconds, 0.0), maximum)
    return 0.0
