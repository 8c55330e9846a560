"""A minimal requests-based client for the WriftAI predictions API, with plugins.

The names below are loaded on first use (PEP 562): `import predictions` costs
next to nothing, and `predictions.Client` brings in requests and the rest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, List

from predictions._version import __version__

if TYPE_CHECKING:
    from predictions.batch import as_completed, async_as_completed
    from predictions.client import DEFAULT_API_BASE_URL, DEFAULT_TIMEOUT, Client
    from predictions.errors import (
        APIConnectionError,
        APIStatusError,
        APITimeoutError,
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
        WaitTimeoutError,
        WebhookHeaderError,
        WebhookSignatureMismatchError,
        WebhookSignatureMissingError,
        WebhookTimestampError,
        WebhookToleranceError,
        WebhookVerificationError,
    )
    from predictions.hookspecs import hookimpl
    from predictions.pagination import PaginatedResponse, PaginationOptions
    from predictions.plugins import (
        PluginError,
        PluginHost,
        PluginInfo,
        PluginValidationError,
        PluginWarning,
        list_plugins,
    )
    from predictions.predictions import (
        DEFAULT_ASYNC_WAIT_OPTIONS,
        DEFAULT_WAIT_OPTIONS,
        AsyncWaitOptions,
        Predictions,
        WaitOptions,
    )
    from predictions.types import (
        CreatePredictionParams,
        ErrorSource,
        JsonValue,
        Prediction,
        PredictionModel,
        PredictionWithIO,
        Status,
        TaskError,
        Webhook,
    )
    from predictions.webhooks import WebhookReceiver
    from predictions.webhooks import verify as verify_webhook

_HOMES = {
    "APIConnectionError": "predictions.errors",
    "as_completed": "predictions.batch",
    "async_as_completed": "predictions.batch",
    "APIStatusError": "predictions.errors",
    "APITimeoutError": "predictions.errors",
    "AsyncWaitOptions": "predictions.predictions",
    "AuthenticationError": "predictions.errors",
    "BadRequestError": "predictions.errors",
    "Client": "predictions.client",
    "ConflictError": "predictions.errors",
    "CreatePredictionParams": "predictions.types",
    "DEFAULT_API_BASE_URL": "predictions.client",
    "DEFAULT_ASYNC_WAIT_OPTIONS": "predictions.predictions",
    "DEFAULT_TIMEOUT": "predictions.client",
    "DEFAULT_WAIT_OPTIONS": "predictions.predictions",
    "ErrorSource": "predictions.types",
    "hookimpl": "predictions.hookspecs",
    "InternalServerError": "predictions.errors",
    "InvalidResponseError": "predictions.errors",
    "JsonValue": "predictions.types",
    "list_plugins": "predictions.plugins",
    "NotFoundError": "predictions.errors",
    "PaginatedResponse": "predictions.pagination",
    "PaginationOptions": "predictions.pagination",
    "PermissionDeniedError": "predictions.errors",
    "PluginError": "predictions.plugins",
    "PluginHost": "predictions.plugins",
    "PluginInfo": "predictions.plugins",
    "PluginValidationError": "predictions.plugins",
    "PluginWarning": "predictions.plugins",
    "Prediction": "predictions.types",
    "PredictionModel": "predictions.types",
    "Predictions": "predictions.predictions",
    "PredictionsError": "predictions.errors",
    "PredictionWithIO": "predictions.types",
    "RateLimitError": "predictions.errors",
    "Status": "predictions.types",
    "TaskError": "predictions.types",
    "UnprocessableEntityError": "predictions.errors",
    "verify_webhook": "predictions.webhooks:verify",
    "WaitOptions": "predictions.predictions",
    "WaitTimeoutError": "predictions.errors",
    "Webhook": "predictions.types",
    "WebhookHeaderError": "predictions.errors",
    "WebhookSignatureMismatchError": "predictions.errors",
    "WebhookSignatureMissingError": "predictions.errors",
    "WebhookTimestampError": "predictions.errors",
    "WebhookToleranceError": "predictions.errors",
    "WebhookReceiver": "predictions.webhooks",
    "WebhookVerificationError": "predictions.errors",
}
"""Where each public name lives: `module` or `module:attribute`."""


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, _, attribute = home.partition(":")
    value = getattr(importlib.import_module(module), attribute or name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted(__all__)


__all__ = [
    "DEFAULT_API_BASE_URL",
    "DEFAULT_ASYNC_WAIT_OPTIONS",
    "DEFAULT_TIMEOUT",
    "DEFAULT_WAIT_OPTIONS",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncWaitOptions",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ConflictError",
    "CreatePredictionParams",
    "ErrorSource",
    "InternalServerError",
    "InvalidResponseError",
    "JsonValue",
    "NotFoundError",
    "PaginatedResponse",
    "PaginationOptions",
    "PermissionDeniedError",
    "PluginError",
    "PluginHost",
    "PluginInfo",
    "PluginValidationError",
    "PluginWarning",
    "Prediction",
    "PredictionModel",
    "PredictionWithIO",
    "Predictions",
    "PredictionsError",
    "RateLimitError",
    "Status",
    "TaskError",
    "UnprocessableEntityError",
    "WaitOptions",
    "WaitTimeoutError",
    "Webhook",
    "WebhookHeaderError",
    "WebhookReceiver",
    "WebhookSignatureMismatchError",
    "WebhookSignatureMissingError",
    "WebhookTimestampError",
    "WebhookToleranceError",
    "WebhookVerificationError",
    "__version__",
    "as_completed",
    "async_as_completed",
    "hookimpl",
    "list_plugins",
    "verify_webhook",
]
