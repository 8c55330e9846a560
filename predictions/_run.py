"""`run` and `async_run`: one prediction, from model and input to its output.

For simple scripts: a client made from the environment (one per process),
one create that waits, and the output, or `PredictionFailedError`.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable, Dict, Optional, Tuple, Union, cast

from predictions._creating import Creating
from predictions._http.transport import after_fork_in_child
from predictions._settings import environment
from predictions._waiting.options import (
    DEFAULT_ASYNC_WAIT_OPTIONS,
    DEFAULT_WAIT_OPTIONS,
    AsyncWaitOptions,
    WaitOptions,
)
from predictions.client import Client
from predictions.errors import PredictionFailedError
from predictions.files._saving import check_directory
from predictions.types import CreatePredictionParams, JsonValue, PredictionWithIO


class DefaultClient:
    """The process's client for `run`, made with `Client()` on first use.

    Threads share it. A forked child makes its own: the parent's is dropped
    there, never used (nor closed: that would shut the parent's connections).
    It is made anew when a variable the settings read has changed since, so a
    script (or a test) that sets them later is heard; the client it replaces
    is left to the calls still using it.
    """

    def __init__(self) -> None:
        self._forget()
        after_fork_in_child(self, DefaultClient._forget)

    def _forget(self) -> None:
        # A new lock too: in a forked child, a thread of the parent may have
        # held the old one at the fork, and nothing would ever release it.
        self._lock = threading.Lock()
        self._made: Optional[Tuple[Tuple[Optional[str], ...], Client]] = None

    def get(self) -> Client:
        """Return the client, made from the environment as it is now if need be."""
        key = environment()
        with self._lock:
            if self._made is None or self._made[0] != key:
                self._made = (key, Client())
            return self._made[1]


DEFAULT_CLIENT = DefaultClient()


def run(
    model: str,
    input: JsonValue,
    *,
    wait_options: WaitOptions = DEFAULT_WAIT_OPTIONS,
    max_retries: Optional[int] = None,
    upload_progress: Optional[Callable[[int, int], None]] = None,
    download_to: Optional[Union[str, os.PathLike[str]]] = None,
) -> JsonValue:
    """Run a model on an input, wait for it to finish, and return its output.

    The same as ``Client().predictions.create({"input": input}, model,
    wait=True, ...)["output"]``, with one client per process, made from the
    environment (`WRIFTAI_API_BASE_URL`, `WRIFTAI_ACCESS_TOKEN` and the
    rest `Client` reads) on first use and shared by every thread; a forked
    child makes its own, and so does a change of those two variables. For
    anything else (a webhook, `validate_input`, streaming, your own client's
    settings), use a `Client` and `create`.

    The async twin, `async_run`, takes `AsyncWaitOptions` and waits on the
    event loop, as `Predictions.async_create` does.

    Args:
        model: The model reference, owner/name or owner/name:version-number.
        input: The model's input (sent as the prediction's `input`); a
            `File` in it is uploaded first.
        wait_options: How to wait: `poll_interval`, `on_poll`, `timeout`,
            `cancel_on_timeout`, `cancel_on_interrupt`, `prefer_wait`.
        max_retries: The create request's retry limit, instead of the
            client's (2).
        upload_progress: Called with (bytes sent, bytes in all) as the
            `File` objects of the input are uploaded.
        download_to: A directory to save the output's files in (see
            `Predictions.download`): the output is then returned with their
            local paths in place of their URLs.

    Returns:
        The output of the prediction, which succeeded (with local paths in
        place of its files' URLs when `download_to` is given).

    Raises:
        PredictionFailedError: The prediction failed, was cancelled or was
            abandoned; it carries the prediction.
        WaitTimeoutError: `wait_options.timeout` passed first.
        TypeError: An argument has a wrong type.
        ValueError: The model reference or the input is not valid.
        APIStatusError: The API refused a request (an `AuthenticationError`
            for a missing or wrong token, a `NotFoundError` for a model
            that does not exist...).
        APIConnectionError: The API could not be reached.
        DownloadError: A file of the output could not be saved (an
            `OutputExpiredError` if its URL expired); those saved are whole.
        OSError: `download_to` is not a directory that can be written, or
            a file is already there.
    """
    options = _options(max_retries)
    client = DEFAULT_CLIENT.get()
    if download_to is not None:  # refused before the prediction is paid for
        check_directory(os.fspath(download_to))
    creating = Creating(client.api, _params(input), model, wait_options, **options)
    created = cast(PredictionWithIO, creating.create(True, upload_progress, "run"))
    output = _output(created)
    if download_to is None:
        return output
    return client.predictions.download(created, download_to)


async def async_run(
    model: str,
    input: JsonValue,
    *,
    wait_options: AsyncWaitOptions = DEFAULT_ASYNC_WAIT_OPTIONS,
    max_retries: Optional[int] = None,
    upload_progress: Optional[Callable[[int, int], None]] = None,
    download_to: Optional[Union[str, os.PathLike[str]]] = None,
) -> JsonValue:
    """Run a model and return its output, without blocking the loop; see `run`."""
    options = _options(max_retries)
    client = DEFAULT_CLIENT.get()
    if download_to is not None:
        check_directory(os.fspath(download_to))
    creating = Creating(client.api, _params(input), model, wait_options, **options)
    answer = await creating.async_create(True, upload_progress, "run")
    created = cast(PredictionWithIO, answer)
    output = _output(created)
    if download_to is None:
        return output
    return await client.predictions.async_download(created, download_to)


def _options(max_retries: Optional[int]) -> Dict[str, Any]:
    """The create's options, shared by `run` and `async_run`."""
    return {"stream": False, "max_retries": max_retries}


def _params(input: JsonValue) -> CreatePredictionParams:
    return {"input": input}


def _output(prediction: PredictionWithIO) -> JsonValue:
    """The output of a finished prediction, or `PredictionFailedError`."""
    if prediction["status"] != "succeeded":
        raise PredictionFailedError(prediction)
    return prediction.get("output")


__all__ = ["DEFAULT_CLIENT", "DefaultClient", "async_run", "run"]
