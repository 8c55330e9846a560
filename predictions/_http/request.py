"""The outgoing request: one value that every layer takes whole.

A resource builds one `Request`; `API.request` hands it to pacing (its
`bucket`), the retry policy (`idempotent`, `max_retries`, `deadline`), the
transport (method, path, body, headers, query, `stream`, `read_timeout`) and
decoding (`decode`). No layer adds flags of its own on the way down.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import (
    Any,
    BinaryIO,
    Callable,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
)
from urllib.parse import urlsplit

import requests

from predictions._checks import check_count
from predictions._http.decode import decode_json

DEADLINE_GRACE = 0.5
"""Seconds a request sent just before its deadline has to answer."""

Query = Sequence[Tuple[str, str]]
"""Query parameters as (key, value) pairs; a key may repeat."""


@dataclass(frozen=True)
class Request:
    """One request to the API, as every layer sees it.

    Attributes:
        method: The HTTP method.
        path: The path below the base URL, already percent-encoded; or an
            absolute http(s) URL outside the API (an upload's part URL).
        body: The body's bytes; or a function that opens a fresh binary
            stream of it for each attempt (then `headers` must give its
            `Content-Length`); or None.
        headers: This request's own headers (the client's are added, when
            `credentials` is True).
        query: Query parameters, in order.
        bucket: The rate-limit bucket it draws from: "read" or "create"; None
            for requests the API's limits do not count (uploads' parts).
        idempotent: Whether sending it twice does no harm (so every retryable
            failure may be retried, not only those where it never left).
        deadline: A time on the client's clock that neither a retry's sleep
            nor a wait for the rate limit may pass; nothing is sent after it,
            and an attempt in flight is cut `DEADLINE_GRACE` after it.
        max_retries: This call's retry limit, or None for the client's.
        read_timeout: Seconds to wait for each read at least (the client's
            read timeout if it is longer): for a request the server holds.
        held: The server is asked to hold the answer (`Prefer: wait`): it
            comes late by design (pacing does not wait for it to learn).
        stream: Return the answer unread, to be consumed as a stream.
        credentials: Send the client's `Authorization` and extra headers.
            False for pre-signed URLs: they get none of them, wherever they
            point (only the `User-Agent` and this request's own headers).
        anywhere: Follow redirects to any http(s) origin (an output file's
            URL may redirect to a CDN); only with `credentials` False, so
            nothing of the client's goes along. Else redirects are followed
            within the API's origin only.
        decode: Turns a successful answer into the result (JSON by default);
            raises `InvalidResponseError` for one that does not fit.
        template: The API route's path template (`_requests.ROUTES`), told
            to the request hooks; None for a URL outside the API.
    """

    method: str
    path: str
    body: Union[bytes, Callable[[], BinaryIO], None] = None
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Query = ()
    bucket: Optional[str] = "read"
    idempotent: bool = True
    deadline: Optional[float] = None
    max_retries: Optional[int] = None
    read_timeout: Optional[float] = None
    held: bool = False
    stream: bool = False
    credentials: bool = True
    anywhere: bool = False
    decode: Callable[[requests.Response], Any] = decode_json
    template: Optional[str] = None

    def __post_init__(self) -> None:
        if self.max_retries is not None:
            check_count("max_retries", self.max_retries)
        if self.anywhere and self.credentials:
            raise ValueError(
                "a request that follows redirects anywhere sends no credential"
            )

    def url(self, base_url: str) -> str:
        """Where the request goes: its own URL (pre-signed), or below the API's."""
        if self.path.startswith(("https://", "http://")):
            return self.path
        return base_url + self.path


def is_http_url(value: Any) -> bool:
    """Whether a value is an absolute http(s) URL with a host, no space, no control."""
    if not isinstance(value, str) or re.search(r"[\s\x00-\x1f\x7f]", value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def json_body(value: Any) -> bytes:
    """Encode a JSON body: compact UTF-8, refusing NaN and infinities.

    Raises:
        ValueError: The value holds NaN or an infinity (not JSON), or cannot
            be encoded.
        TypeError: The value holds something JSON has no form for.
    """
    return json.dumps(
        value, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def value_at(body: Any, where: List[Any]) -> Any:
    """The value at a path of keys and indexes."""
    for part in where:
        body = body[part]
    return body


def not_finite_at(value: Any, where: List[Any], depth: int = 0) -> Optional[List[Any]]:
    """The path to the first NaN or infinity in a value, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return where
    if depth > 200:
        return None
    items: Any = ()
    if isinstance(value, Mapping):
        items = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    for key, item in items:
        found = not_finite_at(item, [*where, key], depth + 1)
        if found is not None:
            return found
    return None


__all__ = [
    "DEADLINE_GRACE",
    "Query",
    "Request",
    "is_http_url",
    "json_body",
    "not_finite_at",
    "value_at",
]
