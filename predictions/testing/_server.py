"""`LocalServer`: a WriftAI-compatible server in background threads."""

from __future__ import annotations

from types import TracebackType
from typing import (
    Any,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Type,
    Union,
)

from predictions.testing._api.app import CANCEL_DELAY
from predictions.testing._api.events import (
    DEFAULT_HEARTBEAT,
    DEFAULT_STREAM_IDLE,
    MAX_STREAM_IDLE,
)
from predictions.testing._api.outputs import DEFAULT_OUTPUT_LIFETIME
from predictions.testing._api.protocol import DEFAULT_PREFER_WAIT, MAX_PREFER_WAIT
from predictions.testing._api.ratelimit import RateLimit
from predictions.testing._api.store import TERMINAL
from predictions.testing._api.uploads import (
    DEFAULT_DOWNLOAD_LIFETIME,
    DEFAULT_PART_SIZE,
)
from predictions.testing._api.webhooks import Delivery
from predictions.testing._http.faults import Fault, Faults
from predictions.testing._http.limits import MAX_CONNECTIONS, REQUEST_TIMEOUT
from predictions.testing._http.listener import RecordedRequest
from predictions.testing._models.registry import ModelEntry, ModelFn
from predictions.testing._models.runner import COLD_START, KEEP_WARM, MAX_RUN_SECONDS
from predictions.testing._options import check_options
from predictions.testing._wiring import Parts

STOP_TIMEOUT = 2.0
"""Seconds `stop()` waits for each group of threads, at most."""


class LocalServer:
    """A local WriftAI predictions API, for demos and tests.

    Use it as a context manager (or `start()` / `stop()`)::

        with LocalServer() as server:
            client = Client(api_base_url=server.base_url)

    Built-in models: `demo/echo` (output = input), `demo/sleep`
    (`{"seconds": 0..60}`, async, a log line per step), `demo/fail` (always
    fails), `demo/word-count` (`{"text": str}` -> `{word: count}`),
    `demo/stream-words` (`{"text": str, "delay": seconds}`: streams each
    word with the whitespace after it; the output is the text),
    `demo/file-info` (`{"file": download_url}` -> `{"size", "sha256"}`),
    `demo/image` (`{"width", "height", "color"}` -> `{"image": url}` of a
    PNG), `demo/files` (`{"count", "size"}` -> `{"files": [url, ...]}` of
    pseudo-random bytes) and `demo/data-url` (`{"text": str}` -> `{"file":
    "data:text/plain;base64,..."}`).
    Add your own with `register()` or `models=`: a model is `fn(input)` or
    `fn(input, ctx)`, plain or `async def`, or a generator of either kind,
    whose pieces are streamed (see `PredictionContext` and `_models`).

    It behaves as the hosted API does today: predictions have no
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

    Streams: a prediction created with `"stream": true` has events (`init`,
    one `output` per piece its model yields, then `done` or `error`; ids
    "1", "2", ...). `GET /predictions/{id}/stream?after_id=N` answers 200
    `text/event-stream` with the events after N, then each as it comes,
    `: ping` every `stream_heartbeat` seconds of silence, and ends after the
    terminal event or after `Prefer: wait=N` seconds without an event
    (`stream_idle_default` without a number, at most `stream_idle_max`). A
    create with `"stream": true` and `Prefer: wait[=N]` answers 201 with
    the stream itself. A prediction without events (not streamed, or its
    events expired after `events_expire_after`; its `stream` is then false)
    answers 409.

    Uploads: `POST /uploads` answers 201 with part URLs of a second port
    (`storage_url`, another origin), `part_size` bytes each; parts are
    written to a temporary directory as they arrive; `POST
    /uploads/{id}/complete` answers the `download_url` (valid for
    `download_lifetime` seconds), served by that port. See
    `_http.storage_port` for what the storage port refuses, and
    `storage_requests` for what it saw.

    Output files: a model saves one with `PredictionContext.save_file` and
    puts its URL in its output: a signed URL of the storage port, the file's
    name its last segment, that stops working (410 Gone) `output_lifetime`
    seconds later. `GET` answers it with an `ETag` (the file's MD5) and
    honours one `Range` (206, or 416 past the end; `If-Range`), unless
    `output_ranges=False`. See `_http.storage_port` for the rest.

    Choices where the hosted API's reference leaves room: a create answers 202 while the
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
    `storage_requests`, `webhook_deliveries`, `wait(id)`,
    `set_status(id, status)`, `reset()`.
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
        events_expire_after: Optional[float] = None,
        stream_idle_default: float = DEFAULT_STREAM_IDLE,
        stream_idle_max: float = MAX_STREAM_IDLE,
        stream_heartbeat: float = DEFAULT_HEARTBEAT,
        storage_port: int = 0,
        part_size: int = DEFAULT_PART_SIZE,
        download_lifetime: float = DEFAULT_DOWNLOAD_LIFETIME,
        output_lifetime: float = DEFAULT_OUTPUT_LIFETIME,
        output_ranges: bool = True,
        request_timeout: float = REQUEST_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
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
            events_expire_after: Seconds a streamed prediction's events are
                kept once it has ended; then its `stream` is false and its
                stream answers 409. None (the default): as long as the
                prediction (`expire_after`).
            stream_idle_default: Seconds a stream stays open without an
                event when `Prefer` has no `wait=N` (default 30).
            stream_idle_max: The cap on a stream's `Prefer: wait=N` (default 60).
            stream_heartbeat: Seconds of silence before a stream sends
                `: ping` (default 5); 0 sends none.
            storage_port: Port of the storage origin (part URLs, downloads);
                0 (the default) picks a free one.
            part_size: Bytes per upload part (default 8 MiB).
            download_lifetime: Seconds a download URL works (default 3600).
            output_lifetime: Seconds an output file's URL works (default
                3600); then it answers 410 and the file is deleted.
            output_ranges: Whether output files are served in ranges (206);
                False answers a `Range` request 200 with the whole file.
            request_timeout: Seconds a request (line, headers and body) may
                take to arrive, from its first byte (default 30); past it
                the answer is 408 and the connection is closed. 0: no limit
                but 60 s of silence.
            max_connections: Connections each port serves at once (default
                256). When full, a new one closes the longest idle one; if
                none is idle, it is answered 503 and closed.

        Raises:
            ValueError: A port is not between 0 and 65535, a duration is
                negative, NaN or infinite, or `part_size` or
                `max_connections` is below 1.
            TypeError: A duration is not a number, a port, `part_size` or
                `max_connections` not an integer, `output_ranges` not a bool.
        """
        check_options(locals())
        self.token = token
        self.host = host
        self.verbose = verbose
        self._parts = Parts(locals())
        self.faults = self._parts.faults
        self.limiter = self._parts.limiter
        self.registry = self._parts.registry

    # ---- running ------------------------------------------------------------

    def start(self) -> LocalServer:
        """Bind both ports and serve in background threads.

        Returns:
            The server itself.

        Raises:
            RuntimeError: It is already running.
            OSError: An address cannot be bound.
            TypeError: The host cannot be a host name (it holds a NUL, say).
        """
        if self._parts.ports is not None:
            raise RuntimeError("The server is already running")
        self._parts.start()
        return self

    def stop(self) -> None:
        """Stop serving, close every connection and end every thread it started.

        Predictions not yet ended are cancelled (their status says so), queued
        webhook deliveries dropped, uploaded and output files removed. Safe to
        call twice.
        """
        self._parts.stop(STOP_TIMEOUT)

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
        return self._parts.ports is not None

    @property
    def base_url(self) -> str:
        """The API's base URL, such as ``http://127.0.0.1:53124/v1``.

        Raises:
            RuntimeError: The server was never started.
        """
        if self._parts.base_url is None:
            raise RuntimeError("Start the server first")
        return self._parts.base_url

    @property
    def port(self) -> int:
        """The port it listens on (known once started)."""
        return int(self.base_url.rsplit(":", 1)[1].split("/", 1)[0])

    @property
    def storage_url(self) -> str:
        """The storage origin (parts, downloads, outputs), e.g. ``http://127.0.0.1:53125``.

        Raises:
            RuntimeError: The server was never started.
        """
        self.base_url  # noqa: B018 - raises when never started
        return self._parts.uploads.base_url

    # ---- models -------------------------------------------------------------

    def register(
        self, ref: str, fn: ModelFn, *, input_schema: Optional[Mapping[str, Any]] = None
    ) -> int:
        """Add a model backed by a Python callable, or its next version.

        Args:
            ref: `owner/name`.
            fn: Called as `fn(input)` or `fn(input, ctx)`; plain or `async def`.
                `ctx.log(line)` appends to the logs; `ctx.cancelled` tells a
                plain function it was cancelled; `ctx.save_file(content)`
                saves an output file and gives its URL.
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
        return self._parts.store.snapshot()

    def prediction(self, prediction_id: str) -> Optional[Dict[str, Any]]:
        """One prediction as GET returns it, or None."""
        return self._parts.store.get(prediction_id)

    @property
    def requests(self) -> List[RecordedRequest]:
        """The requests received (the last 10,000), oldest first.

        Each keeps at most the first 64 KiB of its body.
        """
        return list(self._parts.request_log)

    @property
    def storage_requests(self) -> List[RecordedRequest]:
        """The requests the storage port received (the last 10,000), oldest first.

        Part PUTs, downloads and output files' GETs, with their headers;
        bodies are not kept.
        """
        return list(self._parts.storage_log)

    @property
    def webhook_deliveries(self) -> List[Delivery]:
        """Every webhook delivery attempt (the last 10,000), oldest first."""
        return self._parts.webhooks.deliveries

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
        prediction = self._parts.store.wait(prediction_id, timeout)
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
        record = self._parts.store.force_status(prediction_id, status)
        if record is None:
            raise KeyError(prediction_id)
        if status in TERMINAL:
            record.context.request_cancel()
            self._parts.runner.cancel(prediction_id)

    def reset(self) -> None:
        """Forget everything the server holds and saw.

        Predictions, requests, uploads, output files (deleted), webhook
        deliveries and idempotency keys are forgotten. Running predictions
        are cancelled; rate-limit buckets refill; models
        are cold again; fault rules start over from their seed.
        """
        self._parts.reset()
