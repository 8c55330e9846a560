"""The shelf: plugins that look installed, for the tests that list them."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from tests.plugins.fakes import DISTS, MODULES, installed


@pytest.fixture
def shelf(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The plugins of `fakes.MODULES`, installed as `fakes.DISTS` say."""
    with installed(monkeypatch, tmp_path, MODULES, DISTS):
        yield
