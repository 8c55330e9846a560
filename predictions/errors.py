"""The exceptions this client raises: their type says what to do about them.

Every exception class of the client lives here (the last three never leave
the package). The local server, `predictions.testing`, is a program of its
own: the signals its modules raise to each other stay private to them.
"""

from __future__ import annotations

from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Dict,
    List,
    Mapping,
    Optional,
    Tuple,
    Type,
)

import requests

from predictions.types import PredictionWithIO

if TYPE_CHECKING:
    from predictions.files import File


class PredictionsError(Exception):
    """The root of every error this client raises on purpose."""


class APIStatusError(PredictionsError, requests.exceptions.HTTPError):
    """The API answered with an error status (4xx or 5xx).

    Attributes:
        status_code: The HTTP status of the answer.
        message: A readable message taken from the answer's `detail` or body.
        detail: The decoded `detail` of the answer, or None.
        request_id: The `x-request-id` the server sent, or None.
        response: The `requests.Response` itself.
    """

    def __init__(
        self,
        message: str,
        *,
        response: requests.Response,
        detail: Any = None,
    ) -> None:
        self.status_code: int = response.status_code
        self.message = message
        self.detail = detail
        self.request_id: Optional[str] = response.headers.get("x-request-id")
        text = f"{self.status_code} {response.reason or ''}".rstrip()
        text = f"{text}: {message}" if message else text
        if self.request_id:
            text = f"{text} (request id {self.request_id})"
        super().__init__(text, response=response, request=response.request)
        self.response: requests.Response = response


class BadRequestError(APIStatusError):
    """400: the request was malformed; fix it before sending it again."""


class AuthenticationError(APIStatusError):
    """401: the access token is missing or not valid."""


class PermissionDeniedError(APIStatusError):
    """403: the token is valid but may not do this."""


class NotFoundError(APIStatusError):
    """404: no such model, version or prediction (or it has been deleted)."""


class ConflictError(APIStatusError):
    """409: the request conflicts with the resource's state."""


class UnprocessableEntityError(APIStatusError):
    """422: the request was well formed but its content was refused."""


class RateLimitError(APIStatusError):
    """429: too many requests; wait as the server says and try again."""


class InternalServerError(APIStatusError):
    """5xx: the server failed; usually safe to try a read again later."""


class InvalidResponseError(PredictionsError):
    """A successful answer that is not what the API promises.

    Its body is not JSON, not of the shape expected (a prediction without an
    id, a page whose cursor is not a string), nested too deep, or larger than
    the client's `max_response_bytes`.

    Attributes:
        status_code: The HTTP status of the answer, or None.
        response: The `requests.Response` itself, or None.
    """

    def __init__(
        self, message: str, *, response: Optional[requests.Response] = None
    ) -> None:
        super().__init__(message)
        self.status_code: Optional[int] = (
            None if response is None else response.status_code
        )
        self.response = response


class ResponseTooLargeError(InvalidResponseError):
    """An answer larger than `max_response_bytes` once decoded; never retried."""


class APIConnectionError(PredictionsError, requests.exceptions.ConnectionError):
    """The request did not get an answer: the connection failed or broke.

    Attributes:
        request_sent: False when the request certainly never reached the
            server (so it is safe to send again); True when it may have.
    """

    def __init__(self, message: str, *, request_sent: bool = True) -> None:
        super().__init__(message)
        self.request_sent = request_sent


class APITimeoutError(APIConnectionError, requests.exceptions.Timeout):
    """The server did not answer within the timeout.

    Attributes:
        deadline_reached: True when it was the caller's deadline (a wait's
            timeout) that cut the request short, not the client's timeouts.
    """

    def __init__(
        self, message: str, *, request_sent: bool = True, deadline_reached: bool = False
    ) -> None:
        super().__init__(message, request_sent=request_sent)
        self.deadline_reached = deadline_reached


class WaitTimeoutError(PredictionsError):
    """A wait reached its deadline before the prediction finished.

    Also raised, with no deadline, when a prediction has stayed for 30 minutes
    (the API's longest run) in a status the client does not know.

    Attributes:
        prediction: The last prediction seen, or None if no poll succeeded.
        predictions: For a batch, every prediction that did not finish, as
            last seen (an id alone where no poll succeeded); for one wait,
            that wait's `prediction` if there is one.
    """

    def __init__(
        self,
        message: str,
        *,
        prediction: Optional[PredictionWithIO] = None,
        predictions: Optional[List[Any]] = None,
    ) -> None:
        super().__init__(message)
        self.prediction = prediction
        if predictions is None:
            predictions = [] if prediction is None else [prediction]
        self.predictions: List[Any] = predictions


class PredictionFailedError(PredictionsError):
    """A prediction ended without succeeding: it failed, was cancelled or abandoned.

    Raised by `predictions.run`; its message is the prediction's error
    message when it has one, else its status.

    Attributes:
        prediction: The finished prediction (its `status`, `error`, `logs`).
    """

    def __init__(self, prediction: PredictionWithIO) -> None:
        status = prediction.get("status")
        error = prediction.get("error")
        message = error.get("message") if isinstance(error, dict) else None
        text = f"prediction {prediction.get('id')} {status}"
        super().__init__(f"{text}: {message}" if message else text)
        self.prediction = prediction


class WebhookVerificationError(PredictionsError, ValueError):
    """A webhook delivery could not be shown to be authentic: refuse it."""


class WebhookHeaderError(WebhookVerificationError):
    """The signature header is empty, not a string, or has different timestamps."""


class WebhookTimestampError(WebhookVerificationError):
    """The signature header has no timestamp `t=`, or it is not an integer."""


class WebhookSignatureMissingError(WebhookVerificationError):
    """The signature header has no signature of the scheme checked."""


class WebhookSignatureMismatchError(WebhookVerificationError):
    """No signature matches the body and the secret."""


class WebhookToleranceError(WebhookVerificationError):
    """The timestamp is too old or too far in the future (a replay?)."""


class StreamError(InvalidResponseError):
    """An event stream broke off or sent what the API does not promise.

    Attributes:
        last_event_id: The id of the last event received, or None: resume
            with `stream(prediction_id, after_id=last_event_id)`.
    """

    def __init__(
        self, message: str, *, last_event_id: Optional[str] = None, response: Any = None
    ) -> None:
        super().__init__(message, response=response)
        self.last_event_id = last_event_id


class UploadError(PredictionsError):
    """A file in the input could not be uploaded, so nothing was created with it.

    Its `__cause__` is the error underneath, if any (an `APIStatusError`, an
    `APIConnectionError`, an `InvalidResponseError`).

    Attributes:
        file: The `File`.
        part: The number (from 0) of the part that failed, or None if it was
            not a part but the creating or the completing of the upload.
    """

    def __init__(self, message: str, *, file: File, part: Optional[int] = None) -> None:
        super().__init__(message)
        self.file = file
        self.part = part


class DownloadError(PredictionsError):
    """An output file could not be saved or read whole; no file was left under its name.

    Its `__cause__` is the error underneath, if any (an `APIStatusError`, an
    `APIConnectionError`, an `OSError` of the disk).

    Attributes:
        url: The file's URL, its query (a signature) left out.
        path: Where the file stands in the output (keys and indexes).
        prediction_id: The id of the prediction it belongs to, if known.
        status_code: The file host's HTTP status, if it answered with an error.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str = "",
        path: Tuple[Any, ...] = (),
        prediction_id: Optional[str] = None,
        status_code: Optional[int] = None,
    ) -> None:
        super().__init__(message)
        self.url = url
        self.path = path
        self.prediction_id = prediction_id
        self.status_code = status_code


class OutputExpiredError(DownloadError):
    """The file host answered 403, 404 or 410: the output's URL expired.

    It is not retried; fetch the prediction again for fresh URLs, if the
    API still has its output.
    """


class PluginWarning(UserWarning):
    """A plugin failed to load or raised in a hook; the operation went on."""


class PluginError(PredictionsError):
    """A plugin failed, and strict mode asked for the error to be raised."""


class BatchError(PredictionsError):
    """A batch could not go on; nothing it created is forgotten."""


class LedgerMismatchError(BatchError):
    """The ledger is another batch's, or its input changed; nothing was sent.

    Another batch: another model, input file or key field. The message says
    what to do in Python's words (`ledger=PATH`, `force=True`); `explain`
    says it in a caller's own (the command line's `--ledger FILE`, `--force`).

    Attributes:
        problem: What does not match, with no word of what to do.
        option: The `run_batch` argument that gets past it: "ledger" (give
            another ledger) or "force" (go on with the changed input).
    """

    REMEDIES: ClassVar[Mapping[str, str]] = {
        "ledger": "give another {ledger}",
        "force": "{force} goes on: rows are matched by key, and the rows whose "
        "input changed are redone",
    }
    PYTHON_NAMES: ClassVar[Mapping[str, str]] = {
        "ledger": "ledger=PATH",
        "force": "force=True",
    }

    def __init__(self, problem: str, option: str = "ledger") -> None:
        self.problem = problem
        self.option = option
        super().__init__(self.explain(self.PYTHON_NAMES))

    def explain(self, names: Mapping[str, str]) -> str:
        """The message, naming the options as `names` spells them."""
        return f"{self.problem}; {self.REMEDIES[self.option].format(**names)}"


class LedgerWriteError(BatchError):
    """The ledger could not be written (a full disk, a read-only file).

    The batch stopped before sending more creates. Every create it sent has
    its `Idempotency-Key` in the ledger; `unrecorded` maps row keys to the ids
    of predictions created in this run that the ledger could not record.
    """

    def __init__(self, message: str, unrecorded: Mapping[str, str]) -> None:
        super().__init__(message)
        self.unrecorded = dict(unrecorded)


class InputError(BatchError, ValueError):
    """The input file cannot be read as rows (nothing was sent)."""


# What follows never leaves the package: each is caught where it is meant to be.


class DeadlineReached(Exception):
    """Raised inside the poll engine when a wait's deadline has come."""


class UsageError(Exception):
    """A command line that cannot run: exit 2, and nothing is sent."""


class ReceiverRefusal(Exception):
    """A request the webhook receiver answers with an error status, and why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


_STATUS_ERRORS: Dict[int, Type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def error_class_for(status_code: int) -> Type[APIStatusError]:
    """Return the exception class for an error status.

    Args:
        status_code: An HTTP status of 400 or above.

    Returns:
        The most specific `APIStatusError` subclass for the status.
    """
    if status_code >= 500:
        return InternalServerError
    return _STATUS_ERRORS.get(status_code, APIStatusError)


__all__ = [
    "BatchError",
    "InputError",
    "LedgerMismatchError",
    "LedgerWriteError",
    "PluginError",
    "PluginWarning",
    "StreamError",
    "UploadError",
    "DownloadError",
    "OutputExpiredError",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "InternalServerError",
    "InvalidResponseError",
    "NotFoundError",
    "PermissionDeniedError",
    "PredictionFailedError",
    "PredictionsError",
    "RateLimitError",
    "ResponseTooLargeError",
    "UnprocessableEntityError",
    "WaitTimeoutError",
    "WebhookHeaderError",
    "WebhookSignatureMismatchError",
    "WebhookSignatureMissingError",
    "WebhookTimestampError",
    "WebhookToleranceError",
    "WebhookVerificationError",
    "error_class_for",
]
