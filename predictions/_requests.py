"""Every request the resource and the poll engine send, built as `Request` values.

One builder for each: `get_request` (a get, and a wait's poll),
`list_request` (a page), `cancel_request`, `create_request` and
`stream_request`; with the checks of what goes into them (model references,
path segments, a create's params). `ROUTES` is the table of the API's routes
the client uses (uploads' too): each request carries its route's template,
which the request hooks are told.
"""

from __future__ import annotations

import re
from typing import (
    Any,
    Dict,
    Mapping,
    NamedTuple,
    Optional,
    Tuple,
)
from urllib.parse import quote

from predictions._checks import MAX_SECONDS, check_number
from predictions._http.decode import decode_nothing, decode_page, decode_prediction
from predictions._http.request import Request, json_body, not_finite_at, value_at
from predictions.pagination import (
    PaginationOptions,
    check_pagination_options,
    page_query,
)

MODEL_REF_FORMS = "'owner/name' or 'owner/name:version' (version in decimal digits)"

HOLD_ASSUMED = 60.0
"""The longest hold assumed of a server asked for its default (`Prefer: wait`)."""

HOLD_MARGIN = 10.0
"""Seconds a held request's read timeout exceeds the hold by."""


class Routes(NamedTuple):
    """The API's routes the client sends to, as path templates below the base URL."""

    predictions: str = "/predictions"
    prediction: str = "/predictions/{id}"
    cancel: str = "/predictions/{id}/cancel"
    stream: str = "/predictions/{id}/stream"
    create: str = "/models/{owner}/{name}/predictions"
    create_version: str = "/models/{owner}/{name}/versions/{version}/predictions"
    uploads: str = "/uploads"
    upload_complete: str = "/uploads/{id}/complete"


ROUTES = Routes()
"""The one table of the routes: each builder takes its path and template here."""

_PREDICTION_PREFIX = ROUTES.prediction[: -len("{id}")]  # a get's path, made fast

# Owner and name: no '/', ':', '?', '#', '%', white space or control characters.
_PART = r"[^/:?#%\s\x00-\x1f\x7f-\x9f]+"
_MODEL_REF = re.compile(rf"({_PART})/({_PART})(?::([0-9]+))?")


class ModelRef(NamedTuple):
    """A parsed model reference."""

    owner: str
    name: str
    version: Optional[int]


def parse_model_ref(model: str) -> ModelRef:
    """Parse a model reference as users write it.

    Args:
        model: `owner/name` or `owner/name:version`.

    Returns:
        The owner, name and version (None for the latest).

    Raises:
        TypeError: If `model` is not a string.
        ValueError: If `model` is not in one of the accepted forms.
    """
    if not isinstance(model, str):
        raise TypeError(
            f"model must be a string such as {MODEL_REF_FORMS}, "
            f"not {type(model).__name__}"
        )
    match = _MODEL_REF.fullmatch(model)
    if match is None or match[1] in (".", "..") or match[2] in (".", ".."):
        raise ValueError(f"invalid model reference {model!r}: use {MODEL_REF_FORMS}")
    version = match[3]
    return ModelRef(match[1], match[2], None if version is None else int(version))


def path_segment(value: str, what: str) -> str:
    """Percent-encode user input into exactly one path segment.

    Args:
        value: The raw value, such as a prediction id.
        what: What the value is, for the error message.

    Returns:
        The encoded segment: no `/`, `?`, `#` or `%` survives unencoded.

    Raises:
        TypeError: If `value` is not a string.
        ValueError: If `value` is empty, blank, `.` or `..`, which cannot name
            a resource.
    """
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, not {type(value).__name__}")
    if not value.strip() or value in (".", ".."):
        raise ValueError(f"{what} must be a non-blank string other than '.' and '..'")
    return quote(value, safe="")


def prediction_path(prediction_id: str) -> str:
    """The path of one prediction, its id checked and encoded into one segment.

    Args:
        prediction_id: The prediction's id.

    Returns:
        `/predictions/<encoded id>`.

    Raises:
        TypeError: If the id is not a string.
        ValueError: If the id is empty, blank, `.` or `..`.
    """
    return _PREDICTION_PREFIX + path_segment(prediction_id, "prediction id")


def get_request(
    path: str, *, max_retries: Optional[int] = None, deadline: Optional[float] = None
) -> Request:
    """Build the GET of one prediction: `get`'s, and a wait's poll.

    Args:
        path: The prediction's path (`prediction_path`).
        max_retries: The call's retry limit, or None for the client's.
        deadline: A poll's: the wait's deadline, which bounds it.
    """
    return Request(
        "GET",
        path,
        deadline=deadline,
        max_retries=max_retries,
        decode=decode_prediction,
        template=ROUTES.prediction,
    )


def list_request(
    options: Optional[PaginationOptions], max_retries: Optional[int]
) -> Request:
    """Check pagination options and build the GET of that page of predictions.

    Raises:
        TypeError: If the options have a wrong type.
        ValueError: If `page_size` is below 1 or an option is unknown.
    """
    check_pagination_options(options)
    return Request(
        "GET",
        ROUTES.predictions,
        query=page_query(options),
        max_retries=max_retries,
        decode=decode_page,
        template=ROUTES.predictions,
    )


def cancel_request(path: str, max_retries: Optional[int]) -> Request:
    """Build the request that asks the server to cancel the prediction at `path`."""
    return Request(
        "POST",
        path + "/cancel",
        max_retries=max_retries,
        decode=decode_nothing,
        template=ROUTES.cancel,
    )


def check_stream(
    prediction_id: str, after_id: Optional[str], wait: Optional[float]
) -> None:
    """Refuse a stream's arguments before anything is sent.

    Raises:
        TypeError: If `after_id` is not a string or `wait` not a number.
        ValueError: If the id is empty, blank, `.` or `..`, or `wait` is
            negative.
    """
    prediction_path(prediction_id)
    if after_id is not None and not isinstance(after_id, str):
        raise TypeError(f"after_id must be an event id (a string), not {after_id!r}")
    check_number("wait", wait, optional=True, maximum=MAX_SECONDS)


def stream_request(
    path: str,
    after_id: Optional[str],
    wait: Optional[float],
    deadline: Optional[float] = None,
) -> Request:
    """Build the request of a prediction's event stream, from after `after_id`.

    Args:
        path: The prediction's path (`prediction_path`).
        after_id: The last event id seen, or None from the start.
        wait: Seconds the server may stay idle between events (`Prefer:
            wait`); None for its default.
        deadline: The caller's deadline (the client's clock), which every
            read of the stream keeps; None for none.
    """
    headers = {"Accept": "text/event-stream", "Accept-Encoding": "identity"}
    if wait is not None:
        headers["Prefer"] = f"wait={int(wait)}" if wait >= 1 else "wait=1"
    idle = HOLD_ASSUMED if wait is None else wait
    return Request(
        "GET",
        path + "/stream",
        headers=headers,
        query=() if after_id is None else (("after_id", after_id),),
        read_timeout=idle + HOLD_MARGIN,
        stream=True,
        deadline=deadline,
        decode=open_stream,
        template=ROUTES.stream,
    )


def check_create(params: Any, model: str) -> ModelRef:
    """Check a create's `params` (but not its input's values) and its model.

    Returns:
        The parsed model reference.

    Raises:
        TypeError: If `params` is not a mapping or a value has a wrong type.
        ValueError: If `params` has no `input`, or `model` is not valid.
    """
    if not isinstance(params, Mapping):
        raise TypeError(
            "params must be a mapping such as {'input': {...}}, "
            f"not {type(params).__name__}"
        )
    if "input" not in params:
        raise ValueError("params must have an 'input' key: {'input': {...}}")
    validate = params.get("validate_input")
    if validate is not None and not isinstance(validate, bool):
        raise TypeError("params['validate_input'] must be True or False")
    webhook = params.get("webhook")
    if webhook is not None and not (
        isinstance(webhook, Mapping) and isinstance(webhook.get("url"), str)
    ):
        raise TypeError("params['webhook'] must be None or {'url': str, 'secret': ...}")
    return parse_model_ref(model)


class Hold(NamedTuple):
    """What a create that waits asks: that the server hold it, and until when.

    Made from a wait's options by `_waiting.options.hold_of`.

    Attributes:
        seconds: The longest hold asked for (`Prefer: wait=N`, whole seconds,
            down); None for the server's default (`Prefer: wait`); under a
            second for none (the create still waits: its deadline holds, and
            a streamed create still asks for its stream).
        deadline: A clock time the create may not run past (the wait's), or
            None.
    """

    seconds: Optional[float]
    deadline: Optional[float] = None


def create_request(
    params: Any,
    model: str,
    *,
    idempotent: bool,
    max_retries: Optional[int],
    hold: Optional[Hold] = None,
    stream: bool = False,
    idempotency_key: Optional[str] = None,
) -> Request:
    """Check a create call's arguments and build its request.

    The caller's `params` are read, never changed: `validate_input` becomes
    the `Validate-Input` header, and the body holds `input`, and `webhook`
    when the caller gave one. A new `Idempotency-Key` is minted for the call,
    unless one is given.

    Args:
        params: The caller's `CreatePredictionParams`.
        model: The model reference.
        idempotent: Whether a create may be sent again after it may have
            reached the server (the client's `retry_create`).
        max_retries: The call's retry limit, or None for the client's.
        hold: For a create that waits: the server is asked to hold it until
            the prediction finishes (`Prefer: wait[=N]`), and the read
            timeout outlasts the hold.
        stream: Create the prediction with its events to be streamed; with a
            `hold`, the create's answer is its event stream, returned unread.
        idempotency_key: The key to send (a batch's, kept in its ledger).

    Returns:
        The request.

    Raises:
        TypeError: If `params` is not a mapping or a value has a wrong type.
        ValueError: If `params` has no `input`, the input is not JSON (NaN,
            infinities, a cycle), or `model` is not valid.
    """
    ref = check_create(params, model)
    validate = params.get("validate_input")
    webhook = params.get("webhook")
    owner = path_segment(ref.owner, "model owner")
    name = path_segment(ref.name, "model name")
    if ref.version is None:
        template = ROUTES.create
        path = template.format(owner=owner, name=name)
    else:
        template = ROUTES.create_version
        path = template.format(owner=owner, name=name, version=ref.version)

    body: Dict[str, Any] = {"input": params["input"]}
    if "webhook" in params:
        body["webhook"] = None if webhook is None else dict(webhook)
    if stream:
        body["stream"] = True

    if idempotency_key is None:
        import uuid  # ~2 ms to import: paid by the first create, not by import

        idempotency_key = str(uuid.uuid4())
    headers = {"Idempotency-Key": idempotency_key, "Content-Type": "application/json"}
    if validate is not None:
        headers["Validate-Input"] = "true" if validate else "false"
    read_timeout = None
    prefer, seconds = (None, 0.0) if hold is None else _prefer(hold.seconds)
    answer_stream = hold is not None and stream
    if answer_stream:
        headers["Accept"] = "text/event-stream, application/json"
        prefer, seconds = prefer or "wait", seconds or HOLD_ASSUMED  # the idle limit
    if prefer is not None:
        headers["Prefer"] = prefer
        read_timeout = seconds + HOLD_MARGIN
    return Request(
        "POST",
        path,
        body=_encode(body),
        headers=headers,
        bucket="create",
        idempotent=idempotent,
        max_retries=max_retries,
        read_timeout=read_timeout,
        held=prefer is not None,
        deadline=None if hold is None else hold.deadline,
        stream=answer_stream,
        decode=open_stream if answer_stream else decode_prediction,
        template=template,
    )


def open_stream(response: Any) -> Any:
    """Decode an answer that opens a stream: itself, unread, or the typed error."""
    if response.status_code >= 300:
        decode_prediction(response)  # raises the status's typed error
    return response


def _prefer(hold: Optional[float]) -> Tuple[Optional[str], float]:
    """The `Prefer` header that asks the server to hold a create, and the hold.

    No header for a hold under a second.
    """
    if hold is None:
        return "wait", HOLD_ASSUMED
    seconds = int(hold)  # whole seconds, down: the answer comes by the deadline
    return (f"wait={seconds}", float(seconds)) if seconds >= 1 else (None, 0.0)


def _encode(body: Dict[str, Any]) -> bytes:
    try:
        return json_body(body)
    except (ValueError, RecursionError):
        where = not_finite_at(body["input"], ["input"])
        if where is None:
            raise ValueError(
                "params['input'] is not JSON (a cycle, or nested too deep); "
                "nothing was sent"
            ) from None
        subscripts = "".join(f"[{part!r}]" for part in where)
        raise ValueError(
            f"params{subscripts} is {value_at(body, where)!r}: NaN and "
            "infinities are not JSON; nothing was sent"
        ) from None


__all__ = [
    "HOLD_ASSUMED",
    "HOLD_MARGIN",
    "MODEL_REF_FORMS",
    "ROUTES",
    "Hold",
    "ModelRef",
    "Routes",
    "cancel_request",
    "check_create",
    "check_stream",
    "create_request",
    "get_request",
    "list_request",
    "open_stream",
    "parse_model_ref",
    "path_segment",
    "prediction_path",
    "stream_request",
]
