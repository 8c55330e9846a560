"""Bearer auth and rate limits."""

from __future__ import annotations

import time
from typing import Callable, Dict, List

import pytest
import requests

from predictions.testing import LocalServer, RateLimit
from predictions.testing._api.ratelimit import RateLimiter

TOKEN = "s3cret-token"


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer wrong", "Basic czNjcmV0LXRva2Vu", TOKEN],
)
def test_missing_or_wrong_token_is_401(
    make_server: Callable[..., LocalServer],
    session: requests.Session,
    authorization: str,
) -> None:
    server = make_server(token=TOKEN)
    headers = {} if authorization is None else {"Authorization": authorization}
    for method, path in (
        ("GET", "/predictions"),
        ("GET", "/predictions/x"),
        ("POST", "/models/demo/echo/predictions"),
        ("POST", "/predictions/x/cancel"),
    ):
        response = session.request(
            method, server.base_url + path, json={"input": 1}, headers=headers
        )
        assert response.status_code == 401
        assert isinstance(response.json()["detail"], str)
        assert TOKEN not in response.text
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert response.headers["x-ratelimit-limit"]
    assert server.predictions == []


def test_right_token_passes(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(token=TOKEN)
    for scheme in ("Bearer", "bearer"):
        headers = {"Authorization": f"{scheme} {TOKEN}"}
        response = session.get(server.base_url + "/predictions", headers=headers)
        assert response.status_code == 200


def test_no_token_configured_accepts_anything(
    server: LocalServer, session: requests.Session
) -> None:
    response = session.get(
        server.base_url + "/predictions", headers={"Authorization": "Bearer x"}
    )
    assert response.status_code == 200


def test_headers_are_sent_when_limits_are_off(
    server: LocalServer, session: requests.Session
) -> None:
    for _ in range(20):
        response = session.get(server.base_url + "/predictions")
        assert response.status_code == 200
    assert response.headers["x-ratelimit-limit"] == "1000"
    assert response.headers["x-ratelimit-remaining"] == "1000"
    assert abs(int(response.headers["x-ratelimit-reset"]) - time.time()) < 5


def bearer(token: str) -> Dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_reads_over_the_limit_get_429_without_retry_after(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(rate_limit=RateLimit(reads_per_second=0.5, burst=2))
    url = server.base_url + "/predictions"
    first, second, third = (session.get(url, headers=bearer("a")) for _ in range(3))
    assert [first.status_code, second.status_code] == [200, 200]
    assert first.headers["x-ratelimit-limit"] == "2"
    assert first.headers["x-ratelimit-remaining"] == "1"
    assert second.headers["x-ratelimit-remaining"] == "0"
    assert third.status_code == 429
    assert third.json() == {"detail": "Rate limit exceeded"}
    # The hosted API sends no Retry-After: only the x-ratelimit-* headers.
    assert "Retry-After" not in third.headers
    assert third.headers["x-ratelimit-limit"] == "2"
    assert third.headers["x-ratelimit-remaining"] == "0"
    reset = int(third.headers["x-ratelimit-reset"])
    assert time.time() < reset <= time.time() + 6
    # Creates have their own bucket, and every token its own buckets.
    create = session.post(
        server.base_url + "/models/demo/echo/predictions",
        json={"input": 1},
        headers=bearer("a"),
    )
    assert create.status_code == 202
    assert session.get(url, headers=bearer("b")).status_code == 200
    assert session.get(url, headers=bearer("a")).status_code == 429
    server.reset()
    assert session.get(url, headers=bearer("a")).status_code == 200


def test_retry_after_is_an_option(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    limit = RateLimit(reads_per_second=0.5, burst=1, retry_after=True)
    server = make_server(rate_limit=limit)
    url = server.base_url + "/predictions"
    assert session.get(url, headers=bearer("a")).status_code == 200
    refused = session.get(url, headers=bearer("a"))
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "2"
    assert refused.headers["x-ratelimit-remaining"] == "0"


def test_creates_over_the_limit_get_429_and_create_nothing(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(rate_limit=RateLimit(creates_per_second=1))
    url = server.base_url + "/models/demo/echo/predictions"
    codes = [
        session.post(url, json={"input": i}, headers=bearer("t")).status_code
        for i in range(3)
    ]
    assert codes == [202, 429, 429]
    assert len(server.predictions) == 1
    listed = session.get(server.base_url + "/predictions", headers=bearer("t"))
    assert listed.status_code == 200
    # Both create routes draw from the same bucket.
    body = {"model": "demo/echo", "input": 1}
    other = session.post(
        server.base_url + "/predictions", json=body, headers=bearer("t")
    )
    assert other.status_code == 429


def test_the_hosted_limits_are_the_defaults(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(rate_limit=RateLimit())
    url = server.base_url + "/predictions"
    read = session.get(url, headers=bearer("t"))
    assert read.headers["x-ratelimit-limit"] == "3"
    created = session.post(
        server.base_url + "/models/demo/echo/predictions",
        json={"input": 1},
        headers=bearer("t"),
    )
    assert created.headers["x-ratelimit-limit"] == "15"
    assert created.headers["x-ratelimit-remaining"] == "14"
    anonymous = session.get(url)
    assert anonymous.headers["x-ratelimit-limit"] == "1"
    assert anonymous.headers["x-ratelimit-remaining"] == "0"


def test_unauthenticated_requests_share_one_bucket(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(rate_limit=RateLimit(anonymous_per_second=0.5, burst=2))
    url = server.base_url + "/predictions"
    assert session.get(url).status_code == 200
    create = session.post(
        server.base_url + "/models/demo/echo/predictions", json={"input": 1}
    )
    assert create.status_code == 202  # the same bucket: its last token
    assert session.get(url).status_code == 429
    with requests.Session() as other:
        other.trust_env = False
        assert other.get(url).status_code == 429  # another caller, no token
    assert session.get(url, headers=bearer("t")).status_code == 200


def test_a_refused_token_spends_no_bucket(
    make_server: Callable[..., LocalServer], session: requests.Session
) -> None:
    server = make_server(token=TOKEN, rate_limit=RateLimit(reads_per_second=1))
    url = server.base_url + "/predictions"
    for _ in range(3):
        refused = session.get(url, headers=bearer("wrong"))
        assert refused.status_code == 401
        assert refused.headers["x-ratelimit-limit"] == "1"
    assert session.get(url, headers=bearer(TOKEN)).status_code == 200
    # An unknown route still tells the caller about its own bucket.
    unknown = session.get(server.base_url + "/nowhere", headers=bearer(TOKEN))
    assert unknown.status_code == 404
    assert unknown.headers["x-ratelimit-remaining"] == "0"


def test_bucket_refills_with_time() -> None:
    now: List[float] = [100.0]
    limiter = RateLimiter(
        RateLimit(reads_per_second=2, creates_per_second=15, retry_after=True),
        clock=lambda: now[0],
        wall=lambda: 1000.0 + now[0],
    )
    assert [limiter.take("read", "t")[0] for _ in range(3)] == [True, True, False]
    allowed, headers = limiter.take("read", "t")
    assert not allowed
    assert headers["Retry-After"] == "1"
    assert headers["x-ratelimit-reset"] == "1101"
    now[0] += 0.5
    assert limiter.take("read", "t")[0]
    assert not limiter.take("read", "t")[0]
    now[0] += 10
    assert limiter.headers("read", "t")["x-ratelimit-remaining"] == "2"
    assert limiter.headers("create", "t")["x-ratelimit-limit"] == "15"
    # Without a token: one bucket at the unauthenticated rate, for both kinds.
    assert limiter.take("create")[0]
    assert not limiter.take("read")[0]
    now[0] += 1
    assert limiter.take("read")[0]


def test_the_least_recently_used_buckets_are_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("predictions.testing._api.ratelimit.MAX_BUCKETS", 2)
    limiter = RateLimiter(RateLimit(reads_per_second=1), clock=lambda: 0.0)
    assert limiter.take("read", "a")[0]
    assert limiter.take("read", "b")[0]
    assert not limiter.take("read", "a")[0]  # "a" is now the most recent
    assert limiter.take("read", "c")[0]  # "b" goes
    assert not limiter.take("read", "a")[0]
    assert limiter.take("read", "b")[0]  # a full bucket again


def test_rate_limit_spec() -> None:
    assert RateLimit.parse("reads=3,creates=15") == RateLimit(3, 15)
    assert RateLimit.parse("creates=2, burst=4") == RateLimit(3, 2, 4)
    assert RateLimit.parse("") == RateLimit()
    assert RateLimit.parse("anonymous=2,retry_after=1") == RateLimit(
        anonymous_per_second=2, retry_after=True
    )
    assert RateLimit.parse("retry_after=0") == RateLimit()
    for bad in (
        "reads",
        "speed=3",
        "reads=x",
        "reads=0",
        "burst=0",
        "anonymous=0",
        "anonymous=nan",
        "retry_after=yes",
    ):
        with pytest.raises(ValueError):  # noqa: PT011 - messages vary
            RateLimit.parse(bad)
