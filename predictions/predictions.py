"""The Predictions resource, and the options of waiting for a prediction."""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import (
    Any,
    AsyncIterator,
    Awaitable,
    Callable,
    Dict,
    Iterator,
    Mapping,
    Optional,
    cast,
)

import tenacity

from predictions._resource import Resource, create_request, path_segment
from predictions.pagination import (
    PaginatedResponse,
    PaginationOptions,
    async_iterate_items,
    check_pagination_options,
    iterate_items,
)
from predictions.types import (
    TERMINAL_STATUSES,
    CreatePredictionParams,
    Prediction,
    PredictionWithIO,
)


def _check_poll_interval(poll_interval: Any) -> None:
    if isinstance(poll_interval, bool) or not isinstance(poll_interval, (int, float)):
        raise TypeError(
            f"poll_interval must be a number of seconds, not {poll_interval!r}"
        )
    if not math.isfinite(poll_interval) or poll_interval < 0:
        raise ValueError(
            f"poll_interval must be a finite number of seconds >= 0, "
            f"not {poll_interval!r}"
        )


@dataclass
class _BaseWaitOptions:
    """Options for customizing wait behaviour."""

    poll_interval: float = 1.0
    """Time in seconds between polling attempts to check the prediction status."""

    def __post_init__(self) -> None:
        _check_poll_interval(self.poll_interval)


@dataclass
class WaitOptions(_BaseWaitOptions):
    """Options for customizing wait behaviour."""

    on_poll: Optional[Callable[[PredictionWithIO], None]] = None
    """Optional callback that receives the latest prediction after each poll."""


@dataclass
class AsyncWaitOptions(_BaseWaitOptions):
    """Options for customizing asynchronous wait behaviour."""

    on_poll: Optional[Callable[[PredictionWithIO], Awaitable[None]]] = None
    """Optional callback that receives the latest prediction after each poll.

    It is awaited; a plain function returning None is accepted too.
    """


DEFAULT_WAIT_OPTIONS = WaitOptions()
"""Default wait options."""

DEFAULT_ASYNC_WAIT_OPTIONS = AsyncWaitOptions()
"""Default async wait options."""


def is_terminal(prediction: Mapping[str, Any]) -> bool:
    """Tell whether a prediction has finished; unknown statuses have not.

    Args:
        prediction: A prediction as the API sends it.

    Returns:
        True if its status is one after which it never changes.
    """
    return prediction.get("status") in TERMINAL_STATUSES


class Predictions(Resource):
    """Resource for operations related to predictions."""

    def get(self, prediction_id: str) -> PredictionWithIO:
        """Get a prediction by id.

        Args:
            prediction_id: The unique identifier of the prediction.

        Returns:
            The prediction object.

        Raises:
            ValueError: If the id is empty, blank, `.` or `..`.
            NotFoundError: If there is no such prediction.
        """
        return self._get(_prediction_path(prediction_id))

    async def async_get(self, prediction_id: str) -> PredictionWithIO:
        """Get a prediction by id, without blocking the event loop.

        Args:
            prediction_id: The unique identifier of the prediction.

        Returns:
            The prediction object.

        Raises:
            ValueError: If the id is empty, blank, `.` or `..`.
            NotFoundError: If there is no such prediction.
        """
        return await self._async_get(_prediction_path(prediction_id))

    def list(
        self,
        pagination_options: Optional[PaginationOptions] = None,
    ) -> PaginatedResponse[Prediction]:
        """List predictions, newest first, one page at a time.

        Args:
            pagination_options: Optional settings to control pagination behavior.

        Returns:
            Paginated response containing predictions and navigation metadata.

        Raises:
            TypeError: If the options have a wrong type.
            ValueError: If `page_size` is below 1 or an option is unknown.
        """
        check_pagination_options(pagination_options)
        page = self._api.request(
            "GET", "/predictions", params=pagination_options, expect_object=True
        )
        return PaginatedResponse.from_json(cast(Dict[str, Any], page))

    async def async_list(
        self,
        pagination_options: Optional[PaginationOptions] = None,
    ) -> PaginatedResponse[Prediction]:
        """List predictions, newest first, one page at a time, asynchronously.

        Args:
            pagination_options: Optional settings to control pagination behavior.

        Returns:
            Paginated response containing predictions and navigation metadata.

        Raises:
            TypeError: If the options have a wrong type.
            ValueError: If `page_size` is below 1 or an option is unknown.
        """
        check_pagination_options(pagination_options)
        page = await self._api.async_request(
            "GET", "/predictions", params=pagination_options, expect_object=True
        )
        return PaginatedResponse.from_json(cast(Dict[str, Any], page))

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
        """Iterate asynchronously over every prediction, fetching pages lazily.

        Args:
            pagination_options: Where to start (`cursor`) and the `page_size`.

        Returns:
            An async iterator over the predictions, newest first.
        """
        check_pagination_options(pagination_options)
        return async_iterate_items(self.async_list, pagination_options)

    def create(
        self,
        params: CreatePredictionParams,
        model: str,
        wait: bool = False,
        wait_options: WaitOptions = DEFAULT_WAIT_OPTIONS,
    ) -> PredictionWithIO:
        """Create a prediction.

        The caller's `params` are not changed. One `Idempotency-Key` is sent
        with every attempt of this call.

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

        Returns:
            The new prediction (finished, if `wait` is True).

        Raises:
            TypeError: If `params` is not a mapping or a value has a wrong type.
            ValueError: If `params` has no `input` or the model reference is
                not in owner/name or owner/name:version-number format.
        """
        path, body, headers = create_request(params, model)
        if wait:
            _check_wait_options(wait_options, asynchronous=False)
        prediction = self._api.request("POST", path, body, headers, expect_object=True)
        created = cast(PredictionWithIO, prediction)
        if wait:
            return self.wait(created["id"], options=wait_options)
        return created

    async def async_create(
        self,
        params: CreatePredictionParams,
        model: str,
        wait: bool = False,
        wait_options: AsyncWaitOptions = DEFAULT_ASYNC_WAIT_OPTIONS,
    ) -> PredictionWithIO:
        """Create a prediction, without blocking the event loop.

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

        Returns:
            The new prediction (finished, if `wait` is True).

        Raises:
            TypeError: If `params` is not a mapping or a value has a wrong type.
            ValueError: If `params` has no `input` or the model reference is
                not in owner/name or owner/name:version-number format.
        """
        path, body, headers = create_request(params, model)
        if wait:
            _check_wait_options(wait_options, asynchronous=True)
        prediction = await self._api.async_request(
            "POST", path, body, headers, expect_object=True
        )
        created = cast(PredictionWithIO, prediction)
        if wait:
            return await self.async_wait(created["id"], options=wait_options)
        return created

    def wait(
        self,
        predictionID: str,
        options: WaitOptions = DEFAULT_WAIT_OPTIONS,
    ) -> PredictionWithIO:
        """Wait for a prediction to finish, polling it.

        Polls until the status is terminal (succeeded, failed, cancelled,
        canceled or abandoned), calling `options.on_poll` after every poll. A
        failed prediction is returned, not raised.

        Args:
            predictionID: Unique identifier of the prediction.
            options: Options for customizing wait behavior. If not provided,
                default options are used.

        Returns:
            Prediction after completion.

        Raises:
            ValueError: If the id or `poll_interval` is not valid.
        """
        path = _prediction_path(predictionID)
        _check_wait_options(options, asynchronous=False)

        def poll() -> PredictionWithIO:
            prediction = self._get(path)
            if options.on_poll is not None:
                options.on_poll(prediction)
            return prediction

        retrying = tenacity.Retrying(
            stop=tenacity.stop_never,
            wait=tenacity.wait_fixed(options.poll_interval),
            retry=tenacity.retry_if_result(lambda p: not is_terminal(p)),
            sleep=self._api.sleep,
            reraise=True,
        )
        return retrying(poll)

    async def async_wait(
        self,
        predictionID: str,
        options: AsyncWaitOptions = DEFAULT_ASYNC_WAIT_OPTIONS,
    ) -> PredictionWithIO:
        """Wait for a prediction to finish, polling it without blocking the loop.

        Sleeps between polls on the event loop, so waiting holds no thread.
        `options.on_poll` is awaited after every poll.

        Args:
            predictionID: Unique identifier of the prediction.
            options: Options for customizing wait behavior. If not provided,
                default options are used.

        Returns:
            Prediction after completion.

        Raises:
            ValueError: If the id or `poll_interval` is not valid.
        """
        path = _prediction_path(predictionID)
        _check_wait_options(options, asynchronous=True)

        async def poll() -> PredictionWithIO:
            prediction = await self._async_get(path)
            if options.on_poll is not None:
                result = options.on_poll(prediction)
                if inspect.isawaitable(result):
                    await result
            return prediction

        retrying = tenacity.AsyncRetrying(
            stop=tenacity.stop_never,
            wait=tenacity.wait_fixed(options.poll_interval),
            retry=tenacity.retry_if_result(lambda p: not is_terminal(p)),
            sleep=self._api.async_sleep,
            reraise=True,
        )
        return cast(PredictionWithIO, await retrying(poll))

    def _get(self, path: str) -> PredictionWithIO:
        return cast(
            PredictionWithIO, self._api.request("GET", path, expect_object=True)
        )

    async def _async_get(self, path: str) -> PredictionWithIO:
        prediction = await self._api.async_request("GET", path, expect_object=True)
        return cast(PredictionWithIO, prediction)


def _prediction_path(prediction_id: str) -> str:
    return "/predictions/" + path_segment(prediction_id, "prediction id")


def _check_wait_options(options: Any, *, asynchronous: bool) -> None:
    expected = AsyncWaitOptions if asynchronous else WaitOptions
    if not isinstance(options, _BaseWaitOptions):
        raise TypeError(f"wait options must be a {expected.__name__}, not {options!r}")
    _check_poll_interval(options.poll_interval)
    on_poll = getattr(options, "on_poll", None)
    if on_poll is not None and not callable(on_poll):
        raise TypeError("on_poll must be callable")
    if not asynchronous and inspect.iscoroutinefunction(on_poll):
        raise TypeError(
            "on_poll is a coroutine function: pass it in AsyncWaitOptions to "
            "async_wait or async_create"
        )


__all__ = [
    "DEFAULT_ASYNC_WAIT_OPTIONS",
    "DEFAULT_WAIT_OPTIONS",
    "AsyncWaitOptions",
    "Predictions",
    "WaitOptions",
    "is_terminal",
]
