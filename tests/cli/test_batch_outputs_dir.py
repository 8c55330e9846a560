"""`predictions batch --outputs-dir DIR`: files saved, output_lost, usage errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from predictions.testing import LocalServer
from tests.cli.run import cli
from tests.cli.test_cli import base
from tests.files.file_host import FileHost, Hosted

__all__ = ["base"]  # a fixture, used by name


@pytest.fixture
def host() -> Iterator[FileHost]:
    with FileHost() as running:
        yield running


@pytest.fixture
def rows(tmp_path: Path) -> Path:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"name": "a.bin"}\n{"name": "gone.bin"}\n')
    return path


@pytest.fixture
def urls(host: FileHost, predictions_server: LocalServer) -> Dict[str, str]:
    made = {
        "a.bin": host.add("a.bin", Hosted(b"a" * 1000)),
        "gone.bin": host.add("gone.bin", Hosted(b"g", script=["status:410"])),
    }

    def model(data: Dict[str, Any]) -> Any:
        return {"image": made[data["name"]]}

    predictions_server.register("me/files", model)
    return made


def test_outputs_dir_saves_the_files_and_a_lost_one_fails_its_row(
    capsys: pytest.CaptureFixture[str],
    base: List[str],
    rows: Path,
    tmp_path: Path,
    host: FileHost,
    urls: Dict[str, str],
) -> None:
    out, saved = tmp_path / "out.jsonl", tmp_path / "saved"
    saved.mkdir()
    args = [
        "batch", "me/files", "--input", str(rows), "--output", str(out),
        "--outputs-dir", str(saved), "--ordered", *base,
    ]  # fmt: skip
    code, stdout, err = cli(capsys, *args)
    assert code == 1  # a row did not succeed
    first, lost = [json.loads(line) for line in out.read_text().splitlines()]
    assert first["status"] == "succeeded"
    assert first["output"] == {"image": str(saved / "1" / "a.bin")}
    assert (saved / "1" / "a.bin").read_bytes() == b"a" * 1000
    assert lost["status"] == "output_lost"
    assert lost["error"]["url"] == f"{host.origin}/files/gone.bin"
    assert lost["error"]["status_code"] == 410
    assert "1 succeeded, 1 failed (1 output_lost)" in err
    assert "line 2: output_lost: line 2: output file 'gone.bin'" in err
    assert "answered 410" in err
    assert f"1 output file saved (1,000 bytes) in {saved}" in err
    assert stdout == ""

    # --retry-failed: the lost row gets a new prediction, and its file.
    code, stdout, _ = cli(capsys, *args, "--retry-failed", "--json")
    summary = json.loads(stdout)
    assert code == 0
    assert summary["by_status"] == {"succeeded": 2}
    assert summary["created"] == 1
    assert summary["files_saved"] == 1
    assert summary["outputs_dir"] == str(saved)
    assert (saved / "2" / "gone.bin").read_bytes() == b"g"


@pytest.mark.parametrize("kind", ["missing", "a file"])
def test_an_outputs_dir_that_is_not_a_directory_is_a_usage_error(
    kind: str,
    capsys: pytest.CaptureFixture[str],
    base: List[str],
    rows: Path,
    tmp_path: Path,
    predictions_server: LocalServer,
) -> None:
    target = tmp_path / "saved"
    if kind == "a file":
        target.write_text("")
    out = tmp_path / "out.jsonl"
    code, _, err = cli(
        capsys, "batch", "me/files", "--input", str(rows), "--output", str(out),
        "--outputs-dir", str(target), *base,
    )  # fmt: skip
    assert code == 2
    assert f"--outputs-dir {target}:" in err
    assert "nothing was sent" in err
    assert predictions_server.requests == []
    assert not out.exists()
    assert not Path(f"{out}.ledger").exists()


def test_the_help_tells_of_outputs_dir_and_output_lost(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = cli(capsys, "batch", "--help")
    assert code == 0
    text = " ".join(out.split())
    assert "--outputs-dir DIR" in text
    assert "DIR/KEY/" in text
    assert "output_lost" in text
