"""Decoding answers: JSON for a success, else a typed error with a readable message.

Whatever the body (FastAPI's `detail`, an HTML page from a proxy, nothing at
all), an error status gives an `APIStatusError` subclass and a success that is
not JSON gives an `InvalidResponseError`, never a JSON decoding error.
"""

from __future__ import annotations

import json
import re
from typing import Any

import requests

from predictions.errors import APIStatusError, InvalidResponseError, error_class_for
from predictions.types import JsonValue

_EXCERPT = 200


def decode(response: requests.Response, expect_object: bool) -> JsonValue:
    """Decode a JSON answer, or raise the typed error for its status."""
    if response.status_code >= 400:
        raise _status_error(response)
    if response.status_code == 204 and not expect_object:
        return None
    try:
        data: JsonValue = json.loads(response.content)
    except ValueError:
        raise InvalidResponseError(
            f"the API answered {response.status_code} with a body that is not "
            f"JSON: {excerpt(response.text) or '(empty)'!r}",
            response=response,
        ) from None
    if expect_object and not isinstance(data, dict):
        raise InvalidResponseError(
            f"the API answered {response.status_code} with JSON that is not an "
            f"object: {excerpt(response.text)!r}",
            response=response,
        )
    return data


def _status_error(response: requests.Response) -> APIStatusError:
    """Build the typed error of an error answer, whatever its body."""
    detail: Any = None
    try:
        body = json.loads(response.content)
    except ValueError:
        message = excerpt(_strip_tags(response.text))
    else:
        if isinstance(body, dict) and "detail" in body:
            detail = body["detail"]
            message = _render_detail(detail)
        else:
            message = excerpt(json.dumps(body))
    return error_class_for(response.status_code)(
        message, response=response, detail=detail
    )


def _render_detail(detail: Any) -> str:
    """Render FastAPI's `detail`: a string, or a list of {loc, msg, type}."""
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        return "; ".join(_render_item(item) for item in detail)
    return excerpt(json.dumps(detail))


def _render_item(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    loc = item.get("loc")
    where = ".".join(str(part) for part in loc) if isinstance(loc, list) else ""
    msg = str(item.get("msg", item))
    return f"{where}: {msg}" if where else msg


_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


def _strip_tags(text: str) -> str:
    return _TAG.sub(" ", text)


def excerpt(text: str) -> str:
    text = _SPACE.sub(" ", text).strip()
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 1] + "…"


__all__ = ["decode", "excerpt"]
