"""The command line's tests: its client on the fake clock."""

from __future__ import annotations

import functools

import pytest

import predictions.client
from tests.conftest import BASE, FakeClock


@pytest.fixture
def cli_clock(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> FakeClock:
    """The command line's client waits on the fake clock."""
    monkeypatch.setattr(
        predictions.client,
        "Client",
        functools.partial(predictions.client.Client, clock=clock),
    )
    monkeypatch.setenv("WRIFTAI_API_BASE_URL", BASE)
    monkeypatch.delenv("WRIFTAI_ACCESS_TOKEN", raising=False)
    return clock
