"""The shelf: plugins that look installed, for the tests that list them; an SDK."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from tests.plugins.fakes import DISTS, MODULES
from tests.plugins.fakes import installed as shelved
from tests.plugins.otel_sdk import Telemetry, installed


@pytest.fixture
def shelf(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The plugins of `fakes.MODULES`, installed as `fakes.DISTS` say."""
    with shelved(monkeypatch, tmp_path, MODULES, DISTS):
        yield


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    """OpenTelemetry's SDK as the global providers: spans and metrics in memory."""
    made = Telemetry()
    with installed(made):
        yield made
    made.shutdown()
