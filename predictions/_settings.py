"""The client's settings, resolved once into one frozen object.

`Settings.resolve` takes what the caller gave `Client(...)`, fills the gaps
from the environment and the defaults, and checks every value with the
checks of `_checks`. The result is what the `API`
is built from and what a pickled client carries; nothing reads the
environment again after it. This module is the only reader of the client's
environment variables (`WRIFTAI_*`, `PREDICTIONS_*`, and with `trust_env`
the proxy and CA bundle ones), and the one home of every default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import unquote, urlsplit, urlunsplit

from predictions._checks import (
    CONTROL_CHARACTER,
    MAX_SECONDS,
    Timeout,
    check_count,
    check_number,
    check_timeout_pair,
    clean_token,
)
from predictions._clock import SYSTEM_CLOCK, Clock

DEFAULT_API_BASE_URL = "https://api.wrift.ai/v1"
"""The hosted API, used when neither an argument nor the environment names one."""

DEFAULT_TIMEOUT: Timeout = (10.0, 60.0)
"""Seconds to connect, and to wait for each read of an answer."""

DEFAULT_TOTAL_TIMEOUT = 300.0
"""Seconds one attempt may take from sending to the last byte of its answer."""

DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
"""The largest answer read into memory, once decompressed (64 MiB)."""

DEFAULT_MAX_DOWNLOAD_BYTES = 20 * 1024**3
"""The largest output file a download takes (20 GiB)."""

DEFAULT_MAX_RETRIES = 2
"""How many times a failed request may be repeated."""

RETRY_CREATE_MODES = ("safe", "idempotent")
"""The accepted values of `retry_create`."""

DEFAULT_RETRY_CREATE = "safe"
"""Retry a create only where it surely made nothing (see `Client`)."""

DEFAULT_MAX_WORKERS = 16
"""Threads that run the `async_` methods' requests."""

BASE_URL_ENV = "WRIFTAI_API_BASE_URL"
"""The API's base URL, when `Client` is given none."""

TOKEN_ENV = "WRIFTAI_ACCESS_TOKEN"
"""The access token, when `Client` is given none."""

PLUGINS_ENV = "PREDICTIONS_PLUGINS"
"""Unset: load every installed plugin; empty: none; `a,b`: those names."""

STRICT_PLUGINS_ENV = "PREDICTIONS_STRICT_PLUGINS"
"""`1` (or `true`, `yes`): raise plugin errors instead of warning."""

LOG_ENV = "PREDICTIONS_LOG"
"""`debug` or `info`: the `predictions` logger writes to stderr at that level."""

LOG_LEVELS = ("debug", "info")
"""The accepted values of `PREDICTIONS_LOG`."""


def _clean_headers(headers: Optional[Mapping[str, str]]) -> Tuple[Tuple[str, str], ...]:
    if headers is None:
        return ()
    if not isinstance(headers, Mapping):
        raise TypeError(f"headers must be a mapping, not {type(headers).__name__}")
    cleaned = []
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"header names and values must be strings: {name!r}")
        if not name or CONTROL_CHARACTER.search(name) or ":" in name or " " in name:
            raise ValueError(f"{name!r} is not a valid header name")
        if CONTROL_CHARACTER.search(value.strip()):
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
    max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES
    max_retries: int = DEFAULT_MAX_RETRIES
    retry_create: str = DEFAULT_RETRY_CREATE
    max_workers: int = DEFAULT_MAX_WORKERS
    verify: Union[bool, str] = True
    proxies: Tuple[Tuple[str, str], ...] = field(default=(), repr=False)
    outside_proxies: Tuple[Tuple[str, str], ...] = field(default=(), repr=False)
    no_proxy: Optional[str] = field(default=None, repr=False)
    plugins: Tuple[Any, ...] = ()
    strict_plugins: Optional[bool] = None
    pacing: bool = True
    clock: Clock = field(default=SYSTEM_CLOCK, repr=False, compare=False)
    plugin_names: Optional[Tuple[str, ...]] = None
    """The installed plugins to load (`PREDICTIONS_PLUGINS`); None: all."""
    log_level: Optional[str] = None
    """`debug` or `info` (`PREDICTIONS_LOG`): the logger writes to stderr."""

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
            api_base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_API_BASE_URL
        )
        token = clean_token(
            access_token if access_token is not None else os.environ.get(TOKEN_ENV)
        )
        if not isinstance(verify, (bool, str, type(None))):
            raise TypeError(
                f"verify must be True, False or a CA bundle path, not {verify!r}"
            )
        if isinstance(plugins, (str, bytes)) or not isinstance(plugins, Sequence):
            raise TypeError("plugins must be a list of plugin objects")
        if fields.get("strict_plugins") is None:
            fields["strict_plugins"] = strict_plugins_from_env()
        fields.setdefault("plugin_names", plugin_names_from_env())
        level = log_level_from_env()
        fields.setdefault("log_level", level if level in LOG_LEVELS else None)
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
        check_number(
            "total_timeout", self.total_timeout, inclusive=False, maximum=MAX_SECONDS
        )
        check_count("max_response_bytes", self.max_response_bytes, minimum=1)
        check_count("max_download_bytes", self.max_download_bytes, minimum=1)
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


def environment() -> Tuple[Optional[str], ...]:
    """The values of the client's own variables, as they are now (None: unset).

    A client made from the environment is out of date once this changes.
    """
    names = (BASE_URL_ENV, TOKEN_ENV, PLUGINS_ENV, STRICT_PLUGINS_ENV, LOG_ENV)
    return tuple(os.environ.get(name) for name in names)


def plugin_names_from_env() -> Optional[Tuple[str, ...]]:
    """The installed plugins `PREDICTIONS_PLUGINS` selects; None (unset) for all."""
    value = os.environ.get(PLUGINS_ENV)
    if value is None:
        return None
    return tuple(name.strip() for name in value.split(",") if name.strip())


def strict_plugins_from_env() -> bool:
    """Whether `PREDICTIONS_STRICT_PLUGINS` asks for strict mode."""
    value = os.environ.get(STRICT_PLUGINS_ENV, "")
    return value.strip().lower() in ("1", "true", "yes")


def log_level_from_env() -> str:
    """`PREDICTIONS_LOG` as given, lowercased ("" if unset): see `LOG_LEVELS`."""
    return os.environ.get(LOG_ENV, "").strip().lower()


def _no_proxy(trust_env: bool) -> Optional[str]:
    if not trust_env:
        return None
    return os.environ.get("no_proxy") or os.environ.get("NO_PROXY") or None


__all__ = [
    "BASE_URL_ENV",
    "DEFAULT_API_BASE_URL",
    "DEFAULT_MAX_DOWNLOAD_BYTES",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_MAX_WORKERS",
    "DEFAULT_RETRY_CREATE",
    "DEFAULT_TIMEOUT",
    "DEFAULT_TOTAL_TIMEOUT",
    "LOG_ENV",
    "LOG_LEVELS",
    "PLUGINS_ENV",
    "RETRY_CREATE_MODES",
    "STRICT_PLUGINS_ENV",
    "TOKEN_ENV",
    "Settings",
    "environment",
    "log_level_from_env",
    "plugin_names_from_env",
    "redact_url",
    "strict_plugins_from_env",
]
