"""Shared fixtures: a mocked transport and an API whose sleeps are recorded."""

from __future__ import annotations

import copy
from typing import Any, Dict, Iterator, List

import pytest
import responses

from predictions._api import API
from predictions.predictions import Predictions

BASE = "https://api.test/v1"
TOKEN = "tok-secret-123"

PREDICTION: Dict[str, Any] = {
    "url": f"{BASE}/predictions/p1",
    "id": "p1",
    "created_at": "2026-01-01T00:00:00Z",
    "status": "pending",
    "updated_at": "2026-01-01T00:00:00Z",
    "setup_time": None,
    "execution_time": None,
    "model": {"owner": "o", "name": "n", "version_number": 1},
    "input": {"prompt": "hi"},
    "output": None,
    "logs": None,
    "setup_logs": None,
    "error": None,
}


def prediction(**changes: Any) -> Dict[str, Any]:
    """A prediction as the API sends it, with some keys changed."""
    data = copy.deepcopy(PREDICTION)
    data.update(changes)
    return data


class Sleeps(List[float]):
    """Records the sleeps that the code under test asked for, sync and async."""

    def sleep(self, seconds: float) -> None:
        self.append(seconds)

    async def async_sleep(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture(autouse=True)
def no_installed_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see no installed plugin unless they ask (tests/plugins does)."""
    monkeypatch.setenv("PREDICTIONS_PLUGINS", "")
    monkeypatch.delenv("PREDICTIONS_STRICT_PLUGINS", raising=False)


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    """Every request goes to this mock; one it does not know raises ConnectionError."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def api(sleeps: Sleeps) -> Iterator[API]:
    api = API(
        BASE,
        headers={"Authorization": f"Bearer {TOKEN}", "User-Agent": "test"},
        timeout=(1.0, 2.0),
        max_retries=2,
        sleep=sleeps.sleep,
        async_sleep=sleeps.async_sleep,
        pacing=False,  # its waits run on the real clock (see tests/unit/test_pacing.py)
    )
    yield api
    api.close()


@pytest.fixture
def preds(api: API) -> Predictions:
    return Predictions(api)
