"""Following a prediction's events: open, read, resume, and end once.

`Following` holds one stream's state and its rules; two drivers run it,
`follow` (a generator) and `async_follow` (an async generator). They differ
only in how they wait for bytes: `async_follow` reads on the client's stream
threads (`StreamReader.async_read`), never on its request pool, so open
streams do not starve the client's other calls.

The rules:

- events are decoded from bytes as they arrive (`_sse.EventDecoder`);
- a connection closed with no terminal event (an idle close, a dropped
  connection, a server restart) is resumed from the last event id
  (`after_id`): no event is lost or repeated. A close after the stream was
  open a while is normal and costs nothing; a reconnect goes through the
  retry policy like any read, and a stream that keeps breaking off at once
  is given up after the client's `max_retries`. What ends it is raised as a
  `StreamError` carrying the last event id, so the caller can resume by hand;
- a reconnect after an idle close backs off too (growing up to 8 s, reset by
  the next event), so a server that closes every idle stream at once is not
  asked again in a tight loop; a stream that sends no event (heartbeats
  only, or closes) for `SILENCE_LIMIT` (the API's 30-minute run limit) ends
  with a `StreamError`; a stream given the caller's deadline (a create's
  `wait_options.timeout`) keeps it in every read, and ends past it with a
  `WaitTimeoutError`;
- the stream ends after its terminal event (`done` or `error`), firing
  `on_terminal` once, after the caller has had that event; closing the
  iterator early (`break`, `contextlib.closing`) releases the connection at
  once.
"""

from __future__ import annotations

import contextlib
from typing import (
    Any,
    AsyncGenerator,
    Callable,
    Dict,
    Generator,
    Iterator,
    List,
    Optional,
    Tuple,
    cast,
)

import requests

from predictions._http import operations
from predictions._http.api import API
from predictions._http.decode import check_prediction
from predictions._http.request import Request
from predictions._http.retry import backoff
from predictions._http.sse import EventDecoder
from predictions._http.stream import (
    DROPPED,
    StreamReader,
    close_answer,
    is_event_stream,
)
from predictions._requests import prediction_path, stream_request
from predictions._waiting.rules import RUN_LIMIT, Ending
from predictions.errors import (
    APITimeoutError,
    InvalidResponseError,
    PredictionsError,
    StreamError,
    WaitTimeoutError,
)
from predictions.hookspecs import Operation
from predictions.types import PredictionEvent

QUICK_CLOSE = 1.0
"""A stream closed within this many seconds of opening, with no event, is a
failure (a server that closes at once must not be reconnected forever)."""

SILENCE_LIMIT = RUN_LIMIT
"""Seconds a stream may send no event before it is given up (heartbeats and
reconnects do not count): no prediction runs longer."""

TERMINAL_EVENTS = ("done", "error")

KEY = "Idempotency-Key"


class Following(Ending):
    """One prediction's event stream, resumed across connections.

    Args:
        api: The API the stream is opened through.
        prediction_id: The prediction, or None until a create's stream tells it.
        after_id: Resume after this event id.
        wait: Seconds the server may stay idle before it closes (`Prefer: wait`).
        on_init: Called with the prediction of the `init` event, once.
        deadline: The caller's deadline on the client's clock, or None.
        create: The create whose answer is this stream, while its prediction
            is not known: sent again (its `Idempotency-Key` the same) if the
            stream breaks off before `init` and the client may repeat
            creates (`retry_create="idempotent"`).
        operation: Its operation, begun already (a create's), which it ends;
            None: it begins one of its own ("stream") as its driver starts.
    """

    def __init__(
        self,
        api: API,
        prediction_id: Optional[str],
        after_id: Optional[str] = None,
        wait: Optional[float] = None,
        on_init: Optional[Callable[[Dict[str, Any]], None]] = None,
        deadline: Optional[float] = None,
        create: Optional[Request] = None,
        operation: Optional[Operation] = None,
    ) -> None:
        self.api = api
        self.operation = operation
        self.owns = operation is not None
        self.opened = 0  # connections read so far
        self.deadline = deadline
        self.create = create
        self.prediction_id = prediction_id
        self.wait = wait
        self.on_init = on_init
        self.decoder = EventDecoder()
        self.decoder.last_id = after_id
        self.prediction: Optional[Dict[str, Any]] = None
        self.finished = False
        self.failures = 0
        self.idle_closes = 0  # in a row, with no event between them
        self.opened_at = 0.0
        self.progressed = False
        self.started = self.heard_at = api.clock.monotonic()
        self._seen = set() if after_id is None else {after_id}
        self.response: Optional[requests.Response] = None
        """The answer being read, while a connection is open."""

    @contextlib.contextmanager
    def lifetime(self) -> Iterator[None]:
        """Around a driver: end once however it ends; leave no connection open.

        Its operation begins here (a plugin's on_operation_start) if it has
        none yet; it is current only around the stream's requests, never in
        the caller's context between two events.
        """
        self.track("stream", "stream")
        if self.operation is not None:
            self.operation.attributes["resumes"] = 0
        try:
            yield
            self.end(None)
        except BaseException as exc:
            self.end(None if self.finished else exc)
            raise
        finally:
            if self.response is not None:
                close_answer(self.response)

    @contextlib.contextmanager
    def reopening(self) -> Iterator[None]:
        """Around a (re)connect: its failure becomes a `StreamError`.

        The error carries the last event id, to resume by hand.
        """
        try:
            yield
        except StreamError:
            raise
        except APITimeoutError as exc:
            if exc.deadline_reached:  # the caller's: a wait's timeout, not a break
                raise self.timed_out() from exc
            raise self.error(f"the event stream could not be resumed ({exc})") from exc
        except PredictionsError as exc:
            raise self.error(f"the event stream could not be resumed ({exc})") from exc

    def resuming(self) -> None:
        """Before a reconnect: the `on_stream_resume` hook (none before the first)."""
        operation = self.operation
        if not self.opened or operation is None:
            return
        resumes = operation.attributes.get("resumes", 0) + 1
        operation.attributes["resumes"] = resumes
        self.api.hooks.call(
            "predictions_on_stream_resume",
            operation=operation,
            last_event_id=self.decoder.last_id,
            resumes=resumes,
        )

    def request(self) -> Request:
        """The request that (re)opens the stream after the last event."""
        if self.prediction_id is None:
            if self.create is not None and self.create.idempotent:
                return self.create  # a server that honours the key answers it again
            key = "" if self.create is None else self.create.headers.get(KEY, "")
            raise self.error(
                "the stream broke off before it told its prediction"
                + (f" (created with Idempotency-Key {key})" if key else "")
                + ": find it among the newest of predictions.list(); with "
                "Client(retry_create='idempotent'), for a server that honours "
                "the key, the create is sent again and its stream resumed"
            )
        path = prediction_path(self.prediction_id)
        return stream_request(path, self.decoder.last_id, self.wait, self.deadline)

    def start_reading(self) -> StreamReader:
        """Start reading the answer: return its reader."""
        response = self.response
        assert response is not None
        self.opened_at = self.api.clock.monotonic()
        self.opened += 1
        self.progressed = False
        if not is_event_stream(response):
            raise self.error(
                "the server answered with "
                f"{response.headers.get('content-type') or 'no content type'}, "
                "not an event stream"
            )
        return self.api.stream_reader(response)

    def take(self, chunk: bytes) -> List[PredictionEvent]:
        """The new events a piece of the stream completes, up to the terminal one."""
        fresh: List[PredictionEvent] = []
        self.check_time()
        for event in cast(List[PredictionEvent], self.decoder.feed(chunk)):
            if event["id"] in self._seen:
                continue  # a server that repeats itself: never yield twice
            self._seen.add(event["id"])
            self.progressed = True
            self.heard_at = self.api.clock.monotonic()
            fresh.append(event)
            self._saw(event)
            if self.finished:
                break
        return fresh

    def _saw(self, event: PredictionEvent) -> None:
        kind, data = event["event"], event["data"]
        if kind == "init" and self.prediction is None and isinstance(data, dict):
            check_prediction(data, None)
            try:
                prediction_path(data["id"])
            except ValueError:
                raise InvalidResponseError(
                    f"the event stream's init event names a prediction id that "
                    f"cannot be used: {data['id']!r}"
                ) from None
            self.prediction = data
            self.prediction_id = self.prediction_id or data["id"]
            operations.saw(self.operation, data)
            if self.on_init is not None:
                self.on_init(data)
        elif kind == "done" and isinstance(data, dict):
            self.prediction = data
            operations.saw(self.operation, data)
        elif kind == "error" and self.prediction is not None:
            self.prediction = {**self.prediction, "status": "failed", "error": data}
        if kind in TERMINAL_EVENTS:
            self.finished = True  # `end` comes once the caller has seen it

    def drop_connection(self, error: Optional[BaseException]) -> float:
        """Release the connection that ended; return seconds to wait before resuming.

        `error`: what broke the connection off, or None for a close. No wait
        after new events or an idle close; a backoff after a failure.

        Raises:
            StreamError: The stream keeps breaking off; carries the last id.
        """
        if self.response is not None:
            close_answer(self.response)
            self.response = None
        self.decoder.reset()  # a half-received event is sent again, whole
        if self.finished:
            return 0.0
        self.check_time()
        quick = self.api.clock.monotonic() - self.opened_at < QUICK_CLOSE
        if self.progressed:
            self.failures = self.idle_closes = 0
            return 0.0  # new events came: resume at once
        if error is None and not quick:
            self.failures = 0
            self.idle_closes += 1  # normal, but never in a tight loop
            return self._backoff(self.idle_closes)
        self.failures += 1
        if self.failures > self.api.settings.max_retries:
            reason = "broke off" if error is not None else "closed at once"
            raise self.error(f"the event stream {reason} {self.failures} times") from (
                error
            )
        return self._backoff(self.failures)

    def _backoff(self, count: int) -> float:
        """The wait before resuming, cut so as not to pass the caller's deadline."""
        delay = backoff(count, self.api.clock.random)
        if self.deadline is None:
            return delay
        return max(0.0, min(delay, self.deadline - self.api.clock.monotonic()))

    def check_time(self) -> None:
        """End a stream past the caller's deadline, or silent for too long.

        Raises:
            WaitTimeoutError: The caller's deadline has passed.
            StreamError: No event came for `SILENCE_LIMIT` seconds.
        """
        now = self.api.clock.monotonic()
        if self.deadline is not None and now >= self.deadline:
            raise self.timed_out()
        if now - self.heard_at >= SILENCE_LIMIT:
            raise self.error(
                f"the event stream sent no event for {SILENCE_LIMIT:g} s (no "
                "prediction runs longer)"
            )

    def timed_out(self) -> WaitTimeoutError:
        """The error of a stream past the caller's deadline."""
        assert self.deadline is not None
        return WaitTimeoutError(
            f"the prediction's event stream did not end within the wait's "
            f"timeout ({self.deadline - self.started:g} s)",
            prediction=cast(Any, self.prediction),
        )

    def error(self, message: str) -> StreamError:
        """A `StreamError` that says where to resume."""
        return StreamError(message, last_event_id=self.decoder.last_id)

    def outcome(self) -> Tuple[Any, int, float]:
        """The prediction as last seen, no polls, the seconds the stream took."""
        return self.prediction, 0, self.api.clock.monotonic() - self.started


def follow(
    api: API, following: Following, response: Optional[requests.Response] = None
) -> Generator[PredictionEvent, None, None]:
    """Yield a prediction's events until its terminal one, resuming as needed."""
    following.response = response
    with following.lifetime():
        while not following.finished:
            if following.response is None:
                following.resuming()
                with following.reopening(), operations.current(following.operation):
                    following.response = api.request(following.request())
            reader, error = following.start_reading(), None
            try:
                while not following.finished and (chunk := reader.read()):
                    yield from following.take(chunk)
            except DROPPED as exc:
                error = exc
            delay = following.drop_connection(error)
            if delay:
                api.clock.sleep(delay)


async def async_follow(
    api: API, following: Following, response: Optional[requests.Response] = None
) -> AsyncGenerator[PredictionEvent, None]:
    """Yield a prediction's events on the event loop; see `follow`."""
    following.response = response
    with following.lifetime():
        while not following.finished:
            if following.response is None:
                following.resuming()
                with following.reopening(), operations.current(following.operation):
                    following.response = await api.async_request(following.request())
            reader, error = following.start_reading(), None
            try:
                while not following.finished and (chunk := await reader.async_read()):
                    for event in following.take(chunk):
                        yield event
            except DROPPED as exc:
                error = exc
            delay = following.drop_connection(error)
            if delay:
                await api.clock.async_sleep(delay)


__all__ = [
    "SILENCE_LIMIT",
    "Following",
    "async_follow",
    "follow",
]
