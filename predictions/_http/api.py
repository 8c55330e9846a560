"""API: one outgoing request through pacing, retries, the transport and decoding.

Every request goes through `API.request`: it takes a place from the pacer,
is sent by the transport under the retry policy, gives its place back with
what the answer said of the rate limit, and is decoded by the request's own
decoder into a result or a typed error. `async_request` waits for the rate
limit on the event loop, then runs the same call on the client's thread pool,
in the caller's context.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Iterator, List, Optional, TypeVar

import requests

from predictions._http.body import read_body
from predictions._http.pacing import Pacer, Slot, free_slot
from predictions._http.request import DEADLINE_GRACE, Request
from predictions._http.retry import RetryPolicy
from predictions._http.stream import StreamReader
from predictions._http.threads import run_in, submit
from predictions._http.transport import Transport, after_fork_in_child
from predictions._logs import log_to_stderr
from predictions._settings import Settings
from predictions._version import __version__
from predictions.errors import APITimeoutError, PredictionsError
from predictions.hookspecs import current_operation
from predictions.plugins import PluginHost

logger = logging.getLogger("predictions")

T = TypeVar("T")

USER_AGENT = f"predictions-python/{__version__}"
"""What every request says it is."""

MAX_STREAM_THREADS = 4096
"""Async streams a client keeps waiting at once (one thread each)."""


class API:
    """Sends requests to the WriftAI API and decodes the answers.

    Args:
        settings: The client's resolved settings.
        hooks: The plugins whose hooks this API calls; none if None.
    """

    def __init__(self, settings: Settings, hooks: Optional[PluginHost] = None) -> None:
        log_to_stderr(settings.log_level)
        self.settings = settings
        self.base_url = settings.base_url
        self.clock = settings.clock
        self.hooks = hooks if hooks is not None else PluginHost(entry_points=False)
        self.retry_policy = RetryPolicy(settings.max_retries, clock=self.clock)
        anonymous = not (settings.access_token or settings.basic_auth)
        self.pacer = (
            Pacer(self.clock, one_bucket=anonymous) if settings.pacing else None
        )
        self.transport = Transport(
            settings, settings.request_headers(USER_AGENT), self.hooks
        )
        self._reset_threads()
        self._closed = False
        after_fork_in_child(self, API._after_fork)

    def __repr__(self) -> str:
        return f"<API {self.base_url}>"

    def _reset_threads(self) -> None:
        self._lock = threading.Lock()
        self._executor: Optional[ThreadPoolExecutor] = None
        self._stream_executor: Optional[ThreadPoolExecutor] = None
        self._holds = threading.Semaphore(max(1, self.settings.max_workers // 2))

    def _after_fork(self) -> None:
        # The parent's pool threads do not exist in a forked child: a new
        # pool is made on first use (and the parent's is never shut from here).
        self._reset_threads()
        if self.pacer is not None:
            self.pacer.after_fork()

    def executor(self) -> ThreadPoolExecutor:
        """Return the thread pool that runs the async variants, made on first use.

        Raises:
            PredictionsError: If the client has been closed.
        """
        return self._pool("_executor", self.settings.max_workers, "predictions")

    def stream_executor(self) -> ThreadPoolExecutor:
        """Return the threads that wait for async streams' next events.

        Apart from the request pool (`max_workers`), so that open streams
        never starve the client's other async calls: each async stream
        waiting for its next event holds one of these threads.

        Raises:
            PredictionsError: If the client has been closed.
        """
        return self._pool("_stream_executor", MAX_STREAM_THREADS, "predictions-stream")

    def _pool(self, attribute: str, workers: int, prefix: str) -> ThreadPoolExecutor:
        """The pool kept in `attribute`, made on first use."""
        with self._lock:
            self._check_open()
            pool: Optional[ThreadPoolExecutor] = getattr(self, attribute)
            if pool is None:
                pool = ThreadPoolExecutor(
                    max_workers=workers, thread_name_prefix=prefix
                )
                setattr(self, attribute, pool)
            return pool

    def close(self) -> None:
        """Close every session and shut the thread pools down; idempotent."""
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
            streams, self._stream_executor = self._stream_executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        if streams is not None:  # a stream may be waiting for its next event
            streams.shutdown(wait=False)
        self.transport.close()

    def _check_open(self) -> None:
        if self._closed:
            raise PredictionsError("this client is closed; make a new one")

    def request(self, request: Request) -> Any:
        """Send a request under the retry policy and decode its answer.

        Returns:
            What the request's decoder makes of the answer.

        Raises:
            APIStatusError: The API answered with an error status.
            APIConnectionError: No answer came (APITimeoutError on timeouts,
                and when the request's deadline came first).
            InvalidResponseError: A successful answer was not what was expected.
        """
        return self._call(request, None)

    async def async_request(self, request: Request) -> Any:
        """Run `request` on the client's thread pool; the same result and errors.

        The wait for the rate limit runs on the event loop, so a paced request
        holds no thread while it waits. The request is sent in a copy of the
        caller's context (`threads`): its hooks see the caller's `ContextVar`s.
        """
        import asyncio  # imported on first use: a sync-only program never pays for it

        slot = (
            await self.pacer.async_take(request.bucket, request.deadline, request.held)
            if self.pacer is not None and request.bucket is not None
            else free_slot(request.bucket)
        )
        try:
            future = submit(self.executor(), self._call, request, slot)
        except BaseException:
            slot.release()
            raise
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            # Not started: its place goes back. Started: the call owns the
            # place (its request may be on the wire) and gives it back.
            if future.cancel():
                slot.release()
            raise

    def _call(self, request: Request, slot: Optional[Slot]) -> Any:
        """Send under the retry policy; a place given (`slot`) is always given back."""
        try:
            return self._attempts(request, slot)
        finally:
            if slot is not None:
                slot.release()  # a no-op once an attempt gave it back

    def _attempts(self, request: Request, slot: Optional[Slot]) -> Any:
        self._check_open()
        attempts = 0

        def attempt() -> Any:
            nonlocal attempts, slot
            attempts += 1
            current, slot = slot, None
            if current is None:
                current = self._take(request)
            try:
                response = self.transport.send(
                    request,
                    attempts,
                    self._seconds_left(request.deadline),
                    current.paced,
                )
            except BaseException:
                current.release()
                raise
            current.observe(response.status_code, response.headers)
            return request.decode(response)

        def on_retry(number: int, delay: float, error: BaseException) -> None:
            self.notify_retry(request, number, delay, error)

        return self.retry_policy.call(
            attempt,
            before_sleep=on_retry if self.watched() else None,
            idempotent=request.idempotent,
            max_retries=request.max_retries,
            deadline=request.deadline,
        )

    def watched(self) -> bool:
        """Whether a plugin or the debug log hears of retries."""
        return self.hooks.active or logger.isEnabledFor(logging.DEBUG)

    def notify_retry(
        self, request: Request, number: int, delay: float, error: BaseException
    ) -> None:
        """Tell the debug log and the `on_retry` hook that `request` is retried.

        Args:
            request: The request.
            number: The number of the attempt that failed (from 1).
            delay: Seconds until the next attempt.
            error: What the failed attempt raised.
        """
        url = request.url(self.base_url).split("?")[0]  # a query: a credential
        logger.debug(
            "retrying %s %s in %.1f s (attempt %d failed: %s)",
            request.method,
            url,
            delay,
            number,
            error,
        )
        self.hooks.call(
            "predictions_on_retry",
            method=request.method,
            url=url,
            attempt=number,
            delay=delay,
            error=error,
            operation=current_operation(),
        )

    def _take(self, request: Request) -> Slot:
        if self.pacer is None or request.bucket is None:
            return free_slot(request.bucket)
        return self.pacer.take(request.bucket, request.deadline, request.held)

    def _seconds_left(self, deadline: Optional[float]) -> Optional[float]:
        """Seconds the attempt may take: to the deadline, and its grace."""
        if deadline is None:
            return None
        left = deadline - self.clock.monotonic()
        if left < 0:
            raise APITimeoutError(
                "the deadline passed before the request was sent",
                request_sent=False,
                deadline_reached=True,
            )
        return left + DEADLINE_GRACE

    @contextlib.contextmanager
    def hold_place(self, wanted: bool) -> Iterator[bool]:
        """Take one of the pool's places for a held request, if one is free.

        A held request holds one of the pool's threads while the server
        holds it: half the pool at most, so that a thousand waits do not
        queue behind each other's holds.

        Args:
            wanted: Whether the request would be held (else no place is taken).

        Yields:
            Whether a place was taken, so the request may be held; the place
            is given back on the way out.
        """
        held = wanted and self._holds.acquire(blocking=False)
        try:
            yield held
        finally:
            if held:
                self._holds.release()

    def in_parallel(
        self, work: Callable[[], None], workers: int, stop: Callable[[], None]
    ) -> None:
        """Run `work` on the calling thread and on up to `workers - 1` pool threads.

        Each run of `work` takes its share from a queue of the caller's and
        returns when none is left; each runs in a copy of the caller's
        context (`threads`). Pool threads help only when free: one
        still queued behind a busy pool when the caller's own run ends is
        dropped, so a call made from the pool itself cannot deadlock.
        `stop` is called when the caller's run ends, however it ended (it
        should empty the queue); then the helpers still running are waited
        for, and the first error of one is raised.

        Raises:
            PredictionsError: If the client has been closed.
        """
        helpers: List[Future[None]] = []
        try:
            if workers > 1:
                pool = self.executor()
                helpers = [submit(pool, work) for _ in range(workers - 1)]
            try:
                work()
            finally:
                stop()
        finally:
            for helper in helpers:
                if not helper.cancel():  # one queued behind a busy pool is dropped
                    helper.result()

    def stream_reader(self, response: requests.Response) -> StreamReader:
        """The reader of a streamed answer: its async reads on the stream threads."""
        return StreamReader(response, self.stream_executor)

    async def in_pool(
        self,
        function: Callable[..., T],
        *args: Any,
        stop: Optional[threading.Event] = None,
    ) -> T:
        """Run a blocking call on the client's thread pool, awaiting its result.

        It runs in a copy of the caller's context (`threads`).

        Args:
            function: The call.
            *args: Its arguments.
            stop: Set when the awaiting task is cancelled: the call goes on
                in its thread until it looks at it (a download, at its
                next chunk).

        Raises:
            PredictionsError: If the client has been closed.
        """
        import asyncio

        try:
            return await run_in(self.executor(), function, *args)
        except asyncio.CancelledError:
            if stop is not None:
                stop.set()
            raise

    def read(
        self, answer: requests.Response, decode: Callable[[requests.Response], T]
    ) -> T:
        """Read the body of an answer left unread (a stream's), and decode it.

        Blocking; the body is read whole, within `max_response_bytes`.

        Raises:
            ResponseTooLargeError: The body is larger than that.
            InvalidResponseError: `decode` refused it (or its typed error).
        """
        read_body(answer, self.settings.max_response_bytes)
        return decode(answer)


__all__ = ["API", "USER_AGENT"]
