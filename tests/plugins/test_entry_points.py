"""Installed plugins, faked by patching importlib.metadata.distributions (as pluggy)."""

from __future__ import annotations

import importlib.metadata
import sys
from typing import Any, Iterator, List

import pytest
import responses

import predictions.plugins
from predictions import Client, PluginError, PluginWarning, list_plugins
from tests.conftest import BASE, prediction
from tests.plugins.fakes import FakeDist

URL = f"{BASE}/predictions/p1"


MODULE = """
import fake_loads
fake_loads.LOADS.append({name!r})
{extra}
from predictions import hookimpl

seen = []


@hookimpl
def predictions_on_response(response):
    seen.append(response.status_code)
"""

NAMES = ("fake_loads", "fake_alpha", "fake_beta", "fake_broken")


@pytest.fixture
def installed(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[List[str]]:
    """Three installed plugins: alpha, beta, and broken (raises on import)."""
    (tmp_path / "fake_loads.py").write_text("LOADS = []\n")
    for name in ("alpha", "beta"):
        (tmp_path / f"fake_{name}.py").write_text(MODULE.format(name=name, extra=""))
    broken = 'raise ImportError("fake_broken needs a missing library")'
    (tmp_path / "fake_broken.py").write_text(MODULE.format(name="broken", extra=broken))
    monkeypatch.syspath_prepend(str(tmp_path))
    dists = [
        FakeDist("predictions-alpha", "1.2.3", {"alpha": "fake_alpha"}),
        FakeDist("predictions-beta", "0.4", {"beta": "fake_beta"}),
        FakeDist("predictions-broken", "9.9", {"broken": "fake_broken"}),
    ]
    monkeypatch.setattr(importlib.metadata, "distributions", lambda: iter(dists))
    monkeypatch.delenv("PREDICTIONS_PLUGINS", raising=False)
    predictions.plugins._forget_installed()
    import fake_loads  # type: ignore[import-not-found]

    yield fake_loads.LOADS
    predictions.plugins._forget_installed()
    for name in NAMES:
        sys.modules.pop(name, None)


def seen(name: str) -> List[Any]:
    return sys.modules[name].seen  # type: ignore[no-any-return]


def test_every_installed_plugin_loads_and_a_broken_one_is_reported_by_name(
    installed: List[str], mocked: responses.RequestsMock
) -> None:
    mocked.add("GET", URL, json=prediction())
    with pytest.warns(PluginWarning, match="broken") as caught:
        client = Client(BASE)
    message = str(caught[0].message)
    assert "predictions-broken" in message
    assert "missing library" in message
    with client:
        assert client.predictions.get("p1") == prediction()
    assert seen("fake_alpha") == [200]
    assert seen("fake_beta") == [200]


def test_plugins_load_lazily_and_once_per_process(
    installed: List[str], mocked: responses.RequestsMock
) -> None:
    assert installed == [], "nothing is imported before a client is made"
    with pytest.warns(PluginWarning):
        Client(BASE).close()
    assert sorted(installed) == ["alpha", "beta", "broken"]
    with pytest.warns(PluginWarning):
        Client(BASE).close()
    assert sorted(installed) == ["alpha", "beta", "broken"], "imported once"


def test_the_allow_list(
    installed: List[str],
    monkeypatch: pytest.MonkeyPatch,
    mocked: responses.RequestsMock,
) -> None:
    monkeypatch.setenv("PREDICTIONS_PLUGINS", "beta")
    mocked.add("GET", URL, json=prediction())
    with Client(BASE) as client:
        client.predictions.get("p1")
    assert "fake_alpha" not in sys.modules, "a plugin not chosen is not imported"
    assert seen("fake_beta") == [200]
    assert "broken" not in installed, "a plugin not chosen is not imported"

    monkeypatch.setenv("PREDICTIONS_PLUGINS", "")
    with Client(BASE) as client:
        assert client.plugins.active is False


def test_the_allow_list_naming_a_plugin_not_installed(
    installed: List[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREDICTIONS_PLUGINS", "alpha, gamma")
    with pytest.warns(PluginWarning, match="'gamma'.*not installed") as caught:
        Client(BASE).close()
    assert "alpha" in str(caught[0].message)  # the installed ones are listed


def test_strict_mode_raises_for_a_broken_plugin(installed: List[str]) -> None:
    with pytest.raises(PluginError, match=r"broken.*missing library"):
        Client(BASE, strict_plugins=True)


def test_list_plugins(installed: List[str]) -> None:
    plugins = {p.name: p for p in list_plugins()}
    assert sorted(plugins) == ["alpha", "beta", "broken"]
    alpha = plugins["alpha"]
    assert (alpha.distribution, alpha.version) == ("predictions-alpha", "1.2.3")
    assert alpha.hooks == ("predictions_on_response",)
    assert alpha.error is None
    broken = plugins["broken"]
    assert broken.hooks == ()
    assert broken.error is not None
    assert "missing library" in broken.error
