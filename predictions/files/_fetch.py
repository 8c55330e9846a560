"""One output file's bytes, as they come: resumed where the host allows, bounded.

`Fetch.chunks()` yields the file's body a chunk at a time. Each attempt is a
`GET` with no credential (the URL is pre-signed, wherever it or its
redirects point) and `Accept-Encoding: identity`, so the bytes are the
file's own. An attempt bounds each wait for bytes by the read timeout, never
the whole body by `total_timeout`: a slow but moving download of gigabytes
goes on, a stalled one ends. A failure the retry policy retries for a GET (a
connection error, a cut-off body, a stall, 5xx, 429) is retried, from the
byte reached (`Range`, `If-Range` with the first answer's ETag) when the
host answers 206 with the same ETag, else from the start; 403, 404 and 410
raise `OutputExpiredError` at once, and an answer that is not the file (a
204, a 304, a 3xx with no `Location`) a `DownloadError`. The size is checked
against the host's (`Content-Length`, `Content-Range`; a resumed range of
another total is another version) and the limit, before reading and while
reading: no byte past either is taken. A `data:` URL is decoded here, with
no request at all.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
import threading
from typing import TYPE_CHECKING, Iterator, Optional

import requests

from predictions._http.decode import decode_nothing
from predictions._http.failures import connection_error
from predictions._http.request import Request
from predictions._http.retry import is_retryable, retry_delay
from predictions._http.stream import DROPPED, close_answer
from predictions.errors import (
    APIConnectionError,
    DownloadError,
    InvalidResponseError,
    OutputExpiredError,
)
from predictions.files._data_urls import data_url_bytes, has_data_scheme

if TYPE_CHECKING:
    from predictions._http.api import API
    from predictions.files._outputs import OutputFile

CHUNK = 1024 * 1024
"""Bytes read from the host at a time (and held at most, per file)."""

ENCODED_CHUNK = 64 * 1024
"""Bytes read at a time from an answer compressed against our asking, so a
compression bomb holds at most this much times its ratio."""

EXPIRED_STATUSES = frozenset({403, 404, 410})
"""What a file host answers for an output URL that expired."""

FILE_STATUSES = frozenset({200, 203, 206})
"""The successes that carry the file (203: a proxy's copy of a 200)."""

PROGRESS_FORGIVES = CHUNK
"""New bytes that start the count of failures afresh: bytes past the point
the count began at (bytes fetched again after a start over are not new). A
long download resumed now and then goes on; a host that drops every
connection after a byte, or sends the file from its start each time, does
not loop forever."""

_CONTENT_RANGE = re.compile(r"bytes ([0-9]+)-([0-9]+)/([0-9]+|\*)")


class Stopped(Exception):
    """The caller asked the fetch to stop (an async download was cancelled)."""


class Fetch:
    """The body of one output file, fetched from byte `offset` on.

    Args:
        api: The client's API (its transport, retry policy and clock).
        file: The output file.
        limit: The most bytes the file may have.
        offset: Bytes already had (a part saved by an earlier run).
        etag: The ETag those bytes came with; a resume is asked only with it.
        stop: Set to stop at the next chunk (raises `Stopped`).

    Attributes:
        offset: Bytes had so far.
        size: The file's size, once the host said it.
        etag: The host's strong ETag, once it gave one.
        md5: The MD5 digest the host gave for the whole file in a 200's
            `Content-MD5`, once known (a 206's is its part's: not kept).
    """

    def __init__(
        self,
        api: API,
        file: OutputFile,
        limit: int,
        offset: int = 0,
        etag: Optional[str] = None,
        stop: Optional[threading.Event] = None,
    ) -> None:
        self._api, self._file, self._limit, self._stop = api, file, limit, stop
        self.offset, self.etag = offset, etag
        self.size: Optional[int] = None
        self.md5: Optional[bytes] = None
        self._restarted = False  # not yet told to the caller
        self._packed: Optional[int] = None  # a compressed body's Content-Length

    def chunks(self) -> Iterator[bytes]:
        """The file's bytes from `offset` on, a chunk at a time.

        An empty chunk says that the host sends the file from its first
        byte again (a resume it refused, another version): whatever the
        caller kept of it must go. It comes before any byte of the new start
        (there may be none).

        Raises:
            OutputExpiredError: The host answered 403, 404 or 410.
            DownloadError: The file is larger than the limit, the URL is not
                one to fetch, or the retries ran out (its `__cause__` says
                why: an `APIConnectionError`, an `APIStatusError`...).
            Stopped: `stop` was set.
        """
        if has_data_scheme(self._file.url):
            body = self._data()
            if body:
                yield body
            return
        failures, counted_from = 0, self.offset
        while True:
            self._check_stop()
            request = self._next_request()
            try:
                yield from self._attempt(request)
                return
            except (DownloadError, Stopped):
                raise
            except Exception as exc:
                self._check_stop()  # stopped meanwhile: no backoff, no new attempt
                if self.offset - counted_from >= PROGRESS_FORGIVES:
                    failures, counted_from = 0, self.offset
                failures += 1
                if failures > self._api.settings.max_retries or not is_retryable(
                    exc, idempotent=True
                ):
                    raise self._error(f"failed: {exc}", exc) from exc
                delay = retry_delay(exc, failures, self._api.clock)
                if self._api.watched():
                    self._api.notify_retry(request, failures, delay, exc)
                self._api.clock.sleep(delay)

    def _next_request(self) -> Request:
        """The next attempt's GET: from the byte reached if an ETag allows it.

        Without one, it asks for the whole file, and the bytes had go.
        """
        headers = {"Accept": "*/*", "Accept-Encoding": "identity"}
        if self.offset and self.etag:
            headers["Range"] = f"bytes={self.offset}-"
            headers["If-Range"] = self.etag
        elif self.offset:  # no ETag to resume safely: the whole file again
            self._restart()
        return Request(
            "GET",
            self._file.url,
            headers=headers,
            bucket=None,  # a file host: the API's rate limits do not count it
            max_retries=0,  # retried here, from the byte reached
            stream=True,
            credentials=False,
            anywhere=True,
            decode=self._check_answer,
        )

    def _attempt(self, request: Request) -> Iterator[bytes]:
        response: requests.Response = self._api.request(request)
        if _is_decoded(response):  # compressed against our asking: bounded as decoded
            body = response.iter_content(ENCODED_CHUNK)
        else:  # the bytes as sent, to the byte (a cut one resumes from it)
            reader = self._api.stream_reader(response)
            body = iter(functools.partial(reader.read, CHUNK), b"")
        try:
            if self._restarted:
                self._restarted = False
                yield b""
            for chunk in body:
                self._check_stop()
                if self.offset + len(chunk) > self._limit:
                    raise self._too_large()
                if self.size is not None and self.offset + len(chunk) > self.size:
                    raise InvalidResponseError(
                        f"GET {self._file.where}: the body goes past the "
                        f"{self.size} bytes announced"
                    )
                self.offset += len(chunk)
                yield chunk
        except (requests.exceptions.RequestException, *DROPPED) as exc:
            where = f"GET {self._file.where}"
            timeout = self._api.settings.timeout
            raise connection_error(where, exc, timeout, True) from exc
        finally:
            close_answer(response)
        if self._packed is not None and response.raw.tell() != self._packed:
            raise APIConnectionError(
                f"GET {self._file.where}: the compressed body ended at byte "
                f"{response.raw.tell()} of {self._packed}"
            )
        if self.size is not None and self.offset != self.size:
            raise APIConnectionError(
                f"GET {self._file.where}: the body ended at byte {self.offset} "
                f"of {self.size}"
            )
        if self.size is None:
            self.size = self.offset

    def _check_stop(self) -> None:
        if self._stop is not None and self._stop.is_set():
            raise Stopped()

    def _check_answer(self, response: requests.Response) -> requests.Response:
        """Check an answer's status and headers, before its body is read.

        An answer refused is closed at once: its connection is not kept for
        as long as the error lives.
        """
        try:
            self._take_answer(response)
        except BaseException:
            response.close()
            raise
        return response

    def _take_answer(self, response: requests.Response) -> None:
        status = response.status_code
        if status in EXPIRED_STATUSES:
            raise OutputExpiredError(
                f"{self._file.describe()} can no longer be had: the file host "
                f"answered {status} (output URLs expire; get the prediction "
                "again for fresh ones)",
                **self._file.error_fields(status),
            )
        if status == 416:  # the range asked is past the end: start again
            self._restart()
            raise InvalidResponseError(
                f"GET {self._file.where}: 416 to a resumed range; starting over",
                response=response,
            )
        decode_nothing(response)  # an error status: its typed error
        if status not in FILE_STATUSES:  # a 204, a 304, a 3xx with no Location
            raise DownloadError(
                f"{self._file.describe()} is not the file: the host answered {status}",
                **self._file.error_fields(status),
            )
        decoded = _is_decoded(response)
        self._packed = None
        if status == 206 and not decoded:
            self._take_range(response)
        else:
            if self.offset:
                self._restart()
            # A compressed body's length is not the file's: the file is counted
            # as it is decoded (and bounded by the limit), the length checked
            # against the bytes that came (urllib3 1.x checks none itself).
            length = _length(response.headers.get("content-length"))
            self.size = None if decoded else length
            self._packed = length if decoded else None
            # A range of a decoded body would be one of its compressed bytes.
            self.etag = None if decoded else _strong(response.headers.get("etag"))
            # Content-MD5 digests the body as sent: a compressed one's is not
            # the file's (RFC 1864), and the compressed bytes are not kept.
            self.md5 = None if decoded else _md5_of(response.headers)
        self._file.learnt(response.headers.get("content-type"))
        if self.size is not None and self.size > self._limit:
            raise self._too_large()

    def _take_range(self, response: requests.Response) -> None:
        """Take a 206 that goes on from the byte reached, of the same file."""
        found = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", ""))
        start, _, total = found.groups() if found else ("", "", "")
        etag = _strong(response.headers.get("etag"))
        size = int(total) if found and total != "*" else self.size
        if (
            not found
            or int(start) != self.offset
            or (self.offset and etag != self.etag)
            or (self.size is not None and size != self.size)  # another version
        ):
            self._restart()
            raise InvalidResponseError(
                f"GET {self._file.where}: a 206 for another range or another "
                f"version of the file ({response.headers.get('content-range')!r}, "
                f"ETag {etag!r}); starting over"
            )
        self.size = size
        self.etag = etag

    def _restart(self) -> None:
        self.offset, self.etag, self.md5, self.size = 0, None, None, None
        self._restarted = True

    def _data(self) -> bytes:
        """The bytes of a `data:` URL, decoded within the limit."""
        try:
            body = data_url_bytes(self._file.url, self._limit)
        except ValueError as exc:
            raise self._error(str(exc)) from None
        if body is None:
            raise self._too_large()
        self.size = self.offset = len(body)
        return body

    def _too_large(self) -> DownloadError:
        return self._error(
            f"is larger than max_download_bytes={self._limit} bytes; raise the "
            "client's max_download_bytes if it is expected"
        )

    def _error(self, what: str, cause: Optional[BaseException] = None) -> DownloadError:
        status = getattr(cause, "status_code", None)
        return DownloadError(
            f"{self._file.describe()} {what}", **self._file.error_fields(status)
        )


def _is_decoded(response: requests.Response) -> bool:
    """Whether urllib3 decodes the body (compressed in an encoding it knows).

    Then `Content-Length` and `Content-Range` count the compressed bytes,
    not the file's. An encoding it does not know is passed on as it came.
    """
    encoding = response.headers.get("content-encoding", "").lower()
    known = getattr(response.raw, "CONTENT_DECODERS", ())
    return any(part.strip() in known for part in encoding.split(","))


def _length(value: Optional[str]) -> Optional[int]:
    """A `Content-Length`'s value; None for none or one not of ASCII digits.

    (`int` takes other digits, and `str.isdigit` others still, as "\u00b2".)
    """
    if value is None or re.fullmatch("[0-9]+", value) is None:
        return None
    return int(value)


def _strong(etag: Optional[str]) -> Optional[str]:
    """A strong ETag (only those may resume a download), else None."""
    if etag is None or etag.startswith("W/") or not etag.strip():
        return None
    return etag.strip()


def _md5_of(headers: requests.structures.CaseInsensitiveDict[str]) -> Optional[bytes]:
    """The whole file's MD5 the host gave in `Content-MD5`, if it gave one.

    An ETag is not taken for an MD5, though many hosts make it one: it is
    opaque (RFC 9110), and S3's for a multipart or encrypted object is not
    one. It is checked in its own way: a resumed range must carry the same.
    """
    given = headers.get("content-md5")
    if not given:
        return None
    try:
        digest = base64.b64decode(given, validate=True)
    except (binascii.Error, ValueError):
        return None
    return digest if len(digest) == 16 else None


__all__ = ["CHUNK", "EXPIRED_STATUSES", "Fetch", "Stopped"]
