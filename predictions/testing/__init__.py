"""A local WriftAI-compatible predictions server, for demos and tests.

`LocalServer` runs the WriftAI API, as the hosted one behaves today, on the
standard library's threading HTTP server; `Fault`/`Faults` inject failures
repeatably; `RateLimit` turns rate limits on. The pytest fixtures live in
`predictions.testing.pytest_plugin`.

The names load on first use: pytest imports the plugin module (and so this
package) in every run of every project that has `predictions` installed, and
that must not cost the server's imports (asyncio, http.server, ...).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, List

if TYPE_CHECKING:  # the names of the table below, for type checkers
    from predictions.testing._api.ratelimit import RateLimit as RateLimit
    from predictions.testing._api.webhooks import Delivery as Delivery
    from predictions.testing._http.faults import Fault as Fault
    from predictions.testing._http.faults import Faults as Faults
    from predictions.testing._http.listener import RecordedRequest as RecordedRequest
    from predictions.testing._models.builtins import BUILTIN_MODELS as BUILTIN_MODELS
    from predictions.testing._models.registry import (
        PredictionContext as PredictionContext,
    )
    from predictions.testing._server import LocalServer as LocalServer

_HOMES = {
    "BUILTIN_MODELS": "predictions.testing._models.builtins",
    "Delivery": "predictions.testing._api.webhooks",
    "Fault": "predictions.testing._http.faults",
    "Faults": "predictions.testing._http.faults",
    "LocalServer": "predictions.testing._server",
    "PredictionContext": "predictions.testing._models.registry",
    "RateLimit": "predictions.testing._api.ratelimit",
    "RecordedRequest": "predictions.testing._http.listener",
}
"""The one table of public names: the module each lives in (`__all__` is derived)."""

__all__ = list(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted(__all__)
