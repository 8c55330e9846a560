"""1xx answers: an interim answer must never shift later answers on the connection."""

from __future__ import annotations

import json
import select
import socket
from typing import Any, Dict, List

import pytest

from predictions import Client
from tests.attacks.conftest import (
    Handler,
    RawServer,
    StartRawServer,
    describe,
    json_answer,
    read_request,
    run_bounded,
)
from tests.conftest import prediction

EARLY_HINTS = b"HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
PROCESSING = b"HTTP/1.1 102 Processing\r\n\r\n"
HOLD = 0.3

INTERIMS = {
    "103-early-hints": EARLY_HINTS,
    "100-continue-unsolicited": CONTINUE,
    "102-then-103": PROCESSING + EARLY_HINTS,
}


def prediction_body(prediction_id: str) -> bytes:
    return json.dumps(prediction(id=prediction_id, output=prediction_id)).encode()


def interim_server(interim: bytes) -> Handler:
    """A keep-alive server: `first` gets `interim` then its 200, `second` a 200.

    Like a slow origin behind a proxy that sends early hints at once, the
    final answer to `first` follows the interim one only after a pause (until
    the next request arrives, or 0.3 s): a client that took the interim
    answer for the final one reads `first`'s 200 as the next request's answer.
    """

    def handler(server: RawServer, conn: socket.socket) -> None:
        buffer = bytearray()
        while True:
            request = read_request(conn, buffer)
            if request is None:
                return
            name = request.path.rstrip("/").rsplit("/", 1)[-1]
            if name == "first":
                conn.sendall(interim)
                select.select([conn], [], [], HOLD)
            conn.sendall(json_answer(prediction_body(name)))

    return handler


@pytest.mark.parametrize("interim", list(INTERIMS), ids=list(INTERIMS))
def test_interim_answer_does_not_shift_the_next_answer(
    raw_server: StartRawServer, interim: str
) -> None:
    """Models a 1xx before a 200 on a keep-alive connection (answers off by one)."""
    server = raw_server(interim_server(INTERIMS[interim]))
    got: Dict[str, Any] = {}

    def call() -> List[Any]:
        with Client(server.base_url, max_retries=0) as client:
            for name in ("first", "second"):
                try:
                    got[name] = client.predictions.get(name).get("id")
                except Exception as exc:
                    got[name] = f"{type(exc).__name__}: {str(exc)[:200]}"
        return [got.get("first"), got.get("second")]

    outcome = run_bounded(call, 10.0)
    assert outcome.finished, f"{describe(outcome)}; so far {got}"
    assert outcome.error is None, describe(outcome)
    assert got == {"first": "first", "second": "second"}
