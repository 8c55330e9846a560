"""`data:` URLs (RFC 2397): an output file that carries its own bytes.

One is told by its scheme where a URL is already taken for a file (it is
decoded, never fetched) and by its form where any text might be one (a
model's text that begins "Data: ..." is text). Its type is its own (text/plain
when it gives none); its bytes are decoded within a limit, estimated from
its length before anything is decoded.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Optional
from urllib.parse import unquote_to_bytes

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_HEAD = re.compile(
    rf'data:(?:{_TOKEN}/{_TOKEN})?(?:;{_TOKEN}(?:=(?:{_TOKEN}|"[^"]*"))?)*,',
    re.IGNORECASE,
)
"""The head of a `data:` URL: a media type or none, parameters (`;base64`,
`;charset=...`, and the value-less `;utf8` some makers write), a comma."""


def has_data_scheme(url: str) -> bool:
    """Whether a URL's scheme is `data:`: its bytes are in it, not fetched."""
    return url[:5].lower() == "data:"


def is_data_url(text: str) -> bool:
    """Whether text is a `data:` URL by its form, not by its first five letters."""
    return has_data_scheme(text) and _HEAD.match(text) is not None


def data_url_type(url: str) -> Optional[str]:
    """The type a `data:` URL gives (text/plain if none); None for another URL."""
    if not has_data_scheme(url):
        return None
    header = url[5:].partition(",")[0]
    kind = header.split(";", 1)[0].strip().lower()
    return kind if "/" in kind else "text/plain"


def data_url_bytes(url: str, limit: int) -> Optional[bytes]:
    """The bytes of a `data:` URL; None if they are more than `limit`.

    Raises:
        ValueError: It is not a `data:` URL (no comma), or its base64 is bad.
    """
    header, comma, payload = url[5:].partition(",")
    if not comma:
        raise ValueError("is not a data: URL (no comma)")
    is_base64 = header.lower().endswith(";base64")
    estimate = len(payload) * 3 // 4 if is_base64 else len(payload)
    if estimate > limit + 3:  # padded base64's estimate is up to 2 bytes over
        return None
    try:
        body = unquote_to_bytes(payload)
        if is_base64:
            body = base64.b64decode(re.sub(rb"\s+", b"", body), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"is not valid base64 ({exc})") from None
    return body if len(body) <= limit else None


__all__ = ["data_url_bytes", "data_url_type", "has_data_scheme", "is_data_url"]
