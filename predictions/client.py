"""Client: resolves the configuration once, then hands it to the API and resources."""

from __future__ import annotations

import math
import os
from types import TracebackType
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Type, Union
from urllib.parse import urlsplit

import requests.utils

from predictions._api import API
from predictions._retry import RETRY_CREATE_MODES, check_max_retries
from predictions._transport import Timeout
from predictions._version import __version__
from predictions.plugins import PluginHost
from predictions.predictions import Predictions

DEFAULT_API_BASE_URL = "https://api.wrift.ai/v1"
"""The hosted API, used when neither an argument nor the environment names one."""

DEFAULT_TIMEOUT: Timeout = (10.0, 60.0)
"""Seconds to connect, and to wait for each read of an answer."""

USER_AGENT = f"predictions-python/{__version__}"


class Client:
    """A client of the WriftAI predictions API.

    Settings are resolved once, here: arguments first, then the environment
    (`WRIFTAI_API_BASE_URL`, `WRIFTAI_ACCESS_TOKEN`, and with `trust_env` the
    proxy and CA bundle variables that requests reads), then defaults.

    Args:
        api_base_url: The API's base URL; else `WRIFTAI_API_BASE_URL`; else
            `https://api.wrift.ai/v1`.
        access_token: The bearer token; else `WRIFTAI_ACCESS_TOKEN`; with
            neither, requests go out unauthenticated.
        headers: Extra headers sent with every request.
        timeout: Seconds for each request: one number for both, or a
            (connect, read) pair. Defaults to (10, 60).
        max_retries: How many times a failed request may be repeated.
        retry_create: "safe" (default) retries a create only when the request
            certainly never reached the server, or on 429; "idempotent" also
            after timeouts, broken connections and 5xx, for servers that
            honour the `Idempotency-Key`.
        max_workers: Threads that run the `async_` methods' requests.
        verify: TLS verification: True, False or a CA bundle path. Wins over
            `REQUESTS_CA_BUNDLE` / `CURL_CA_BUNDLE`.
        proxies: Proxies by scheme, such as {"https": "http://proxy:3128"}.
            Wins over `HTTPS_PROXY` and the like.
        trust_env: Read proxies and the CA bundle from the environment.
        plugins: Plugin objects to add to the installed ones (modules or
            objects with `@predictions.hookimpl` functions).
        strict_plugins: Raise plugin failures instead of warning; None reads
            `PREDICTIONS_STRICT_PLUGINS`.
        pacing: Space requests to fit the rate limits the server announces
            (`x-ratelimit-*`, 429s), sharing one budget across threads and tasks.

    A client pickles (for multiprocessing, Dask or Spark workers): its
    resolved settings travel, the access token included; sessions, the thread
    pool and the plugin manager are made anew where it is unpickled.

    Attributes:
        predictions: Operations on predictions.
        plugins: The client's plugin manager (`PluginHost`).

    Raises:
        PluginValidationError: A plugin in `plugins` implements an unknown hook
            or takes an argument its hook lacks.
    """

    def __init__(
        self,
        api_base_url: Optional[str] = None,
        access_token: Optional[str] = None,
        *,
        headers: Optional[Mapping[str, str]] = None,
        timeout: Union[float, Tuple[float, float]] = DEFAULT_TIMEOUT,
        max_retries: int = 2,
        retry_create: str = "safe",
        max_workers: int = 16,
        verify: Union[bool, str, None] = None,
        proxies: Optional[Mapping[str, str]] = None,
        trust_env: bool = True,
        plugins: Sequence[Any] = (),
        strict_plugins: Optional[bool] = None,
        pacing: bool = True,
    ) -> None:
        base_url = _base_url(
            api_base_url or os.environ.get("WRIFTAI_API_BASE_URL") or ""
        )
        token = access_token or os.environ.get("WRIFTAI_ACCESS_TOKEN") or None
        check_max_retries(max_retries)
        _check_int("max_workers", max_workers, minimum=1)
        if retry_create not in RETRY_CREATE_MODES:
            raise ValueError(
                f"retry_create must be one of {RETRY_CREATE_MODES}, "
                f"not {retry_create!r}"
            )

        all_headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        all_headers.update(headers or {})

        # What a pickled client carries: the settings as resolved here, so a
        # worker talks to the same API the same way (its environment is not
        # read again). Sessions, the thread pool and plugins are made anew.
        self._config: Dict[str, Any] = {
            "api_base_url": base_url,
            "access_token": token,
            "headers": dict(headers or {}),
            "timeout": _timeout(timeout),
            "max_retries": max_retries,
            "retry_create": retry_create,
            "max_workers": max_workers,
            "verify": _verify(verify, trust_env),
            "proxies": _proxies(base_url, proxies, trust_env),
            "trust_env": False,
            "plugins": list(plugins),
            "strict_plugins": strict_plugins,
            "pacing": pacing,
        }
        self.plugins = PluginHost(plugins, strict=strict_plugins)
        self.api = API(
            base_url,
            headers=all_headers,
            timeout=self._config["timeout"],
            max_retries=max_retries,
            retry_create=retry_create,
            max_workers=max_workers,
            verify=self._config["verify"],
            proxies=self._config["proxies"],
            hooks=self.plugins,
            pacing=pacing,
        )
        self.predictions = Predictions(self.api)

    @property
    def base_url(self) -> str:
        """The API's base URL."""
        return self.api.base_url

    def __repr__(self) -> str:
        return f"<predictions.Client {self.api.base_url}>"

    def __getstate__(self) -> Dict[str, Any]:
        return dict(self._config)

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    def close(self) -> None:
        """Close the client's sessions and thread pool; it cannot be used after."""
        self.api.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()


def _base_url(url: str) -> str:
    url = (url or DEFAULT_API_BASE_URL).rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"api_base_url must be an http(s) URL such as {DEFAULT_API_BASE_URL}, "
            f"not {url!r}"
        )
    if parts.query or parts.fragment:
        raise ValueError("api_base_url must not have a query or a fragment")
    return url


def _check_int(name: str, value: Any, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {value}")


def _timeout(timeout: Any) -> Timeout:
    pair = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    if len(pair) != 2 or not all(_positive(t) for t in pair):
        raise ValueError(
            "timeout must be a number of seconds > 0, or a (connect, read) pair of "
            f"them, not {timeout!r}"
        )
    return (float(pair[0]), float(pair[1]))


def _positive(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


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
    base_url: str, proxies: Optional[Mapping[str, str]], trust_env: bool
) -> Mapping[str, str]:
    resolved = dict(requests.utils.get_environ_proxies(base_url)) if trust_env else {}
    resolved.update(proxies or {})
    return resolved


__all__ = ["DEFAULT_API_BASE_URL", "DEFAULT_TIMEOUT", "USER_AGENT", "Client"]
