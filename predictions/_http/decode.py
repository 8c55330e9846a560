"""Decoding answers: JSON for a success, else a typed error with a readable message.

Whatever the body (FastAPI's `detail`, an HTML page from a proxy, nothing at
all, JSON nested past what the parser can take, a prediction without an id),
an error status gives an `APIStatusError` subclass and a success that is not
what the API promises gives an `InvalidResponseError`: never a decoding error,
a `KeyError` or a `RecursionError`.
"""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional

import requests

from predictions.errors import APIStatusError, InvalidResponseError, error_class_for
from predictions.types import JsonValue

_EXCERPT = 200


def decode_json(response: requests.Response) -> JsonValue:
    """Decode a JSON answer, or raise the typed error for its status.

    Returns:
        The decoded JSON (None for an empty 204).

    Raises:
        APIStatusError: The status is 400 or above.
        InvalidResponseError: The body is not JSON.
    """
    if response.status_code >= 400:
        raise _status_error(response)
    if response.status_code == 204 and not response.content:
        return None
    try:
        data: JsonValue = json.loads(response.content)
    except (ValueError, RecursionError) as exc:
        reason = "nested too deep" if isinstance(exc, RecursionError) else "not JSON"
        raise InvalidResponseError(
            f"the API answered {response.status_code} with a body that is {reason}: "
            f"{excerpt(response.text) or '(empty)'!r}",
            response=response,
        ) from None
    return data


def decode_object(response: requests.Response) -> Dict[str, Any]:
    """Decode an answer that must be a JSON object."""
    data = decode_json(response)
    if not isinstance(data, dict):
        raise malformed(response, "JSON that is not an object")
    return data


def decode_prediction(response: requests.Response) -> Dict[str, Any]:
    """Decode an answer that must be a prediction: an object with an id and a status."""
    return check_prediction(decode_object(response), response)


def decode_page(response: requests.Response) -> Dict[str, Any]:
    """Decode a page: a list of predictions and cursors that are strings or null."""
    page = decode_object(response)
    items = page.get("items")
    if not isinstance(items, list):
        raise malformed(response, "a page without a list of items")
    for item in items:
        if not isinstance(item, dict):
            raise malformed(response, f"a page item that is not an object: {item!r}")
        check_prediction(item, response)
    for key in ("next_cursor", "previous_cursor", "next_url", "previous_url"):
        value = page.get(key)
        if value is not None and not isinstance(value, str):
            raise malformed(response, f"a page whose {key} is not a string: {value!r}")
    return page


def decode_nothing(response: requests.Response) -> None:
    """Decode an answer whose body is not needed (cancel answers `null`)."""
    if response.status_code >= 400:
        raise _status_error(response)


def check_prediction(
    data: Dict[str, Any], response: Optional[requests.Response]
) -> Dict[str, Any]:
    """Refuse a prediction without a string `id` and a string `status`.

    Args:
        data: The decoded prediction.
        response: The answer it came in, for the error (None if it came in
            another way, such as an event).

    Returns:
        The same prediction.

    Raises:
        InvalidResponseError: It lacks either, or has one of another type.
    """
    for key in ("id", "status"):
        value = data.get(key)
        if not isinstance(value, str) or not value:
            raise malformed(
                response, f"a prediction whose {key} is not a string: {value!r}"
            )
    return data


def malformed(
    response: Optional[requests.Response], what: str, who: str = "the API"
) -> InvalidResponseError:
    """The error for an answer that is not what the API promises.

    Args:
        response: The answer, if there is one.
        what: What it held instead ("JSON that is not an object").
        who: Who answered (the API, or the storage of an upload's parts).
    """
    where = "" if response is None else f" answered {response.status_code} with"
    return InvalidResponseError(f"{who}{where} {excerpt(what)}", response=response)


def _status_error(response: requests.Response) -> APIStatusError:
    """Build the typed error of an error answer, whatever its body."""
    detail: Any = None
    try:
        body = json.loads(response.content)
    except (ValueError, RecursionError):
        message = excerpt(_strip_tags(response.text))
    else:
        if isinstance(body, dict) and "detail" in body:
            detail = body["detail"]
            message = _render_detail(detail)
        else:
            message = excerpt(response.text)
    return error_class_for(response.status_code)(
        message, response=response, detail=detail
    )


def _render_detail(detail: Any) -> str:
    """Render FastAPI's `detail`: a string, or a list of {loc, msg, type}."""
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        return "; ".join(_render_item(item) for item in detail)
    return excerpt(repr(detail)) if _shallow(detail) else "(a detail nested too deep)"


def _shallow(value: Any, depth: int = 20) -> bool:
    """Whether a decoded value nests at most `depth` deep (safe to render)."""
    if depth == 0:
        return False
    if isinstance(value, dict):
        return all(_shallow(v, depth - 1) for v in value.values())
    if isinstance(value, list):
        return all(_shallow(v, depth - 1) for v in value)
    return True


def _render_item(item: Any) -> str:
    if not isinstance(item, dict) or not _shallow(item):
        return excerpt(repr(item)) if _shallow(item) else "(nested too deep)"
    loc = item.get("loc")
    where = ".".join(str(part) for part in loc) if isinstance(loc, list) else ""
    msg = str(item.get("msg", item))
    return f"{where}: {msg}" if where else msg


_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


def _strip_tags(text: str) -> str:
    return _TAG.sub(" ", text)


def excerpt(text: str) -> str:
    """The text on one line, cut to a readable length."""
    text = _SPACE.sub(" ", text).strip()
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 1] + "…"


__all__: List[str] = [
    "check_prediction",
    "decode_json",
    "decode_nothing",
    "decode_object",
    "decode_page",
    "decode_prediction",
    "excerpt",
    "malformed",
]
