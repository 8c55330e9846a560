"""`LocalServer`: a WriftAI-compatible server in a background thread."""

from __future__ import annotations

import collections
import math
import threading
from types import TracebackType
from typing import (
    Any,
    Deque,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Type,
    Union,
)

from ._app import CANCEL_DELAY, App
from ._builtins import build_registry
from ._faults import Fault, Faults
from ._http import HTTPServer, RecordedRequest
from ._models import ModelEntry, ModelFn
from ._protocol import DEFAULT_PREFER_WAIT, MAX_PREFER_WAIT
from ._ratelimit import RateLimit, RateLimiter
from ._runner import COLD_START, KEEP_WARM, MAX_RUN_SECONDS, Runner
from ._store import TERMINAL, Store
from ._webhooks import Delivery, WebhookDispatcher

STOP_TIMEOUT = 2.0
"""Seconds `stop()` waits for each group of threads, at most."""


def check_seconds(name: str, value: Optional[float], *, optional: bool = False) -> None:
    """Refuse a duration that is not a finite number >= 0 (None when optional).

    Raises:
        ValueError: It is negative, NaN, infinite, or None where not allowed.
        TypeError: It is not a number.
    """
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {value!r}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")


class LocalServer:
    """A local WriftAI predictions API, for demos and tests.

    Use it as a context manager (or `start()` / `stop()`)::

        with LocalServer() as server:
            client = Client(api_base_url=server.base_url)

    Built-in models: `demo/echo` (output = input), `demo/sleep`
    (`{"seconds": 0..60}`, async, a log line per step), `demo/fail` (always
    fails) and `demo/word-count` (`{"text": str}` -> `{word: count}`). Add
    your own with `register()` or `models=`: a model is `fn(input)` or
    `fn(input, ctx)`, plain or `async def` (see `PredictionContext`).

    It behaves as the hosted API does today (API.md): predictions have no
    `url` (creates answer with a `Location` header); a cancel answers `null`
    and takes effect `cancel_delay` seconds later; the first prediction of a
    model version, and the next one after `keep_warm` idle seconds, is
    `starting` for `cold_start` seconds before `started`; pages are exactly
    `items`, `next_cursor` and `previous_cursor`, `page_size` 5 to 50
    (default 25), filtered by repeated `statuses=`; a 429 carries the
    `x-ratelimit-*` headers and no `Retry-After` (unless
    `RateLimit(retry_after=True)`); `Prefer: wait` holds a create
    `prefer_wait_default` seconds and `Prefer: wait=N` N seconds, both at
    most `prefer_wait_max`.

    Choices where API.md leaves room: a create answers 202 while the
    prediction is pending or running and 201 once it has ended (without
    `Prefer: wait` it is always answered pending); cancelling a prediction
    that succeeded, failed or was abandoned is a 409; a body that is not
    `application/json` (or `*+json`) is answered 415, a missing
    `Content-Type` is read as JSON; malformed JSON, NaN, the infinities, a
    number too large for a float (`1e400`) and nesting deeper than 200
    levels are a FastAPI 422 (`json_invalid`); a body over 10 MiB is
    answered 413 unread; a repeated `Idempotency-Key` is matched on the model
    version, input, webhook and `stream`, whichever create path and spelling
    of the model were used; webhooks are posted on creation (`pending`) and
    on every later status change; `metrics` is `{"predict_time": seconds}`
    once a prediction has run, else null.

    Models get a copy of the input; their output is stored as JSON shows it,
    and an output JSON cannot carry (NaN, an infinity, nesting deeper than
    200 levels) fails the prediction. A prediction of a plain-function model
    stays `pending` until one of the `workers` threads is free.

    To look inside: `predictions`, `prediction(id)`, `requests`,
    `webhook_deliveries`, `wait(id)`, `set_status(id, status)`, `reset()`.
    """

    def __init__(
        self,
        *,
        token: Optional[str] = None,
        models: Optional[Mapping[str, ModelEntry]] = None,
        rate_limit: Optional[RateLimit] = None,
        faults: Optional[Union[Faults, Iterable[Fault]]] = None,
        host: str = "127.0.0.1",
        port: int = 0,
        verbose: bool = False,
        workers: int = 4,
        max_run_seconds: float = MAX_RUN_SECONDS,
        webhook_retries: int = 3,
        webhook_backoff: float = 0.5,
        webhook_timeout: float = 5.0,
        webhook_rotation_secrets: Sequence[str] = (),
        webhook_duplicates: bool = False,
        prefer_wait_default: float = DEFAULT_PREFER_WAIT,
        prefer_wait_max: float = MAX_PREFER_WAIT,
        cancel_delay: float = CANCEL_DELAY,
        cold_start: float = COLD_START,
        keep_warm: float = KEEP_WARM,
        expire_after: Optional[float] = None,
    ) -> None:
        """Configure the server (nothing runs until `start()`).

        Args:
            token: When set, every request needs `Authorization: Bearer <token>`.
            models: `{"owner/name": fn}`, `{"owner/name": (fn, input_schema)}`
                or `{"owner/name": None}`; replaces or removes built-ins of
                the same name, adds the others (each as version 1).
            rate_limit: Limits to enforce per access token (answers 429);
                None enforces none. The `x-ratelimit-*` headers are sent
                either way.
            faults: Fault rules (a `Faults`, or `Fault`s for `Faults(rules)`).
            host: Address to listen on.
            port: Port to listen on (0 to 65535); 0 picks a free one.
            verbose: Log requests and server errors to stderr.
            workers: Threads for models that are plain functions.
            max_run_seconds: A prediction running longer fails (the API: 30 min).
            webhook_retries: Extra attempts for a failed webhook delivery.
            webhook_backoff: Seconds before the first retry (doubling).
            webhook_timeout: Seconds one delivery attempt may take.
            webhook_rotation_secrets: Secrets that also sign every signed
                delivery, as while a secret is rotated: one `v1=` part each,
                before the webhook's own.
            webhook_duplicates: Deliver every webhook event twice.
            prefer_wait_default: Seconds `Prefer: wait` (no number) holds a
                create (default 60).
            prefer_wait_max: The longest any `Prefer: wait` holds (default 60).
            cancel_delay: Seconds between a cancel's `null` answer and the
                status turning `cancelled` (default 0.05).
            cold_start: Seconds a cold model version is `starting` (default
                0.02); 0 turns cold starts off.
            keep_warm: Seconds a model version stays warm after its last
                prediction (default 300); 0 makes every prediction cold.
            expire_after: Seconds a prediction (its input and output with it)
                is kept once it has ended; then it is gone (GET answers 404).
                None (the default) keeps every prediction.

        Raises:
            ValueError: The port is not between 0 and 65535, or a duration
                is negative, NaN or infinite.
            TypeError: A duration is not a number.
        """
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be between 0 and 65535, not {port}")
        for name, seconds in (
            ("prefer_wait_default", prefer_wait_default),
            ("prefer_wait_max", prefer_wait_max),
            ("cancel_delay", cancel_delay),
            ("cold_start", cold_start),
            ("keep_warm", keep_warm),
        ):
            check_seconds(name, seconds)
        check_seconds("expire_after", expire_after, optional=True)
        if isinstance(webhook_rotation_secrets, str):
            raise TypeError("webhook_rotation_secrets must be a list of secrets")
        self.token = token
        self.host = host
        self.verbose = verbose
        self._port = port
        self.faults = (
            faults if isinstance(faults, Faults) or faults is None else Faults(faults)
        )
        self.limiter = RateLimiter(rate_limit)
        self.registry = build_registry(models)
        self._webhooks = WebhookDispatcher(
            webhook_retries,
            webhook_backoff,
            webhook_timeout,
            rotation_secrets=webhook_rotation_secrets,
            duplicates=webhook_duplicates,
        )
        self._store = Store(self._webhooks.enqueue, expire_after)
        self._runner = Runner(
            self._store, workers, max_run_seconds, cold_start, keep_warm
        )
        self._app = App(
            self._store,
            self._runner,
            self.registry,
            self.limiter,
            lambda: self.base_url,
            token,
            prefer_wait_default=prefer_wait_default,
            prefer_wait_max=prefer_wait_max,
            cancel_delay=cancel_delay,
        )
        self._request_log: Deque[RecordedRequest] = collections.deque(maxlen=10000)
        self._httpd: Optional[HTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self._base_url: Optional[str] = None

    # ---- running ------------------------------------------------------------

    def start(self) -> LocalServer:
        """Bind and serve in background threads.

        Returns:
            The server itself.

        Raises:
            RuntimeError: It is already running.
            OSError: The address cannot be bound.
            TypeError: The host cannot be a host name (it holds a NUL, say).
        """
        if self._httpd is not None:
            raise RuntimeError("The server is already running")
        httpd = HTTPServer(
            (self.host, self._port),
            self._app,
            self.faults,
            self._request_log,
            self.verbose,
        )
        port = httpd.server_address[1]
        shown = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(
            self.host, self.host
        )
        if ":" in shown:
            shown = f"[{shown}]"
        self._base_url = f"http://{shown}:{port}/v1"
        self._store.close(False)
        self._runner.start()
        self._webhooks.start()
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve,
            name="predictions-testing-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close every connection and end every thread it started.

        Predictions not yet ended are cancelled (their status says so), queued
        webhook deliveries dropped. Safe to call twice.
        """
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        httpd.stopping.set()
        self._store.close()
        httpd.wake()
        thread.join(STOP_TIMEOUT)
        httpd.close_all(STOP_TIMEOUT)
        httpd.server_close()
        # Webhooks first: the predictions the runner now cancels are not
        # announced to a receiver that may be gone already.
        self._webhooks.stop(STOP_TIMEOUT)
        self._runner.stop(STOP_TIMEOUT)
        self._httpd = self._thread = None

    def __enter__(self) -> LocalServer:
        """Start the server."""
        return self.start()

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        """Stop the server."""
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._httpd is not None

    @property
    def base_url(self) -> str:
        """The API's base URL, such as ``http://127.0.0.1:53124/v1``.

        Raises:
            RuntimeError: The server was never started.
        """
        if self._base_url is None:
            raise RuntimeError("Start the server first")
        return self._base_url

    @property
    def port(self) -> int:
        """The port it listens on (known once started)."""
        return int(self.base_url.rsplit(":", 1)[1].split("/", 1)[0])

    # ---- models -------------------------------------------------------------

    def register(
        self, ref: str, fn: ModelFn, *, input_schema: Optional[Mapping[str, Any]] = None
    ) -> int:
        """Add a model backed by a Python callable, or its next version.

        Args:
            ref: `owner/name`.
            fn: Called as `fn(input)` or `fn(input, ctx)`; plain or `async def`.
                `ctx.log(line)` appends to the logs; `ctx.cancelled` tells a
                plain function it was cancelled.
            input_schema: What `Validate-Input: true` checks (a JSON Schema
                subset: type, properties, required, enum, bounds...).

        Returns:
            The version number (1 the first time, then 2, 3...).
        """
        return self.registry.register(ref, fn, input_schema)

    # ---- looking inside -----------------------------------------------------

    @property
    def predictions(self) -> List[Dict[str, Any]]:
        """Every stored prediction (as GET returns it), oldest first."""
        return self._store.snapshot()

    def prediction(self, prediction_id: str) -> Optional[Dict[str, Any]]:
        """One prediction as GET returns it, or None."""
        return self._store.get(prediction_id)

    @property
    def requests(self) -> List[RecordedRequest]:
        """The requests received (the last 10,000), oldest first.

        Each keeps at most the first 64 KiB of its body.
        """
        return list(self._request_log)

    @property
    def webhook_deliveries(self) -> List[Delivery]:
        """Every webhook delivery attempt (the last 10,000), oldest first."""
        return self._webhooks.deliveries

    def wait(self, prediction_id: str, timeout: float = 10.0) -> Dict[str, Any]:
        """Wait until a prediction ends.

        Args:
            prediction_id: Its id.
            timeout: Seconds to wait at most.

        Returns:
            The ended prediction.

        Raises:
            KeyError: No such prediction.
            TimeoutError: It has not ended in time.
        """
        prediction = self._store.wait(prediction_id, timeout)
        if prediction is None:
            raise KeyError(prediction_id)
        if prediction["status"] not in TERMINAL:
            raise TimeoutError(
                "Prediction {} is still {}".format(prediction_id, prediction["status"])
            )
        return prediction

    def set_status(self, prediction_id: str, status: str) -> None:
        """Force a prediction's status, e.g. `abandoned` or one clients do not know.

        A terminal status also stops the prediction if it runs.

        Raises:
            KeyError: No such prediction.
        """
        record = self._store.force_status(prediction_id, status)
        if record is None:
            raise KeyError(prediction_id)
        if status in TERMINAL:
            record.context.request_cancel()
            self._runner.cancel(prediction_id)

    def reset(self) -> None:
        """Forget predictions, requests, webhook deliveries and idempotency keys.

        Running predictions are cancelled; rate-limit buckets refill; models
        are cold again; fault rules start over from their seed.
        """
        for record in self._store.clear():
            self._runner.cancel(record.id)
        self._runner.forget_warm()
        self._request_log.clear()
        self._webhooks.clear()
        self.limiter.reset()
        if self.faults is not None:
            self.faults.reset()
