"""Fixtures for the local server's own tests: servers and raw HTTP helpers."""

from __future__ import annotations

from typing import Any, Callable, Iterator, List

import pytest
import requests

from predictions.testing import LocalServer


@pytest.fixture
def make_server() -> Iterator[Callable[..., LocalServer]]:
    """Start servers with any LocalServer arguments; all stopped afterwards."""
    servers: List[LocalServer] = []

    def make(**kwargs: Any) -> LocalServer:
        kwargs.setdefault("webhook_backoff", 0.01)
        server = LocalServer(**kwargs).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def server(make_server: Callable[..., LocalServer]) -> LocalServer:
    """A running server with the defaults."""
    return make_server()


@pytest.fixture
def session() -> Iterator[requests.Session]:
    """A requests session that ignores proxy settings from the environment."""
    with requests.Session() as s:
        s.trust_env = False
        yield s
