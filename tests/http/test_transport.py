"""Transport: a session per thread, settings resolved once, timeouts, redirects."""

from __future__ import annotations

import io
import json
import logging
import threading
from typing import Any, Dict, List

import pytest
import requests
import responses
import urllib3

from predictions import APIConnectionError, APIStatusError, Client, PredictionsError
from predictions._http.api import API
from predictions.client import DEFAULT_TIMEOUT, USER_AGENT
from tests.conftest import BASE, TOKEN, FakeClock, prediction

ENV_VARS = [
    "WRIFTAI_API_BASE_URL",
    "WRIFTAI_ACCESS_TOKEN",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


def test_one_session_per_thread_from_the_factory(api: API) -> None:
    sessions: Dict[str, requests.Session] = {}

    def grab(name: str) -> None:
        sessions[name] = api.transport.session()

    threads = [threading.Thread(target=grab, args=(f"t{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert api.transport.session() is api.transport.session()
    assert len({id(s) for s in sessions.values()} | {id(api.transport.session())}) == 5


def test_sessions_ignore_the_environment_and_size_their_pool_to_the_executor() -> None:
    client = Client(BASE, max_workers=7)
    session = client.api.transport.session()
    assert session.trust_env is False
    adapter = session.get_adapter(BASE)
    assert adapter._pool_maxsize == 7  # type: ignore[attr-defined]
    assert adapter.max_retries.total == 0  # type: ignore[attr-defined]
    client.close()


def test_base_url_and_token_fall_back_to_the_environment(
    monkeypatch: pytest.MonkeyPatch, mocked: responses.RequestsMock
) -> None:
    monkeypatch.setenv("WRIFTAI_API_BASE_URL", "http://env.test/v2/")
    monkeypatch.setenv("WRIFTAI_ACCESS_TOKEN", "env-token")
    mocked.add("GET", "http://env.test/v2/predictions/p1", json=prediction())
    with Client() as client:
        assert client.base_url == "http://env.test/v2"
        client.predictions.get("p1")
    headers = mocked.calls[0].request.headers
    assert headers["Authorization"] == "Bearer env-token"
    assert headers["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith("predictions-python/")


def test_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WRIFTAI_API_BASE_URL", "http://env.test/v2")
    monkeypatch.setenv("WRIFTAI_ACCESS_TOKEN", "env-token")
    client = Client("http://arg.test/v1", "arg-token")
    assert client.base_url == "http://arg.test/v1"
    assert client.api.transport.headers["Authorization"] == "Bearer arg-token"


def test_default_base_url_and_no_token_sends_no_authorization(
    mocked: responses.RequestsMock,
) -> None:
    mocked.add("GET", "https://api.wrift.ai/v1/predictions/p1", json=prediction())
    with Client(headers={"X-Trace": "1"}) as client:
        client.predictions.get("p1")
    headers = mocked.calls[0].request.headers
    assert "Authorization" not in headers
    assert headers["X-Trace"] == "1"


def test_every_request_has_the_default_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    client = Client(BASE, access_token=TOKEN)
    assert client.api.settings.timeout == DEFAULT_TIMEOUT == (10.0, 60.0)
    seen: List[Any] = []

    def fake_send(self: Any, request: Any, **kwargs: Any) -> requests.Response:
        seen.append(kwargs)
        response = requests.Response()
        response.status_code = 200
        response.raw = io.BytesIO(json.dumps(prediction()).encode())
        response.request = request
        response.url = request.url
        return response

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", fake_send)
    client.predictions.get("p1")
    assert seen[0]["timeout"] == (10.0, 60.0)
    assert seen[0]["verify"] is True
    assert Client(BASE, timeout=3).api.settings.timeout == (3.0, 3.0)
    assert Client(BASE, timeout=(1, 2.5)).api.settings.timeout == (1.0, 2.5)


@pytest.mark.parametrize("timeout", [0, -1, (1, 0), float("inf"), float("nan")])
def test_a_timeout_out_of_range_is_a_value_error(timeout: Any) -> None:
    with pytest.raises(ValueError, match="timeout"):
        Client(BASE, timeout=timeout)


@pytest.mark.parametrize("timeout", [None, "10", (1,), (1, 2, 3), True, ("1", 2)])
def test_a_timeout_that_is_not_seconds_is_a_type_error(timeout: Any) -> None:
    """The same mistake gets the same error everywhere (issue 11)."""
    with pytest.raises(TypeError, match="timeout"):
        Client(BASE, timeout=timeout)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"max_retries": -1}, ValueError),
        ({"max_retries": 1.5}, TypeError),
        ({"max_workers": 0}, ValueError),
        ({"retry_create": "always"}, ValueError),
        ({"api_base_url": "ftp://x"}, ValueError),
        ({"api_base_url": "api.wrift.ai/v1"}, ValueError),
        ({"api_base_url": "https://x/v1?a=1"}, ValueError),
    ],
)
def test_bad_client_arguments(kwargs: Any, error: type) -> None:
    with pytest.raises(error):
        Client(**kwargs)


def test_proxies_and_ca_bundle_are_resolved_once_when_the_client_is_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://corp-proxy:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/corp-ca.pem")
    client = Client("https://api.test/v1")
    monkeypatch.setenv("HTTPS_PROXY", "http://other:1")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/other.pem")
    session = client.api.transport.session()
    assert session.proxies["https"] == "http://corp-proxy:3128"
    assert session.verify == "/etc/corp-ca.pem"


def test_explicit_verify_and_proxies_win_over_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://corp-proxy:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/corp-ca.pem")
    client = Client(
        "https://api.test/v1", verify=False, proxies={"https": "http://mine:8080"}
    )
    session = client.api.transport.session()
    assert session.proxies["https"] == "http://mine:8080"
    assert session.verify is False


def test_no_proxy_and_trust_env_false(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://corp-proxy:3128")
    monkeypatch.setenv("NO_PROXY", "api.test")
    assert "https" not in Client("https://api.test/v1").api.transport.session().proxies
    monkeypatch.delenv("NO_PROXY")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/corp-ca.pem")
    session = Client("https://api.test/v1", trust_env=False).api.transport.session()
    assert session.proxies == {}
    assert session.verify is True


# Redirects


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_to_another_origin_are_not_followed(
    mocked: responses.RequestsMock, status: int
) -> None:
    mocked.add(
        "POST",
        f"{BASE}/models/o/n/predictions",
        status=status,
        headers={"Location": "https://evil.test/steal"},
    )
    with Client(BASE, TOKEN) as client, pytest.raises(
        APIStatusError, match="another origin"
    ):
        client.predictions.create({"input": {"secret": 1}}, "o/n")
    # Only the API was asked: responses would raise for an unregistered evil.test.
    assert [c.request.url for c in mocked.calls] == [f"{BASE}/models/o/n/predictions"]


@pytest.mark.parametrize(
    "location", ["http://api.test/v1/x", "https://api.test:8443/v1/x"]
)
def test_a_different_scheme_or_port_is_another_origin(
    mocked: responses.RequestsMock, location: str
) -> None:
    mocked.add(
        "GET", f"{BASE}/predictions/p1", status=302, headers={"Location": location}
    )
    with Client(BASE, TOKEN) as client, pytest.raises(
        APIStatusError, match="another origin"
    ):
        client.predictions.get("p1")
    assert len(mocked.calls) == 1


def test_same_origin_307_keeps_method_body_and_key(
    mocked: responses.RequestsMock,
) -> None:
    mocked.add(
        "POST",
        f"{BASE}/models/o/n/predictions",
        status=307,
        headers={"Location": "/v1/models/o/n/predictions-moved"},
    )
    mocked.add(
        "POST", f"{BASE}/models/o/n/predictions-moved", json=prediction(), status=201
    )
    with Client(BASE, TOKEN) as client:
        assert client.predictions.create({"input": 1}, "o/n") == prediction()
    first, second = (c.request for c in mocked.calls)
    assert second.method == "POST"
    assert second.body == first.body
    assert second.headers["Idempotency-Key"] == first.headers["Idempotency-Key"]
    assert second.headers["Authorization"] == f"Bearer {TOKEN}"


def test_same_origin_303_becomes_a_get_without_body(
    mocked: responses.RequestsMock,
) -> None:
    mocked.add(
        "POST",
        f"{BASE}/models/o/n/predictions",
        status=303,
        headers={"Location": f"{BASE}/predictions/p1"},
    )
    mocked.add("GET", f"{BASE}/predictions/p1", json=prediction())
    with Client(BASE, TOKEN) as client:
        client.predictions.create({"input": 1}, "o/n")
    second = mocked.calls[1].request
    assert second.method == "GET"
    assert not second.body
    assert "Content-Type" not in second.headers


def test_a_redirect_target_carries_its_own_query_not_the_requests(
    mocked: responses.RequestsMock,
) -> None:
    """The query is the request's first URL's: the target names its own."""
    from predictions._http.request import Request

    mocked.add(
        "GET",
        f"{BASE}/predictions",
        status=302,
        headers={"Location": f"{BASE}/predictions-moved?page=2"},
    )
    mocked.add("GET", f"{BASE}/predictions-moved", json={"items": []})
    with Client(BASE, TOKEN) as client:
        client.api.request(Request("GET", "/predictions", query=[("cursor", "c1")]))
    first, second = (c.request for c in mocked.calls)
    assert first.url == f"{BASE}/predictions?cursor=c1"
    assert second.method == "GET"
    assert second.url == f"{BASE}/predictions-moved?page=2"
    assert second.headers["Authorization"] == f"Bearer {TOKEN}"


def test_redirect_loops_end(mocked: responses.RequestsMock) -> None:
    mocked.add(
        "GET",
        f"{BASE}/predictions/p1",
        status=302,
        headers={"Location": f"{BASE}/predictions/p1"},
    )
    with Client(BASE, TOKEN) as client, pytest.raises(
        APIStatusError, match="redirected more"
    ):
        client.predictions.get("p1")
    assert len(mocked.calls) == 6


# Secrets and closing


def test_the_token_appears_in_no_repr_and_no_log_line(
    mocked: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    mocked.add("GET", f"{BASE}/predictions/p1", json=prediction())
    caplog.set_level(logging.DEBUG)
    with Client(BASE, TOKEN) as client:
        client.predictions.get("p1")
        for text in (
            repr(client),
            repr(client.api),
            repr(client.predictions),
            str(vars(client.predictions)),
        ):
            assert TOKEN not in text
    assert caplog.records, "the request is logged"
    assert all(TOKEN not in record.getMessage() for record in caplog.records)


def test_close_closes_every_session_and_refuses_later_calls(
    mocked: responses.RequestsMock,
) -> None:
    client = Client(BASE, TOKEN)
    sessions = [client.api.transport.session()]
    thread = threading.Thread(
        target=lambda: sessions.append(client.api.transport.session())
    )
    thread.start()
    thread.join()
    closed: List[requests.Session] = []
    for session in sessions:
        session.close = (lambda s: lambda: closed.append(s))(session)  # type: ignore[method-assign]
    client.close()
    assert sorted(map(id, closed)) == sorted(map(id, sessions))
    with pytest.raises(PredictionsError, match="closed"):
        client.predictions.get("p1")
    client.close()  # closing twice is fine
    assert len(mocked.calls) == 0


def test_context_manager_closes(mocked: responses.RequestsMock) -> None:
    import asyncio

    mocked.add("GET", f"{BASE}/predictions/p1", json=prediction())
    with Client(BASE) as client:
        asyncio.run(client.predictions.async_get("p1"))
        executor = client.api._executor
        assert executor is not None
    assert client.api._executor is None
    assert executor._shutdown  # type: ignore[attr-defined]


# Pre-signed URLs (an upload's parts)


def test_a_request_without_credentials_sends_none_of_the_clients_headers(
    mocked: responses.RequestsMock,
) -> None:
    """Part URLs get no Authorization and no header of the client's (issue 13)."""
    from predictions._http.request import Request

    part = "https://storage.test/bucket/part-1?sig=abc"
    mocked.add("PUT", part, headers={"ETag": '"e1"'})
    client = Client(BASE, TOKEN, headers={"X-Api-Key": "also-secret"})
    body = b"x" * 10
    response = client.api.request(
        Request(
            "PUT",
            part,
            body=lambda: io.BytesIO(body),
            headers={"Content-Length": str(len(body)), "Content-Type": "image/png"},
            bucket=None,
            credentials=False,
            decode=lambda r: r.headers["ETag"],
        )
    )
    assert response == '"e1"'
    sent = mocked.calls[0].request
    assert "Authorization" not in sent.headers
    assert "X-Api-Key" not in sent.headers
    assert sent.headers["User-Agent"].startswith("predictions-python/")
    assert sent.headers["Content-Length"] == "10"
    client.close()


def test_predictions_log_turns_on_the_request_and_retry_lines(
    mocked: responses.RequestsMock,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """PREDICTIONS_LOG=debug, for library users as for the CLI (issue 14)."""
    logger = logging.getLogger("predictions")
    handlers, level = list(logger.handlers), logger.level
    for handler in handlers:
        logger.removeHandler(handler)
    monkeypatch.setenv("PREDICTIONS_LOG", "debug")
    url = f"{BASE}/predictions/p1"
    mocked.add("GET", url, json={"detail": "busy"}, status=503)
    mocked.add("GET", url, json=prediction())
    try:
        with Client(BASE, TOKEN, clock=FakeClock()) as client:
            client.predictions.get("p1")
    finally:
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        for handler in handlers:
            logger.addHandler(handler)
        logger.setLevel(level)
    err = capsys.readouterr().err
    assert "predictions: retrying GET https://api.test/v1/predictions/p1" in err
    assert "GET /v1/predictions/p1 -> 200" in err
    assert TOKEN not in err


@pytest.mark.parametrize(
    ("error", "sent"),
    [
        # a TLS error while the answer was read: the create had been sent
        (
            requests.exceptions.SSLError(urllib3.exceptions.SSLError("bad record mac")),
            True,
        ),
        (
            requests.exceptions.ConnectionError(
                urllib3.exceptions.ProtocolError("reset")
            ),
            True,
        ),
        # failures to connect wrapped by urllib3: never sent
        (
            requests.exceptions.SSLError(
                urllib3.exceptions.MaxRetryError(
                    None,
                    "/",
                    urllib3.exceptions.SSLError("handshake"),  # type: ignore[arg-type]
                )
            ),
            False,
        ),
        (
            requests.exceptions.ConnectionError(
                urllib3.exceptions.MaxRetryError(
                    None,  # type: ignore[arg-type]
                    "/",
                    urllib3.exceptions.NewConnectionError(None, "refused"),  # type: ignore[arg-type]
                )
            ),
            False,
        ),
    ],
)
def test_only_a_failure_to_connect_says_the_request_was_not_sent(
    mocked: responses.RequestsMock, error: Exception, sent: bool
) -> None:
    """A create is re-sent in "safe" mode only when it certainly never left
    (a TLS error mid-answer once counted as never sent: three creates)."""
    mocked.add("POST", f"{BASE}/models/o/n/predictions", body=error)
    mocked.add("POST", f"{BASE}/models/o/n/predictions", json=prediction(), status=201)
    client = Client(BASE, TOKEN, clock=FakeClock())
    if sent:
        with pytest.raises(APIConnectionError) as info:
            client.predictions.create({"input": 1}, "o/n")
        assert info.value.request_sent is True
        assert len(mocked.calls) == 1, "not sent twice"
        mocked.reset()
    else:
        client.predictions.create({"input": 1}, "o/n")
        assert len(mocked.calls) == 2
    client.close()


def test_a_redirect_to_a_url_with_a_bad_port_is_a_typed_error(
    mocked: responses.RequestsMock,
) -> None:
    """A bare ValueError escaped for `Location: http://host:99999/...` (review)."""
    mocked.add(
        "GET",
        f"{BASE}/predictions/p1",
        status=302,
        headers={"Location": "http://127.0.0.1:99999/v1/predictions/p1"},
    )
    with Client(BASE, TOKEN) as client, pytest.raises(
        APIStatusError, match="not valid"
    ):
        client.predictions.get("p1")


def test_a_client_leaves_no_fork_hook_behind() -> None:
    """One at-fork hook for the process: a client per request must not grow it."""
    import gc

    from predictions._http import transport as _transport

    before = len(_transport._FORK_RESETS)
    for _ in range(50):
        Client(BASE, TOKEN).close()
    gc.collect()
    assert len(_transport._FORK_RESETS) <= before


def test_a_pool_closed_by_urllib3_is_looked_up_again() -> None:
    """urllib3 1.x closes pools it evicts from its cache of 10 origins; the
    adapter's own cache once kept handing the closed one out (review)."""
    from predictions._http.adapter import PoolCachingAdapter

    adapter = PoolCachingAdapter()
    request = requests.Request("GET", "https://api.test/v1/x").prepare()

    def pool() -> Any:
        if hasattr(requests.adapters.HTTPAdapter, "get_connection_with_tls_context"):
            return adapter.get_connection_with_tls_context(request, True)
        return adapter.get_connection(request.url)

    first = pool()
    first.close()  # as urllib3 1.x does to a pool it evicts from its cache
    adapter.poolmanager.clear()
    again = pool()
    assert again is not first
    assert again.pool is not None


def test_no_proxy_is_applied_to_each_origin_an_upload_goes_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A storage host in NO_PROXY is reached directly, and the API through its
    proxy; NO_PROXY was read for the API's host only (review)."""
    monkeypatch.setenv("HTTPS_PROXY", "http://corp-proxy:3128")
    monkeypatch.setenv("NO_PROXY", "storage.test")
    client = Client(BASE, TOKEN)
    transport = client.api.transport
    assert transport._proxies_for(f"{BASE}/predictions")["https"] == (
        "http://corp-proxy:3128"
    )
    assert transport._proxies_for("https://storage.test/part/0?sig=x") == {}
    assert transport._proxies_for("https://elsewhere.test/part/0")["https"] == (
        "http://corp-proxy:3128"
    )
    client.close()
    monkeypatch.setenv("NO_PROXY", "api.test")
    client = Client(BASE, TOKEN)
    transport = client.api.transport
    assert "https" not in transport._proxies_for(f"{BASE}/predictions")
    assert transport._proxies_for("https://storage.test/part/0")["https"] == (
        "http://corp-proxy:3128"
    )
    client.close()
