"""Tools that hook `Session.send` see every attempt; else the adapter is called.

OpenTelemetry's requests instrumentation, APM agents and requests-cache
patch `Session.send` (on the class, or give a session class of their own);
the transport sends through it then, and straight to the adapter only while
it is requests' own.
"""

from __future__ import annotations

import functools
import json
import sys
from typing import Any, Callable, Dict, List, Set

import pytest
import requests
import responses
from requests.adapters import HTTPAdapter

from predictions import APIConnectionError, Client
from predictions._http import transport
from predictions._http.adapter import PoolCachingAdapter
from predictions._http.api import API
from predictions.predictions import Predictions
from tests.conftest import BASE, prediction
from tests.files.raw_host import RawHost, answer

URL = f"{BASE}/predictions/p1"


def codes_on_the_stack() -> Set[Any]:
    """The code objects of every frame that called this one."""
    codes = set()
    frame = sys._getframe(1)
    while frame is not None:
        codes.add(frame.f_code)
        frame = frame.f_back  # type: ignore[assignment]
    return codes


def test_a_patched_session_send_sees_every_attempt_retries_included(
    api: API, mocked: responses.RequestsMock, session_sends: List[Dict[str, Any]]
) -> None:
    mocked.get(URL, status=503, json={"detail": "busy"})
    mocked.get(URL, json=prediction(status="succeeded"))
    got = Predictions(api).get("p1")
    assert got["status"] == "succeeded", "responses still answers through it"
    assert [(c["method"], c["url"]) for c in session_sends] == [("GET", URL)] * 2
    for call in session_sends:
        assert call["kwargs"] == {
            "allow_redirects": False,  # the transport follows redirects itself
            "stream": True,
            "timeout": (1.0, 2.0),
            "verify": api.settings.verify,
            "cert": None,
            "proxies": {},
        }


def test_an_unpatched_session_goes_straight_to_the_adapter(
    api: API,
    mocked: responses.RequestsMock,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    stacks: List[Set[Any]] = []

    def spy(self: HTTPAdapter, prepared: Any, **kwargs: Any) -> Any:
        stacks.append(codes_on_the_stack())
        return HTTPAdapter.send(self, prepared, **kwargs)  # responses' mock

    monkeypatch.setattr(PoolCachingAdapter, "send", spy)
    mocked.get(URL, json=prediction())
    mocked.get(URL, json=prediction())
    requests_send = transport._REQUESTS_SEND
    assert requests_send is not None
    Predictions(api).get("p1")
    assert len(stacks) == 1
    assert requests_send.__code__ not in stacks[0], "no Session.send on the way"
    # The spy would tell: once Session.send is patched, it is on the way.
    request.getfixturevalue("session_sends")
    Predictions(api).get("p1")
    assert len(stacks) == 2
    assert requests_send.__code__ in stacks[1]


class OwnSend(requests.Session):
    def send(self, request: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return super().send(request, **kwargs)


class InheritedSend(requests.Session):
    pass


def test_only_requests_own_send_takes_the_fast_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert transport.sends_itself(requests.Session())
    assert transport.sends_itself(InheritedSend())
    assert not transport.sends_itself(OwnSend())
    replaced = requests.Session()
    replaced.send = functools.partial(requests.Session.send, replaced)  # type: ignore[method-assign]
    assert not transport.sends_itself(replaced)
    original = requests.Session.send
    monkeypatch.setattr(requests.Session, "send", lambda *a, **k: original(*a, **k))
    assert not transport.sends_itself(requests.Session())
    assert not transport.sends_itself(InheritedSend())


def test_requests_own_send_is_found_under_a_wrapper_put_before_the_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An instrumentation loaded at start-up wraps Session.send before the
    client's import: what it wraps is still known as requests' own."""
    original = requests.Session.send

    @functools.wraps(original)
    def instrumented(*args: Any, **kwargs: Any) -> Any:
        return original(*args, **kwargs)

    monkeypatch.setattr(requests.Session, "send", instrumented)
    assert transport._requests_own_send() is original
    assert not transport.sends_itself(requests.Session())

    def opaque(*args: Any, **kwargs: Any) -> Any:  # says nothing of what it wraps
        return original(*args, **kwargs)

    monkeypatch.setattr(requests.Session, "send", opaque)
    assert transport._requests_own_send() is None, "then never the fast path"


def test_through_session_send_no_cookie_is_kept_or_sent(
    api: API, mocked: responses.RequestsMock, session_sends: List[Dict[str, Any]]
) -> None:
    mocked.get(
        URL,
        json=prediction(),
        headers={"Set-Cookie": "session=abc; Path=/", "Set-Cookie2": "b=2"},
    )
    mocked.get(URL, json=prediction())
    Predictions(api).get("p1")
    Predictions(api).get("p1")
    assert len(session_sends) == 2
    assert "cookie" not in {k.lower() for k in mocked.calls[1].request.headers}
    assert len(api.transport.session().cookies) == 0


def test_a_failure_through_session_send_is_the_same_typed_error(
    api: API, mocked: responses.RequestsMock, session_sends: List[Dict[str, Any]]
) -> None:
    mocked.get(URL, body=requests.exceptions.ConnectionError("refused"))
    mocked.get(URL, body=requests.exceptions.ConnectionError("refused"))
    mocked.get(URL, body=requests.exceptions.ConnectionError("refused"))
    with pytest.raises(APIConnectionError):
        Predictions(api).get("p1")
    assert len(session_sends) == 3


def test_through_session_send_a_redirects_body_is_not_read(
    session_sends: List[Dict[str, Any]],
) -> None:
    """requests' Session.send reads the whole body of a redirect to find the
    next request: the transport follows redirects itself, and reads none."""
    body = json.dumps(prediction(status="succeeded")).encode()
    endless: List[Any] = [  # a body that never comes: reading it would time out
        answer(302, {"Location": "/v1/predictions/p1", "Content-Length": 10**6}),
        b"x" * 10,
        5.0,
    ]
    answers: List[Callable[[Dict[str, str]], Any]] = [
        lambda headers: endless,
        lambda headers: answer(
            200, {"Content-Type": "application/json", "Content-Length": len(body)}, body
        ),
    ]
    with RawHost(answers) as host, Client(
        f"{host.origin}/v1", access_token="t", timeout=(1, 1), max_retries=0
    ) as client:
        got = client.predictions.get("redirected")
        origin = host.origin
    assert got["status"] == "succeeded"
    assert [c["url"] for c in session_sends] == [
        f"{origin}/v1/predictions/redirected",
        f"{origin}/v1/predictions/p1",
    ]


def test_reads_ask_every_cache_on_the_way_to_keep_nothing(
    api: API, mocked: responses.RequestsMock
) -> None:
    """A process-wide response cache (requests-cache) would serve a prediction
    that never changes; a caching proxy, too."""
    mocked.get(URL, json=prediction())
    mocked.post(f"{BASE}/predictions/p1/cancel", json=None)
    preds = Predictions(api)
    preds.get("p1")
    preds.cancel("p1")
    get, cancel = (call.request for call in mocked.calls)
    assert get.headers["Cache-Control"] == "no-store"
    assert "Cache-Control" not in cancel.headers, "a write is never cached"
