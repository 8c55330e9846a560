"""Helpers for the output-file tests: a model that saves given bytes, and runs."""

from __future__ import annotations

import urllib.parse
from typing import Any, Dict

import requests

from predictions.testing import LocalServer, PredictionContext

from .helpers import create

DATA = bytes(range(256)) * 400
"""What `test/save` saves unless told otherwise: 102,400 bytes, none alike nearby."""


def save(input: Dict[str, Any], ctx: PredictionContext) -> Dict[str, str]:
    """`test/save`: saves `DATA` (or `input["text"]` in UTF-8) as one file."""
    text = input.get("text")
    content = DATA if text is None else text.encode("utf-8")
    name = input.get("name", "data.bin")
    mime_type = input.get("mime_type", "application/octet-stream")
    return {"file": ctx.save_file(content, name=name, mime_type=mime_type)}


MODELS = {"test/save": save}
"""The models to give `LocalServer(models=...)`."""


def run(
    session: requests.Session, server: LocalServer, model: str, input: Any
) -> Dict[str, Any]:
    """Run a model to its end (`Prefer: wait`); the prediction, which must succeed."""
    response = create(session, server, model, input, Prefer="wait")
    assert response.status_code == 201, response.text
    prediction: Dict[str, Any] = response.json()
    assert prediction["status"] == "succeeded", prediction.get("error")
    return prediction


def saved_url(session: requests.Session, server: LocalServer, **input: Any) -> str:
    """The URL of a file `test/save` saved."""
    url: str = run(session, server, "test/save", input)["output"]["file"]
    return url


def with_query(url: str, **changes: str) -> str:
    """The URL with query values changed (or added)."""
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    query.update(changes)
    return parts._replace(query=urllib.parse.urlencode(query)).geturl()
