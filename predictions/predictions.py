"""The Predictions resource: get, list, create, wait and cancel, sync and async."""

from __future__ import annotations

from types import MappingProxyType
from typing import (
    Any,
    AsyncIterator,
    Dict,
    Iterator,
    Mapping,
    Optional,
    cast,
)

from predictions._polling import Waiter
from predictions._resource import Resource, create_request, prediction_path
from predictions._wait_options import (
    DEFAULT_ASYNC_WAIT_OPTIONS,
    DEFAULT_WAIT_OPTIONS,
    AsyncWaitOptions,
    WaitOptions,
    check_wait_options,
    is_terminal,
)
from predictions.pagination import (
    PaginatedResponse,
    PaginationOptions,
    async_iterate_items,
    check_pagination_options,
    iterate_items,
)
from predictions.types import (
    CreatePredictionParams,
    Prediction,
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
        return self._get(prediction_path(prediction_id), max_retries=max_retries)

    async def async_get(
        self, prediction_id: str, *, max_retries: Optional[int] = None
    ) -> PredictionWithIO:
        """Get a prediction by id, without blocking the event loop.

        Args:
            prediction_id: The unique identifier of the prediction.
            max_retries: This call's retry limit, instead of the client's.

        Returns:
            The prediction object.

        Raises:
            ValueError: If the id is empty, blank, `.` or `..`.
            NotFoundError: If there is no such prediction.
        """
        path = prediction_path(prediction_id)
        return await self._async_get(path, max_retries=max_retries)

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
        check_pagination_options(pagination_options)
        page = self._api.request(
            "GET",
            "/predictions",
            params=pagination_options,
            expect_object=True,
            max_retries=max_retries,
        )
        return PaginatedResponse.from_json(cast(Dict[str, Any], page))

    async def async_list(
        self,
        pagination_options: Optional[PaginationOptions] = None,
        *,
        max_retries: Optional[int] = None,
    ) -> PaginatedResponse[Prediction]:
        """List predictions, newest first, one page at a time, asynchronously.

        Args:
            pagination_options: Optional settings to control pagination behavior.
            max_retries: This call's retry limit, instead of the client's.

        Returns:
            Paginated response containing predictions and navigation metadata.

        Raises:
            TypeError: If the options have a wrong type.
            ValueError: If `page_size` is below 1 or an option is unknown.
        """
        check_pagination_options(pagination_options)
        page = await self._api.async_request(
            "GET",
            "/predictions",
            params=pagination_options,
            expect_object=True,
            max_retries=max_retries,
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
        *,
        max_retries: Optional[int] = None,
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
            max_retries: The create request's retry limit, instead of the
                client's.

        Returns:
            The new prediction (finished, if `wait` is True).

        Raises:
            TypeError: If `params` is not a mapping or a value has a wrong type.
            ValueError: If `params` has no `input` or the model reference is
                not in owner/name or owner/name:version-number format.
        """
        path, body, headers = create_request(params, model)
        if wait:
            check_wait_options(wait_options, asynchronous=False)
        prediction = self._api.request(
            "POST", path, body, headers, expect_object=True, max_retries=max_retries
        )
        created = cast(PredictionWithIO, prediction)
        self._created(created, model, params)
        if wait:
            return self.wait(created["id"], options=wait_options)
        return created

    async def async_create(
        self,
        params: CreatePredictionParams,
        model: str,
        wait: bool = False,
        wait_options: AsyncWaitOptions = DEFAULT_ASYNC_WAIT_OPTIONS,
        *,
        max_retries: Optional[int] = None,
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
            max_retries: The create request's retry limit, instead of the
                client's.

        Returns:
            The new prediction (finished, if `wait` is True).

        Raises:
            TypeError: If `params` is not a mapping or a value has a wrong type.
            ValueError: If `params` has no `input` or the model reference is
                not in owner/name or owner/name:version-number format.
        """
        path, body, headers = create_request(params, model)
        if wait:
            check_wait_options(wait_options, asynchronous=True)
        prediction = await self._api.async_request(
            "POST", path, body, headers, expect_object=True, max_retries=max_retries
        )
        created = cast(PredictionWithIO, prediction)
        self._created(created, model, params)
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
        failed prediction is returned, not raised. A status the client does
        not know is not terminal. A poll that fails with a transient error
        (after its own retries) does not end the wait: polling goes on with
        backoff until the deadline or, with no deadline, until polls have
        failed for 5 minutes in a row.

        Args:
            predictionID: Unique identifier of the prediction.
            options: Options for customizing wait behavior. If not provided,
                default options are used.

        Returns:
            Prediction after completion.

        Raises:
            ValueError: If the id, `poll_interval` or `timeout` is not valid.
            WaitTimeoutError: The deadline came first; it carries the last
                prediction seen.
            APIStatusError: A poll failed permanently (401, 403, 404...), or
                transiently until the deadline or the failure window ended.
            APIConnectionError: Polls could not reach the API until then.
        """
        check_wait_options(options, asynchronous=False)
        return Waiter(self._api, predictionID, options).run()

    async def async_wait(
        self,
        predictionID: str,
        options: AsyncWaitOptions = DEFAULT_ASYNC_WAIT_OPTIONS,
    ) -> PredictionWithIO:
        """Wait for a prediction to finish, polling it without blocking the loop.

        The same contract as `wait`. Sleeps between polls run on the event
        loop, so waiting holds no thread; `options.on_poll` is awaited after
        every poll. Cancelling the task stops the polling at once: no further
        request is sent (one already in flight finishes in its thread and is
        dropped).

        Args:
            predictionID: Unique identifier of the prediction.
            options: Options for customizing wait behavior. If not provided,
                default options are used.

        Returns:
            Prediction after completion.

        Raises:
            ValueError: If the id, `poll_interval` or `timeout` is not valid.
            WaitTimeoutError: The deadline came first; it carries the last
                prediction seen.
            APIStatusError: A poll failed permanently, or transiently until
                the deadline or the failure window ended.
            APIConnectionError: Polls could not reach the API until then.
        """
        check_wait_options(options, asynchronous=True)
        return await Waiter(self._api, predictionID, options).run_async()

    def cancel(
        self, prediction_id: str, *, max_retries: Optional[int] = None
    ) -> PredictionWithIO:
        """Ask the server to cancel a prediction.

        Asking again, or for a prediction already cancelled, is fine.

        Args:
            prediction_id: The unique identifier of the prediction.
            max_retries: This call's retry limit, instead of the client's.

        Returns:
            The prediction as the server answered (fetched with a GET when the
            server answers without a body).

        Raises:
            ValueError: If the id is empty, blank, `.` or `..`.
            NotFoundError: If there is no such prediction.
            ConflictError: If it has already succeeded, failed or been
                abandoned.
        """
        path = prediction_path(prediction_id) + "/cancel"
        answer = self._api.request(
            "POST", path, idempotent=True, max_retries=max_retries
        )
        if isinstance(answer, dict):
            return cast(PredictionWithIO, answer)
        return self.get(prediction_id)

    async def async_cancel(
        self, prediction_id: str, *, max_retries: Optional[int] = None
    ) -> PredictionWithIO:
        """Ask the server to cancel a prediction, without blocking the loop.

        Args:
            prediction_id: The unique identifier of the prediction.
            max_retries: This call's retry limit, instead of the client's.

        Returns:
            The prediction as the server answered.

        Raises:
            ValueError: If the id is empty, blank, `.` or `..`.
            NotFoundError: If there is no such prediction.
            ConflictError: If it has already succeeded, failed or been
                abandoned.
        """
        path = prediction_path(prediction_id) + "/cancel"
        answer = await self._api.async_request(
            "POST", path, idempotent=True, max_retries=max_retries
        )
        if isinstance(answer, dict):
            return cast(PredictionWithIO, answer)
        return await self.async_get(prediction_id)

    def _created(
        self, prediction: PredictionWithIO, model: str, params: Mapping[str, Any]
    ) -> None:
        if not self._api.hooks.active:
            return
        self._api.hooks.call(
            "predictions_on_create",
            prediction=prediction,
            model=model,
            params=MappingProxyType(dict(params)),
        )

    def _get(self, path: str, **options: Any) -> PredictionWithIO:
        prediction = self._api.request("GET", path, expect_object=True, **options)
        return cast(PredictionWithIO, prediction)

    async def _async_get(self, path: str, **options: Any) -> PredictionWithIO:
        prediction = await self._api.async_request(
            "GET", path, expect_object=True, **options
        )
        return cast(PredictionWithIO, prediction)


__all__ = [
    "DEFAULT_ASYNC_WAIT_OPTIONS",
    "DEFAULT_WAIT_OPTIONS",
    "AsyncWaitOptions",
    "Predictions",
    "WaitOptions",
    "is_terminal",
]
