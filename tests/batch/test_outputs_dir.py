"""A batch that keeps its output files: `run_batch(..., outputs_dir=DIR)`.

The files are served by the scripted file host of the output-file tests;
the models, registered on the local server, answer with its URLs (or with
`data:` URLs).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sqlite3
import threading
import unicodedata
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest

from predictions import Client
from predictions.batch import run_batch
from predictions.batch._files import SAVES_IN_FLIGHT
from predictions.batch._ledger import Ledger
from predictions.batch._rows import input_sha
from predictions.testing import LocalServer
from tests.files.file_host import FileHost, Hosted

BODY = bytes(range(256)) * 4096  # 1 MiB


def data_url(text: str) -> str:
    return "data:text/plain;base64," + base64.b64encode(text.encode()).decode()


@pytest.fixture
def host() -> Iterator[FileHost]:
    with FileHost() as running:
        yield running


@pytest.fixture
def urls() -> Dict[str, str]:
    """The URL of each file the models may name (filled by each test)."""
    return {}


def files_model(urls: Dict[str, str]) -> Any:
    """`{"files": [name, ...], "text": ...}` -> its files' URLs, and the text's."""

    def model(data: Dict[str, Any]) -> Any:
        found = [urls[name] for name in data.get("files", [])]
        if "text" in data:
            found.append(data_url(data["text"]))
        return {"files": found}

    return model


@pytest.fixture
def server(urls: Dict[str, str]) -> Iterator[LocalServer]:
    with LocalServer(prefer_wait_max=1, models={"me/files": files_model(urls)}) as s:
        yield s


@pytest.fixture
def client(server: LocalServer) -> Iterator[Client]:
    with Client(server.base_url, access_token="tok", trust_env=False) as made:
        yield made


@pytest.fixture
def outputs(tmp_path: Path) -> Path:
    made = tmp_path / "outputs"
    made.mkdir()
    return made


def ledger_files(path: Path) -> List[Any]:
    db = sqlite3.connect(str(path))
    try:
        return db.execute(
            "SELECT key, number, place, path, size, sha256 FROM files "
            "ORDER BY key, number"
        ).fetchall()
    finally:
        db.close()


def left_over(directory: Path) -> List[str]:
    """Temporary names left anywhere under `directory`."""
    return sorted(p.name for p in directory.rglob(".*"))


def creates(server: LocalServer) -> int:
    return sum(
        1
        for r in server.requests
        if r.method == "POST" and r.path.split("?")[0].endswith("/predictions")
    )


def gets_of(server: LocalServer, prediction_id: str) -> int:
    return sum(
        1
        for r in server.requests
        if r.method == "GET" and r.path.split("?")[0].endswith(f"/{prediction_id}")
    )


def test_each_rows_files_are_saved_under_its_key_and_recorded_in_the_ledger(
    host: FileHost,
    urls: Dict[str, str],
    client: Client,
    outputs: Path,
    tmp_path: Path,
) -> None:
    urls["big.bin"] = host.add("big.bin", Hosted(BODY))
    rows = [{"files": ["big.bin"], "text": f"row {n}"} for n in range(3)]
    ledger = tmp_path / "rows.ledger"
    results = list(
        run_batch(rows, "me/files", client=client, ledger=ledger, outputs_dir=outputs)
    )
    assert [r["status"] for r in results] == ["succeeded"] * 3
    recorded = ledger_files(ledger)
    assert len(recorded) == 6
    for result in results:
        key = result["key"]
        folder = outputs / key
        big, text = folder / "big.bin", folder / "output.txt"
        # The result line holds the local paths in place of the URLs.
        assert result["output"] == {"files": [str(big), str(text)]}
        assert big.read_bytes() == BODY
        assert text.read_text() == f"row {int(key) - 1}"
        mine = [r for r in recorded if r[0] == key]
        assert mine == [
            (key, 0, '["files", 0]', str(big), len(BODY),
             hashlib.sha256(BODY).hexdigest()),
            (key, 1, '["files", 1]', str(text), len(text.read_bytes()),
             hashlib.sha256(text.read_bytes()).hexdigest()),
        ]  # fmt: skip
    assert left_over(outputs) == []  # no .part, no .etag
    assert len(host.headers_of("big.bin")) == 3

    # Run again: the rows are done, their files in the ledger: none fetched.
    again = list(
        run_batch(rows, "me/files", client=client, ledger=ledger, outputs_dir=outputs)
    )
    assert sorted(r["key"] for r in again) == ["1", "2", "3"]
    assert {r["key"]: r["output"] for r in again} == {
        r["key"]: r["output"] for r in results
    }
    assert len(host.headers_of("big.bin")) == 3


def test_a_file_that_expired_ends_its_row_output_lost_and_retry_failed_redoes_it(
    host: FileHost,
    urls: Dict[str, str],
    server: LocalServer,
    client: Client,
    outputs: Path,
    tmp_path: Path,
) -> None:
    urls["gone.bin"] = host.add("gone.bin", Hosted(BODY, script=["status:410"]))
    urls["kept.bin"] = host.add("kept.bin", Hosted(b"kept"))
    rows = [{"files": ["gone.bin"]}, {"files": ["kept.bin"]}]
    ledger = tmp_path / "rows.ledger"
    seen = []
    batch = run_batch(
        rows, "me/files", client=client, ledger=ledger, outputs_dir=outputs,
        ordered=True, on_progress=seen.append,
    )  # fmt: skip
    with batch:
        results = list(batch)
    lost, kept = results
    assert lost["status"] == "output_lost"
    assert lost["prediction_id"]
    assert lost["output"] == {"files": [urls["gone.bin"]]}  # the URLs, as they were
    error = lost["error"]
    assert error["source"] == "client"
    assert error["url"] == f"{host.origin}/files/gone.bin"  # no signature
    assert error["status_code"] == 410
    assert "410" in error["message"]
    assert "sig=" not in error["message"]
    assert kept["status"] == "succeeded"
    progress = batch.progress()
    assert (progress.done, progress.succeeded, progress.failed) == (2, 1, 1)
    assert [r[0] for r in ledger_files(ledger)] == ["2"]  # none for the lost row
    assert not (outputs / "1" / "gone.bin").exists()

    # Without retry_failed the row stays lost: nothing is fetched again.
    again = list(run_batch(rows, "me/files", client=client, ledger=ledger,
                           outputs_dir=outputs, ordered=True))  # fmt: skip
    assert [r["status"] for r in again] == ["output_lost", "succeeded"]
    assert len(host.headers_of("gone.bin")) == 1

    # retry_failed: a new prediction (fresh URLs), and its files saved.
    made = len(server.predictions)
    retried = list(
        run_batch(rows, "me/files", client=client, ledger=ledger,
                  outputs_dir=outputs, ordered=True, retry_failed=True)
    )  # fmt: skip
    assert [r["status"] for r in retried] == ["succeeded", "succeeded"]
    assert len(server.predictions) == made + 1
    assert retried[0]["prediction_id"] != lost["prediction_id"]
    assert (outputs / "1" / "gone.bin").read_bytes() == BODY
    assert left_over(outputs) == []


def test_a_download_that_fails_after_the_retries_ends_its_row_output_lost(
    host: FileHost, urls: Dict[str, str], server: LocalServer, outputs: Path
) -> None:
    urls["flaky.bin"] = host.add("flaky.bin", Hosted(BODY, script=["status:503"]))
    with Client(
        server.base_url, access_token="tok", trust_env=False, max_retries=0
    ) as client:
        (result,) = run_batch([{"files": ["flaky.bin"]}], "me/files",
                              client=client, outputs_dir=outputs)  # fmt: skip
    assert result["status"] == "output_lost"
    assert result["error"]["status_code"] == 503
    assert result["error"]["url"] == f"{host.origin}/files/flaky.bin"


def test_a_row_resumed_after_a_kill_in_its_download_fetches_only_the_rest(
    host: FileHost,
    urls: Dict[str, str],
    server: LocalServer,
    client: Client,
    outputs: Path,
    tmp_path: Path,
) -> None:
    hosted = Hosted(BODY)
    urls["big.bin"] = host.add("big.bin", hosted)
    row = {"files": ["big.bin"]}
    # What a run killed with SIGKILL in the middle of the download leaves: the
    # row created in the ledger (no result), half the file in its part.
    made = client.predictions.create({"input": row}, "me/files", wait=True)
    assert made["status"] == "succeeded"
    ledger_path = tmp_path / "rows.ledger"
    ledger = Ledger(ledger_path, "me/files")
    ledger.write_key("1", 0, None, input_sha(row), "key-1", resent=False)
    ledger.write_prediction("1", made["id"], replayed=False)
    ledger.close()
    folder = outputs / "1"
    folder.mkdir()
    half = len(BODY) // 2
    (folder / ".big.bin.part").write_bytes(BODY[:half])
    (folder / ".big.bin.part.etag").write_text(hosted.tag() or "")
    fetched_before = len(host.headers_of("big.bin"))
    creates_before = creates(server)

    (result,) = run_batch(
        [row], "me/files", client=client, ledger=ledger_path, outputs_dir=outputs
    )
    assert result["status"] == "succeeded"
    assert result["prediction_id"] == made["id"]
    assert result["output"] == {"files": [str(folder / "big.bin")]}
    assert (folder / "big.bin").read_bytes() == BODY
    assert left_over(outputs) == []
    # The prediction read again (fresh URLs); no create; only the rest fetched.
    assert creates(server) == creates_before
    assert gets_of(server, made["id"]) >= 1
    (asked,) = host.headers_of("big.bin")[fetched_before:]
    assert asked["range"] == f"bytes={half}-"
    assert asked["if-range"] == hosted.tag()
    assert ledger_files(ledger_path) == [
        ("1", 0, '["files", 0]', str(folder / "big.bin"), len(BODY),
         hashlib.sha256(BODY).hexdigest()),
    ]  # fmt: skip


def test_a_resumed_row_takes_the_files_an_earlier_run_saved_whole_from_its_prediction(
    host: FileHost,
    urls: Dict[str, str],
    client: Client,
    outputs: Path,
    tmp_path: Path,
) -> None:
    urls["a.bin"] = host.add("a.bin", Hosted(b"a" * 10))
    urls["b.bin"] = host.add("b.bin", Hosted(b"b" * 10))
    urls["c.bin"] = host.add("c.bin", Hosted(BODY))
    row = {"files": ["a.bin", "b.bin", "c.bin"]}
    made = client.predictions.create({"input": row}, "me/files", wait=True)
    folder = outputs / "1"
    folder.mkdir()
    # Killed while c.bin came: a.bin was saved whole and noted; b.bin is
    # there too, but noted from another prediction (a run before a retry).
    (folder / "a.bin").write_bytes(b"a" * 10)
    (folder / "b.bin").write_bytes(b"B" * 10)
    (folder / ".c.bin.part").write_bytes(BODY[:1000])
    (folder / ".c.bin.part.etag").write_text(host.files["/files/c.bin"].tag() or "")
    ledger_path = tmp_path / "rows.ledger"
    ledger = Ledger(ledger_path, "me/files")
    ledger.write_key("1", 0, None, input_sha(row), "key-1", resent=False)
    ledger.write_prediction("1", made["id"], replayed=False)
    a_sha = hashlib.sha256(b"a" * 10).hexdigest()
    ledger.write_saved(
        "1", made["id"], 0, (("files", 0), str(folder / "a.bin"), 10, a_sha)
    )
    ledger.write_saved(
        "1", "another", 1, (("files", 1), str(folder / "b.bin"), 10, "x")
    )
    ledger.close()

    (result,) = run_batch(
        [row], "me/files", client=client, ledger=ledger_path, outputs_dir=outputs
    )
    assert result["status"] == "succeeded"
    assert host.headers_of("a.bin") == []  # not fetched again
    assert (folder / "b.bin").read_bytes() == b"b" * 10  # fetched: not this one's
    (asked,) = host.headers_of("c.bin")
    assert asked["range"] == "bytes=1000-"
    assert (folder / "c.bin").read_bytes() == BODY
    assert [(r[3], r[4], r[5]) for r in ledger_files(ledger_path)] == [
        (str(folder / "a.bin"), 10, a_sha),
        (str(folder / "b.bin"), 10, hashlib.sha256(b"b" * 10).hexdigest()),
        (str(folder / "c.bin"), len(BODY), hashlib.sha256(BODY).hexdigest()),
    ]
    db = sqlite3.connect(str(ledger_path))
    try:
        assert db.execute("SELECT COUNT(*) FROM saving").fetchone() == (0,)
    finally:
        db.close()
    assert left_over(outputs) == []


def test_a_row_done_by_a_run_that_kept_no_files_gets_them_from_a_fresh_read(
    host: FileHost,
    urls: Dict[str, str],
    server: LocalServer,
    client: Client,
    outputs: Path,
    tmp_path: Path,
) -> None:
    urls["a.bin"] = host.add("a.bin", Hosted(b"aaaa"))
    rows = [{"files": ["a.bin"]}]
    ledger = tmp_path / "rows.ledger"
    (first,) = run_batch(rows, "me/files", client=client, ledger=ledger)
    assert first["output"] == {"files": [urls["a.bin"]]}
    made = creates(server)
    (second,) = run_batch(
        rows, "me/files", client=client, ledger=ledger, outputs_dir=outputs
    )
    assert second["status"] == "succeeded"
    assert second["prediction_id"] == first["prediction_id"]
    assert second["output"] == {"files": [str(outputs / "1" / "a.bin")]}
    assert (outputs / "1" / "a.bin").read_bytes() == b"aaaa"
    assert creates(server) == made
    assert gets_of(server, first["prediction_id"]) == 1
    assert len(ledger_files(ledger)) == 1


def test_keys_that_make_the_same_folder_name_get_folders_of_their_own(
    client: Client, outputs: Path, tmp_path: Path
) -> None:
    rows = [
        {"id": "a/b", "text": "one"},
        {"id": "a_b", "text": "two"},
        {"id": "A_B", "text": "three"},
        {"id": "..", "text": "four"},
    ]
    ledger = tmp_path / "rows.ledger"

    def run() -> Dict[str, Any]:
        results = run_batch(rows, "me/files", client=client, ledger=ledger,
                            key="id", outputs_dir=outputs)  # fmt: skip
        return {r["key"]: r["output"]["files"][0] for r in results}

    paths = run()
    assert len(set(os.path.dirname(p) for p in paths.values())) == 4
    assert paths["a/b"] == str(outputs / "a_b" / "output.txt")
    for row in rows:
        path = Path(paths[row["id"]])
        assert path.parent.parent == outputs  # never outside DIR
        assert path.read_text() == row["text"]
    assert run() == paths  # the same folders in every run


def test_keys_that_differ_only_in_unicode_form_get_folders_of_their_own(
    client: Client, outputs: Path, tmp_path: Path
) -> None:
    """An accent precomposed or combined is one name to macOS, as two cases
    are: the folders were told apart by case only, so the second row's files
    went into the first's folder, over a file of the same name."""
    rows = [{"id": "\u00e9", "text": "one"}, {"id": "e\u0301", "text": "two"}]
    ledger = tmp_path / "rows.ledger"
    # In input order: the rows may finish in either order.
    results = run_batch(rows, "me/files", client=client, ledger=ledger,
                        key="id", outputs_dir=outputs, ordered=True)  # fmt: skip
    folders = [Path(r["output"]["files"][0]).parent.name for r in results]
    assert folders[0] == "\u00e9"
    assert len({unicodedata.normalize("NFC", f.casefold()) for f in folders}) == 2
    for row, result in zip(rows, results):
        assert Path(result["output"]["files"][0]).read_text() == row["text"]


class GatedHost(FileHost):
    """A file host that holds every request until `gate` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.waiting = 0
        self.most_waiting = 0
        self._lock = threading.Lock()

    def handle(self, handler: Any) -> None:
        with self._lock:
            self.waiting += 1
            self.most_waiting = max(self.most_waiting, self.waiting)
        self.gate.wait(30)
        with self._lock:
            self.waiting -= 1
        super().handle(handler)


def test_downloads_that_hang_hold_up_no_create_and_are_bounded(
    urls: Dict[str, str], server: LocalServer, outputs: Path
) -> None:
    count = 12
    with GatedHost() as host, Client(
        server.base_url, access_token="tok", trust_env=False, max_workers=2
    ) as client:
        for n in range(count):
            urls[f"{n}.bin"] = host.add(f"{n}.bin", Hosted(b"x" * n))
        rows = [{"files": [f"{n}.bin"]} for n in range(count)]
        results: List[Dict[str, Any]] = []
        failure: List[BaseException] = []

        def run() -> None:
            try:
                results.extend(
                    run_batch(rows, "me/files", client=client, outputs_dir=outputs)
                )
            except BaseException as exc:  # pragma: no cover - shown below
                failure.append(exc)

        runner = threading.Thread(target=run)
        runner.start()
        try:
            # Every file held by the host: the creates go on all the same.
            for _ in range(400):
                if len(server.predictions) == count and host.waiting:
                    break
                threading.Event().wait(0.05)
            assert len(server.predictions) == count
            assert results == []  # no row is done before its files are saved
        finally:
            host.gate.set()
            runner.join(30)
    assert failure == []
    assert sorted(int(r["key"]) for r in results) == list(range(1, count + 1))
    assert all(r["status"] == "succeeded" for r in results)
    assert 1 <= host.most_waiting <= SAVES_IN_FLIGHT


@pytest.mark.parametrize("kind", ["missing", "a file"])
def test_an_outputs_dir_that_is_not_a_directory_is_refused_before_anything_is_sent(
    kind: str, server: LocalServer, client: Client, tmp_path: Path
) -> None:
    target = tmp_path / "outputs"
    expected: type = FileNotFoundError
    if kind == "a file":
        target.write_text("")
        expected = NotADirectoryError
    ledger = tmp_path / "rows.ledger"
    with pytest.raises(expected) as caught:
        run_batch([{"text": "a"}], "me/files", client=client, ledger=ledger,
                  outputs_dir=target)  # fmt: skip
    assert str(target) in str(caught.value)
    assert server.requests == []
    assert not ledger.exists()


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes anywhere"
)
def test_an_outputs_dir_that_cannot_be_written_is_refused(
    server: LocalServer, client: Client, outputs: Path
) -> None:
    outputs.chmod(0o500)
    try:
        with pytest.raises(PermissionError, match="cannot be written"):
            run_batch([{"text": "a"}], "me/files", client=client, outputs_dir=outputs)
    finally:
        outputs.chmod(0o700)
    assert server.requests == []


def test_an_outputs_dir_that_is_not_a_path_is_a_type_error(client: Client) -> None:
    bad: Optional[Any] = 3
    with pytest.raises(TypeError, match="outputs_dir"):
        run_batch([{"text": "a"}], "me/files", client=client, outputs_dir=bad)


def test_results_without_files_are_unchanged(
    client: Client, outputs: Path, tmp_path: Path
) -> None:
    (result,) = run_batch([{}], "me/files", client=client, outputs_dir=outputs)
    assert result["status"] == "succeeded"
    assert result["output"] == {"files": []}
    assert json.dumps(result)  # still one JSON line
    assert list(outputs.iterdir()) == []


def test_map_batch_refuses_outputs_dir_by_name(client: Client, outputs: Path) -> None:
    pytest.importorskip("dask")
    from predictions.dask import map_batch

    with pytest.raises(TypeError, match="map_batch does not take outputs_dir"):
        map_batch(None, "me/files", client=client, outputs_dir=str(outputs))


def test_a_disk_that_refuses_a_file_stops_the_batch_naming_the_row(
    client: Client, outputs: Path, tmp_path: Path
) -> None:
    from predictions.errors import BatchError

    (outputs / "1").write_text("in the way")  # where row 1's folder goes
    ledger = tmp_path / "rows.ledger"
    with pytest.raises(BatchError, match=r"cannot save the output files of row 1"):
        list(run_batch([{"text": "a"}], "me/files", client=client, ledger=ledger,
                       outputs_dir=outputs))  # fmt: skip
    db = sqlite3.connect(str(ledger))
    try:
        states = db.execute("SELECT key, state FROM rows").fetchall()
    finally:
        db.close()
    assert states == [("1", "created")]  # not done: the next run saves its files
