"""An answer's body, read a piece at a time and refused past its limit.

The limit is on the decompressed size, checked as each piece comes, so a
compressed bomb costs no memory: at most `READ_CHUNK` bytes (times the
compression ratio) past the limit are ever held.
"""

from __future__ import annotations

import requests

from predictions.errors import ResponseTooLargeError

READ_CHUNK = 8192
"""Bytes read (and decompressed) at a time: what an answer may overshoot its limit by,
times the compression ratio."""


def read_body(response: requests.Response, limit: int) -> None:
    """Read the answer's body into `response.content`, refusing more than `limit`."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        response.close()
        raise _too_large(response, limit)
    body = bytearray()
    for chunk in response.iter_content(READ_CHUNK):
        body += chunk
        if len(body) > limit:
            response.close()
            raise _too_large(response, limit)
    response._content = bytes(body)
    response._content_consumed = True  # type: ignore[attr-defined]


def _too_large(response: requests.Response, limit: int) -> ResponseTooLargeError:
    return ResponseTooLargeError(
        f"the API's answer is larger than max_response_bytes={limit} bytes "
        "(decompressed); raise the client's max_response_bytes if it is expected",
        response=response,
    )


__all__ = ["READ_CHUNK", "read_body"]
