"""Trickle: a server sending one byte every 0.5 s must not stretch a request."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from predictions import APITimeoutError, Client, PredictionsError, WaitOptions
from tests.attacks.conftest import (
    Handler,
    RawServer,
    StartRawServer,
    describe,
    read_request,
    response_head,
    run_bounded,
)

BYTE_EVERY = 0.5

BODY_HEAD = response_head(
    "200 OK", (("Content-Type", "application/json"), ("Content-Length", "1000"))
)
WHOLE_ANSWER = (
    response_head(
        "200 OK",
        (
            ("Content-Type", "application/json"),
            ("X-Padding", "p" * 200),
            ("Content-Length", "2"),
        ),
    )
    + b"{}"
)


def trickle_body(server: RawServer, conn: socket.socket) -> None:
    """Answer every request with its headers at once, then a byte per 0.5 s."""
    buffer = bytearray()
    while read_request(conn, buffer) is not None:
        conn.sendall(BODY_HEAD)
        for _ in range(1000):
            if not server.pause(BYTE_EVERY):
                return
            conn.sendall(b" ")


def trickle_headers(server: RawServer, conn: socket.socket) -> None:
    """Answer every request one byte per 0.5 s, from the status line on."""
    buffer = bytearray()
    while read_request(conn, buffer) is not None:
        for index in range(len(WHOLE_ANSWER)):
            conn.sendall(WHOLE_ANSWER[index : index + 1])
            if not server.pause(BYTE_EVERY):
                return


@pytest.mark.parametrize("handler", [trickle_body, trickle_headers])
def test_get_from_a_trickling_server_times_out_within_the_total_limit(
    raw_server: StartRawServer, handler: Handler
) -> None:
    """Models a server trickling a byte per 0.5 s (body, or headers) to pin a get."""
    server = raw_server(handler)

    def call() -> Any:
        client = Client(server.base_url, timeout=(2, 2), total_timeout=3, max_retries=0)
        return client.predictions.get("x")

    outcome = run_bounded(call, 5.5)
    assert outcome.finished, describe(outcome)
    assert isinstance(outcome.error, APITimeoutError), describe(outcome)
    assert outcome.elapsed <= 5.0, describe(outcome)


def test_async_get_from_a_trickling_server_times_out_within_the_total_limit(
    raw_server: StartRawServer,
) -> None:
    """Models a trickled body pinning an executor thread of async_get."""
    server = raw_server(trickle_body)

    def call() -> Any:
        client = Client(server.base_url, timeout=(2, 2), total_timeout=3, max_retries=0)
        return asyncio.run(client.predictions.async_get("x"))

    outcome = run_bounded(call, 5.5)
    assert outcome.finished, describe(outcome)
    assert isinstance(outcome.error, APITimeoutError), describe(outcome)
    assert outcome.elapsed <= 5.0, describe(outcome)


def test_wait_deadline_bounds_a_trickled_poll_with_default_timeouts(
    raw_server: StartRawServer,
) -> None:
    """Models a trickled poll answer outliving the wait's own deadline."""
    server = raw_server(trickle_body)

    def call() -> Any:
        client = Client(server.base_url)  # default timeouts: (10, 60)
        return client.predictions.wait("x", WaitOptions(poll_interval=0.1, timeout=1))

    outcome = run_bounded(call, 3.0)
    assert outcome.finished, describe(outcome)
    assert outcome.elapsed <= 2.0, describe(outcome)
    assert isinstance(outcome.error, PredictionsError), describe(outcome)
