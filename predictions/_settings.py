"""The client's settings, resolved once into one frozen object, and their checks.

`Settings.resolve` takes what the caller gave `Client(...)`, fills the gaps
from the environment and the defaults, and checks every value with the checks
below. The result is what the `API` is built from and what a pickled client
carries; nothing reads the environment again after it.

The checks are the only ones in the client: a wait's options, a batch's and a
call's `max_retries` use them too, so the same mistake gets the same error
everywhere (a string where a number belongs is a `TypeError`; a number out of
range is a `ValueError`).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import unquote, urlsplit, urlunsplit

from predictions._clock import SYSTEM_CLOCK, Clock

DEFAULT_API_BASE_URL = "https://api.wrift.ai/v1"
"""The hosted API, used when neither an argument nor the environment names one."""

Timeout = Tuple[float, float]
"""(connect, read) timeouts in seconds."""

DEFAULT_TIMEOUT: Timeout = (10.0, 60.0)
"""Seconds to connect, and to wait for each read of an answer."""

DEFAULT_TOTAL_TIMEOUT = 300.0
"""Seconds one attempt may take from sending to the last byte of its answer."""

DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
"""The largest answer read into memory, once decompressed (64 MiB)."""

RETRY_CREATE_MODES = ("safe", "idempotent")
"""The accepted values of `retry_create`."""

# Tokens and header values travel in one header line: any control character
# would end it (http.client then raises an error that quotes the value).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_number(
    name: str,
    value: Any,
    *,
    minimum: Optional[float] = 0.0,
    inclusive: bool = True,
    optional: bool = False,
) -> None:
    """Refuse a value that is not a finite number of at least `minimum`.

    Args:
        name: What the value is, for the message.
        value: The value to check.
        minimum: The smallest value allowed, or None for no bound.
        inclusive: Whether `minimum` itself is allowed.
        optional: Whether None is allowed.

    Raises:
        TypeError: It is not an int or a float (a bool or a str is not).
        ValueError: It is NaN, infinite or below the minimum.
    """
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        what = (
            "a number of seconds"
            if "timeout" in name or "interval" in name
            else ("a number")
        )
        also = ", or None" if optional else ""
        raise TypeError(f"{name} must be {what}{also}, not {value!r}")
    if minimum is None:
        below = False
    else:
        below = value < minimum if inclusive else value <= minimum
    # An int is always finite (and math.isfinite(10**400) would overflow).
    if (isinstance(value, float) and not math.isfinite(value)) or below:
        bound = (
            ""
            if minimum is None
            else (f" and >= {minimum:g}" if inclusive else f" and > {minimum:g}")
        )
        raise ValueError(f"{name} must be finite{bound}, not {value!r}")


def check_count(name: str, value: Any, *, minimum: int = 0) -> None:
    """Refuse a value that is not a whole number of at least `minimum`.

    Raises:
        TypeError: It is not an int (a bool is not).
        ValueError: It is below the minimum.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {value}")


def check_timeout_pair(timeout: Any) -> Timeout:
    """Check a timeout: seconds for both phases, or a (connect, read) pair.

    Returns:
        The (connect, read) pair as floats.

    Raises:
        TypeError: It is neither a number nor a pair of numbers.
        ValueError: A number is not finite and > 0.
    """
    pair = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    if len(pair) != 2:
        raise TypeError(
            f"timeout must be seconds or a (connect, read) pair, not {timeout!r}"
        )
    for phase, value in zip(("connect", "read"), pair):
        check_number(f"timeout ({phase})", value, inclusive=False)
    return (float(pair[0]), float(pair[1]))


def clean_token(token: Optional[str]) -> Optional[str]:
    """Strip a token of the white space around it; refuse control characters.

    A token read from a file or a secret mount often ends in a newline. The
    error never repeats the token.

    Returns:
        The token, or None for none (also for an empty or blank one).

    Raises:
        TypeError: It is not a string.
        ValueError: It holds a control character or a non-ASCII one.
    """
    if token is None:
        return None
    if not isinstance(token, str):
        raise TypeError(f"access_token must be a string, not {type(token).__name__}")
    token = token.strip()
    if _CONTROL.search(token) or not token.isascii():
        raise ValueError(
            "access_token holds a control or non-ASCII character (shown nowhere, "
            "for its safety): check where it is read from"
        )
    return token or None


def _clean_headers(headers: Optional[Mapping[str, str]]) -> Tuple[Tuple[str, str], ...]:
    if headers is None:
        return ()
    if not isinstance(headers, Mapping):
        raise TypeError(f"headers must be a mapping, not {type(headers).__name__}")
    cleaned = []
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"header names and values must be strings: {name!r}")
        if not name or _CONTROL.search(name) or ":" in name or " " in name:
            raise ValueError(f"{name!r} is not a valid header name")
        if _CONTROL.search(value.strip()):
            raise ValueError(f"the value of header {name!r} holds a control character")
        cleaned.append((name, value.strip()))
    return tuple(cleaned)


def _split_base_url(url: str) -> Tuple[str, Optional[Tuple[str, str]]]:
    """The base URL without a trailing slash or `user:password@`, and that pair."""
    if not isinstance(url, str):
        raise TypeError(f"api_base_url must be a string, not {type(url).__name__}")
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"api_base_url must be an http(s) URL such as {DEFAULT_API_BASE_URL}, "
            f"not {redact_url(url)!r}"
        )
    if parts.query or parts.fragment:
        raise ValueError("api_base_url must not have a query or a fragment")
    try:
        parts.port  # noqa: B018  (raises for a port that is not a number)
    except ValueError:
        raise ValueError(
            f"api_base_url has an invalid port: {redact_url(url)!r}"
        ) from None
    credentials = None
    if parts.username is not None or parts.password is not None:
        credentials = (unquote(parts.username or ""), unquote(parts.password or ""))
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, "", "")), credentials


def redact_url(url: str) -> str:
    """The URL with any `user:password@` replaced by `***@`, for messages."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    netloc, slash, path = rest.partition("/")
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    return f"{scheme}{sep}{netloc}{slash}{path}"


@dataclass(frozen=True)
class Settings:
    """Everything a client was configured with, resolved and checked.

    Make one with `Settings.resolve`; the `Client` arguments of the same name
    document each field.
    """

    base_url: str
    access_token: Optional[str] = field(default=None, repr=False)
    basic_auth: Optional[Tuple[str, str]] = field(default=None, repr=False)
    headers: Tuple[Tuple[str, str], ...] = ()
    timeout: Timeout = DEFAULT_TIMEOUT
    total_timeout: float = DEFAULT_TOTAL_TIMEOUT
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    max_retries: int = 2
    retry_create: str = "safe"
    max_workers: int = 16
    verify: Union[bool, str] = True
    proxies: Tuple[Tuple[str, str], ...] = field(default=(), repr=False)
    outside_proxies: Tuple[Tuple[str, str], ...] = field(default=(), repr=False)
    no_proxy: Optional[str] = field(default=None, repr=False)
    plugins: Tuple[Any, ...] = ()
    strict_plugins: Optional[bool] = None
    pacing: bool = True
    clock: Clock = field(default=SYSTEM_CLOCK, repr=False, compare=False)

    @classmethod
    def resolve(
        cls,
        api_base_url: Optional[str] = None,
        access_token: Optional[str] = None,
        *,
        headers: Optional[Mapping[str, str]] = None,
        timeout: Union[float, Timeout] = DEFAULT_TIMEOUT,
        verify: Union[bool, str, None] = None,
        proxies: Optional[Mapping[str, str]] = None,
        trust_env: bool = True,
        plugins: Sequence[Any] = (),
        **fields: Any,
    ) -> Settings:
        """Resolve the client's arguments and the environment into settings.

        Args:
            api_base_url: As `Client` takes it; else the environment's.
            access_token: As `Client` takes it; else the environment's.
            headers: Extra headers.
            timeout: Seconds, or a (connect, read) pair.
            verify: TLS verification; None reads the environment's CA bundle.
            proxies: Proxies by scheme, over the environment's.
            trust_env: Whether the environment's proxies and CA bundle count.
            plugins: Plugin objects.
            **fields: The other fields, taken as given once checked.

        Raises:
            TypeError: An argument has a wrong type, or is unknown.
            ValueError: An argument has a value out of range.
        """
        base_url, basic_auth = _split_base_url(
            api_base_url
            or os.environ.get("WRIFTAI_API_BASE_URL")
            or DEFAULT_API_BASE_URL
        )
        token = clean_token(
            access_token
            if access_token is not None
            else os.environ.get("WRIFTAI_ACCESS_TOKEN")
        )
        if not isinstance(verify, (bool, str, type(None))):
            raise TypeError(
                f"verify must be True, False or a CA bundle path, not {verify!r}"
            )
        if isinstance(plugins, (str, bytes)) or not isinstance(plugins, Sequence):
            raise TypeError("plugins must be a list of plugin objects")
        settings = cls(
            base_url=base_url,
            access_token=token,
            basic_auth=basic_auth,
            headers=_clean_headers(headers),
            timeout=check_timeout_pair(timeout),
            verify=_verify(verify, trust_env),
            proxies=_proxies(base_url, proxies, trust_env),
            outside_proxies=_proxies(None, proxies, trust_env),
            no_proxy=_no_proxy(trust_env),
            plugins=tuple(plugins),
            **fields,
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse fields of a wrong type or out of range.

        Raises:
            TypeError: A field has a wrong type.
            ValueError: A field is out of range.
        """
        check_number("total_timeout", self.total_timeout, inclusive=False)
        check_count("max_response_bytes", self.max_response_bytes, minimum=1)
        check_count("max_retries", self.max_retries)
        check_count("max_workers", self.max_workers, minimum=1)
        if self.retry_create not in RETRY_CREATE_MODES:
            modes = " or ".join(repr(mode) for mode in RETRY_CREATE_MODES)
            raise ValueError(f"retry_create must be {modes}, not {self.retry_create!r}")
        if not isinstance(self.clock, Clock):
            raise TypeError(f"clock must be a predictions Clock, not {self.clock!r}")

    def request_headers(self, user_agent: str) -> Mapping[str, str]:
        """The headers every request carries: identity, credentials, the caller's."""
        headers = {"User-Agent": user_agent, "Accept": "application/json"}
        if self.access_token:
            headers["Authorization"] = f"Bearer {self.access_token}"
        elif self.basic_auth is not None:
            import base64

            pair = ":".join(self.basic_auth).encode("latin-1")
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        headers.update(self.headers)
        return headers


def _verify(verify: Union[bool, str, None], trust_env: bool) -> Union[bool, str]:
    if verify is not None:
        return verify
    if trust_env:
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get(
            "CURL_CA_BUNDLE"
        )
        if bundle:
            return bundle
    return True


def _proxies(
    base_url: Optional[str], proxies: Optional[Mapping[str, str]], trust_env: bool
) -> Tuple[Tuple[str, str], ...]:
    """The proxies for the API, or (`base_url` None) for any other origin.

    For the API `NO_PROXY` is applied here; for other origins (an upload's
    part URLs), to each URL when it is sent.
    """
    resolved = {}
    if trust_env:
        import requests.utils

        if base_url is None:
            import urllib.request

            resolved.update(urllib.request.getproxies())
            resolved.pop("no", None)
        else:
            resolved.update(requests.utils.get_environ_proxies(base_url))
    resolved.update(proxies or {})
    return tuple(sorted(resolved.items()))


def _no_proxy(trust_env: bool) -> Optional[str]:
    if not trust_env:
        return None
    return os.environ.get("no_proxy") or os.environ.get("NO_PROXY") or None


__all__ = [
    "DEFAULT_API_BASE_URL",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_TIMEOUT",
    "DEFAULT_TOTAL_TIMEOUT",
    "RETRY_CREATE_MODES",
    "Settings",
    "Timeout",
    "check_count",
    "check_number",
    "check_timeout_pair",
    "clean_token",
    "redact_url",
]
