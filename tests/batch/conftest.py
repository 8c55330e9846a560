"""The batch tests' local server (holds of at most 1 s) and a client of it."""

from __future__ import annotations

from typing import Iterator

import pytest

from predictions import Client
from predictions.testing import LocalServer


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer(prefer_wait_max=1) as running:
        yield running


@pytest.fixture
def client(server: LocalServer) -> Iterator[Client]:
    with Client(server.base_url, access_token="tok", trust_env=False) as made:
        yield made
