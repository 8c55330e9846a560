"""Creating predictions: `create` and `async_create`, and the steps they share.

`CreateMethods` gives `Predictions` its two create methods (the resource's
one write: uploads, a hold, a stream, their typed overloads). The twins
differ only in how they upload, send and wait; what is the same is one
`Creating` per call: the uploads' checks, the request (held or not), the
`on_create` hook, the wait's timeout for a create its deadline cut short, a
404 that names the model, and what follows the answer (a wait, or the
prediction's events).
"""

from __future__ import annotations

import contextlib
import sys
from typing import (
    Any,
    AsyncIterator,
    Callable,
    Iterator,
    Literal,
    Optional,
    Tuple,
    TypeVar,
    Union,
    overload,
)

import requests

from predictions._http import operations
from predictions._http.api import API
from predictions._http.decode import decode_prediction
from predictions._http.request import Request
from predictions._http.stream import is_event_stream
from predictions._requests import check_create, create_request
from predictions._waiting.options import (
    DEFAULT_ASYNC_WAIT_OPTIONS,
    DEFAULT_WAIT_OPTIONS,
    AsyncWaitOptions,
    BaseWaitOptions,
    WaitOptions,
    check_wait,
    hold_of,
)
from predictions._waiting.rules import Waiting, fire_on_create
from predictions._waiting.schedule import async_wait_for, wait_for
from predictions._waiting.streams import Following, async_follow, follow
from predictions.errors import APITimeoutError, NotFoundError, WaitTimeoutError
from predictions.hookspecs import Operation
from predictions.types import CreatePredictionParams, PredictionEvent, PredictionWithIO

E = TypeVar("E")
Progress = Callable[[int, int], None]


class CreateMethods:
    """`create` and `async_create`: a base of `Predictions`, which documents it."""

    _api: API

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
        creating = Creating(self._api, params, model, wait_options, stream, max_retries)
        return creating.create(wait, upload_progress, "create")

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
        creating = Creating(self._api, params, model, wait_options, stream, max_retries)
        return await creating.async_create(wait, upload_progress, "create")


class Creating:
    """One create call: its request, and the decisions on its answer.

    Args:
        api: The API the create is sent through.
        params: The caller's params (read, never changed).
        model: The model reference.
        options: The wait's options (already checked, if the call waits).
        stream: Whether the prediction is created to stream its events.
        max_retries: The create request's retry limit, or None for the client's.
    """

    def __init__(
        self,
        api: API,
        params: Any,
        model: str,
        options: BaseWaitOptions[Any],
        stream: bool,
        max_retries: Optional[int],
    ) -> None:
        self.api = api
        self.params = params
        self.model = model
        self.options = options
        self.stream = stream
        self.max_retries = max_retries
        self.started = 0.0
        """When the wait began: just before the create was sent."""
        self.deadline: Optional[float] = None
        """The wait's deadline (`options.timeout` after `started`), or None."""
        self.sent_request: Optional[Request] = None
        """The create's request, once built (its `Idempotency-Key` with it)."""
        self.operation: Optional[Operation] = None
        """Its operation, while a plugin is active."""

    def create(
        self, wait: bool, progress: Optional[Progress], name: str
    ) -> Union[PredictionWithIO, Iterator[PredictionEvent]]:
        """`create`'s steps; `name` is its operation's ("create", "run")."""
        api = self.api
        check_wait(wait, self.options, asynchronous=False)
        scope = self.scope(wait, name)
        with scope:
            sent = self.upload(progress)
            if wait and self.stream:
                with self.sending():
                    answer = api.request(self.request(sent, held=True))
                return self.hand_on(scope, follow(api, *self.following(answer)))
            with self.sending():
                answer = api.request(self.request(sent, held=wait))
            created = self.fire_on_create(answer)
            if wait:
                return wait_for(api, self.waiting(created))
            return created

    async def async_create(
        self, wait: bool, progress: Optional[Progress], name: str
    ) -> Union[PredictionWithIO, AsyncIterator[PredictionEvent]]:
        """`async_create`'s steps; see `create`."""
        api = self.api
        check_wait(wait, self.options, asynchronous=True)
        scope = self.scope(wait, name)
        with scope:
            sent = await self.async_upload(progress)
            if wait and self.stream:
                with self.sending():
                    answer = await api.async_request(self.request(sent, held=True))
                following = await api.in_pool(self.following, answer)
                return self.hand_on(scope, async_follow(api, *following))
            with api.hold_place(wait) as held, self.sending():
                answer = await api.async_request(self.request(sent, held))
            created = self.fire_on_create(answer)
            if wait:
                return await async_wait_for(api, self.waiting(created))
            return created

    def scope(self, wait: bool, name: str) -> operations.AnyScope:
        """The call's operation: "stream" for a create that waits on its events.

        `with` it: the operation is current in the block, and ends with it.
        """
        kind = "stream" if wait and self.stream else "prediction"
        scope = operations.scope(self.api.hooks, kind, name, self.model)
        self.operation = scope.operation
        return scope

    def hand_on(self, scope: operations.AnyScope, events: E) -> E:
        """The events' generator ends the operation now, even if never started."""
        if self.operation is not None:
            scope.keep()
            operations.end_when_dropped(events, self.api.hooks, self.operation)
        return events

    def upload(self, progress: Optional[Callable[[int, int], None]]) -> Any:
        """Upload the `File` objects of the input; return the params to send.

        The caller's own params when there is none to upload.
        """
        files = self._files()
        if files is None:
            return self.params
        return files.prepare_params(self.api, self.params, progress)

    async def async_upload(self, progress: Optional[Callable[[int, int], None]]) -> Any:
        """Upload the `File` objects of the input on the loop; see `upload`."""
        files = self._files()
        if files is None:
            return self.params
        return await files.async_prepare_params(self.api, self.params, progress)

    def _files(self) -> Any:
        """The files module if it is in use, the rest of the params checked.

        No `File` exists without that module: a script that never imports it
        pays nothing for uploads. The rest is checked first, so that nothing
        is uploaded for a create that cannot be sent.
        """
        files = sys.modules.get("predictions.files")
        if files is not None:
            check_create(self.params, self.model)
        return files

    def request(self, sent: Any, held: bool) -> Request:
        """Build the create's request for the params to send (files uploaded).

        Args:
            sent: The params to send.
            held: Ask the server to hold the create until the prediction
                finishes, bounded by the wait's deadline; with `stream`, to
                answer with its event stream, every read of which keeps the
                deadline too.
        """
        self.started = self.api.clock.monotonic()
        timeout = self.options.timeout
        self.deadline = None if timeout is None else self.started + timeout
        hold = hold_of(self.options, self.deadline) if held else None
        self.sent_request = create_request(
            sent,
            self.model,
            idempotent=self.api.settings.retry_create == "idempotent",
            max_retries=self.max_retries,
            hold=hold,
            stream=self.stream,
        )
        return self.sent_request

    @contextlib.contextmanager
    def sending(self) -> Iterator[None]:
        """Around the sending: what a failed create raises.

        A create its deadline cut short ends the wait; a 404 names the model
        asked for (the API says only "Model not found").
        """
        try:
            yield
        except APITimeoutError as exc:
            if exc.deadline_reached:
                raise WaitTimeoutError(
                    f"no prediction within {self.options.timeout} s: the create "
                    "was cut short (it may have been made: the newest predictions "
                    "listed show it)"
                ) from exc
            raise
        except NotFoundError as exc:
            if self.model in exc.message:
                raise
            message = f"{exc.message}: {self.model}" if exc.message else self.model
            raise NotFoundError(
                message, response=exc.response, detail=exc.detail
            ) from exc

    def fire_on_create(self, prediction: Any) -> PredictionWithIO:
        """Fire `on_create` for the new prediction; return it."""
        return fire_on_create(
            self.api, prediction, self.model, self.params, self.operation
        )

    def waiting(self, created: PredictionWithIO) -> Waiting:
        """The wait for the new prediction, from when the create was sent."""
        return Waiting(
            self.api,
            created["id"],
            self.options,
            created,
            self.started,
            operation=self.operation,
        )

    def following(
        self, answer: requests.Response
    ) -> Tuple[Following, Optional[requests.Response]]:
        """What follows a create asked to answer with its event stream.

        Its answer is the stream (the prediction comes in its `init` event),
        or, from a server that does not stream creates, the prediction, whose
        events are then read from its stream (blocking: the body is read).

        Returns:
            The stream to follow, and the answer to read it from first (None:
            open it).
        """
        on_init: Callable[[Any], Any] = self.fire_on_create
        if is_event_stream(answer):
            following = Following(
                self.api,
                None,
                on_init=on_init,
                deadline=self.deadline,
                create=self.sent_request,
                operation=self.operation,
            )
            return following, answer
        prediction = self.fire_on_create(self.api.read(answer, decode_prediction))
        following = Following(
            self.api, prediction["id"], deadline=self.deadline, operation=self.operation
        )
        return following, None


__all__ = ["CreateMethods", "Creating"]
