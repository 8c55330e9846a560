"""Requests and answers in the API's shapes: JSON bodies, errors, headers."""

from __future__ import annotations

import json
import math
import tempfile
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Tuple

from predictions.testing._api.schema import ValidationError
from predictions.testing._api.schema import error as field_error

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
    """An answer: a JSON payload, raw bytes when `raw` is set, or a stream.

    A stream (`chunks`) is sent piece by piece as the iterator gives them,
    each flushed at once; the answer ends with the iterator.
    """

    status: int
    payload: Any = None
    headers: Dict[str, str] = field(default_factory=dict)
    raw: Optional[bytes] = None
    content_type: str = "application/json"
    chunks: Optional[Iterator[bytes]] = None

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


class Refused(Exception):
    """A request the server cannot serve: answered `error(status, detail)`."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


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


def check_upload_body(
    body: Dict[str, Any], max_size: int
) -> Tuple[int, str, List[ValidationError]]:
    """Check the body of `POST /uploads`: `{"size": int >= 0, "mime_type": str}`.

    Args:
        body: The decoded body.
        max_size: The largest size allowed.

    Returns:
        `(size, mime_type, errors)`; the first two are usable when there
        are no errors.
    """
    errors: List[ValidationError] = []
    size, mime_type = body.get("size"), body.get("mime_type")
    if "size" not in body:
        errors.append(field_error(["body", "size"], "Field required", "missing"))
    elif isinstance(size, bool) or not isinstance(size, int):
        msg = "Input should be a valid integer"
        errors.append(field_error(["body", "size"], msg, "int_type"))
    elif size < 0:
        msg = "Input should be greater than or equal to 0"
        errors.append(field_error(["body", "size"], msg, "greater_than_equal"))
    elif size > max_size:
        msg = f"Input should be less than or equal to {max_size}"
        errors.append(field_error(["body", "size"], msg, "less_than_equal"))
    loc = ["body", "mime_type"]
    if "mime_type" not in body:
        errors.append(field_error(loc, "Field required", "missing"))
    elif not isinstance(mime_type, str):
        errors.append(field_error(loc, "Input should be a valid string", "string_type"))
    elif not mime_type.strip() or any(c in mime_type for c in "\r\n\0"):
        msg = "Input should be a MIME type, such as application/octet-stream"
        errors.append(field_error(loc, msg, "value_error"))
    if errors:
        return 0, "", errors
    return int(size), str(mime_type), errors  # type: ignore[arg-type]


def check_complete_body(
    body: Dict[str, Any],
) -> Tuple[List[str], List[ValidationError]]:
    """Check the body of `POST /uploads/{id}/complete`: `{"etags": [str, ...]}`.

    Returns:
        `(etags, errors)`; the etags are usable when there are no errors.
    """
    etags = body.get("etags")
    loc: List[Any] = ["body", "etags"]
    if "etags" not in body:
        return [], [field_error(loc, "Field required", "missing")]
    if not isinstance(etags, list):
        return [], [field_error(loc, "Input should be a valid list", "list_type")]
    errors = [
        field_error([*loc, index], "Input should be a valid string", "string_type")
        for index, etag in enumerate(etags)
        if not isinstance(etag, str)
    ]
    return list(etags), errors


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
    *,
    otherwise: float = 0.0,
) -> float:
    """Seconds a `Prefer` header asks to wait (other directives ignored).

    A create is held that long; a stream stays open that long without an
    event.

    Args:
        value: The header's value, or None.
        default: What `wait` with no number asks for.
        maximum: The cap on any wait.
        otherwise: What no `wait` directive (or one whose number is not a
            number) gives: 0 (no hold) for a create.

    Returns:
        `wait=N` gives N, `wait` alone gives `default`, both capped at
        `maximum`; else `otherwise`.
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
                return otherwise
            if math.isnan(seconds):
                return otherwise
        return min(max(seconds, 0.0), maximum)
    return otherwise


def wants_wait(value: Optional[str]) -> bool:
    """Whether a `Prefer` header has a `wait` directive (with or without a number)."""
    return any(
        d.split(";", 1)[0].partition("=")[0].strip().lower() == "wait"
        for d in (value or "").split(",")
    )


class DiskStore:
    """A store whose files live in a directory of its own, made by `open`.

    Subclasses set `PREFIX` (the directory's name starts with it) and
    implement `clear` (forget and delete every file).
    """

    PREFIX = "predictions-"
    base_url = ""
    _dir: Optional[tempfile.TemporaryDirectory[str]] = None

    def open(self, base_url: str) -> None:
        """Make the directory; URLs will start with `base_url` (the storage port)."""
        self.base_url = base_url
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix=self.PREFIX)

    def close(self) -> None:
        """Forget every file and remove the directory."""
        self.clear()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def clear(self) -> None:
        """Forget every file and delete it."""
        raise NotImplementedError
