"""A local WriftAI-compatible predictions server, for demos and tests.

`LocalServer` runs the API of API.md on the standard library's threading HTTP
server; `Fault`/`Faults` inject failures repeatably; `RateLimit` turns rate
limits on. The pytest fixtures live in `predictions.testing.pytest_plugin`.

The names load on first use: pytest imports the plugin module (and so this
package) in every run of every project that has `predictions` installed, and
that must not cost the server's imports (asyncio, http.server, ...).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, List

if TYPE_CHECKING:
    from ._faults import Fault, Faults
    from ._http import RecordedRequest
    from ._models import BUILTIN_MODELS, PredictionContext
    from ._ratelimit import RateLimit
    from ._server import LocalServer
    from ._webhooks import Delivery

__all__ = [
    "BUILTIN_MODELS",
    "Delivery",
    "Fault",
    "Faults",
    "LocalServer",
    "PredictionContext",
    "RateLimit",
    "RecordedRequest",
]

_HOMES = {
    "BUILTIN_MODELS": "._models",
    "Delivery": "._webhooks",
    "Fault": "._faults",
    "Faults": "._faults",
    "LocalServer": "._server",
    "PredictionContext": "._models",
    "RateLimit": "._ratelimit",
    "RecordedRequest": "._http",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted(__all__)
