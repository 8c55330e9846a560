"""`predictions plugins`: each plugin as a client checks it, as text or JSON (issue 21).

The plugins look installed (faked distributions and entry points); the
command line runs in-process.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Tuple

import pytest

from predictions.cli import main
from tests.plugins.fakes import REASONS, installed


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> Tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's own errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_the_command_shows_why_each_plugin_is_refused(
    shelf: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "plugins")
    assert code == 1, "a plugin a client would load is refused"
    assert err == ""
    assert out.splitlines() == [
        "colour (predictions-colour 3.0): refused",
        f"  {REASONS['colour']}",
        "  hooks: predictions_on_poll",
        "gone (predictions-gone 5.0): failed to import",
        f"  {REASONS['gone']}",
        "good (predictions-good 1.0): loaded",
        "  hooks: predictions_on_poll",
        "typo (predictions-typo 2.0): refused",
        f"  {REASONS['typo']}",
        "  hooks: predictions_on_polll",
        "wrapper (predictions-wrapper 4.0): refused",
        f"  {REASONS['wrapper']}",
        "  hooks: predictions_on_create",
    ]


def test_the_json_document(shelf: None, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "plugins", "--json")
    assert (code, err) == (1, "")
    document = json.loads(out)
    assert sorted(document) == ["entry_point_group", "not_installed", "plugins"]
    assert document["entry_point_group"] == "predictions.plugins"
    assert document["not_installed"] == []
    plugins: List[Dict[str, Any]] = document["plugins"]
    assert [p["name"] for p in plugins] == ["colour", "gone", "good", "typo", "wrapper"]
    assert plugins[2] == {
        "name": "good",
        "distribution": "predictions-good",
        "version": "1.0",
        "entry_point": "fake_good",
        "status": "loaded",
        "selected": True,
        "hooks": ["predictions_on_poll"],
        "reason": None,
    }
    assert plugins[3] == {
        "name": "typo",
        "distribution": "predictions-typo",
        "version": "2.0",
        "entry_point": "fake_typo",
        "status": "refused",
        "selected": True,
        "hooks": ["predictions_on_polll"],
        "reason": REASONS["typo"],
    }
    assert plugins[1]["status"] == "import_failed"
    assert plugins[1]["hooks"] == []
    assert plugins[1]["reason"] == REASONS["gone"]


def test_exit_0_when_every_selected_plugin_loads(
    shelf: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREDICTIONS_PLUGINS", "good")
    code, out, _ = cli(capsys, "plugins", "--json")
    assert code == 0, "the refused ones are not selected: no client loads them"
    selected = {p["name"]: p["selected"] for p in json.loads(out)["plugins"]}
    assert selected == {
        "colour": False,
        "gone": False,
        "good": True,
        "typo": False,
        "wrapper": False,
    }
    code, out, _ = cli(capsys, "plugins")
    assert code == 0
    assert (
        "typo (predictions-typo 2.0): refused, not selected by PREDICTIONS_PLUGINS"
        in out
    )


def test_exit_1_when_the_allow_list_names_a_plugin_not_installed(
    shelf: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREDICTIONS_PLUGINS", "good,goood")
    code, out, _ = cli(capsys, "plugins", "--json")
    assert code == 1
    assert json.loads(out)["not_installed"] == ["goood"]
    code, out, _ = cli(capsys, "plugins")
    assert code == 1
    assert out.splitlines()[-1] == (
        "not installed, but named by PREDICTIONS_PLUGINS: goood"
    )


def test_no_plugins_installed(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with installed(monkeypatch, tmp_path, {}, []):
        assert cli(capsys, "plugins") == (
            0,
            "no plugins installed (entry-point group predictions.plugins)\n",
            "",
        )
        code, out, _ = cli(capsys, "plugins", "--json")
    assert code == 0
    assert json.loads(out) == {
        "entry_point_group": "predictions.plugins",
        "plugins": [],
        "not_installed": [],
    }


@pytest.mark.parametrize(
    "option",
    [
        ["--base-url", "http://127.0.0.1:9/v1"],
        ["--token-env", "MYTOK"],
        ["--verbose"],
        ["--debug"],
    ],
)
def test_options_that_mean_nothing_there_are_a_usage_error(
    shelf: None, capsys: pytest.CaptureFixture[str], option: List[str]
) -> None:
    code, out, err = cli(capsys, "plugins", *option)
    assert code == 2
    assert out == ""
    assert f"unrecognized arguments: {' '.join(option)}" in err
