"""Error answers become typed errors with a readable message, whatever the body."""

from __future__ import annotations

from typing import Any, Dict, Type

import pytest
import requests
import responses

import predictions
from predictions import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    InvalidResponseError,
    NotFoundError,
    PermissionDeniedError,
    PredictionsError,
    RateLimitError,
    UnprocessableEntityError,
)
from predictions.predictions import Predictions
from tests.conftest import BASE, TOKEN

URL = f"{BASE}/predictions/p1"

STATUS_ERRORS: Dict[int, Type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    500: InternalServerError,
    502: InternalServerError,
}


@pytest.fixture
def no_retries(preds: Predictions) -> Predictions:
    preds._api.retry_policy.max_retries = 0
    return preds


@pytest.mark.parametrize(("status", "cls"), STATUS_ERRORS.items())
def test_status_maps_to_its_error_with_the_detail(
    no_retries: Predictions, mocked: responses.RequestsMock, status: int, cls: Type[Any]
) -> None:
    mocked.add(
        "GET",
        URL,
        json={"detail": "went wrong"},
        status=status,
        headers={"x-request-id": "req-7"},
    )
    with pytest.raises(cls) as info:
        no_retries.get("p1")
    error = info.value
    assert type(error) is cls
    assert isinstance(error, PredictionsError)
    assert isinstance(error, requests.exceptions.HTTPError)
    assert error.status_code == status
    assert error.message == "went wrong"
    assert error.detail == "went wrong"
    assert error.request_id == "req-7"
    assert error.response.status_code == status
    assert str(status) in str(error)
    assert "went wrong" in str(error)
    assert "req-7" in str(error)
    assert len(mocked.calls) == 1


def test_validation_detail_is_rendered_readably(
    no_retries: Predictions, mocked: responses.RequestsMock
) -> None:
    detail = [
        {
            "loc": ["body", "input", "prompt"],
            "msg": "field required",
            "type": "missing",
        },
        {"loc": ["body", "input", "n"], "msg": "not an integer", "type": "int_type"},
    ]
    mocked.add(
        "POST", f"{BASE}/models/o/n/predictions", json={"detail": detail}, status=422
    )
    with pytest.raises(UnprocessableEntityError) as info:
        no_retries.create({"input": {}}, "o/n")
    assert info.value.detail == detail
    assert info.value.message == (
        "body.input.prompt: field required; body.input.n: not an integer"
    )


def test_html_error_body(
    no_retries: Predictions, mocked: responses.RequestsMock
) -> None:
    html = (
        "<html><head><title>502 Bad Gateway</title></head><body>"
        "<center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center>"
        "</body></html>"
    )
    mocked.add("GET", URL, body=html, status=502, content_type="text/html")
    with pytest.raises(InternalServerError) as info:
        no_retries.get("p1")
    assert "<" not in info.value.message
    assert "502 Bad Gateway" in info.value.message
    assert "nginx" in info.value.message
    assert info.value.detail is None


def test_empty_error_body(
    no_retries: Predictions, mocked: responses.RequestsMock
) -> None:
    mocked.add("GET", URL, body="", status=503)
    with pytest.raises(InternalServerError) as info:
        no_retries.get("p1")
    assert info.value.status_code == 503
    assert info.value.message == ""
    assert str(info.value).startswith("503")


def test_unlisted_status_is_the_base_class(
    no_retries: Predictions, mocked: responses.RequestsMock
) -> None:
    mocked.add("GET", URL, json={"detail": "teapot"}, status=418)
    with pytest.raises(APIStatusError) as info:
        no_retries.get("p1")
    assert type(info.value) is APIStatusError


def test_json_error_body_without_detail(
    no_retries: Predictions, mocked: responses.RequestsMock
) -> None:
    mocked.add("GET", URL, json={"error": "nope"}, status=400)
    with pytest.raises(BadRequestError, match="nope"):
        no_retries.get("p1")


@pytest.mark.parametrize(
    "body", ["<html>maintenance</html>", "", "{truncated", b"\xff\xfe\x00garbage"]
)
def test_success_whose_body_is_not_json(
    no_retries: Predictions, mocked: responses.RequestsMock, body: Any
) -> None:
    mocked.add("GET", URL, body=body, status=200)
    with pytest.raises(InvalidResponseError) as info:
        no_retries.get("p1")
    assert not isinstance(info.value, ValueError), "never a JSON decoding error"
    assert "200" in str(info.value)
    assert "not JSON" in str(info.value)
    assert info.value.status_code == 200


@pytest.mark.parametrize("body", ["[1, 2]", '"text"', "null"])
def test_success_whose_json_is_not_an_object(
    no_retries: Predictions, mocked: responses.RequestsMock, body: str
) -> None:
    mocked.add("GET", URL, body=body, status=200)
    with pytest.raises(InvalidResponseError, match="not an object"):
        no_retries.get("p1")


def test_page_without_items(
    no_retries: Predictions, mocked: responses.RequestsMock
) -> None:
    mocked.add("GET", f"{BASE}/predictions", json={"next_cursor": None})
    with pytest.raises(PredictionsError, match="items"):
        no_retries.list()


def test_the_token_is_in_no_error_message(
    no_retries: Predictions, mocked: responses.RequestsMock
) -> None:
    mocked.add("GET", URL, json={"detail": "bad token"}, status=401)
    with pytest.raises(AuthenticationError) as info:
        no_retries.get("p1")
    assert TOKEN not in str(info.value)
    assert TOKEN not in repr(info.value)


def test_errors_all_have_docstrings() -> None:
    for name in predictions.__all__:
        obj = getattr(predictions, name)
        if isinstance(obj, type) and issubclass(obj, BaseException):
            assert obj.__doc__, name
