"""An upload's requests, and the answers it expects of the API and the storage.

`POST /uploads` (the part URLs), a `PUT` of each part to its pre-signed URL
(no credential, an idempotent request), `POST /uploads/{id}/complete`; each
answer is decoded here, and refused when it is not what the API promises.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, List, NamedTuple, cast

from predictions._http.decode import decode_nothing, decode_object, malformed
from predictions._http.request import Request, is_http_url, json_body
from predictions._requests import ROUTES, path_segment
from predictions.files._file import File, _open_part

if TYPE_CHECKING:
    import requests

MAX_PARTS = 10_000
"""The most parts an upload may be cut into (object stores allow as many)."""

MIN_PART_SIZE = 64 * 1024
"""The smallest part an upload of more than `MAX_SMALL_PARTS` parts may have."""

MAX_SMALL_PARTS = 16
"""Parts smaller than `MIN_PART_SIZE` are taken only this many at most: an
answer that cuts a small file into thousands of PUTs makes no sense."""


class Upload(NamedTuple):
    id: str
    segment: str
    urls: List[str]
    part_size: int


def create_request(file: File) -> Request:
    return Request(
        "POST",
        ROUTES.uploads,
        body=json_body({"size": file.size, "mime_type": file.mime_type}),
        headers={"Content-Type": "application/json"},
        # Sent twice, it makes at most one more upload, never completed nor
        # used: as safe to retry as a read.
        idempotent=True,
        decode=functools.partial(decode_upload, file.size),
        template=ROUTES.uploads,
    )


def part_request(file: File, upload: Upload, part: int) -> Request:
    start = part * upload.part_size
    length = min(upload.part_size, file.size - start)
    return Request(
        "PUT",
        upload.urls[part],
        body=functools.partial(_open_part, file, part, start, length),
        headers={"Content-Length": str(length), "Content-Type": file.mime_type},
        bucket=None,  # storage: the API's rate limits do not count it
        idempotent=True,  # the same bytes to the same URL
        credentials=False,  # pre-signed: no Authorization, wherever it points
        decode=functools.partial(decode_part, part),
    )


def complete_request(upload: Upload, etags: List[str]) -> Request:
    return Request(
        "POST",
        ROUTES.upload_complete.format(id=upload.segment),
        body=json_body({"etags": etags}),
        headers={"Content-Type": "application/json"},
        # Completing again creates nothing more; a server that refuses the
        # repeat fails the call, as not retrying would have.
        idempotent=True,
        decode=decode_completed,
        template=ROUTES.upload_complete,
    )


def decode_upload(size: int, response: requests.Response) -> Upload:
    data = decode_object(response)
    upload_id, urls, part_size = data.get("id"), data.get("urls"), data.get("part_size")
    try:
        segment = path_segment(upload_id, "id")  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise malformed(
            response, f"an upload whose id is not usable: {upload_id!r}"
        ) from None
    if isinstance(part_size, bool) or not isinstance(part_size, int) or part_size < 1:
        raise malformed(response, f"an upload whose part_size is {part_size!r}")
    parts = -(-size // part_size)
    if parts > MAX_PARTS or (parts > MAX_SMALL_PARTS and part_size < MIN_PART_SIZE):
        raise malformed(
            response,
            f"an upload of {size} bytes in {parts} parts of {part_size} bytes (at "
            f"most {MAX_PARTS} parts, and parts of {MIN_PART_SIZE} bytes or more "
            f"once there are over {MAX_SMALL_PARTS})",
        )
    if not isinstance(urls, list) or not all(is_http_url(url) for url in urls):
        raise malformed(response, "an upload whose urls are not a list of http(s) URLs")
    if len(urls) != parts:
        raise malformed(
            response,
            f"{len(urls)} part URLs for {size} bytes in parts of {part_size} "
            f"(expected {parts})",
        )
    return Upload(cast(str, upload_id), segment, urls, part_size)


def decode_part(part: int, response: requests.Response) -> str:
    decode_nothing(response)
    etag = response.headers.get("ETag")
    if not etag:
        raise malformed(response, f"no ETag header for part {part}", who="the storage")
    return str(etag)


def decode_completed(response: requests.Response) -> str:
    url = decode_object(response).get("download_url")
    if not is_http_url(url):
        raise malformed(response, "a completed upload without an http(s) download_url")
    return cast(str, url)


__all__ = [
    "MAX_PARTS",
    "MAX_SMALL_PARTS",
    "MIN_PART_SIZE",
    "Upload",
    "complete_request",
    "create_request",
    "decode_completed",
    "decode_part",
    "decode_upload",
    "part_request",
]
