"""Where a request's body ends, and requests whose framing cannot be trusted.

Both ports read a body by its `Content-Length`, or in chunks when
`Transfer-Encoding` ends with `chunked`. A request whose framing is
ambiguous is answered 400 and its connection closed, as RFC 9112 6.3
requires (a proxy in front that read the body one way and this server
another is how requests are smuggled):

- several `Content-Length` values that differ (in repeated headers or in
  one comma-separated list), or one that is not a whole number;
- a `Transfer-Encoding` beside a `Content-Length`;
- a `Transfer-Encoding` whose last coding is not `chunked`.

The same value repeated (`Content-Length: 5` twice, or `5, 5`) is accepted,
as RFC 9110 8.6 allows.
"""

from __future__ import annotations

from email.message import Message
from typing import List, Optional

_LARGEST = 10**18
"""What a longer `Content-Length` counts as: more than any limit here
(`int()` refuses strings of over 4300 digits)."""


def _values(headers: Message, name: str) -> List[str]:
    """Every comma-separated value of every `name` header, stripped."""
    lines = headers.get_all(name) or []
    return [value.strip() for line in lines for value in str(line).split(",")]


def _whole(value: str) -> bool:
    return value.isascii() and value.isdigit()


def framing_problem(headers: Message) -> Optional[str]:
    """Why the body's end cannot be known for sure, or None when it can.

    Args:
        headers: The request's headers.

    Returns:
        The 400's detail, or None.
    """
    lengths = _values(headers, "Content-Length")
    if headers.get("Transfer-Encoding") is not None:
        if lengths:
            return "Transfer-Encoding and Content-Length together: send only one"
        if _values(headers, "Transfer-Encoding")[-1].lower() != "chunked":
            return "Transfer-Encoding must end with chunked"
    if len(set(lengths)) > 1:
        return "Content-Length has several different values"
    if lengths and not _whole(lengths[0]):
        return "Invalid Content-Length"
    return None


def declared_length(headers: Message) -> int:
    """The request's `Content-Length`: 0 when absent, -1 when unusable."""
    lengths = set(_values(headers, "Content-Length"))
    if not lengths:
        return 0
    if len(lengths) > 1:
        return -1
    (value,) = lengths
    if not _whole(value):
        return -1
    digits = value.lstrip("0") or "0"
    return _LARGEST if len(digits) > len(str(_LARGEST)) else int(digits)


def chunked(headers: Message) -> bool:
    """Whether the body comes in chunks (`Transfer-Encoding` ending in chunked)."""
    if headers.get("Transfer-Encoding") is None:
        return False
    return _values(headers, "Transfer-Encoding")[-1].lower() == "chunked"
