"""How a request leaves: sessions, the adapter, one attempt, redirects; the answer.

A request is prepared here and handed straight to the thread's adapter; the
session's per-request machinery (environment, proxy and cookie merging, hook
dispatch, redirects) has nothing to add, since every setting was resolved
once, when the client was made. Redirects are followed within the API's
origin only, and transport failures become typed errors that say whether the
request may have reached the server.

What bounds an attempt:

- `timeout` (connect, read): opening the connection, and each wait for bytes;
- `total_timeout`: the whole attempt, from sending to the last byte of the
  answer, however the server spaces its bytes (see `_connection`);
- the caller's deadline (a wait's timeout): the attempt in flight too;
- `max_response_bytes`: the answer's size once decompressed, read a piece
  at a time, so a compressed bomb costs no memory.

Each thread has its own session; a process forked from one that used the
client makes new ones (and never reads an answer off the parent's sockets).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from typing import Any, Callable, Dict, Mapping, Optional, Tuple
from urllib.parse import urlencode, urljoin, urlsplit

import requests
import requests.utils
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NewConnectionError,
    ProxyError,
    SSLError,
)

from predictions._http.connection import Attempt, guarded_class, set_current
from predictions._http.decode import excerpt
from predictions._http.request import Request
from predictions._settings import Settings, Timeout
from predictions.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    InvalidResponseError,
    PredictionsError,
    ResponseTooLargeError,
)
from predictions.plugins import PluginHost

logger = logging.getLogger("predictions")

MAX_REDIRECTS = 5
"""How many same-origin redirects one request follows."""

READ_CHUNK = 8192
"""Bytes read (and decompressed) at a time: what an answer may overshoot its limit by,
times the compression ratio."""


_FORK_RESETS: weakref.WeakKeyDictionary[Any, Callable[[Any], None]] = (
    weakref.WeakKeyDictionary()
)
"""What to call in a forked child, for each object still alive."""


def _reset_after_fork() -> None:
    for obj, method in list(_FORK_RESETS.items()):
        method(obj)


if hasattr(os, "register_at_fork"):  # one hook for the process, not one per client
    os.register_at_fork(after_in_child=_reset_after_fork)


def after_fork_in_child(obj: Any, method: Callable[[Any], None]) -> None:
    """Call `method(obj)` in every child forked after this, while `obj` lives."""
    _FORK_RESETS[obj] = method


class PoolCachingAdapter(HTTPAdapter):
    """An HTTPAdapter that finds its connection pool once per origin.

    requests parses the URL and builds a pool key on every send; this client
    talks to one origin with settings fixed when it was made, so the pool found
    the first time serves every later request. With a proxy or a client
    certificate, requests' own lookup runs every time. Every pool's
    connections are guarded (`_connection`).
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
        key = (_scheme_and_host(request.url), repr(verify))
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
        key = (_scheme_and_host(url), "")
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


def _bypassed(url: str, no_proxy: str) -> bool:
    return bool(requests.utils.should_bypass_proxies(url, no_proxy=no_proxy))


def _guarded(pool: Any) -> Any:
    pool.ConnectionCls = guarded_class(pool.ConnectionCls)
    return pool


class Transport:
    """The sessions of one client, and the sending of one attempt.

    Args:
        settings: The client's settings.
        headers: Headers sent with every request (authorization included).
        hooks: The plugins whose request hooks are called.
    """

    def __init__(
        self, settings: Settings, headers: Mapping[str, str], hooks: PluginHost
    ) -> None:
        self.settings = settings
        self.headers = CaseInsensitiveDict(headers)
        self.proxies = dict(settings.proxies)
        self._api_origin = _scheme_and_host(settings.base_url)
        self.hooks = hooks
        self._reset()
        after_fork_in_child(self, Transport._reset)

    def _reset(self) -> None:
        # In a forked child the parent's sessions (and their sockets) are
        # dropped without being closed: closing them would shut the parent's
        # connections, and reading from them would take the parent's answers.
        self._local = threading.local()
        self._sessions: weakref.WeakSet[requests.Session] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._closed = False

    @property
    def timeout(self) -> Timeout:
        """(connect, read) timeouts in seconds."""
        return self.settings.timeout

    def session(self) -> requests.Session:
        """Return the calling thread's session, made on first use.

        Raises:
            PredictionsError: If the client has been closed.
        """
        session: Optional[requests.Session] = getattr(self._local, "session", None)
        if session is None:
            with self._lock:
                if self._closed:
                    raise PredictionsError("this client is closed; make a new one")
                session = self._new_session()
                self._sessions.add(session)
            self._local.session = session
        return session

    def _new_session(self) -> requests.Session:
        """Make a session with this client's settings (the one factory of sessions)."""
        session = requests.Session()
        session.trust_env = False
        session.verify = self.settings.verify
        session.proxies.update(self.proxies)
        adapter = PoolCachingAdapter(
            pool_maxsize=self.settings.max_workers, max_retries=0
        )
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    def close(self) -> None:
        """Close every session; idempotent."""
        with self._lock:
            self._closed = True
            sessions = list(self._sessions)
            self._sessions.clear()
        for session in sessions:
            session.close()

    def send(
        self, request: Request, attempt: int, seconds_left: Optional[float]
    ) -> requests.Response:
        """Send one attempt, following redirects within the API's origin only.

        Args:
            request: The request.
            attempt: The attempt's number, for the `on_request` hook.
            seconds_left: Seconds until the caller's deadline, or None.

        Returns:
            The answer: its body read (within `max_response_bytes`), or, for
            a streamed request, unread.

        Raises:
            APIStatusError: A redirect to another origin, or too many.
            APIConnectionError: No answer (APITimeoutError on timeouts).
            ResponseTooLargeError: The answer is larger than the limit.
        """
        settings = self.settings
        read = max(request.read_timeout or 0.0, settings.timeout[1])
        total = max(settings.total_timeout, read)
        by_deadline = seconds_left is not None and seconds_left < total
        if seconds_left is not None:
            total = min(total, seconds_left)
        timeout = (min(settings.timeout[0], total), min(read, total))
        absolute = request.path.startswith(("https://", "http://"))
        url = request.path if absolute else self.settings.base_url + request.path
        limits = Attempt(time.monotonic() + total, timeout[1])
        set_current(limits)
        start = time.perf_counter()
        answered = False
        try:
            response = self._follow(request, url, attempt, timeout)
            answered = True
            if not request.stream or response.status_code >= 300:
                read_body(response, settings.max_response_bytes)
            else:
                limits.deadline = None  # a stream: each read within the read timeout
        except (requests.exceptions.RequestException, OSError) as exc:
            where = f"{request.method} {_origin(url)}{urlsplit(url).path}"
            if limits.expired():
                raise _cut_short(where, total, by_deadline) from exc
            if isinstance(exc, PredictionsError):
                raise
            raise _connection_error(where, exc, timeout, answered) from exc
        finally:
            set_current(None)
        elapsed = time.perf_counter() - start
        if self.hooks.active:
            self.hooks.call(
                "predictions_on_response",
                request=response.request,
                response=response,
                elapsed=elapsed,
            )
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s -> %s in %.0f ms (attempt %d)",
                request.method,
                urlsplit(response.url or url).path,
                response.status_code,
                elapsed * 1000,
                attempt,
            )
        return response

    def _follow(
        self, request: Request, url: str, attempt: int, timeout: Timeout
    ) -> requests.Response:
        method, body = request.method, request.body
        headers = dict(request.headers)
        query = request.query
        for _ in range(MAX_REDIRECTS + 1):
            response = self._send_once(
                method, url, body, headers, query, attempt, timeout, request.credentials
            )
            if not response.is_redirect:
                return response
            target = urljoin(response.url, response.headers["location"])
            try:
                elsewhere = _origin(target) != _origin(url)
            except ValueError:  # a port that is not one
                response.close()
                raise APIStatusError(
                    "the API redirected to a URL that is not valid; not followed",
                    response=response,
                ) from None
            if elsewhere:
                response.close()
                raise APIStatusError(
                    f"the API redirected to another origin ({_origin(target)}); "
                    "not followed, so no credentials or body leave the API's origin",
                    response=response,
                )
            if response.status_code == 303 or (
                response.status_code in (301, 302) and method == "POST"
            ):
                method, body = "GET", None
                headers = {
                    k: v
                    for k, v in headers.items()
                    if k.lower() not in ("content-type", "content-length")
                }
            url, query = target, ()
            response.close()
        raise APIStatusError(
            f"the API redirected more than {MAX_REDIRECTS} times", response=response
        )

    def _proxies_for(self, url: str) -> Mapping[str, str]:
        """The proxies for a URL: the API's, or the environment's for another.

        For another origin (an upload's part URL), `NO_PROXY` is applied to it.
        """
        if _scheme_and_host(url) == self._api_origin:
            return self.proxies
        no_proxy = self.settings.no_proxy
        if no_proxy and _bypassed(url, no_proxy):
            return {}
        return dict(self.settings.outside_proxies)

    def _send_once(
        self,
        method: str,
        url: str,
        body: Any,
        headers: Mapping[str, str],
        query: Any,
        attempt: int,
        timeout: Timeout,
        credentials: bool,
    ) -> requests.Response:
        prepared = requests.PreparedRequest()
        prepared.method = method
        prepared.url = url if not query else f"{url}?{urlencode(query, doseq=True)}"
        prepared.headers = CaseInsensitiveDict(
            self.headers if credentials else {"User-Agent": self.headers["User-Agent"]}
        )
        prepared.headers.update(headers)
        if callable(body):
            body = body()  # a fresh stream for each attempt; its length is given
        elif body is not None:
            prepared.headers["Content-Length"] = str(len(body))
        prepared.body = body
        if self.hooks.active:
            self.hooks.call("predictions_on_request", request=prepared, attempt=attempt)
        adapter: HTTPAdapter = self.session().adapters["https://"]  # both schemes
        response: requests.Response = adapter.send(
            prepared,
            stream=True,
            timeout=timeout,
            verify=self.settings.verify,
            proxies=self._proxies_for(url),
        )
        return response


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


def _cut_short(where: str, seconds: float, by_deadline: bool) -> APITimeoutError:
    reason = "the caller's deadline" if by_deadline else "total_timeout"
    return APITimeoutError(
        f"{where}: no complete answer within {seconds:.3g} s ({reason})",
        deadline_reached=by_deadline,
    )


def _connection_error(
    where: str, exc: BaseException, timeout: Timeout, answered: bool
) -> Exception:
    """The typed error of a failed attempt; `answered`: its headers had come."""
    if isinstance(exc, requests.exceptions.ContentDecodingError):
        return InvalidResponseError(
            f"{where}: the answer could not be decompressed ({_reason(exc)})"
        )
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return APITimeoutError(
            f"{where}: connecting timed out after {timeout[0]:.3g} s",
            request_sent=False,
        )
    if isinstance(exc, requests.exceptions.Timeout):
        return APITimeoutError(f"{where}: no answer within {timeout[1]:.3g} s")
    if isinstance(exc, requests.exceptions.ConnectionError) and not answered:
        sent = _maybe_sent(exc)
        state = "the connection broke" if sent else "could not connect"
        return APIConnectionError(
            f"{where}: {state} ({_reason(exc)})", request_sent=sent
        )
    return APIConnectionError(f"{where}: the answer was cut off ({_reason(exc)})")


def _scheme_and_host(url: str) -> str:
    """`scheme://host[:port]` of a URL: the pool's key, found without parsing."""
    end = url.find("/", url.find("//") + 2)
    return url if end < 0 else url[:end]


def _origin(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return f"{parts.scheme}://{parts.hostname}:{port}"


def _maybe_sent(exc: requests.exceptions.ConnectionError) -> bool:
    """Tell whether a failed request may have reached the server.

    Only a failure to connect (wrapped by urllib3 in `MaxRetryError`) proves
    it did not: a TLS error after the request was written (a corrupt record
    in the answer) says nothing of the kind.
    """
    cause = exc.args[0] if exc.args else None
    if not isinstance(cause, MaxRetryError):
        return True
    return not isinstance(
        cause.reason, (NewConnectionError, ConnectTimeoutError, ProxyError, SSLError)
    )


def _reason(exc: BaseException) -> str:
    cause = exc.args[0] if exc.args else exc
    if not isinstance(cause, BaseException):  # an errno, as SSL errors carry
        cause = exc
    if isinstance(cause, MaxRetryError) and cause.reason is not None:
        cause = cause.reason
    return excerpt(str(cause)) or type(cause).__name__


__all__ = [
    "MAX_REDIRECTS",
    "PoolCachingAdapter",
    "Transport",
    "after_fork_in_child",
    "read_body",
]
