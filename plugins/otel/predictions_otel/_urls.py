"""What a span may say of a URL: `url.full` with its secrets redacted, the server."""

from __future__ import annotations

import functools
from typing import Optional, Tuple
from urllib.parse import unquote_plus, urlsplit, urlunsplit

REDACTED = "REDACTED"
"""What stands for a redacted value (the semantic conventions' word)."""

SECRET_PARAMETERS = frozenset(
    {
        # The semantic conventions' list for url.full (pre-signed URLs).
        "awsaccesskeyid",
        "signature",
        "sig",
        "x-goog-signature",
        # Their peers in the same URLs: S3 and GCS V4 signing, security tokens.
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
        "x-goog-credential",
        # Credentials some hosts take in the query.
        "token",
        "access_token",
        "api_key",
        "apikey",
        "key",
        "password",
        "secret",
    }
)
"""Query parameters whose values `url.full` never shows (compared lower-cased).

`expires` (and `X-Amz-Expires`, `X-Goog-Expires`) are kept: when a URL stops
working is no secret, and it tells why a host answered 403.
"""


def redact_url(url: str) -> str:
    """The URL as `url.full` may show it.

    The values of `SECRET_PARAMETERS` in the query and a user and password
    before the host are replaced by `REDACTED`; the rest is kept as sent.
    """
    if "?" not in url and "@" not in url:
        return url
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}:{REDACTED}@{netloc.rpartition('@')[2]}"
    query = parts.query
    if query:
        query = "&".join(_redact_pair(pair) for pair in query.split("&"))
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _redact_pair(pair: str) -> str:
    name, equals, _ = pair.partition("=")
    if equals and unquote_plus(name).lower() in SECRET_PARAMETERS:
        return f"{name}={REDACTED}"
    return pair


@functools.lru_cache(maxsize=64)
def _server(scheme: str, netloc: str) -> Tuple[Optional[str], Optional[int]]:
    parts = urlsplit(f"{scheme}://{netloc}")
    try:
        port = parts.port
    except ValueError:  # a port that is not one
        port = None
    if port is None:
        port = {"http": 80, "https": 443}.get(scheme)
    return parts.hostname, port


def server_of(url: str) -> Tuple[Optional[str], Optional[int]]:
    """`server.address` and `server.port` of a URL (the scheme's default port)."""
    scheme, _, rest = url.partition("://")
    netloc = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    return _server(scheme.lower(), netloc)


__all__ = ["REDACTED", "SECRET_PARAMETERS", "redact_url", "server_of"]
