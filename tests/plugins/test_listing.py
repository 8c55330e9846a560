"""Listing checks a plugin as a client does: refused ones say why (issue 21).

The plugins look installed (faked distributions and entry points: the
shelf of tests/plugins/fakes.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from predictions import Client, PluginError, PluginWarning, list_plugins
from predictions.plugins import HOOK_NAMES
from tests.conftest import BASE
from tests.plugins.fakes import MODULES, REASONS, FakeDist, installed


def test_list_plugins_refuses_what_a_client_refuses_and_says_why(
    shelf: None,
) -> None:
    infos = {info.name: info for info in list_plugins()}
    assert {name: info.status for name, info in infos.items()} == {
        "colour": "refused",
        "gone": "import_failed",
        "good": "loaded",
        "typo": "refused",
        "wrapper": "refused",
    }
    assert {name: info.error for name, info in infos.items()} == {
        "good": None,
        **REASONS,
    }
    assert infos["typo"].hooks == ("predictions_on_polll",), "as written"
    assert infos["wrapper"].entry_point == "fake_wrapper:Plugin"
    assert infos["good"].hooks == ("predictions_on_poll",)
    assert all(info.selected for info in infos.values())


def test_a_client_warns_with_the_reason_the_listing_gives(shelf: None) -> None:
    listed = {info.name: info.error for info in list_plugins() if info.error}
    with pytest.warns(PluginWarning) as caught:
        client = Client(BASE)
    with client:
        registered = {name for name, _ in client.plugins.manager.list_name_plugin()}
    assert registered == {"good"}
    messages = [str(w.message) for w in caught]
    assert len(messages) == len(listed) == 4
    for name, reason in listed.items():
        assert [m for m in messages if f"plugin {name!r}" in m and reason in m], name


def test_the_warning_of_a_refused_plugin_says_it_once(shelf: None) -> None:
    with pytest.warns(PluginWarning) as caught:
        Client(BASE).close()
    assert sorted(str(w.message) for w in caught if "typo" in str(w.message)) == [
        f"plugin 'typo' (from predictions-typo 2.0) was refused: {REASONS['typo']}"
    ]


def test_strict_mode_raises_with_the_listed_reason(
    shelf: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREDICTIONS_PLUGINS", "good,typo")
    with pytest.raises(PluginError) as info:
        Client(BASE, strict_plugins=True)
    assert "'typo'" in str(info.value)
    assert REASONS["typo"] in str(info.value)


def test_several_mistakes_of_one_plugin_are_all_named(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = (
        MODULES["fake_typo"]
        + "\n\n@hookimpl\ndef predictions_on_retry(method, delay, colour, size):\n"
        "    pass\n\n\n@hookimpl\ndef predictions_on_finish():\n    pass\n"
    )
    dists = [FakeDist("predictions-many", "1.0", {"many": "fake_many"})]
    with installed(monkeypatch, tmp_path, {"fake_many": source}, dists):
        (info,) = list_plugins()
    assert info.status == "refused"
    assert info.error == (
        f"unknown hook 'predictions_on_finish' (the hooks: {', '.join(HOOK_NAMES)}); "
        "unknown hook 'predictions_on_polll' (did you mean 'predictions_on_poll'?); "
        "hook 'predictions_on_retry' has no argument 'colour', 'size' "
        "(its arguments: method, url, attempt, delay, error, operation)"
    )
