"""Many predictions at once, and a clean, fast stop."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, List

import requests

from predictions.testing import LocalServer

from .helpers import wait_until

N = 1000
CLIENT_THREADS = 8


def test_a_thousand_sleeping_predictions_hold_no_threads(
    server: LocalServer,
) -> None:
    threads_before = threading.active_count()
    peak: List[int] = [threads_before]
    stop_sampling = threading.Event()

    def sample() -> None:
        while not stop_sampling.wait(0.01):
            peak.append(threading.active_count())

    sampler = threading.Thread(target=sample)
    sampler.start()
    url = server.base_url + "/models/demo/sleep/predictions"
    local = threading.local()

    def create(i: int) -> Any:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.trust_env = False
        return local.session.post(url, json={"input": {"seconds": 0.5}}).status_code

    started = time.monotonic()
    try:
        with ThreadPoolExecutor(CLIENT_THREADS) as pool:
            codes = list(pool.map(create, range(N)))
        assert codes == [202] * N

        def all_done() -> bool:
            return all(p["status"] == "succeeded" for p in server.predictions)

        wait_until(all_done, timeout=120, interval=0.05)
    finally:
        stop_sampling.set()
        sampler.join()
    elapsed = time.monotonic() - started
    predictions = server.predictions
    assert len(predictions) == N
    assert all(p["logs"][-1] == "step 5/5" for p in predictions)
    # Run one after another they would take 500 s; at once, well under 120 s
    # even on a loaded machine.
    assert elapsed < 120
    # Client threads, their connections' server threads and the sampler, but
    # nothing per prediction.
    assert max(peak) - threads_before < 2 * CLIENT_THREADS + 12


def test_stop_is_fast_and_leaves_no_threads(session: requests.Session) -> None:
    before = set(threading.enumerate())
    server = LocalServer().start()
    base = server.base_url
    # A running prediction, an idle keep-alive connection, a request held by
    # Prefer: wait, and a half-sent request.
    session.post(
        base + "/models/demo/sleep/predictions", json={"input": {"seconds": 30}}
    )
    session.get(base + "/predictions")
    held: List[Any] = []

    def hold() -> None:
        try:
            held.append(
                requests.post(
                    base + "/models/demo/sleep/predictions",
                    json={"input": {"seconds": 30}},
                    headers={"Prefer": "wait=30"},
                    timeout=10,
                ).status_code
            )
        except requests.RequestException as exc:
            held.append(exc)

    holder = threading.Thread(target=hold)
    holder.start()
    half = socket.create_connection(("127.0.0.1", server.port))
    half.sendall(b"POST /v1/predictions HTTP/1.1\r\nContent-Length: 10\r\n\r\n{")
    wait_until(lambda: len(server.predictions) == 2)
    started = time.monotonic()
    server.stop()
    # Not the 30 s of the prediction or of the held request, nor the idle
    # connection's 60 s.
    assert time.monotonic() - started < 10
    holder.join(30)
    half.close()
    assert held  # answered or cut, never left hanging
    wait_until(lambda: set(threading.enumerate()) - before == set())


def test_restart_after_stop(make_server: Callable[..., LocalServer]) -> None:
    server = make_server()
    server.stop()
    server.start()
    response = requests.get(server.base_url + "/predictions")
    assert response.status_code == 200


def test_concurrent_creates_with_the_same_idempotency_key(
    server: LocalServer,
) -> None:
    url = server.base_url + "/models/demo/echo/predictions"

    def create(_: int) -> str:
        response = requests.post(
            url, json={"input": 1}, headers={"Idempotency-Key": "same"}
        )
        return response.json()["id"]  # type: ignore[no-any-return]

    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(create, range(16)))
    assert len(ids) == 1
    assert len(server.predictions) == 1


def test_a_burst_of_new_connections_is_not_reset(server: LocalServer) -> None:
    request = b"GET /v1/predictions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    started = time.monotonic()
    sockets = [
        socket.create_connection(("127.0.0.1", server.port), timeout=5)
        for _ in range(200)
    ]
    answers = []
    try:
        for sock in sockets:
            sock.sendall(request)
        for sock in sockets:
            answers.append(sock.recv(12))
    finally:
        for sock in sockets:
            sock.close()
    assert answers == [b"HTTP/1.1 200"] * 200
    # With socketserver's backlog of 5, the kernel drops SYNs and this takes
    # retransmissions of a second and more each (or an async client sees
    # resets).
    assert time.monotonic() - started < 10
