"""Trial runs: the first rows only (limit), and a dry run that sends nothing."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterator, List

import pytest

from predictions import Client
from predictions.batch import BatchPreview, InputError, preview_batch, run_batch
from predictions.cli import main
from predictions.testing import LocalServer


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer(prefer_wait_max=1) as running:
        yield running


@pytest.fixture
def client(server: LocalServer) -> Iterator[Client]:
    with Client(server.base_url, access_token="tok", trust_env=False) as made:
        yield made


@pytest.fixture
def rows(tmp_path: Path) -> Path:
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps({"n": n}) + "\n" for n in range(1, 8)))
    return path


def created(server: LocalServer) -> List[int]:
    """The `n` of every create the server got, in order."""
    return [
        json.loads(r.body)["input"]["n"] for r in server.requests if r.method == "POST"
    ]


def test_a_limited_run_does_the_first_rows_and_the_next_run_the_rest(
    server: LocalServer, client: Client, rows: Path, tmp_path: Path
) -> None:
    ledger = tmp_path / "rows.ledger"
    with run_batch(rows, "demo/echo", client=client, ledger=ledger, limit=3) as batch:
        first = [r["key"] for r in batch]
        assert batch.progress().total == 3
    assert sorted(first) == ["1", "2", "3"]
    assert sorted(created(server)) == [1, 2, 3]
    with run_batch(rows, "demo/echo", client=client, ledger=ledger) as batch:
        second = sorted(int(r["key"]) for r in batch)
        assert batch.progress().resumed == 3
    assert second == list(range(1, 8))
    assert sorted(created(server)) == list(range(1, 8))  # none of the first again


def test_the_same_limit_again_redoes_nothing(
    server: LocalServer, client: Client, rows: Path, tmp_path: Path
) -> None:
    ledger = tmp_path / "rows.ledger"
    list(run_batch(rows, "demo/echo", client=client, ledger=ledger, limit=2))
    again = list(run_batch(rows, "demo/echo", client=client, ledger=ledger, limit=2))
    assert [r["status"] for r in again] == ["succeeded"] * 2
    assert len(created(server)) == 2


@pytest.mark.parametrize(
    ("limit", "error"),
    [
        (0, ValueError),
        (-1, ValueError),
        ("3", TypeError),
        (True, TypeError),
        (1.5, TypeError),
    ],
)
def test_a_bad_limit_is_refused_before_anything_is_sent(
    server: LocalServer,
    client: Client,
    rows: Path,
    tmp_path: Path,
    limit: Any,
    error: type,
) -> None:
    ledger = tmp_path / "rows.ledger"
    with pytest.raises(error, match="limit"):
        run_batch(rows, "demo/echo", client=client, ledger=ledger, limit=limit)
    with pytest.raises(error, match="limit"):
        preview_batch(rows, "demo/echo", limit=limit)
    assert server.requests == []
    assert not ledger.exists()


def test_a_preview_reads_every_row_and_sends_nothing(
    server: LocalServer, tmp_path: Path
) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("id,age,text\na,1,x\nb,two,y\na,3,z\nc,4\nd,5,w\n")
    preview = preview_batch(
        path, "demo/echo", key="id", exclude=["id"], types={"age": "int"}, samples=2
    )
    assert isinstance(preview, BatchPreview)
    assert (preview.rows, preview.to_send, preview.invalid) == (5, 2, 3)
    assert preview.errors == (
        "line 3: the column 'age' holds 'two': not an int (a whole number)",
        "line 4: duplicate key 'a'",
        "line 5: 2 fields where the header names 3",
    )
    assert preview.samples == (
        {"key": "a", "line": 2, "input": {"age": 1, "text": "x"}},
        {"key": "d", "line": 6, "input": {"age": 5, "text": "w"}},
    )
    assert server.requests == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.csv"]


def test_a_preview_finds_what_cannot_be_sent_and_keeps_to_the_limit() -> None:
    inputs = [{"x": 1}, {"x": math.nan}, {"x": 3}, {"x": 4}]
    preview = preview_batch(inputs, "demo/echo", limit=3)
    assert (preview.rows, preview.to_send, preview.invalid) == (3, 2, 1)
    assert preview.errors[0].startswith("row 2: ")
    assert [s["input"] for s in preview.samples] == [{"x": 1}, {"x": 3}]


def test_a_preview_refuses_what_a_run_refuses(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"text": "a"}\n')
    with pytest.raises(InputError, match="'txt' to exclude"):
        preview_batch(path, "demo/echo", exclude=["txt"])
    with pytest.raises(ValueError, match="model"):
        preview_batch(path, "not a model")


# The command line ------------------------------------------------------------


def batch(server: LocalServer, rows: Path, *extra: str) -> int:
    out = rows.with_name("out.jsonl")
    return main(
        ["batch", "demo/echo", "--input", str(rows), "--output", str(out), *extra,
         "--base-url", server.base_url]
    )  # fmt: skip


@pytest.mark.parametrize("limit", ["0", "-1", "many", "1.5", ""])
def test_a_bad_limit_is_a_usage_error(
    server: LocalServer,
    rows: Path,
    capsys: pytest.CaptureFixture[str],
    limit: str,
) -> None:
    with pytest.raises(SystemExit) as caught:
        batch(server, rows, "--limit", limit)
    assert caught.value.code == 2
    assert "--limit" in capsys.readouterr().err
    assert server.requests == []


def test_the_command_line_limits_then_goes_on_with_the_rest(
    server: LocalServer, rows: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert batch(server, rows, "--limit", "4") == 0
    assert "batch: 4 rows in" in capsys.readouterr().err
    assert batch(server, rows) == 0
    assert "4 were done by an earlier run" in capsys.readouterr().err
    assert sorted(created(server)) == list(range(1, 8))
    out = rows.with_name("out.jsonl")
    assert len(out.read_text().splitlines()) == 7


def test_a_dry_run_tells_what_would_be_sent_and_sends_nothing(
    server: LocalServer, rows: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with rows.open("a") as file:
        file.write("[8]\n")
    code = batch(server, rows, "--dry-run")
    out, _ = capsys.readouterr()
    assert code == 1  # a row is invalid
    assert out.splitlines()[0] == (
        f"dry run: 8 rows read from {rows}: 7 would be sent to demo/echo, "
        "1 invalid; nothing was sent"
    )
    assert "  line 8: not a JSON object but a list" in out
    assert '  line 1 (key 1): {"n": 1}' in out
    assert "out.jsonl.ledger" in out
    assert server.requests == []
    assert sorted(p.name for p in rows.parent.iterdir()) == ["rows.jsonl"]


def test_a_dry_run_with_a_limit_as_json(
    server: LocalServer, rows: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = batch(server, rows, "--dry-run", "--limit", "2", "--json")
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["dry_run"] is True
    assert (report["rows"], report["to_send"], report["invalid"]) == (2, 2, 0)
    assert report["samples"][1] == {"key": "2", "line": 2, "input": {"n": 2}}
    assert server.requests == []


def test_a_dry_run_refuses_what_a_run_refuses(
    server: LocalServer, rows: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = batch(server, rows, "--dry-run", "--exclude", "m")
    assert code == 2
    assert "no row of" in capsys.readouterr().err
    assert server.requests == []
