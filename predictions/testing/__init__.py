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
    from ._builtins import BUILTIN_MODELS as BUILTIN_MODELS
    from ._faults import Fault as Fault
    from ._faults import Faults as Faults
    from ._listener import RecordedRequest as RecordedRequest
    from ._models import PredictionContext as PredictionContext
    from ._ratelimit import RateLimit as RateLimit
    from ._server import LocalServer as LocalServer
    from ._webhooks import Delivery as Delivery

_HOMES = {
    "BUILTIN_MODELS": "._builtins",
    "Delivery": "._webhooks",
    "Fault": "._faults",
    "Faults": "._faults",
    "LocalServer": "._server",
    "PredictionContext": "._models",
    "RateLimit": "._ratelimit",
    "RecordedRequest": "._listener",
}
"""The one table of public names: the module each lives in (`__all__` is derived)."""

__all__ = list(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted(__all__)
