"""End to end: a batch killed with SIGKILL and run again (in a download too); Dask."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from predictions import Client
from predictions.testing import LocalServer, RateLimit

ROWS = 2000


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as running:
        yield running


def batch_command(server: LocalServer, rows: Path, out: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, WRIFTAI_API_BASE_URL=server.base_url, PREDICTIONS_PLUGINS="")
    env.pop("WRIFTAI_ACCESS_TOKEN", None)
    return subprocess.Popen(
        [sys.executable, "-m", "predictions", "batch", "demo/sleep",
         "--input", str(rows), "--output", str(out)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def write_rows(path: Path, count: int, seconds: float) -> Path:
    """`count` rows for demo/sleep, each with its number `n`."""
    path.write_text(
        "".join(json.dumps({"seconds": seconds, "n": n}) + "\n" for n in range(count))
    )
    return path


def start_and_wait_for(
    server: LocalServer, rows: Path, out: Path, results: int
) -> subprocess.Popen[str]:
    """Start a batch; return once it has written `results` results."""
    batch = batch_command(server, rows, out)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and batch.poll() is None:
        if out.exists() and out.read_text().count("\n") >= results:
            break
        time.sleep(0.05)
    assert batch.poll() is None, "the batch ended before it could be stopped"
    return batch


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_batch_killed_in_the_middle_ends_with_one_prediction_per_row(
    server: LocalServer, tmp_path: Path
) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", ROWS, 0.02)
    out = tmp_path / "results.jsonl"
    first = start_and_wait_for(server, rows, out, ROWS // 3)
    first.send_signal(signal.SIGKILL)
    first.wait()
    made_before = len(server.predictions)
    assert 0 < made_before < ROWS

    second = batch_command(server, rows, out)
    _, err = second.communicate(timeout=240)
    assert second.returncode == 0, err

    results = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(results) == ROWS
    assert len({r["key"] for r in results}) == ROWS
    assert all(r["status"] == "succeeded" for r in results)
    # On the server: exactly one prediction per row, none duplicated.
    made = server.predictions
    assert len(made) == ROWS
    per_row = collections.Counter(p["input"]["n"] for p in made)
    assert set(per_row) == set(range(ROWS))
    assert max(per_row.values()) == 1
    assert {r["prediction_id"] for r in results} == {p["id"] for p in made}


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_ctrl_c_stops_a_batch_that_the_same_command_resumes(
    server: LocalServer, tmp_path: Path
) -> None:
    count = 400
    rows = write_rows(tmp_path / "rows.jsonl", count, 0.05)
    out = tmp_path / "results.jsonl"
    first = start_and_wait_for(server, rows, out, count // 4)
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=30)
    assert first.returncode == 130, err
    assert "run the same command again" in err
    second = batch_command(server, rows, out)
    _, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    made = server.predictions
    assert len(made) == count
    assert len({p["input"]["n"] for p in made}) == count
    assert len(out.read_text().splitlines()) == count


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_batch_on_dask_workers_stays_in_the_rate_budget(tmp_path: Path) -> None:
    dask_bag = pytest.importorskip("dask.bag")
    distributed = pytest.importorskip("distributed")
    from predictions.dask import map_batch

    rows = [{"text": f"row {n}", "n": n} for n in range(150)]
    limit = RateLimit(reads_per_second=3, creates_per_second=15)
    with LocalServer(rate_limit=limit) as server, Client(
        server.base_url, access_token="tok", trust_env=False
    ) as client, distributed.LocalCluster(
        n_workers=4, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, distributed.Client(cluster):
        bag = dask_bag.from_sequence(rows, npartitions=4)
        partitions = bag.npartitions
        results = map_batch(
            bag, "demo/echo", client=client, ledger_dir=str(tmp_path / "ledgers")
        ).compute()
        made = server.predictions
    assert len(results) == 150
    assert [r["status"] for r in results] == ["succeeded"] * 150, results
    assert sorted(r["output"]["n"] for r in results) == list(range(150))
    per_row = collections.Counter(p["input"]["n"] for p in made)
    assert len(made) == 150
    assert max(per_row.values()) == 1
    ledgers = sorted(p.name for p in (tmp_path / "ledgers").glob("*.ledger"))
    assert ledgers == [f"part-{i:05d}.ledger" for i in range(partitions)]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_batch_killed_in_a_download_resumes_the_file_from_its_last_byte(
    tmp_path: Path,
) -> None:
    from tests.files.file_host import FileHost, Hosted

    body = bytes(range(256)) * 8192  # 2 MiB, sent in 16 pieces over 4 s
    hosted = Hosted(body, script=["trickle:4"])
    with FileHost() as host, LocalServer() as server:
        url = host.add("big.bin", hosted)
        server.register("me/files", lambda data: {"files": [url]})
        rows = tmp_path / "rows.jsonl"
        rows.write_text('{"n": 1}\n')
        out, saved = tmp_path / "results.jsonl", tmp_path / "saved"
        saved.mkdir()
        env = dict(
            os.environ, WRIFTAI_API_BASE_URL=server.base_url, PREDICTIONS_PLUGINS=""
        )
        env.pop("WRIFTAI_ACCESS_TOKEN", None)
        command = [
            sys.executable, "-m", "predictions", "batch", "me/files",
            "--input", str(rows), "--output", str(out), "--outputs-dir", str(saved),
        ]  # fmt: skip
        part = saved / "1" / ".big.bin.part"
        first = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and first.poll() is None:
            if part.exists() and part.stat().st_size > 0:
                break
            time.sleep(0.02)
        assert first.poll() is None, "the batch ended before it could be killed"
        first.send_signal(signal.SIGKILL)
        first.wait()
        had = part.stat().st_size
        assert 0 < had < len(body)
        assert not (saved / "1" / "big.bin").exists()  # never a partial file

        second = subprocess.run(command, env=env, stderr=subprocess.PIPE, text=True)
        assert second.returncode == 0, second.stderr
        (result,) = [json.loads(line) for line in out.read_text().splitlines()]
        made = server.predictions
    assert result["status"] == "succeeded"
    assert result["output"] == {"files": [str(saved / "1" / "big.bin")]}
    assert (saved / "1" / "big.bin").read_bytes() == body
    assert sorted(p.name for p in (saved / "1").iterdir()) == ["big.bin"]
    assert len(made) == 1  # the prediction read again, not made again
    first_get, resumed = host.headers_of("big.bin")
    assert "range" not in first_get
    assert resumed["range"] == f"bytes={had}-"  # only the rest, once
