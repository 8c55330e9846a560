"""Every bad input of the foundation issue: a clear error, and nothing sent."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import responses

from predictions import AsyncWaitOptions, WaitOptions
from predictions.predictions import Predictions

BAD_MODEL_REFS = [
    "",
    "o",
    "o/",
    "/n",
    "o/n:",
    "o/n:x",
    "o/n:-1",
    "o/n/x",
    "o//n",
    "o/n:1:2",
    "o /n",
    "o/n ",
    " o/n",
    "o/n\n",
    "o\n/n",
    "o/n:1\n",
    "../n",
    "o/..",
    "./n",
    "o/.",
    "o?/n",
    "o/n?x=1",
    "o#/n",
    "o/n#",
    "o%2F/n",
    "o/n%2e",
    "o/n\t",
    "o/n\x00",
    "o/n\x7f",
    "o/n:\uff11",  # a full-width digit is not a decimal digit the API reads
    "o/n:1.0",
]


@pytest.mark.parametrize("model", BAD_MODEL_REFS)
def test_bad_model_reference_is_refused_before_any_request(
    preds: Predictions, mocked: responses.RequestsMock, model: str
) -> None:
    with pytest.raises(ValueError, match="owner/name:version") as info:
        preds.create({"input": 1}, model)
    assert repr(model) in str(info.value)
    with pytest.raises(ValueError, match="owner/name:version"):
        asyncio.run(preds.async_create({"input": 1}, model))
    assert len(mocked.calls) == 0


def test_model_reference_that_is_not_a_string(
    preds: Predictions, mocked: responses.RequestsMock
) -> None:
    with pytest.raises(TypeError, match="model must be a string"):
        preds.create({"input": 1}, None)  # type: ignore[arg-type]
    assert len(mocked.calls) == 0


@pytest.mark.parametrize("prediction_id", ["", " ", "\t\n", ".", ".."])
def test_unusable_prediction_id_is_refused_before_any_request(
    preds: Predictions, mocked: responses.RequestsMock, prediction_id: str
) -> None:
    for call in (preds.get, preds.wait):
        with pytest.raises(ValueError, match="prediction id"):
            call(prediction_id)
    for async_call in (preds.async_get, preds.async_wait):
        with pytest.raises(ValueError, match="prediction id"):
            asyncio.run(async_call(prediction_id))
    assert len(mocked.calls) == 0


def test_prediction_id_that_is_not_a_string(
    preds: Predictions, mocked: responses.RequestsMock
) -> None:
    with pytest.raises(TypeError, match="prediction id must be a string"):
        preds.get(123)  # type: ignore[arg-type]
    assert len(mocked.calls) == 0


@pytest.mark.parametrize("params", [None, "input", ["input"], 1, ("input", 1)])
def test_params_that_are_not_a_mapping(
    preds: Predictions, mocked: responses.RequestsMock, params: Any
) -> None:
    with pytest.raises(TypeError, match="params must be a mapping"):
        preds.create(params, "o/n")
    with pytest.raises(TypeError, match="params must be a mapping"):
        asyncio.run(preds.async_create(params, "o/n"))
    assert len(mocked.calls) == 0


@pytest.mark.parametrize("params", [{}, {"inputs": 1}, {"webhook": None}])
def test_params_without_input(
    preds: Predictions, mocked: responses.RequestsMock, params: Any
) -> None:
    with pytest.raises(ValueError, match="'input'"):
        preds.create(params, "o/n")
    assert len(mocked.calls) == 0


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"input": 1, "validate_input": "yes"}, "validate_input"),
        ({"input": 1, "webhook": "https://x"}, "webhook"),
        ({"input": 1, "webhook": {"secret": "s"}}, "webhook"),
        ({"input": object()}, "JSON serializable"),
    ],
)
def test_params_with_wrong_types(
    preds: Predictions, mocked: responses.RequestsMock, params: Any, message: str
) -> None:
    before = dict(params)
    with pytest.raises(TypeError, match=message):
        preds.create(params, "o/n")
    assert params == before
    assert len(mocked.calls) == 0


@pytest.mark.parametrize("interval", [-1, -0.001, float("nan"), float("inf")])
def test_bad_poll_interval_is_a_value_error(
    preds: Predictions, mocked: responses.RequestsMock, interval: float
) -> None:
    with pytest.raises(ValueError, match="poll_interval"):
        WaitOptions(poll_interval=interval)
    with pytest.raises(ValueError, match="poll_interval"):
        AsyncWaitOptions(poll_interval=interval)
    # A dataclass can be changed after it is made: wait checks again.
    options = WaitOptions()
    options.poll_interval = interval
    with pytest.raises(ValueError, match="poll_interval"):
        preds.wait("p1", options)
    with pytest.raises(ValueError, match="poll_interval"):
        preds.create({"input": 1}, "o/n", wait=True, wait_options=options)
    async_options = AsyncWaitOptions()
    async_options.poll_interval = interval
    with pytest.raises(ValueError, match="poll_interval"):
        asyncio.run(preds.async_create({"input": 1}, "o/n", True, async_options))
    assert len(mocked.calls) == 0, "no prediction is created when its wait cannot run"


@pytest.mark.parametrize("interval", ["1", None, True])
def test_poll_interval_that_is_not_a_number(interval: Any) -> None:
    with pytest.raises(TypeError, match="poll_interval"):
        WaitOptions(poll_interval=interval)


def test_coroutine_on_poll_in_sync_wait_is_refused(
    preds: Predictions, mocked: responses.RequestsMock
) -> None:
    async def on_poll(p: Any) -> None:
        return None

    with pytest.raises(TypeError, match="AsyncWaitOptions"):
        preds.wait("p1", WaitOptions(on_poll=on_poll))  # type: ignore[arg-type]
    assert len(mocked.calls) == 0


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"page_size": 0}, ValueError),
        ({"page_size": -5}, ValueError),
        ({"page_size": "10"}, TypeError),
        ({"page_size": True}, TypeError),
        ({"cursor": 5}, TypeError),
        ({"pagesize": 5}, ValueError),
        ("page_size=5", TypeError),
    ],
)
def test_bad_pagination_options(
    preds: Predictions, mocked: responses.RequestsMock, options: Any, error: type
) -> None:
    with pytest.raises(error):
        preds.list(options)
    with pytest.raises(error):
        asyncio.run(preds.async_list(options))
    assert len(mocked.calls) == 0
