"""The seed's public surface: names, signatures, defaults and enum behaviour."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import pathlib
from typing import Any, Dict

import pytest

import predictions
import predictions.testing
from predictions import (
    DEFAULT_ASYNC_WAIT_OPTIONS,
    DEFAULT_WAIT_OPTIONS,
    AsyncWaitOptions,
    ErrorSource,
    Predictions,
    Status,
    WaitOptions,
)

SEED_NAMES = [
    "ErrorSource",
    "Status",
    "TaskError",
    "PredictionModel",
    "Prediction",
    "PredictionWithIO",
    "Webhook",
    "CreatePredictionParams",
    "WaitOptions",
    "AsyncWaitOptions",
    "DEFAULT_WAIT_OPTIONS",
    "DEFAULT_ASYNC_WAIT_OPTIONS",
    "Predictions",
    "PaginationOptions",
    "PaginatedResponse",
    "Client",
]

ERRORS = [
    "PredictionsError",
    "APIStatusError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "UnprocessableEntityError",
    "RateLimitError",
    "InternalServerError",
    "APIConnectionError",
    "APITimeoutError",
    "WaitTimeoutError",
    "WebhookVerificationError",
]


def test_every_seed_name_and_error_is_exported() -> None:
    for name in SEED_NAMES + ERRORS:
        assert name in predictions.__all__, name
        assert getattr(predictions, name) is not None
    assert set(predictions.__all__) <= set(dir(predictions))


def test_status_and_error_source_are_str_enums() -> None:
    assert [s.value for s in Status] == [
        "pending",
        "started",
        "failed",
        "succeeded",
        "cancelled",  # the seed's four come first; then what the API added
        "starting",
        "abandoned",
    ]
    assert [s.value for s in ErrorSource] == ["internal", "external"]
    for member in (Status.pending, ErrorSource.external):
        assert isinstance(member, str)
        assert str(member) == f"{member}" == member.value
    assert Status.succeeded == "succeeded"
    assert Status("failed") is Status.failed


def test_wait_options_keep_the_seed_defaults_and_order() -> None:
    for cls in (WaitOptions, AsyncWaitOptions):
        fields = [f.name for f in dataclasses.fields(cls)]
        assert fields[:2] == ["poll_interval", "on_poll"]
        options = cls()
        assert options.poll_interval == 1.0
        assert options.on_poll is None
        assert cls(0.5).poll_interval == 0.5
    assert WaitOptions() == DEFAULT_WAIT_OPTIONS
    assert AsyncWaitOptions() == DEFAULT_ASYNC_WAIT_OPTIONS


def test_predictions_methods_have_the_seed_signatures() -> None:
    expected = {
        "get": ["prediction_id"],
        "list": ["pagination_options"],
        "create": ["params", "model", "wait", "wait_options"],
        "wait": ["predictionID", "options"],
    }
    for name, params in expected.items():
        for method in (name, f"async_{name}"):
            sig = inspect.signature(getattr(Predictions, method))
            names = list(sig.parameters)[1:]
            assert names[: len(params)] == params, method
            # What the project adds comes after, keyword-only, with a default.
            for extra in names[len(params) :]:
                parameter = sig.parameters[extra]
                assert parameter.kind is inspect.Parameter.KEYWORD_ONLY, (method, extra)
                assert parameter.default is not inspect.Parameter.empty
    create = inspect.signature(Predictions.create).parameters
    assert create["wait"].default is False
    assert create["wait_options"].default is DEFAULT_WAIT_OPTIONS
    async_create = inspect.signature(Predictions.async_create).parameters
    assert async_create["wait_options"].default is DEFAULT_ASYNC_WAIT_OPTIONS
    assert inspect.iscoroutinefunction(Predictions.async_get)
    assert (
        inspect.signature(Predictions.list).parameters["pagination_options"].default
        is None
    )


def test_client_signature() -> None:
    params = inspect.signature(predictions.Client).parameters
    assert list(params)[:2] == ["api_base_url", "access_token"]
    for name in (
        "headers",
        "timeout",
        "max_retries",
        "max_workers",
        "verify",
        "proxies",
    ):
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY
    assert params["max_retries"].default == 2
    assert params["max_workers"].default == 16


def _type_checking_imports(path: str) -> Dict[str, str]:
    """The names `if TYPE_CHECKING:` imports in a module, with their homes."""
    tree = ast.parse(pathlib.Path(path).read_text(encoding="utf-8"))
    names: Dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            for item in node.body:
                assert isinstance(item, ast.ImportFrom)
                module = ("." * item.level) + (item.module or "")
                for alias in item.names:
                    home = (
                        module
                        if alias.asname in (None, alias.name)
                        else (f"{module}:{alias.name}")
                    )
                    names[alias.asname or alias.name] = home
    return names


@pytest.mark.parametrize("package", [predictions, predictions.testing])
def test_public_names_come_from_one_table(package: Any) -> None:
    """The lazy table is the one list: `__all__` is derived from it, and the
    imports for type checkers name the same names from the same homes."""
    table = package._HOMES
    assert [n for n in package.__all__ if n != "__version__"] == list(table)
    assert _type_checking_imports(package.__file__) == table
    for name in table:
        assert getattr(package, name) is not None, name
