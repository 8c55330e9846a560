"""How a request leaves: the one session factory, the adapter, and one attempt.

A request is prepared here and handed straight to the thread's adapter; the
session's per-request machinery (environment, proxy and cookie merging, hook
dispatch, redirects) has nothing to add, since every setting was resolved
once, when the client was made. Redirects are followed within the API's
origin only, and transport failures become typed errors that say whether the
request may have reached the server.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Dict, Mapping, Optional, Tuple, Union
from urllib.parse import urlencode, urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NewConnectionError,
    ProxyError,
    SSLError,
)

from predictions._decode import excerpt
from predictions.errors import APIConnectionError, APIStatusError, APITimeoutError
from predictions.plugins import PluginHost

logger = logging.getLogger("predictions")

Timeout = Tuple[float, float]
"""(connect, read) timeouts in seconds."""

MAX_REDIRECTS = 5
"""How many same-origin redirects one request follows."""


class PoolCachingAdapter(HTTPAdapter):
    """An HTTPAdapter that finds its connection pool once per origin.

    requests parses the URL and builds a pool key on every send; this client
    talks to one origin with settings fixed when it was made, so the pool found
    the first time serves every later request. With a proxy or a client
    certificate, requests' own lookup runs every time.
    """

    def __init__(self, **kwargs: Any) -> None:
        self._pools: Dict[Tuple[str, str], Any] = {}
        super().__init__(**kwargs)

    def get_connection_with_tls_context(  # requests >= 2.32
        self, request: Any, verify: Any, proxies: Any = None, cert: Any = None
    ) -> Any:
        """Return the pool for the request's origin, looked up once."""
        parent = super().get_connection_with_tls_context
        if proxies or cert:
            return parent(request, verify, proxies=proxies, cert=cert)
        key = (_origin(request.url), repr(verify))
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = parent(
                request, verify, proxies=proxies, cert=cert
            )
        return pool

    def get_connection(self, url: Any, proxies: Any = None) -> Any:  # requests < 2.32
        """Return the pool for the URL's origin, looked up once."""
        if proxies:
            return super().get_connection(url, proxies)
        key = (_origin(url), "")
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = super().get_connection(url, proxies)
        return pool

    def close(self) -> None:
        """Forget the pools and close them."""
        self._pools.clear()
        super().close()


class Transport:
    """The settings every request is sent with, and the sending itself.

    Args:
        headers: Headers sent with every request (authorization included).
        timeout: (connect, read) timeouts in seconds.
        verify: TLS verification: True, False or a CA bundle path.
        proxies: Proxies by scheme, already merged with the environment's.
        pool_size: Each session's connection pool size.
        hooks: The plugins whose request hooks are called.
    """

    def __init__(
        self,
        *,
        headers: Mapping[str, str],
        timeout: Timeout,
        verify: Union[bool, str],
        proxies: Mapping[str, str],
        pool_size: int,
        hooks: PluginHost,
    ) -> None:
        self.headers = dict(headers)
        self.timeout = timeout
        self.verify = verify
        self.proxies = dict(proxies)
        self.pool_size = pool_size
        self.hooks = hooks

    def new_session(self) -> requests.Session:
        """Make a session with this API's settings (the one factory of sessions).

        Returns:
            A session that ignores the environment (already resolved), with
            a connection pool sized to the executor and no transport retries.
        """
        session = requests.Session()
        session.trust_env = False
        session.verify = self.verify
        session.proxies.update(self.proxies)
        session.headers.update(self.headers)
        adapter = PoolCachingAdapter(pool_maxsize=self.pool_size, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    def send(
        self,
        session: requests.Session,
        method: str,
        url: str,
        data: Optional[bytes],
        headers: Dict[str, str],
        params: Mapping[str, Any],
        attempt: int,
    ) -> requests.Response:
        """Send one attempt, following redirects within the API's origin only.

        Args:
            session: The calling thread's session.
            method: The HTTP method.
            url: The full URL, without the query.
            data: The body, or None.
            headers: This request's own headers (the session's are added).
            params: The query.
            attempt: The attempt's number, for the `on_request` hook.

        Returns:
            The answer, its body read.

        Raises:
            APIStatusError: A redirect to another origin, or too many.
            APIConnectionError: No answer (APITimeoutError on timeouts).
        """
        start = time.perf_counter()
        for _ in range(MAX_REDIRECTS + 1):
            response = self._send_once(
                session, method, url, data, headers, params, attempt
            )
            if not response.is_redirect:
                break
            target = urljoin(response.url, response.headers["location"])
            if _origin(target) != _origin(url):
                raise APIStatusError(
                    f"the API redirected to another origin ({_origin(target)}); "
                    "not followed, so no credentials or body leave the API's origin",
                    response=response,
                )
            if response.status_code == 303 or (
                response.status_code in (301, 302) and method == "POST"
            ):
                method, data = "GET", None
                headers = {k: v for k, v in headers.items() if k != "Content-Type"}
            url, params = target, {}
            response.close()
        else:
            raise APIStatusError(
                f"the API redirected more than {MAX_REDIRECTS} times", response=response
            )
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s -> %s in %.0f ms",
                method,
                urlsplit(url).path,
                response.status_code,
                (time.perf_counter() - start) * 1000,
            )
        return response

    def _send_once(
        self,
        session: requests.Session,
        method: str,
        url: str,
        data: Optional[bytes],
        headers: Dict[str, str],
        params: Mapping[str, Any],
        attempt: int,
    ) -> requests.Response:
        # The request is prepared here and handed straight to the session's
        # adapter: the session's per-request machinery (environment, proxy and
        # cookie merging, hook dispatch, redirects) has nothing to add, since
        # every setting was resolved once, when the client was made.
        request = requests.PreparedRequest()
        request.method = method
        request.url = url if not params else f"{url}?{urlencode(params, doseq=True)}"
        request.headers = CaseInsensitiveDict(session.headers)  # type: ignore[arg-type]
        request.headers.update(headers)
        if data is not None:
            request.headers["Content-Length"] = str(len(data))
        request.body = data
        hooks = self.hooks if self.hooks.active else None
        if hooks is not None:
            hooks.call("predictions_on_request", request=request, attempt=attempt)
        start = time.perf_counter()
        try:
            adapter: HTTPAdapter = session.get_adapter(url)
            response: requests.Response = adapter.send(
                request,
                timeout=self.timeout,
                verify=self.verify,
                proxies=self.proxies,
            )
            # Read it all now, inside the try: the connection goes back to the
            # pool, and a body cut short is raised as a connection error.
            _ = response.content
        except requests.exceptions.ConnectTimeout as exc:
            raise APITimeoutError(
                f"{_where(method, url)}: connecting timed out "
                f"after {self.timeout[0]} s",
                request_sent=False,
            ) from exc
        except requests.exceptions.Timeout as exc:
            raise APITimeoutError(
                f"{_where(method, url)}: no answer within {self.timeout[1]} s"
            ) from exc
        except requests.exceptions.ConnectionError as exc:
            sent = _maybe_sent(exc)
            state = "the connection broke" if sent else "could not connect"
            raise APIConnectionError(
                f"{_where(method, url)}: {state} ({_reason(exc)})", request_sent=sent
            ) from exc
        except requests.exceptions.ChunkedEncodingError as exc:
            raise APIConnectionError(
                f"{_where(method, url)}: the answer was cut off ({_reason(exc)})"
            ) from exc
        if hooks is not None:
            hooks.call(
                "predictions_on_response",
                request=request,
                response=response,
                elapsed=time.perf_counter() - start,
            )
        return response


def _where(method: str, url: str) -> str:
    return f"{method} {_origin(url)}{urlsplit(url).path}"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return f"{parts.scheme}://{parts.hostname}:{port}"


def _maybe_sent(exc: requests.exceptions.ConnectionError) -> bool:
    """Tell whether a failed request may have reached the server."""
    cause = exc.args[0] if exc.args else None
    if isinstance(cause, MaxRetryError):
        cause = cause.reason
    return not isinstance(
        cause, (NewConnectionError, ConnectTimeoutError, ProxyError, SSLError)
    )


def _reason(exc: BaseException) -> str:
    cause = exc.args[0] if exc.args else exc
    if isinstance(cause, MaxRetryError) and cause.reason is not None:
        cause = cause.reason
    return excerpt(str(cause)) or type(cause).__name__


__all__ = ["MAX_REDIRECTS", "PoolCachingAdapter", "Timeout", "Transport"]
