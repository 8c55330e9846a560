"""Fault injection: each kind, the choice of requests, and repeatability."""

from __future__ import annotations

import http.client
import json
import threading
import time
from typing import Callable, List

import pytest
import requests

from predictions.testing import Fault, Faults, LocalServer

from .helpers import raw_request, wait_until

CREATE = "/v1/models/demo/echo/predictions"
BODY = b'{"input": 1}'
JSON = {"Content-Type": "application/json"}


def test_status_fault_answers_without_acting(
    make_server: Callable[..., LocalServer],
) -> None:
    server = make_server(
        faults=[Fault("status", route="create", sequence=[1], status=503)]
    )
    status, headers, body = raw_request(server, "POST", CREATE, BODY, JSON)
    assert status == 503
    assert json.loads(body) == {"detail": "Injected fault: 503"}
    assert headers["x-request-id"]
    assert headers["x-ratelimit-limit"]
    assert server.predictions == []
    status, _, _ = raw_request(server, "POST", CREATE, BODY, JSON)
    assert status == 202
    assert len(server.predictions) == 1
    assert server.faults is not None
    assert server.faults.counts == {"status:503": 1}


def test_429_with_and_without_headers(make_server: Callable[..., LocalServer]) -> None:
    faults = Faults(
        [
            Fault("status", route="get", sequence=[1], status=429, retry_after="2"),
            Fault(
                "status",
                route="get",
                sequence=[2],
                status=429,
                rate_limit_headers=False,
            ),
        ]
    )
    server = make_server(faults=faults)
    status, headers, _ = raw_request(server, "GET", "/v1/predictions/x")
    assert status == 429
    assert headers["retry-after"] == "2"
    assert "x-ratelimit-reset" in headers
    status, headers, _ = raw_request(server, "GET", "/v1/predictions/x")
    assert status == 429
    assert "retry-after" not in headers
    assert "x-ratelimit-reset" not in headers
    status, _, _ = raw_request(server, "GET", "/v1/predictions/x")
    assert status == 404
    assert faults.counts == {"status:429": 2}


def test_proxy_pages(make_server: Callable[..., LocalServer]) -> None:
    server = make_server(
        faults=[
            Fault("status", sequence=[1], status=502, body="<html>Bad Gateway</html>"),
            Fault("status", sequence=[2], status=504, body=""),
        ]
    )
    status, headers, body = raw_request(server, "GET", "/v1/predictions")
    assert (status, body) == (502, b"<html>Bad Gateway</html>")
    assert headers["content-type"].startswith("text/html")
    status, _, body = raw_request(server, "GET", "/v1/predictions")
    assert (status, body) == (504, b"")


def test_drop_before_acting(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(faults=[Fault("drop_before", route="create", sequence=[1])])
    with pytest.raises(requests.ConnectionError):
        session.post(
            server.base_url + "/models/demo/echo/predictions", json={"input": 1}
        )
    assert server.predictions == []
    assert len(server.requests) == 1
    again = session.post(
        server.base_url + "/models/demo/echo/predictions", json={"input": 1}
    )
    assert again.status_code == 202


def test_drop_after_acting(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(faults=[Fault("drop_after", route="create", sequence=[1])])
    with pytest.raises(requests.ConnectionError):
        session.post(
            server.base_url + "/models/demo/echo/predictions", json={"input": 1}
        )
    assert len(server.predictions) == 1  # it exists; the client never heard


def test_drop_after_cancel_still_cancels(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(faults=[Fault("drop_after", route="cancel", probability=1.0)])
    created = session.post(
        server.base_url + "/models/demo/sleep/predictions",
        json={"input": {"seconds": 10}},
    ).json()
    with pytest.raises(requests.ConnectionError):
        session.post(f"{server.base_url}/predictions/{created['id']}/cancel")
    assert server.wait(created["id"], timeout=2)["status"] == "cancelled"


def test_delayed_answer(make_server: Callable[..., LocalServer]) -> None:
    server = make_server(faults=[Fault("delay", route="list", sequence=[1], delay=3)])
    delayed: List[float] = []

    def first() -> None:
        started = time.monotonic()
        status, _, _ = raw_request(server, "GET", "/v1/predictions")
        assert status == 200
        delayed.append(time.monotonic() - started)

    thread = threading.Thread(target=first)
    thread.start()
    try:
        wait_until(lambda: len(server.requests) == 1)
        # The second request is not delayed: it is answered while the first
        # one still waits out its three seconds.
        status, _, _ = raw_request(server, "GET", "/v1/predictions")
        assert status == 200
        assert delayed == []
    finally:
        thread.join(30)
    assert delayed[0] >= 3


def test_delay_beyond_the_client_timeout_still_acts(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(faults=[Fault("delay", route="create", sequence=[1], delay=5)])
    with pytest.raises(requests.Timeout):
        session.post(
            server.base_url + "/models/demo/echo/predictions",
            json={"input": 1},
            timeout=0.2,
        )
    # It acts before the delay, which the client's timeout may have beaten.
    wait_until(lambda: len(server.predictions) == 1)


def test_truncated_body(make_server: Callable[..., LocalServer]) -> None:
    server = make_server(faults=[Fault("truncate", route="create", sequence=[1])])
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.request("POST", CREATE, body=BODY, headers=JSON)
        response = conn.getresponse()
        assert response.status == 202
        with pytest.raises(http.client.IncompleteRead):
            response.read()
    finally:
        conn.close()
    assert len(server.predictions) == 1


def test_truncated_body_through_requests(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(faults=[Fault("truncate", route="get", probability=1.0)])
    # urllib3 < 1.26 does not enforce Content-Length: the short body then
    # fails to decode instead.
    with pytest.raises((requests.RequestException, ValueError)):
        session.get(server.base_url + "/predictions/x").json()


def test_routes_any_limit_and_order(make_server: Callable[..., LocalServer]) -> None:
    faults = Faults(
        [
            Fault("status", route="any", sequence=[2, 3], status=500),
            Fault("status", route="list", probability=1.0, limit=2, status=503),
        ]
    )
    server = make_server(faults=faults)
    codes = [raw_request(server, "GET", "/v1/predictions")[0] for _ in range(5)]
    # Request 1: the 503 rule; 2, 3: the first rule wins; 4: the 503 rule's
    # second and last; 5: no fault.
    assert codes == [503, 500, 500, 503, 200]
    assert faults.counts == {"status:500": 2, "status:503": 2}
    assert faults.total == 4
    assert faults.history[0] == ("list", 1, "status:503")
    # Unknown routes never get faults.
    assert raw_request(server, "GET", "/v1/nope")[0] == 404


def run_probabilistic(server: LocalServer) -> List[int]:
    return [raw_request(server, "GET", "/v1/predictions")[0] for _ in range(40)]


def test_same_seed_same_faults(make_server: Callable[..., LocalServer]) -> None:
    def rules() -> List[Fault]:
        return [
            Fault("status", route="list", probability=0.3, status=503),
            Fault("status", route="list", probability=0.2, status=502),
        ]

    first = make_server(faults=Faults(rules(), seed=7))
    second = make_server(faults=Faults(rules(), seed=7))
    other = make_server(faults=Faults(rules(), seed=8))
    a, b, c = (
        run_probabilistic(first),
        run_probabilistic(second),
        run_probabilistic(other),
    )
    assert a == b
    assert a != c
    assert {503, 502, 200} <= set(a)
    assert first.faults is not None
    assert second.faults is not None
    assert first.faults.history == second.faults.history
    first.reset()
    assert run_probabilistic(first) == a


def test_fault_spec_parsing() -> None:
    assert Fault.parse("503@create,p=0.3") == Fault(
        "status", route="create", probability=0.3, status=503
    )
    assert Fault.parse("429@get,seq=1-3+7,retry_after=1,headers=0") == Fault(
        "status",
        route="get",
        sequence=[1, 2, 3, 7],
        status=429,
        retry_after="1",
        rate_limit_headers=False,
    )
    assert Fault.parse("drop_after@create,seq=1") == Fault(
        "drop_after", route="create", sequence=[1]
    )
    assert Fault.parse("delay,delay=2,p=0.1,limit=3") == Fault(
        "delay", probability=0.1, delay=2.0, limit=3
    )
    assert Fault.parse("truncate@list") == Fault(
        "truncate", route="list", probability=1
    )
    assert Fault.parse("502,body=oops").body == "oops"


@pytest.mark.parametrize(
    "spec",
    [
        "boom",
        "503@nowhere",
        "503,p=2",
        "503,p",
        "503,colour=red",
        "200",
        "drop_before,seq=x",
    ],
)
def test_bad_fault_specs(spec: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - messages vary
        Fault.parse(spec)


def test_a_fault_needs_a_trigger() -> None:
    with pytest.raises(ValueError, match="probability or a sequence"):
        Fault("status")
    with pytest.raises(ValueError, match="delay"):
        Fault("delay", probability=1, delay=-1)
