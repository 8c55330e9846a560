"""API: sessions, building and sending requests, decoding answers, typed errors.

Every request goes through `API.request`: it is sent on the calling thread's
own `requests.Session` under the retry policy, and its answer is decoded into
JSON or raised as a typed error. The `async_` variant runs the same call on the
client's thread pool.
"""

from __future__ import annotations

import functools
import json
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Awaitable, Callable, Mapping, Optional

import requests

from predictions._decode import decode
from predictions._pacing import Pacer, bucket_of
from predictions._retry import RetryPolicy, check_max_retries
from predictions._transport import Timeout, Transport
from predictions.errors import (
    PredictionsError,
)
from predictions.plugins import PluginHost
from predictions.types import JsonValue


class API:
    """Sends requests to the WriftAI API and decodes the answers.

    The settings are resolved once, by the `Client`; this class only uses
    them. Each thread gets its own `requests.Session` from the transport's
    one factory (`Transport.new_session`), so
    the executor's threads never share one.

    Args:
        base_url: The API's base URL, with no trailing slash.
        headers: Headers sent with every request (authorization included).
        timeout: (connect, read) timeouts in seconds.
        max_retries: How many times a failed request may be repeated.
        retry_create: "safe" or "idempotent": which failures of a create are
            retried (see `predictions._retry`).
        max_workers: The size of the thread pool for `async_request`, and of
            each session's connection pool.
        verify: TLS verification: True, False or a CA bundle path.
        proxies: Proxies by scheme, already merged with the environment's.
        sleep: The blocking sleep used between retries and polls.
        async_sleep: The event-loop sleep used between async polls
            (`asyncio.sleep` if None).
        clock: A monotonic clock, for deadlines.
        hooks: The plugins whose request hooks this API calls; none if None.
        pacing: Space requests to fit the rate limits the server announces.
    """

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str],
        timeout: Timeout,
        max_retries: int = 2,
        retry_create: str = "safe",
        max_workers: int = 16,
        verify: Any = True,
        proxies: Optional[Mapping[str, str]] = None,
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Optional[Callable[[float], Awaitable[None]]] = None,
        clock: Callable[[], float] = time.monotonic,
        hooks: Optional[PluginHost] = None,
        pacing: bool = True,
    ) -> None:
        self.base_url = base_url
        self.hooks = hooks if hooks is not None else PluginHost(entry_points=False)
        self.retry_create = retry_create
        self.max_workers = max_workers
        self.sleep = sleep
        self._async_sleep = async_sleep
        self.clock = clock
        self.retry_policy = RetryPolicy(max_retries, sleep=sleep, clock=clock)
        self.pacer = Pacer(clock=clock, sleep=sleep) if pacing else None
        self.transport = Transport(
            headers=headers,
            timeout=timeout,
            verify=verify,
            proxies=proxies or {},
            pool_size=max_workers,
            hooks=self.hooks,
        )
        self._local = threading.local()
        self._sessions: weakref.WeakSet[requests.Session] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._executor: Optional[ThreadPoolExecutor] = None
        self._closed = False

    def __repr__(self) -> str:
        return f"<API {self.base_url}>"

    @property
    def timeout(self) -> Timeout:
        """(connect, read) timeouts in seconds, as the transport sends with."""
        return self.transport.timeout

    @property
    def async_sleep(self) -> Callable[[float], Awaitable[None]]:
        """The event-loop sleep between async polls (`asyncio.sleep` by default)."""
        if self._async_sleep is None:
            import asyncio

            return asyncio.sleep
        return self._async_sleep

    @async_sleep.setter
    def async_sleep(self, sleep: Callable[[float], Awaitable[None]]) -> None:
        self._async_sleep = sleep

    # Sessions and the executor

    def session(self) -> requests.Session:
        """Return the calling thread's session, made on first use.

        Raises:
            PredictionsError: If the client has been closed.
        """
        session: Optional[requests.Session] = getattr(self._local, "session", None)
        if session is None:
            with self._lock:
                self._check_open()
                session = self.transport.new_session()
                self._sessions.add(session)
            self._local.session = session
        return session

    def executor(self) -> ThreadPoolExecutor:
        """Return the thread pool that runs the async variants, made on first use.

        Raises:
            PredictionsError: If the client has been closed.
        """
        with self._lock:
            self._check_open()
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self.max_workers, thread_name_prefix="predictions"
                )
            return self._executor

    def close(self) -> None:
        """Close every session and shut the thread pool down; idempotent."""
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
            sessions = list(self._sessions)
            self._sessions.clear()
        if executor is not None:
            executor.shutdown(wait=True)
        for session in sessions:
            session.close()

    def _check_open(self) -> None:
        if self._closed:
            raise PredictionsError("this client is closed; make a new one")

    # Requests

    def request(
        self,
        method: str,
        path: str,
        body: JsonValue = None,
        headers: Optional[Mapping[str, str]] = None,
        params: Optional[Mapping[str, Any]] = None,
        *,
        expect_object: bool = False,
        idempotent: Optional[bool] = None,
        max_retries: Optional[int] = None,
        deadline: Optional[float] = None,
        _paced: bool = False,
    ) -> JsonValue:
        """Send a request under the retry policy and decode its JSON answer.

        Args:
            method: The HTTP method, such as "GET" or "POST".
            path: The path below the base URL, already percent-encoded.
            body: A JSON body, or None for none.
            headers: Extra headers for this request.
            params: Query parameters; None values are left out.
            expect_object: Raise `InvalidResponseError` unless the answer is
                a JSON object.
            idempotent: Whether sending the request twice does no harm. By
                default, every method but POST is, and POST is when the
                client's `retry_create` is "idempotent".
            max_retries: This call's retry limit, instead of the client's.
            deadline: A monotonic time that no retry sleep may run past.
            _paced: The first attempt's place was already taken from the
                pacer (by `async_request`, on the event loop).

        Returns:
            The decoded JSON answer (None for an empty 204).

        Raises:
            APIStatusError: The API answered with an error status.
            APIConnectionError: No answer came (APITimeoutError on timeouts).
            InvalidResponseError: A successful answer was not the JSON expected.
        """
        self._check_open()
        if max_retries is not None:
            check_max_retries(max_retries)
        data = None if body is None else json.dumps(body).encode("utf-8")
        all_headers = dict(headers or {})
        if data is not None:
            all_headers["Content-Type"] = "application/json"
        query = {k: v for k, v in (params or {}).items() if v is not None}
        url = self.base_url + path

        bucket = bucket_of(method, path)
        attempts = 0

        def attempt() -> JsonValue:
            nonlocal attempts
            attempts += 1
            if self.pacer is not None and (attempts > 1 or not _paced):
                self.pacer.acquire(bucket, deadline)
            try:
                response = self.transport.send(
                    self.session(), method, url, data, all_headers, query, attempts
                )
            except BaseException:
                if self.pacer is not None:
                    self.pacer.release(bucket)
                raise
            if self.pacer is not None:
                self.pacer.observe(bucket, response.status_code, response.headers)
            return decode(response, expect_object)

        def on_retry(number: int, delay: float, error: BaseException) -> None:
            self.hooks.call(
                "predictions_on_retry",
                method=method,
                url=url,
                attempt=number,
                delay=delay,
                error=error,
            )

        return self.retry_policy.call(
            attempt,
            before_sleep=on_retry if self.hooks.active else None,
            idempotent=(
                idempotent
                if idempotent is not None
                else method != "POST" or self.retry_create == "idempotent"
            ),
            max_retries=max_retries,
            deadline=deadline,
        )

    async def async_request(
        self,
        method: str,
        path: str,
        body: JsonValue = None,
        headers: Optional[Mapping[str, str]] = None,
        params: Optional[Mapping[str, Any]] = None,
        **options: Any,
    ) -> JsonValue:
        """Run `request` on the client's thread pool; the same arguments.

        The wait for the rate limit, if any, happens on the event loop, so a
        paced request holds no thread while it waits.
        """
        if self.pacer is not None:
            await self.pacer.async_acquire(
                bucket_of(method, path), options.get("deadline")
            )
            options["_paced"] = True
        call = functools.partial(
            self.request, method, path, body, headers, params, **options
        )
        import asyncio  # imported on first use: a sync-only program never pays for it

        try:
            return await asyncio.get_running_loop().run_in_executor(
                self.executor(), call
            )
        except BaseException:
            if self.pacer is not None:  # the place may never have been used
                self.pacer.release(bucket_of(method, path))
            raise


__all__ = ["API"]
