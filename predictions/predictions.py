"""The Predictions resource: get, list, create, wait and cancel, sync and async.

Each sync method and its `async_` twin share one function that checks the
arguments and builds the request (`_requests`), and one that takes the
decision on the answer; only the sending and the waiting differ. The async
twins' docstrings point to the sync method's, which documents both. The
create twins, the resource's one write, come from `_creating.CreateMethods`.
"""

from __future__ import annotations

import functools
import os
import threading
from typing import (
    TYPE_CHECKING,
    AsyncIterator,
    Iterator,
    List,
    Optional,
    Union,
    cast,
)

from predictions._creating import CreateMethods
from predictions._http import operations
from predictions._http.api import API
from predictions._requests import (
    cancel_request,
    check_stream,
    get_request,
    list_request,
    prediction_path,
)
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
from predictions._waiting.streams import Following, async_follow, follow
from predictions.files._downloads import DEFAULT_PARALLEL
from predictions.pagination import (
    PaginatedResponse,
    PaginationOptions,
    async_iterate_items,
    check_pagination_options,
    iterate_items,
)
from predictions.types import (
    JsonValue,
    Prediction,
    PredictionEvent,
    PredictionWithIO,
)

if TYPE_CHECKING:
    from predictions.files._outputs import OutputFile
    from predictions.files._saving import FileProgress


class Predictions(CreateMethods):
    """Resource for operations related to predictions.

    Args:
        api: The API that sends the resource's requests.
    """

    def __init__(self, api: API) -> None:
        self._api = api

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
        request = get_request(prediction_path(prediction_id), max_retries=max_retries)
        return cast(PredictionWithIO, self._api.request(request))

    async def async_get(
        self, prediction_id: str, *, max_retries: Optional[int] = None
    ) -> PredictionWithIO:
        """Get a prediction by id, without blocking the event loop; see `get`."""
        request = get_request(prediction_path(prediction_id), max_retries=max_retries)
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
        page = self._api.request(list_request(pagination_options, max_retries))
        return PaginatedResponse.from_json(page)

    async def async_list(
        self,
        pagination_options: Optional[PaginationOptions] = None,
        *,
        max_retries: Optional[int] = None,
    ) -> PaginatedResponse[Prediction]:
        """List predictions, one page at a time, asynchronously; see `list`."""
        request = list_request(pagination_options, max_retries)
        page = await self._api.async_request(request)
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
        waited = _id_to_wait_for(predictionID, prediction_id)
        check_wait_options(options, asynchronous=False)
        waiting = Waiting(self._api, waited, options)
        with operations.scope(self._api.hooks, "prediction", "wait") as operation:
            waiting.operation = operation
            return wait_for(self._api, waiting)

    async def async_wait(
        self,
        predictionID: Optional[str] = None,
        options: AsyncWaitOptions = DEFAULT_ASYNC_WAIT_OPTIONS,
        *,
        prediction_id: Optional[str] = None,
    ) -> PredictionWithIO:
        """Wait for a prediction to finish, without blocking the loop; see `wait`."""
        waited = _id_to_wait_for(predictionID, prediction_id)
        check_wait_options(options, asynchronous=True)
        waiting = Waiting(self._api, waited, options)
        with operations.scope(self._api.hooks, "prediction", "wait") as operation:
            waiting.operation = operation
            return await async_wait_for(self._api, waiting)

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
        check_stream(prediction_id, after_id, wait)
        return follow(self._api, Following(self._api, prediction_id, after_id, wait))

    def async_stream(
        self,
        prediction_id: str,
        after_id: Optional[str] = None,
        wait: Optional[float] = None,
    ) -> AsyncIterator[PredictionEvent]:
        """Yield a prediction's events on the event loop; see `stream`."""
        check_stream(prediction_id, after_id, wait)
        following = Following(self._api, prediction_id, after_id, wait)
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
        self._api.request(cancel_request(prediction_path(prediction_id), max_retries))

    async def async_cancel(
        self, prediction_id: str, *, max_retries: Optional[int] = None
    ) -> None:
        """Ask the server to cancel a prediction, without blocking; see `cancel`."""
        request = cancel_request(prediction_path(prediction_id), max_retries)
        await self._api.async_request(request)

    def output_files(self, prediction: PredictionWithIO) -> List[OutputFile]:
        """The files in a prediction's output; nothing is fetched.

        Every string of `prediction["output"]`, at any depth of dicts and
        lists, that is an absolute `http(s)://` URL or a `data:` URL, in
        document order. The output URLs of the API expire (an hour on the
        hosted API): save the files while they live.

        Args:
            prediction: A prediction (as `get`, `wait` or `create` return it).

        Returns:
            An `OutputFile` for each, to `read`, `open` or `save`; an empty
            list for an output with none.

        Raises:
            TypeError: `prediction` is not a prediction (a dict).
        """
        from predictions.files._outputs import find_files

        return find_files(self._api, prediction)

    def download(
        self,
        prediction: PredictionWithIO,
        directory: Union[str, os.PathLike[str]],
        *,
        overwrite: bool = False,
        max_parallel: int = DEFAULT_PARALLEL,
        progress: Optional[FileProgress] = None,
    ) -> JsonValue:
        """Save every file of a finished prediction's output into a directory.

        Before a byte is fetched, everything is checked: the prediction has
        finished, the directory exists and can be written, and no file there
        would be overwritten unasked. Then the files are saved
        `max_parallel` at a time, each streamed to a hidden temporary name
        and renamed once whole and checked (its size, and its MD5 where the
        host gives one): a file under its final name is always whole. A
        broken download resumes where the host allows it (`Range`). No
        credential of the client goes to a file's URL or its redirects.
        Two files with the same name get distinct ones (`image-2.png`).

        Args:
            prediction: A finished prediction (as `wait` returns it).
            directory: Where to save the files; it must exist.
            overwrite: Replace files already there; else `FileExistsError`.
            max_parallel: Files saved at once (default 4).
            progress: Called with (the `OutputFile`, bytes saved so far, its
                size if known) as each file is saved, from the thread that
                saves it.

        Returns:
            A copy of the output in which each file's URL is replaced by its
            local path (a `str`, `directory` joined with its name); the
            output itself when it holds no file (a copy).

        Raises:
            ValueError: The prediction has not finished (its status says).
            FileNotFoundError, NotADirectoryError, PermissionError: The
                directory is not one that can be written.
            FileExistsError: A file is there and `overwrite` is False.
            OutputExpiredError: A URL expired (403, 404 or 410).
            DownloadError: A file is larger than the client's
                `max_download_bytes`, or could not be had whole. The files
                saved before it stay (each whole); no partial file is left.
        """
        from predictions.files._downloads import download

        return cast(
            JsonValue,
            download(
                self._api,
                prediction,
                os.fspath(directory),
                overwrite=overwrite,
                max_parallel=max_parallel,
                progress=progress,
            ),
        )

    async def async_download(
        self,
        prediction: PredictionWithIO,
        directory: Union[str, os.PathLike[str]],
        *,
        overwrite: bool = False,
        max_parallel: int = DEFAULT_PARALLEL,
        progress: Optional[FileProgress] = None,
    ) -> JsonValue:
        """Save an output's files without blocking the event loop; see `download`.

        Cancelling the task stops the downloads at their next chunk; no
        partial file is left.
        """
        from predictions.files._downloads import download as download_files

        stop = threading.Event()
        call = functools.partial(
            download_files,
            self._api,
            prediction,
            os.fspath(directory),
            overwrite=overwrite,
            max_parallel=max_parallel,
            progress=progress,
            stop=stop,
        )
        return cast(JsonValue, await self._api.in_pool(call, stop=stop))


def _id_to_wait_for(predictionID: Optional[str], prediction_id: Optional[str]) -> str:
    """Return the id a wait was given, by either name: exactly one of them."""
    if (predictionID is None) == (prediction_id is None):
        raise TypeError(
            "give the prediction's id once, as predictionID or as "
            "prediction_id=, not " + ("neither" if predictionID is None else "both")
        )
    return cast(str, predictionID if prediction_id is None else prediction_id)


__all__ = [
    "DEFAULT_ASYNC_WAIT_OPTIONS",
    "DEFAULT_WAIT_OPTIONS",
    "AsyncWaitOptions",
    "Predictions",
    "WaitOptions",
    "is_terminal",
]
