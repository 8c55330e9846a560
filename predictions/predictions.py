"""The Predictions resource: get, list, create, wait and cancel, sync and async.

Each sync method and its `async_` twin share one function that checks the
arguments and builds the request, and one that takes the decision on the
answer; only the sending and the waiting differ. The async twins' docstrings
point to the sync method's, which documents both.
"""

from __future__ import annotations

import asyncio
import sys
from types import MappingProxyType
from typing import (
    Any,
    AsyncIterator,
    Callable,
    Dict,
    Iterator,
    Literal,
    Mapping,
    Optional,
    Tuple,
    Union,
    cast,
    overload,
)

from predictions._http.decode import decode_nothing, decode_page, decode_prediction
from predictions._http.request import Request
from predictions._http.transport import read_body
from predictions._requests import (
    Resource,
    check_create,
    create_request,
    prediction_path,
)
from predictions._settings import check_number
from predictions._waiting.options import (
    DEFAULT_ASYNC_WAIT_OPTIONS,
    DEFAULT_WAIT_OPTIONS,
    AsyncWaitOptions,
    WaitOptions,
    check_wait_options,
    is_terminal,
)
from predictions._waiting.rules import Waiting
from predictions._waiting.schedule import async_wait_for, wait_for
from predictions._waiting.streams import (
    Following,
    async_follow,
    follow,
    is_event_stream,
)
from predictions.errors import APITimeoutError, WaitTimeoutError
from predictions.pagination import (
    PaginatedResponse,
    PaginationOptions,
    async_iterate_items,
    check_pagination_options,
    iterate_items,
    page_query,
)
from predictions.types import (
    CreatePredictionParams,
    Prediction,
    PredictionEvent,
    PredictionWithIO,
)


class Predictions(Resource):
    """Resource for operations related to predictions."""

    def get(
        self, prediction_id: str, *, max_retries: Optional[int] = None
    ) -> PredictionWithIO:
        """Get a prediction by id.

        Args:
            prediction_id: The unique identifier of the prediction.
            max_retries: This call's retry limit, instead of the client's.

        Returns:
            The prediction object.

        Raises:
            ValueError: If the id is empty, blank, `.` or `..`.
            NotFoundError: If there is no such prediction.
        """
        return cast(
            PredictionWithIO, self._api.request(_get(prediction_id, max_retries))
        )

    async def async_get(
        self, prediction_id: str, *, max_retries: Optional[int] = None
    ) -> PredictionWithIO:
        """Get a prediction by id, without blocking the event loop; see `get`."""
        request = _get(prediction_id, max_retries)
        return cast(PredictionWithIO, await self._api.async_request(request))

    def list(
        self,
        pagination_options: Optional[PaginationOptions] = None,
        *,
        max_retries: Optional[int] = None,
    ) -> PaginatedResponse[Prediction]:
        """List predictions, newest first, one page at a time.

        Args:
            pagination_options: Optional settings to control pagination behavior.
            max_retries: This call's retry limit, instead of the client's.

        Returns:
            Paginated response containing predictions and navigation metadata.

        Raises:
            TypeError: If the options have a wrong type.
            ValueError: If `page_size` is below 1 or an option is unknown.
        """
        page = self._api.request(_list(pagination_options, max_retries))
        return PaginatedResponse.from_json(page)

    async def async_list(
        self,
        pagination_options: Optional[PaginationOptions] = None,
        *,
        max_retries: Optional[int] = None,
    ) -> PaginatedResponse[Prediction]:
        """List predictions, one page at a time, asynchronously; see `list`."""
        page = await self._api.async_request(_list(pagination_options, max_retries))
        return PaginatedResponse.from_json(page)

    def iterate(
        self, pagination_options: Optional[PaginationOptions] = None
    ) -> Iterator[Prediction]:
        """Iterate over every prediction of every page, fetching pages lazily.

        Args:
            pagination_options: Where to start (`cursor`) and the `page_size`.

        Returns:
            An iterator over the predictions, newest first.
        """
        check_pagination_options(pagination_options)
        return iterate_items(self.list, pagination_options)

    def async_iterate(
        self, pagination_options: Optional[PaginationOptions] = None
    ) -> AsyncIterator[Prediction]:
        """Iterate asynchronously over every prediction; see `iterate`."""
        check_pagination_options(pagination_options)
        return async_iterate_items(self.async_list, pagination_options)

    @overload
    def create(
        self,
        params: CreatePredictionParams,
        model: str,
        wait: Literal[True],
        wait_options: WaitOptions = ...,
        *,
        max_retries: Optional[int] = ...,
        stream: Literal[True],
        upload_progress: Optional[Callable[[int, int], None]] = ...,
    ) -> Iterator[PredictionEvent]: ...

    @overload
    def create(
        self,
        params: CreatePredictionParams,
        model: str,
        wait: bool = ...,
        wait_options: WaitOptions = ...,
        *,
        max_retries: Optional[int] = ...,
        stream: Literal[False] = ...,
        upload_progress: Optional[Callable[[int, int], None]] = ...,
    ) -> PredictionWithIO: ...

    @overload
    def create(
        self,
        params: CreatePredictionParams,
        model: str,
        wait: Literal[False] = ...,
        wait_options: WaitOptions = ...,
        *,
        max_retries: Optional[int] = ...,
        stream: Literal[True],
        upload_progress: Optional[Callable[[int, int], None]] = ...,
    ) -> PredictionWithIO: ...

    def create(
        self,
        params: CreatePredictionParams,
        model: str,
        wait: bool = False,
        wait_options: WaitOptions = DEFAULT_WAIT_OPTIONS,
        *,
        max_retries: Optional[int] = None,
        stream: bool = False,
        upload_progress: Optional[Callable[[int, int], None]] = None,
    ) -> Union[PredictionWithIO, Iterator[PredictionEvent]]:
        """Create a prediction.

        The caller's `params` are not changed. One `Idempotency-Key` is sent
        with every attempt of this call.

        With `stream=True` the prediction is created with its events to be
        streamed: with `wait=True` too, the create's own answer is its event
        stream, and an iterator over its events is returned (as `stream`
        yields them; a server that answers plain JSON is followed with
        `stream` instead); with `wait=False`, the prediction is returned, and
        `stream(prediction["id"])` reads its events later.

        Args:
            params: Prediction creation params: `input`, and optionally
                `webhook` and `validate_input`.
            model: The model reference in either owner/name or
                owner/name:version-number format (for example:
                deepseek-ai/deepseek-r1 or deepseek-ai/deepseek-r1:1).
            wait: If True, waits until the prediction reaches a terminal state.
                If False, returns the prediction immediately. Defaults to False.
            wait_options: Options for customizing wait behavior. If not
                provided, default options are used.
            max_retries: The create request's retry limit, instead of the
                client's.
            stream: Stream the prediction's events (see above).
            upload_progress: Called with (bytes sent, bytes in all) as the
                `File` objects of the input are uploaded, from any thread.

        Returns:
            The new prediction (finished, if `wait` is True); an iterator over
            its events with `wait=True, stream=True`.

        Raises:
            TypeError: If `params` is not a mapping or a value has a wrong type.
            ValueError: If `params` has no `input`, the input holds NaN or an
                infinity, or the model reference is not in owner/name or
                owner/name:version-number format.
        """
        if wait:
            check_wait_options(wait_options, asynchronous=False)
        files = _files()
        sent = params
        if files is not None:  # uploads, once the rest is known to be sendable
            check_create(params, model)
            sent = files.prepare_params(self._api, params, upload_progress)
        started = self._api.clock.monotonic()
        request = self._create(
            sent, model, wait_options, max_retries, wait, stream, started
        )
        if wait and stream:
            answer = self._api.request(request)
            return follow(self._api, *self._streamed(answer, model, params))
        try:
            created = self._created(self._api.request(request), model, params)
        except APITimeoutError as exc:
            if exc.deadline_reached:
                raise _timed_out(wait_options) from exc
            raise
        if wait:
            prediction_id = created["id"]
            waiting = Waiting(self._api, prediction_id, wait_options, created, started)
            return wait_for(self._api, waiting)
        return created

    @overload
    async def async_create(
        self,
        params: CreatePredictionParams,
        model: str,
        wait: Literal[True],
        wait_options: AsyncWaitOptions = ...,
        *,
        max_retries: Optional[int] = ...,
        stream: Literal[True],
        upload_progress: Optional[Callable[[int, int], None]] = ...,
    ) -> AsyncIterator[PredictionEvent]: ...

    @overload
    async def async_create(
        self,
        params: CreatePredictionParams,
        model: str,
        wait: bool = ...,
        wait_options: AsyncWaitOptions = ...,
        *,
        max_retries: Optional[int] = ...,
        stream: Literal[False] = ...,
        upload_progress: Optional[Callable[[int, int], None]] = ...,
    ) -> PredictionWithIO: ...

    @overload
    async def async_create(
        self,
        params: CreatePredictionParams,
        model: str,
        wait: Literal[False] = ...,
        wait_options: AsyncWaitOptions = ...,
        *,
        max_retries: Optional[int] = ...,
        stream: Literal[True],
        upload_progress: Optional[Callable[[int, int], None]] = ...,
    ) -> PredictionWithIO: ...

    async def async_create(
        self,
        params: CreatePredictionParams,
        model: str,
        wait: bool = False,
        wait_options: AsyncWaitOptions = DEFAULT_ASYNC_WAIT_OPTIONS,
        *,
        max_retries: Optional[int] = None,
        stream: bool = False,
        upload_progress: Optional[Callable[[int, int], None]] = None,
    ) -> Union[PredictionWithIO, AsyncIterator[PredictionEvent]]:
        """Create a prediction, without blocking the event loop; see `create`.

        `wait_options.on_poll` is awaited after each poll. A held create
        (`Prefer: wait`) occupies one of the client's `max_workers` threads
        while the server holds it: at most half of them are given to holds,
        and a create beyond that is not held (its wait polls on the loop).
        With `wait=True, stream=True`, an async iterator over the events is
        returned (see `async_stream`).
        """
        if wait:
            check_wait_options(wait_options, asynchronous=True)
        files = _files()
        sent = params
        if files is not None:  # uploads, once the rest is known to be sendable
            check_create(params, model)
            sent = await files.async_prepare_params(self._api, params, upload_progress)
        if wait and stream:
            request = self._create(
                sent, model, wait_options, max_retries, True, True, None
            )
            answer = await self._api.async_request(request)
            streamed = await asyncio.get_running_loop().run_in_executor(
                self._api.executor(), self._streamed, answer, model, params
            )
            return async_follow(self._api, *streamed)
        # A held create holds one of the pool's threads: half the pool at most,
        # so that a thousand waits do not queue behind each other's holds.
        held = wait and self._api.take_hold()
        try:
            started = self._api.clock.monotonic()
            request = self._create(
                sent, model, wait_options, max_retries, held, stream, started
            )
            try:
                answer = await self._api.async_request(request)
            except APITimeoutError as exc:
                if exc.deadline_reached:
                    raise _timed_out(wait_options) from exc
                raise
        finally:
            if held:
                self._api.give_hold()
        created = self._created(answer, model, params)
        if wait:
            waiting = Waiting(self._api, created["id"], wait_options, created, started)
            return await async_wait_for(self._api, waiting)
        return created

    def wait(
        self,
        predictionID: Optional[str] = None,
        options: WaitOptions = DEFAULT_WAIT_OPTIONS,
        *,
        prediction_id: Optional[str] = None,
    ) -> PredictionWithIO:
        """Wait for a prediction to finish, polling it.

        Polls until the status is terminal (succeeded, failed, cancelled,
        canceled or abandoned), calling `options.on_poll` after every poll. A
        failed prediction is returned, not raised. A status the client does
        not know is not terminal, but a wait ends with `WaitTimeoutError`
        once the prediction has stayed in one for 30 minutes. A poll that
        fails with a transient error (after its own retries) does not end the
        wait: polling goes on with backoff until the deadline or, with no
        deadline, until polls have failed for 5 minutes in a row. With a
        `timeout`, the wait ends within about half a second of it, whatever
        the server does (the poll in flight is cut short).

        The async twin, `async_wait`, sleeps between polls on the event loop
        (waiting holds no thread) and awaits `options.on_poll`. Cancelling its
        task stops the polling at once: no further request is sent (one
        already in flight finishes in its thread and is dropped).

        Args:
            predictionID: Unique identifier of the prediction (the seed's
                name; `prediction_id` is the same, by name).
            options: Options for customizing wait behavior. If not provided,
                default options are used.
            prediction_id: Unique identifier of the prediction; give it or
                `predictionID`, not both.

        Returns:
            Prediction after completion.

        Raises:
            TypeError: If neither or both of `predictionID` and
                `prediction_id` are given, or the options or one of their
                values has a wrong type.
            ValueError: If the id, `poll_interval` or `timeout` is not valid.
            WaitTimeoutError: The deadline came first; it carries the last
                prediction seen.
            APIStatusError: A poll failed permanently (401, 403, 404...), or
                transiently until the deadline or the failure window ended.
            APIConnectionError: Polls could not reach the API until then.
        """
        waited = self._waited(predictionID, prediction_id)
        check_wait_options(options, asynchronous=False)
        return wait_for(self._api, Waiting(self._api, waited, options))

    async def async_wait(
        self,
        predictionID: Optional[str] = None,
        options: AsyncWaitOptions = DEFAULT_ASYNC_WAIT_OPTIONS,
        *,
        prediction_id: Optional[str] = None,
    ) -> PredictionWithIO:
        """Wait for a prediction to finish, without blocking the loop; see `wait`."""
        waited = self._waited(predictionID, prediction_id)
        check_wait_options(options, asynchronous=True)
        waiting = Waiting(self._api, waited, options)
        return await async_wait_for(self._api, waiting)

    @staticmethod
    def _waited(predictionID: Optional[str], prediction_id: Optional[str]) -> str:
        """The id a wait was given, by either name: exactly one of them."""
        if (predictionID is None) == (prediction_id is None):
            raise TypeError(
                "give the prediction's id once, as predictionID or as "
                "prediction_id=, not " + ("neither" if predictionID is None else "both")
            )
        return cast(str, predictionID if prediction_id is None else prediction_id)

    def stream(
        self,
        prediction_id: str,
        after_id: Optional[str] = None,
        wait: Optional[float] = None,
    ) -> Iterator[PredictionEvent]:
        """Yield a prediction's events until its terminal one (`done` or `error`).

        The prediction must have been created with `stream=True`. When the
        connection closes with no terminal event (an idle close, a dropped
        connection, a server restart), the stream resumes from the last event
        id: no event is lost or repeated. Closing the iterator early (`break`,
        `contextlib.closing`) releases its connection at once.

        The async twin, `async_stream`, reads on threads of their own, never
        on the client's `max_workers` pool: each open async stream holds one
        such thread while it waits for its next event, and the client's other
        async calls go on unhindered.

        Args:
            prediction_id: The unique identifier of the prediction.
            after_id: Start after this event id (to resume by hand).
            wait: Seconds the server may stay idle between events before it
                closes the connection (`Prefer: wait`); None for its default.

        Returns:
            An iterator over the events (`{"id", "event", "data"}`), opened on
            the first `next()`.

        Raises:
            TypeError: If `after_id` is not a string or `wait` not a number.
            ValueError: If the id is empty, blank, `.` or `..`, or `wait` is
                negative.
            StreamError: The stream sent what the API does not promise, or
                could not be resumed; it carries the last event id.
        """
        return follow(self._api, _following(self._api, prediction_id, after_id, wait))

    def async_stream(
        self,
        prediction_id: str,
        after_id: Optional[str] = None,
        wait: Optional[float] = None,
    ) -> AsyncIterator[PredictionEvent]:
        """Yield a prediction's events on the event loop; see `stream`."""
        following = _following(self._api, prediction_id, after_id, wait)
        return async_follow(self._api, following)

    def cancel(self, prediction_id: str, *, max_retries: Optional[int] = None) -> None:
        """Ask the server to cancel a prediction; one request.

        Cancelling is asynchronous: the server answers at once (with `null`),
        and the prediction's status turns `cancelled` a moment later, when
        the cancel takes effect (`get` or `wait` shows it). Asking again is
        fine.

        Args:
            prediction_id: The unique identifier of the prediction.
            max_retries: This call's retry limit, instead of the client's.

        Raises:
            ValueError: If the id is empty, blank, `.` or `..`.
            NotFoundError: If there is no such prediction.
            ConflictError: If it has already succeeded, failed or been
                abandoned (the hosted API may answer another 4xx).
        """
        self._api.request(_cancel(prediction_id, max_retries))

    async def async_cancel(
        self, prediction_id: str, *, max_retries: Optional[int] = None
    ) -> None:
        """Ask the server to cancel a prediction, without blocking; see `cancel`."""
        await self._api.async_request(_cancel(prediction_id, max_retries))

    def _create(
        self,
        params: Any,
        model: str,
        wait_options: Any,
        max_retries: Optional[int],
        held: bool,
        stream: bool,
        started: Optional[float],
    ) -> Request:
        """Build a create's request, its files uploaded.

        `held`: ask the server to hold it until the prediction finishes; with
        `stream` too, to answer with its event stream. `started`: when the
        wait began; a held create is bounded by the wait's deadline.
        """
        timeout = getattr(wait_options, "timeout", None)
        deadline = None
        if held and not stream and started is not None and timeout is not None:
            deadline = started + timeout
        return create_request(
            params,
            model,
            idempotent=self._api.settings.retry_create == "idempotent",
            max_retries=max_retries,
            wait_options=wait_options if held else None,
            stream=stream,
            answer_stream=held and stream,
            deadline=deadline,
        )

    def _streamed(
        self, answer: Any, model: str, params: Mapping[str, Any]
    ) -> Tuple[Following, Optional[Any]]:
        """What follows a create asked to answer with its event stream.

        Its answer is the stream (the prediction comes in its `init` event),
        or, from a server that does not stream creates, the prediction, whose
        events are then read from its stream (blocking: the body is read).
        """

        def created(prediction: Dict[str, Any]) -> None:
            self._created(prediction, model, params)

        if is_event_stream(answer):
            return Following(self._api, None, on_init=created), answer
        read_body(answer, self._api.settings.max_response_bytes)
        prediction = decode_prediction(answer)
        created(prediction)
        return Following(self._api, prediction["id"]), None

    def _created(
        self, prediction: Any, model: str, params: Mapping[str, Any]
    ) -> PredictionWithIO:
        """Fire `on_create` for a new prediction."""
        if self._api.hooks.active:
            self._api.hooks.call(
                "predictions_on_create",
                prediction=prediction,
                model=model,
                params=MappingProxyType(dict(params)),
            )
        return cast(PredictionWithIO, prediction)


def _files() -> Any:
    """The files module, if it is in use (no `File` exists without it).

    A script that never imports it pays nothing for uploads.
    """
    return sys.modules.get("predictions.files")


def _timed_out(options: Any) -> WaitTimeoutError:
    """A held create cut short by the wait's deadline: the wait's timeout."""
    return WaitTimeoutError(
        f"no prediction within {options.timeout} s: the create was cut short "
        "(it may have been made: list() shows it)"
    )


def _following(
    api: Any, prediction_id: str, after_id: Optional[str], wait: Optional[float]
) -> Following:
    """Check a stream's arguments, before anything is sent."""
    prediction_path(prediction_id)
    if after_id is not None and not isinstance(after_id, str):
        raise TypeError(f"after_id must be an event id (a string), not {after_id!r}")
    check_number("wait", wait, optional=True)
    return Following(api, prediction_id, after_id, wait)


def _get(prediction_id: str, max_retries: Optional[int]) -> Request:
    return Request(
        "GET",
        prediction_path(prediction_id),
        max_retries=max_retries,
        decode=decode_prediction,
    )


def _list(options: Optional[PaginationOptions], max_retries: Optional[int]) -> Request:
    check_pagination_options(options)
    return Request(
        "GET",
        "/predictions",
        query=page_query(options),
        max_retries=max_retries,
        decode=decode_page,
    )


def _cancel(prediction_id: str, max_retries: Optional[int]) -> Request:
    return Request(
        "POST",
        prediction_path(prediction_id) + "/cancel",
        max_retries=max_retries,
        decode=decode_nothing,
    )


__all__ = [
    "DEFAULT_ASYNC_WAIT_OPTIONS",
    "DEFAULT_WAIT_OPTIONS",
    "AsyncWaitOptions",
    "Predictions",
    "WaitOptions",
    "is_terminal",
]
