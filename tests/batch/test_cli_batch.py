"""`predictions batch`: results, summary, exit codes and usage errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List

import pytest

from predictions.cli import main
from predictions.testing import LocalServer
from tests.cli.run import cli
from tests.cli.test_cli import base

__all__ = ["base"]  # a fixture, used by name


@pytest.fixture
def rows(tmp_path: Path) -> Path:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"text": "a"}\n{"text": "b"}\n[3]\n{"text": "d"}\n')
    return path


def test_batch_writes_a_result_per_row_and_a_summary(
    capsys: pytest.CaptureFixture[str], base: List[str], rows: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    code, stdout, err = cli(
        capsys, "batch", "demo/echo", "--input", str(rows), "--output", str(out),
        "--ordered", *base,
    )  # fmt: skip
    assert code == 1  # a row did not succeed
    results = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["key"] for r in results] == ["1", "2", "3", "4"]
    assert [r["status"] for r in results] == ["succeeded"] * 2 + [
        "invalid",
        "succeeded",
    ]
    assert "batch: 4 rows in" in err
    assert "3 succeeded, 1 failed (1 invalid)" in err
    assert "line 3: invalid: line 3: not a JSON object but a list" in err
    assert f"ledger: {out}.ledger" in err
    assert stdout == ""


def test_batch_json_summary_and_a_second_run_that_redoes_nothing(
    capsys: pytest.CaptureFixture[str],
    base: List[str],
    rows: Path,
    tmp_path: Path,
    predictions_server: LocalServer,
) -> None:
    out = tmp_path / "out.jsonl"
    args = ["batch", "demo/echo", "--input", str(rows), "--output", str(out), *base]
    cli(capsys, *args)
    made = len(predictions_server.predictions)
    code, stdout, _ = cli(capsys, *args, "--json")
    summary = json.loads(stdout)
    assert code == 1
    assert summary["rows"] == 4
    assert summary["resumed"] == 4
    assert summary["created"] == 0
    assert summary["by_status"] == {"invalid": 1, "succeeded": 3}
    assert summary["failed_rows"][0]["line"] == 3
    assert len(predictions_server.predictions) == made
    assert len(out.read_text().splitlines()) == 4  # every row again


def test_batch_of_a_csv_with_a_key_column(
    capsys: pytest.CaptureFixture[str], base: List[str], tmp_path: Path
) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text("id,text\nx,hello\ny,world\n")
    out = tmp_path / "out.jsonl"
    code, _, _ = cli(
        capsys, "batch", "demo/word-count", "--input", str(rows), "--output",
        str(out), "--key", "id", *base,
    )  # fmt: skip
    assert code == 0
    results = {json.loads(line)["key"]: json.loads(line) for line in out.open()}
    assert set(results) == {"x", "y"}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--output", "-"], "give --ledger FILE"),
        (["--output", "o.jsonl", "--ledger", "l", "--no-ledger"], "cannot go together"),
        (["--output", "-", "--json", "--no-ledger"], "give --output FILE"),
        (["--output", "no/such/dir/o.jsonl", "--no-ledger"], "No such file"),
    ],
)
def test_batch_usage_errors_send_nothing(
    capsys: pytest.CaptureFixture[str],
    base: List[str],
    rows: Path,
    extra: List[str],
    message: str,
    predictions_server: LocalServer,
) -> None:
    code, _, err = cli(
        capsys, "batch", "demo/echo", "--input", str(rows), *extra, *base
    )
    assert code == 2, err
    assert message in err
    assert predictions_server.requests == []


def test_batch_concurrency_below_one_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], rows: Path
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["batch", "demo/echo", "--input", str(rows), "--output", "o",
              "--concurrency", "0"])  # fmt: skip
    assert caught.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err


def test_batch_refuses_a_ledger_of_another_model_and_a_csv_with_no_header(
    capsys: pytest.CaptureFixture[str],
    base: List[str],
    rows: Path,
    tmp_path: Path,
    predictions_server: LocalServer,
) -> None:
    out = tmp_path / "out.jsonl"
    cli(capsys, "batch", "demo/echo", "--input", str(rows), "--output", str(out), *base)
    sent = len(predictions_server.requests)
    code, _, err = cli(
        capsys, "batch", "demo/word-count", "--input", str(rows), "--output",
        str(out), *base,
    )  # fmt: skip
    assert code == 2
    assert "model demo/echo" in err
    assert "model demo/word-count" in err
    headless = tmp_path / "headless.csv"
    headless.write_text("1,hello\n2,world\n")
    code, _, err = cli(
        capsys, "batch", "demo/echo", "--input", str(headless), "--output",
        str(tmp_path / "h.jsonl"), *base,
    )  # fmt: skip
    assert code == 2
    assert "has no header" in err
    assert len(predictions_server.requests) == sent


def test_batch_draws_its_own_line_not_the_progress_plugins_line_per_row(
    capsys: pytest.CaptureFixture[str],
    base: List[str],
    rows: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("predictions_progress")
    monkeypatch.setenv("PREDICTIONS_PLUGINS", "progress")
    code, _, err = cli(
        capsys, "batch", "demo/echo", "--input", str(rows), "--output",
        str(tmp_path / "again.jsonl"), "--no-ledger", *base,
    )  # fmt: skip
    assert code == 1
    assert "demo/echo:1 succeeded" not in err  # the plugin's line for one prediction
    assert "batch: 4 rows in" in err


@pytest.mark.parametrize(
    "same",
    ["output-is-input", "ledger-is-input", "ledger-is-output", "symlink", "relative"],
)
def test_batch_refuses_one_file_for_two_jobs_and_touches_nothing(
    capsys: pytest.CaptureFixture[str],
    base: List[str],
    rows: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    predictions_server: LocalServer,
    same: str,
) -> None:
    """--output equal to --input wiped the input (33 to 0 bytes, "0 rows",
    exit 0); equal to --ledger it destroyed the ledger (issue 19)."""
    ledger = tmp_path / "kept.ledger"
    ledger.write_bytes(b"not touched")
    monkeypatch.chdir(tmp_path)
    link = tmp_path / "link.jsonl"
    link.symlink_to(rows)
    extra = {
        "output-is-input": ["--output", str(rows)],
        "ledger-is-input": ["--output", "out.jsonl", "--ledger", str(rows)],
        "ledger-is-output": ["--output", str(ledger), "--ledger", str(ledger)],
        "symlink": ["--output", str(link)],
        "relative": ["--output", rows.name],
    }[same]
    before = rows.read_bytes()
    code, _, err = cli(
        capsys, "batch", "demo/echo", "--input", str(rows), *extra, *base
    )
    assert code == 2, err
    assert "are the same file" in err
    assert rows.read_bytes() == before
    assert ledger.read_bytes() == b"not touched"
    assert not (tmp_path / "out.jsonl").exists()
    assert predictions_server.requests == []
