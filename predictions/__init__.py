"""A minimal requests-based client for the WriftAI predictions API, with plugins.

The names below are loaded on first use (PEP 562): `import predictions` costs
next to nothing, and `predictions.Client` brings in requests and the rest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, List

from predictions._version import __version__

if TYPE_CHECKING:  # the names of the table below, for type checkers
    from predictions._clock import Clock as Clock
    from predictions._run import async_run as async_run
    from predictions._run import run as run
    from predictions._settings import Settings as Settings
    from predictions.batch import as_completed as as_completed
    from predictions.batch import async_as_completed as async_as_completed
    from predictions.client import DEFAULT_API_BASE_URL as DEFAULT_API_BASE_URL
    from predictions.client import DEFAULT_TIMEOUT as DEFAULT_TIMEOUT
    from predictions.client import Client as Client
    from predictions.errors import APIConnectionError as APIConnectionError
    from predictions.errors import APIStatusError as APIStatusError
    from predictions.errors import APITimeoutError as APITimeoutError
    from predictions.errors import AuthenticationError as AuthenticationError
    from predictions.errors import BadRequestError as BadRequestError
    from predictions.errors import ConflictError as ConflictError
    from predictions.errors import DownloadError as DownloadError
    from predictions.errors import InternalServerError as InternalServerError
    from predictions.errors import InvalidResponseError as InvalidResponseError
    from predictions.errors import NotFoundError as NotFoundError
    from predictions.errors import OutputExpiredError as OutputExpiredError
    from predictions.errors import PermissionDeniedError as PermissionDeniedError
    from predictions.errors import PluginError as PluginError
    from predictions.errors import PluginWarning as PluginWarning
    from predictions.errors import PredictionFailedError as PredictionFailedError
    from predictions.errors import PredictionsError as PredictionsError
    from predictions.errors import RateLimitError as RateLimitError
    from predictions.errors import ResponseTooLargeError as ResponseTooLargeError
    from predictions.errors import StreamError as StreamError
    from predictions.errors import UnprocessableEntityError as UnprocessableEntityError
    from predictions.errors import UploadError as UploadError
    from predictions.errors import WaitTimeoutError as WaitTimeoutError
    from predictions.errors import WebhookHeaderError as WebhookHeaderError
    from predictions.errors import (
        WebhookSignatureMismatchError as WebhookSignatureMismatchError,
    )
    from predictions.errors import (
        WebhookSignatureMissingError as WebhookSignatureMissingError,
    )
    from predictions.errors import WebhookTimestampError as WebhookTimestampError
    from predictions.errors import WebhookToleranceError as WebhookToleranceError
    from predictions.errors import WebhookVerificationError as WebhookVerificationError
    from predictions.files import File as File
    from predictions.files import OutputFile as OutputFile
    from predictions.hookspecs import Operation as Operation
    from predictions.hookspecs import current_operation as current_operation
    from predictions.hookspecs import hookimpl as hookimpl
    from predictions.pagination import PaginatedResponse as PaginatedResponse
    from predictions.pagination import PaginationOptions as PaginationOptions
    from predictions.plugins import PluginHost as PluginHost
    from predictions.plugins import PluginInfo as PluginInfo
    from predictions.plugins import PluginValidationError as PluginValidationError
    from predictions.plugins import list_plugins as list_plugins
    from predictions.predictions import (
        DEFAULT_ASYNC_WAIT_OPTIONS as DEFAULT_ASYNC_WAIT_OPTIONS,
    )
    from predictions.predictions import DEFAULT_WAIT_OPTIONS as DEFAULT_WAIT_OPTIONS
    from predictions.predictions import AsyncWaitOptions as AsyncWaitOptions
    from predictions.predictions import Predictions as Predictions
    from predictions.predictions import WaitOptions as WaitOptions
    from predictions.types import CreatePredictionParams as CreatePredictionParams
    from predictions.types import ErrorSource as ErrorSource
    from predictions.types import JsonValue as JsonValue
    from predictions.types import Prediction as Prediction
    from predictions.types import PredictionEvent as PredictionEvent
    from predictions.types import PredictionModel as PredictionModel
    from predictions.types import PredictionWithIO as PredictionWithIO
    from predictions.types import Status as Status
    from predictions.types import StreamEventType as StreamEventType
    from predictions.types import TaskError as TaskError
    from predictions.types import Webhook as Webhook
    from predictions.webhooks import WebhookReceiver as WebhookReceiver
    from predictions.webhooks import verify_webhook as verify_webhook

_HOMES = {
    "DEFAULT_API_BASE_URL": "predictions.client",
    "DEFAULT_ASYNC_WAIT_OPTIONS": "predictions.predictions",
    "DEFAULT_TIMEOUT": "predictions.client",
    "DEFAULT_WAIT_OPTIONS": "predictions.predictions",
    "APIConnectionError": "predictions.errors",
    "APIStatusError": "predictions.errors",
    "APITimeoutError": "predictions.errors",
    "AsyncWaitOptions": "predictions.predictions",
    "AuthenticationError": "predictions.errors",
    "BadRequestError": "predictions.errors",
    "Client": "predictions.client",
    "Clock": "predictions._clock",
    "ConflictError": "predictions.errors",
    "CreatePredictionParams": "predictions.types",
    "ErrorSource": "predictions.types",
    "File": "predictions.files",
    "DownloadError": "predictions.errors",
    "InternalServerError": "predictions.errors",
    "InvalidResponseError": "predictions.errors",
    "JsonValue": "predictions.types",
    "NotFoundError": "predictions.errors",
    "Operation": "predictions.hookspecs",
    "OutputExpiredError": "predictions.errors",
    "OutputFile": "predictions.files",
    "PaginatedResponse": "predictions.pagination",
    "PaginationOptions": "predictions.pagination",
    "PermissionDeniedError": "predictions.errors",
    "PluginError": "predictions.errors",
    "PluginHost": "predictions.plugins",
    "PluginInfo": "predictions.plugins",
    "PluginValidationError": "predictions.plugins",
    "PluginWarning": "predictions.errors",
    "Prediction": "predictions.types",
    "PredictionFailedError": "predictions.errors",
    "PredictionModel": "predictions.types",
    "PredictionEvent": "predictions.types",
    "PredictionWithIO": "predictions.types",
    "Predictions": "predictions.predictions",
    "PredictionsError": "predictions.errors",
    "RateLimitError": "predictions.errors",
    "ResponseTooLargeError": "predictions.errors",
    "Settings": "predictions._settings",
    "Status": "predictions.types",
    "StreamError": "predictions.errors",
    "StreamEventType": "predictions.types",
    "TaskError": "predictions.types",
    "UnprocessableEntityError": "predictions.errors",
    "UploadError": "predictions.errors",
    "WaitOptions": "predictions.predictions",
    "WaitTimeoutError": "predictions.errors",
    "Webhook": "predictions.types",
    "WebhookHeaderError": "predictions.errors",
    "WebhookReceiver": "predictions.webhooks",
    "WebhookSignatureMismatchError": "predictions.errors",
    "WebhookSignatureMissingError": "predictions.errors",
    "WebhookTimestampError": "predictions.errors",
    "WebhookToleranceError": "predictions.errors",
    "WebhookVerificationError": "predictions.errors",
    "as_completed": "predictions.batch",
    "async_as_completed": "predictions.batch",
    "async_run": "predictions._run",
    "current_operation": "predictions.hookspecs",
    "hookimpl": "predictions.hookspecs",
    "list_plugins": "predictions.plugins",
    "run": "predictions._run",
    "verify_webhook": "predictions.webhooks",
}
"""The one table of public names: where each lives (`module` or `module:attribute`).

`__all__` is derived from it; the imports above, for type checkers only, must
name the same (tests/unit/test_surface.py checks that they do).
"""

__all__ = [*_HOMES, "__version__"]


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
