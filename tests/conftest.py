"""Shared fixtures: a mocked transport, and one fake clock for every wait."""

from __future__ import annotations

import copy
import functools
from typing import Any, Dict, Iterator, List, Optional

import pytest
import requests
import responses

from predictions._clock import SYSTEM_CLOCK, Clock
from predictions._http.api import API
from predictions._settings import Settings
from predictions.predictions import Predictions

BASE = "https://api.test/v1"
TOKEN = "tok-secret-123"

PREDICTION: Dict[str, Any] = {
    "id": "p1",
    "created_at": "2026-01-01T00:00:00Z",
    "status": "pending",
    "updated_at": "2026-01-01T00:00:00Z",
    "setup_time": None,
    "execution_time": None,
    "model": {"owner": "o", "name": "n", "version_number": 1},
    "input": {"prompt": "hi"},
    "output": None,
    "error": None,
    "metrics": None,
    "stream": False,
}


def prediction(**changes: Any) -> Dict[str, Any]:
    """A prediction as the API sends it, with some keys changed."""
    data = copy.deepcopy(PREDICTION)
    data.update(changes)
    return data


class FakeClock(Clock):
    """The one fake time of the tests: it moves only when the code under test sleeps.

    Hand it to a client (`Client(clock=...)`) or to `Settings(clock=...)`:
    retries, pacing, the poll engine and batches all wait on it, instantly,
    and `sleeps` records every wait they asked for. `jitter`, when set, is
    what `random()` answers: every backoff's jitter, pinned.
    """

    WALL_OFFSET = 1_700_000_000.0

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: List[float] = []
        self.jitter: Optional[float] = None

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.now + self.WALL_OFFSET

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)

    def random(self) -> float:
        return super().random() if self.jitter is None else self.jitter


SLOW = (
    "tests/faults/",
    "tests/attacks/test_malformed.py",
    "tests/attacks/test_trickle.py",
    "tests/plugins/test_distributions.py",
    "tests/webhooks/test_garbage_headers.py",
    "tests/testing/test_upload_memory.py",
    # Seconds of real waits, pseudo-terminals and subprocesses, the same on
    # every Python: once per CI run (the oldest Python runs them too).
    "tests/testing/test_connection_limits.py",
    "tests/webhooks/test_cli_verify.py",
    "tests/cli/test_terminal.py",
    "tests/integration/test_demo.py",
    # The docs' examples and the command line's subprocesses: the same on
    # every Python (the oldest runs them too), 30 s of each leg (issue 20).
    "tests/docs/test_code_blocks.py",
    "tests/docs/test_site.py",  # a Sphinx build (CI's make docs builds it too)
    "tests/cli/test_cli.py",
    "tests/cli/test_new_user.py",
    # Large downloads and the file host's faults, end to end (issue 20).
    "tests/integration/test_output_files.py",
    "tests/testing/test_demo_file_models.py",
    "tests/testing/test_output_faults.py",
    # Three editable builds by setuptools, the same on every Python (issue 21).
    "tests/docs/test_editable_install.py",
)
"""Tests that take seconds each: run once by make test, and on the oldest
Python of the matrix, not on every Python of it (scripts/run-tests-on.sh)."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: seconds-long tests, run once per CI run (not per Python)"
    )


def pytest_collection_modifyitems(items: List[pytest.Item]) -> None:
    for item in items:
        path = item.nodeid.replace("\\", "/")
        if path.startswith(SLOW):
            item.add_marker(pytest.mark.slow)


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
def session_sends(monkeypatch: pytest.MonkeyPatch) -> List[Dict[str, Any]]:
    """`requests.Session.send` patched as instrumentations do; what each call got.

    Each call is recorded as a dict: its `method`, `url` and `kwargs`.
    """
    calls: List[Dict[str, Any]] = []
    original = requests.Session.send

    @functools.wraps(original)
    def send(
        self: requests.Session, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        calls.append({"method": request.method, "url": request.url, "kwargs": kwargs})
        return original(self, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", send)
    return calls


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleeps(clock: FakeClock) -> List[float]:
    """The sleeps the code under test asked of the fake clock."""
    return clock.sleeps


def settings(clock: Clock = SYSTEM_CLOCK, **changes: Any) -> Settings:
    """The tests' client settings: the mocked API, a token, short timeouts."""
    values: Dict[str, Any] = {
        "base_url": BASE,
        "access_token": TOKEN,
        "timeout": (1.0, 2.0),
        "max_retries": 2,
        # pacing's waits are tested on their own (tests/http/test_pacing.py)
        "pacing": False,
        "clock": clock,
    }
    values.update(changes)
    return Settings(**values)


@pytest.fixture
def api(clock: FakeClock) -> Iterator[API]:
    api = API(settings(clock))
    yield api
    api.close()


@pytest.fixture
def preds(api: API) -> Predictions:
    return Predictions(api)
