"""The requests adapter the transport sends through: pools found once, guarded.

requests parses the URL and builds a pool key on every send; this client
talks to one origin with settings fixed when it was made, so the pool found
the first time serves every later request. Every pool's connections are
guarded (`connection`): each read within the attempt's limit, interim
answers read past. The answer is wrapped without a cookie jar, and the
request target is found without parsing the URL again.
"""

from __future__ import annotations

from typing import Any, Dict, Tuple

import requests
import requests.utils
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from predictions._http.connection import guarded_class


class PoolCachingAdapter(HTTPAdapter):
    """An HTTPAdapter that finds its connection pool once per origin.

    With a proxy or a client certificate, requests' own lookup runs every
    time. Every pool's connections are guarded (`connection`).
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
            return _guarded(parent(request, verify, proxies=proxies, cert=cert))
        key = (scheme_and_host(request.url), repr(verify))
        pool = self._pools.get(key)
        if pool is None or pool.pool is None:  # urllib3 1.x closes evicted pools
            pool = self._pools[key] = _guarded(
                parent(request, verify, proxies=proxies, cert=cert)
            )
        return pool

    def get_connection(self, url: Any, proxies: Any = None) -> Any:  # requests < 2.32
        """Return the pool for the URL's origin, looked up once."""
        if proxies:
            return _guarded(super().get_connection(url, proxies))
        key = (scheme_and_host(url), "")
        pool = self._pools.get(key)
        if pool is None or pool.pool is None:  # urllib3 1.x closes evicted pools
            pool = self._pools[key] = _guarded(super().get_connection(url, proxies))
        return pool

    def request_url(self, request: Any, proxies: Any) -> str:
        """The request target: with no proxy, the URL's path, found once."""
        if proxies:
            return str(super().request_url(request, proxies))
        url = request.url
        start = url.find("/", url.find("//") + 2)
        return "/" if start < 0 else url[start:].split("#")[0]

    def build_response(self, req: Any, resp: Any) -> requests.Response:
        """Wrap urllib3's answer, as requests does, but keep no cookies.

        The client prepares its requests itself and never sends a cookie
        back: reading the answer's into a jar is work for nothing.
        """
        response = requests.Response()
        response.status_code = resp.status
        response.headers = CaseInsensitiveDict(resp.headers)
        response.encoding = requests.utils.get_encoding_from_headers(response.headers)
        response.raw = resp
        response.reason = resp.reason
        response.url = req.url
        response.request = req
        response.connection = self
        return response

    def close(self) -> None:
        """Forget the pools and close them."""
        self._pools.clear()
        super().close()


def _guarded(pool: Any) -> Any:
    pool.ConnectionCls = guarded_class(pool.ConnectionCls)
    return pool


def bypasses_proxy(url: str, no_proxy: str) -> bool:
    """Tell whether `NO_PROXY` (as `no_proxy`) says the URL goes direct."""
    return bool(requests.utils.should_bypass_proxies(url, no_proxy=no_proxy))


def scheme_and_host(url: str) -> str:
    """`scheme://host[:port]` of a URL: the pool's key, found without parsing."""
    end = url.find("/", url.find("//") + 2)
    return url if end < 0 else url[:end]


__all__ = ["PoolCachingAdapter", "bypasses_proxy", "scheme_and_host"]
