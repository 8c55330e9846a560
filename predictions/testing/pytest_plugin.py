"""pytest fixtures for code that uses `predictions`: a local server and a client.

`predictions_server` is a running `LocalServer` (one per test);
`predictions_client` is a `predictions.Client` pointed at it (ignoring proxy
settings from the environment), closed after the test. Configure the server
of a test with the marker
`@pytest.mark.predictions_server(token=..., rate_limit=..., faults=..., models=...)`
(any `LocalServer` keyword argument); the client gets the server's token.

pytest loads this module in every run of every project that has `predictions`
installed, so it imports nothing heavy: the server and the client are imported
inside the fixtures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

import pytest

if TYPE_CHECKING:
    from predictions import Client
    from predictions.testing._server import LocalServer


def pytest_configure(config: pytest.Config) -> None:
    """Declare the `predictions_server` marker."""
    config.addinivalue_line(
        "markers",
        "predictions_server(**kwargs): LocalServer keyword arguments for the"
        " predictions_server fixture",
    )


@pytest.fixture
def predictions_server(request: pytest.FixtureRequest) -> Iterator[LocalServer]:
    """A running local WriftAI server, stopped after the test."""
    from predictions.testing._server import LocalServer

    marker = request.node.get_closest_marker("predictions_server")
    kwargs = dict(marker.kwargs) if marker is not None else {}
    with LocalServer(**kwargs) as server:
        yield server


@pytest.fixture
def predictions_client(predictions_server: LocalServer) -> Iterator[Client]:
    """A `predictions.Client` for `predictions_server`, closed after the test."""
    from predictions import Client

    # trust_env=False: a proxy from the environment (HTTP_PROXY) must not
    # stand between a test and its local server.
    client = Client(
        api_base_url=predictions_server.base_url,
        access_token=predictions_server.token,
        trust_env=False,
    )
    try:
        yield client
    finally:
        client.close()
