"""The list: pages of exactly three keys, 5 to 50 items, filtered by `statuses`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List

import pytest
import requests

from predictions.testing import LocalServer

from .helpers import create, fetch, wait_until

PAGE_KEYS = {"items", "next_cursor", "previous_cursor"}


def page(
    session: requests.Session, server: LocalServer, query: List[Any]
) -> Dict[str, Any]:
    response = session.get(server.base_url + "/predictions", params=query)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == PAGE_KEYS
    return body  # type: ignore[no-any-return]


def ids(body: Dict[str, Any]) -> List[str]:
    return [item["id"] for item in body["items"]]


@dataclass
class Mixed:
    """A server holding predictions in several statuses."""

    server: LocalServer
    by_status: Dict[str, List[str]]
    """Prediction ids by status, oldest first."""


@pytest.fixture
def mixed(make_server: Callable[..., LocalServer], session: requests.Session) -> Mixed:
    server = make_server(cold_start=0)
    made: Dict[str, List[str]] = {"succeeded": [], "failed": [], "started": []}
    for i in range(8):
        model = "demo/fail" if i % 3 == 2 else "demo/echo"
        pid = create(session, server, model, {}).json()["id"]
        made[server.wait(pid)["status"]].append(pid)
    running = create(session, server, "demo/sleep", {"seconds": 30}).json()["id"]
    wait_until(lambda: fetch(session, server, running)["status"] == "started")
    made["started"].append(running)
    return Mixed(server, made)


def test_statuses_filters_the_list(mixed: Mixed, session: requests.Session) -> None:
    server, made = mixed.server, mixed.by_status
    assert len(made["succeeded"]) == 6
    assert len(made["failed"]) == 2
    assert ids(page(session, server, [("statuses", "failed")])) == made["failed"][::-1]
    assert ids(page(session, server, [("statuses", "started")])) == made["started"]
    both = page(session, server, [("statuses", "succeeded"), ("statuses", "failed")])
    everything = [p["id"] for p in server.predictions]
    ended = [i for i in everything if i not in made["started"]]
    assert ids(both) == ended[::-1]
    assert all(item["status"] in ("succeeded", "failed") for item in both["items"])
    for status in ("pending", "starting", "cancelled", "abandoned"):
        empty = page(session, server, [("statuses", status)])
        assert empty == {"items": [], "next_cursor": None, "previous_cursor": None}
    assert ids(page(session, server, [])) == everything[::-1]


def test_a_filtered_list_pages_with_cursors(
    mixed: Mixed, session: requests.Session
) -> None:
    server = mixed.server
    query: List[Any] = [("statuses", "succeeded"), ("page_size", 5)]
    first = page(session, server, query)
    newest = mixed.by_status["succeeded"][::-1]
    assert ids(first) == newest[:5]
    assert first["previous_cursor"] is None
    second = page(session, server, [*query, ("cursor", first["next_cursor"])])
    assert ids(second) == newest[5:]
    assert second["next_cursor"] is None
    back = page(session, server, [*query, ("cursor", second["previous_cursor"])])
    assert ids(back) == newest[:5]


@pytest.mark.parametrize(
    ("query", "index", "value"),
    [
        ("statuses=done", 0, "done"),
        ("statuses=succeeded&statuses=Succeeded", 1, "Succeeded"),
        ("statuses=succeeded,failed", 0, "succeeded,failed"),
        ("statuses=canceled", 0, "canceled"),
        ("statuses=", 0, ""),
    ],
)
def test_an_unknown_status_is_422(
    server: LocalServer,
    session: requests.Session,
    query: str,
    index: int,
    value: str,
) -> None:
    response = session.get(server.base_url + "/predictions?" + query)
    assert response.status_code == 422
    (detail,) = response.json()["detail"]
    assert detail["loc"] == ["query", "statuses", index]
    assert detail["type"] == "enum"
    assert detail["input"] == value
    assert "'pending', 'starting', 'started'" in detail["msg"]


def test_several_query_errors_are_reported_together(
    server: LocalServer, session: requests.Session
) -> None:
    response = session.get(
        server.base_url + "/predictions?page_size=2&statuses=x&cursor=garbage!"
    )
    assert response.status_code == 422
    locs = [d["loc"] for d in response.json()["detail"]]
    assert locs == [
        ["query", "cursor"],
        ["query", "page_size"],
        ["query", "statuses", 0],
    ]


def test_pages_never_carry_urls(server: LocalServer, session: requests.Session) -> None:
    for i in range(6):
        create(session, server, "demo/echo", i)
    first = page(session, server, [("page_size", 5)])
    assert first["next_cursor"]
    assert "next_url" not in first
    assert all("url" not in item for item in first["items"])
