"""The exceptions this client raises: their type says what to do about them."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Type

import requests

from predictions.types import PredictionWithIO


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
