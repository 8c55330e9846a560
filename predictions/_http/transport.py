"""How a request leaves: sessions per thread, one attempt, redirects; the answer.

A request is prepared here and handed straight to the thread's adapter
(`adapter`): requests' own `Session.send` (environment, proxy and cookie
merging, hook dispatch, redirects) has nothing to add, since every setting
was resolved once, when the client was made. Tools that hook requests at
`Session.send` (OpenTelemetry's requests instrumentation, requests-cache,
APM agents) must see every call, though: while `Session.send` is not
requests' own (patched on the class, overridden by a session class that
requests-cache put in place, or replaced on the session), each attempt goes
through it, with the same arguments and its own redirects turned off. What
it adds then changes nothing here: the session keeps no cookie (its jar
refuses them) and never looks at a redirect (the transport follows them);
and a response cache that hooks it (requests-cache's `install_cache`) keeps
and serves no answer, since every GET says `Cache-Control: no-store`.
The `Request` travels whole to the attempt that sends it; a redirect is
followed within the API's origin only. Transport failures become typed
errors (`failures`) that say whether the request may have reached the server.

What bounds an attempt:

- `timeout` (connect, read): opening the connection, and each wait for bytes;
- `total_timeout`: the whole attempt, from sending to the last byte of the
  answer, however the server spaces its bytes (see `connection`);
- the caller's deadline (a wait's timeout): the attempt in flight too;
- `max_response_bytes`: the answer's size once decompressed (`body`).

Each thread has its own session; a process forked from one that used the
client makes new ones (and never reads an answer off the parent's sockets).
"""

from __future__ import annotations

import dataclasses
import functools
import http.cookiejar
import logging
import os
import threading
import time
import types
import weakref
from typing import Any, Callable, Mapping, Optional
from urllib.parse import urlencode, urljoin, urlsplit

import requests
from requests.structures import CaseInsensitiveDict

from predictions._checks import Timeout
from predictions._http.adapter import (
    PoolCachingAdapter,
    bypasses_proxy,
    scheme_and_host,
)
from predictions._http.body import read_body
from predictions._http.connection import Attempt, set_current
from predictions._http.failures import connection_error, cut_short
from predictions._http.hooks import AttemptHooks
from predictions._http.request import Request
from predictions._settings import Settings
from predictions.errors import APIStatusError, PredictionsError
from predictions.plugins import PluginHost

logger = logging.getLogger("predictions")

MAX_REDIRECTS = 5
"""How many same-origin redirects one request follows."""


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


def _requests_own_send() -> Optional[Callable[..., Any]]:
    """Find requests' own `Session.send`, under any wrapper put on it before now.

    An instrumentation loaded at start-up (`opentelemetry-instrument`, an
    APM agent) may have wrapped it already; wrappers say what they wrap in
    `__wrapped__` (functools.wraps, wrapt). None if what is found is not
    requests' own function: then every attempt goes through the session.
    """
    for cls in requests.sessions.Session.__mro__:  # requests-cache may replace it
        if cls.__module__ == "requests.sessions" and cls.__name__ == "Session":
            send = cls.__dict__.get("send")
            for _ in range(100):  # a chain of wrappers, never a loop
                inner = getattr(send, "__wrapped__", None)
                if inner is None:
                    break
                send = inner
            if (
                isinstance(send, types.FunctionType)
                and send.__module__ == "requests.sessions"
                and send.__code__.co_name == "send"
            ):
                return send
    return None


_REQUESTS_SEND = _requests_own_send()


def sends_itself(session: requests.Session) -> bool:
    """Whether `session.send` is requests' own, so that the adapter may be called.

    Not when it is patched on the class, overridden by the session's class
    or replaced on the session itself.
    """
    return type(session).send is _REQUESTS_SEND and "send" not in vars(session)


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """A cookie policy that keeps no cookie and returns none."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


def _no_redirect_target(response: requests.Response) -> None:
    """A session's `get_redirect_target`: the transport follows redirects itself."""
    return None


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
        self._api_origin = scheme_and_host(settings.base_url)
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
        session = requests.Session()  # looked up now: requests-cache may replace it
        session.trust_env = False
        session.verify = self.settings.verify
        session.proxies.update(self.proxies)
        # What `Session.send` adds, when a tool makes the transport go through
        # it, must change nothing: no cookie is kept (none is ever sent), and
        # the answer to a redirect is not read (Session.send reads the whole
        # body of one to find the next request, past `max_response_bytes`).
        session.cookies.set_policy(_NoCookies())
        session.get_redirect_target = _no_redirect_target  # type: ignore[method-assign,assignment]
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
        self,
        request: Request,
        attempt: int,
        seconds_left: Optional[float],
        paced: float = 0.0,
    ) -> requests.Response:
        """Send one attempt, following redirects within the API's origin only.

        Args:
            request: The request.
            attempt: The attempt's number, for the request hooks.
            seconds_left: Seconds until the caller's deadline, or None.
            paced: Seconds the attempt waited for the pacer, for the hooks.

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
        url = request.url(self.settings.base_url)
        told = (
            AttemptHooks(self.hooks, attempt, self._api_origin, paced)
            if self.hooks.active
            else None
        )
        started = time.monotonic()
        limits = Attempt(started + total, timeout[1])
        set_current(limits)
        start = time.perf_counter()
        answered = False
        try:
            response = self._follow(request, url, timeout, told)
            answered = True
            if not request.stream or response.status_code >= 300:
                read_body(response, settings.max_response_bytes)
            else:  # a stream: each read within the read timeout, and the deadline
                limits.deadline = (
                    None if seconds_left is None else started + seconds_left
                )
        except BaseException as exc:
            set_current(None)
            error = exc
            if isinstance(exc, (requests.exceptions.RequestException, OSError)):
                where = f"{request.method} {_origin(url)}{urlsplit(url).path}"
                if limits.expired():
                    error = cut_short(where, total, by_deadline)
                elif not isinstance(exc, PredictionsError):
                    error = connection_error(where, exc, timeout, answered)
            if told is not None:
                told.failed(error, time.perf_counter() - start)
            if error is exc:
                raise
            raise error from exc
        set_current(None)
        elapsed = time.perf_counter() - start
        if told is not None:
            told.answered(response, elapsed)
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
        self,
        request: Request,
        url: str,
        timeout: Timeout,
        told: Optional[AttemptHooks],
    ) -> requests.Response:
        for _ in range(MAX_REDIRECTS + 1):
            response = self._send_once(request, url, timeout, told)
            if not response.is_redirect:
                return response
            target = urljoin(response.url, response.headers["location"])
            try:
                elsewhere = _origin(target) != _origin(url)
            except ValueError:  # a port that is not one
                response.close()
                who = "the file host" if request.anywhere else "the API"
                raise APIStatusError(
                    f"{who} redirected to a URL that is not valid; not followed",
                    response=response,
                ) from None
            if elsewhere and request.anywhere:
                if urlsplit(target).scheme not in ("http", "https"):
                    response.close()
                    raise APIStatusError(
                        f"a redirect to {target.split(':')[0]!r}: only http(s) "
                        "URLs are followed",
                        response=response,
                    )
            elif elsewhere:
                response.close()
                raise APIStatusError(
                    f"the API redirected to another origin ({_origin(target)}); "
                    "not followed, so no credentials or body leave the API's origin",
                    response=response,
                )
            request = _redirected(request, response.status_code)
            url = target
            response.close()
        raise APIStatusError(
            f"redirected more than {MAX_REDIRECTS} times; not followed further",
            response=response,
        )

    def _proxies_for(self, url: str) -> Mapping[str, str]:
        """The proxies for a URL: the API's, or the environment's for another.

        For another origin (an upload's part URL), `NO_PROXY` is applied to it.
        """
        if scheme_and_host(url) == self._api_origin:
            return self.proxies
        no_proxy = self.settings.no_proxy
        if no_proxy and bypasses_proxy(url, no_proxy):
            return {}
        return dict(self.settings.outside_proxies)

    def _send_once(
        self,
        request: Request,
        url: str,
        timeout: Timeout,
        told: Optional[AttemptHooks],
    ) -> requests.Response:
        """Send the request once to `url` (its own, or a redirect's target)."""
        prepared = requests.PreparedRequest()
        prepared.method = request.method
        query = request.query
        prepared.url = url if not query else f"{url}?{urlencode(query, doseq=True)}"
        prepared.headers = CaseInsensitiveDict(
            self.headers
            if request.credentials
            else {"User-Agent": self.headers["User-Agent"]}
        )
        if request.method in ("GET", "HEAD"):
            # A prediction's status changes and a file is streamed to disk: no
            # cache on the way (a process-wide requests-cache, a caching proxy)
            # may keep an answer or serve one it kept.
            prepared.headers["Cache-Control"] = "no-store"
        prepared.headers.update(request.headers)
        body: Any = request.body
        if callable(body):
            body = body()  # a fresh stream for each attempt; its length is given
        elif body is not None:
            prepared.headers["Content-Length"] = str(len(body))
        prepared.body = body
        if told is not None:
            own = request.credentials and scheme_and_host(url) == self._api_origin
            told.before(prepared, request.template, own)
        session = self.session()
        send: Callable[..., requests.Response]
        if sends_itself(session):  # requests' own would add nothing
            send = session.adapters["https://"].send  # one adapter, both schemes
        else:  # a tool hooks Session.send (a tracer, a cache): it sees the attempt
            send = functools.partial(session.send, allow_redirects=False)
        response = send(
            prepared,
            stream=True,
            timeout=timeout,
            verify=self.settings.verify,
            cert=None,
            proxies=self._proxies_for(url),
        )
        return response


def _redirected(request: Request, status: int) -> Request:
    """The request that follows a redirect: its query is in the target's URL.

    A 303, and a 301 or 302 answering a POST, turn it into a GET with no body.
    """
    if status == 303 or (status in (301, 302) and request.method == "POST"):
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() not in ("content-type", "content-length")
        }
        return dataclasses.replace(
            request, method="GET", body=None, headers=headers, query=(), template=None
        )
    return dataclasses.replace(request, query=(), template=None)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return f"{parts.scheme}://{parts.hostname}:{port}"


__all__ = [
    "MAX_REDIRECTS",
    "Transport",
    "after_fork_in_child",
    "sends_itself",
]
