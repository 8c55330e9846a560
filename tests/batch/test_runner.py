"""The batch runner against the local server: results, resuming, reads, limits."""

from __future__ import annotations

import collections
import contextlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest
import requests

from predictions import Client
from predictions.batch import (
    LedgerMismatchError,
    LedgerWriteError,
    run_batch,
)
from predictions.batch._ledger import Ledger
from predictions.errors import AuthenticationError
from predictions.testing import Fault, LocalServer, RateLimit


def write_rows(path: Path, rows: List[Any]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def routes(server: LocalServer) -> Dict[str, int]:
    """Requests seen, by kind: create, get, list."""
    seen: Dict[str, int] = collections.Counter()
    for request in server.requests:
        path = request.path.split("?")[0]
        if request.method == "POST" and path.endswith("/predictions"):
            seen["create"] += 1
        elif path.endswith("/v1/predictions"):
            seen["list"] += 1
        elif request.method == "GET":
            seen["get"] += 1
    return seen


def test_every_row_gets_one_result_with_its_key_output_and_times(
    server: LocalServer, client: Client, tmp_path: Path
) -> None:
    rows = write_rows(
        tmp_path / "rows.jsonl", [{"text": f"row {i}"} for i in range(30)]
    )
    results = list(run_batch(rows, "demo/echo", client=client, ledger=tmp_path / "l"))
    assert sorted(int(r["key"]) for r in results) == list(range(1, 31))
    for result in results:
        assert result["status"] == "succeeded"
        assert result["output"] == {"text": f"row {int(result['key']) - 1}"}
        assert result["line"] == int(result["key"])
        assert result["prediction_id"]
        assert result["created_at"]
        assert result["completed_at"]
    assert len(server.predictions) == 30
    # Short predictions end within the hold: not one read.
    assert routes(server) == {"create": 30}


def test_ordered_results_come_in_input_order(client: Client) -> None:
    inputs = [{"seconds": 0.3 if i % 3 == 0 else 0.01} for i in range(12)]
    results = list(run_batch(inputs, "demo/sleep", client=client, ordered=True))
    assert [r["key"] for r in results] == [str(i) for i in range(1, 13)]


@pytest.mark.slow  # real waits of seconds: once, not on every Python
def test_long_predictions_are_found_ended_by_a_scan_then_fetched_once_each(
    server: LocalServer, client: Client
) -> None:
    # Not held: they come back running, all at once, and are scanned together.
    inputs = [{"seconds": 1.3} for _ in range(20)]
    results = list(
        run_batch(inputs, "demo/sleep", client=client, hold=0, poll_interval=0.5)
    )
    assert [r["status"] for r in results] == ["succeeded"] * 20
    seen = routes(server)
    assert seen["create"] == 20
    assert seen["get"] == 20, seen  # one read per output, no poll of a running one
    assert 1 <= seen["list"] <= 6, seen


@pytest.mark.slow  # real waits of seconds: once, not on every Python
def test_one_left_running_is_polled_alone_not_scanned(
    server: LocalServer, client: Client
) -> None:
    results = list(
        run_batch([{"seconds": 2.2}], "demo/sleep", client=client, poll_interval=0.5)
    )
    assert results[0]["status"] == "succeeded"
    seen = routes(server)
    assert seen["list"] == 0, seen
    assert seen["get"] >= 1, seen


def test_hooks_fire_on_create_and_on_terminal_once_for_each_row(
    server: LocalServer,
) -> None:
    seen: Dict[str, List[Any]] = collections.defaultdict(list)

    class Recorder:
        from predictions import hookimpl

        @hookimpl
        def predictions_on_create(self, prediction: Any) -> None:
            seen["create"].append(prediction["id"])

        @hookimpl
        def predictions_on_terminal(self, prediction: Any, error: Any) -> None:
            seen["terminal"].append((prediction["id"], error))

    with Client(server.base_url, plugins=[Recorder()], trust_env=False) as client:
        inputs = [{"seconds": 1.2 if i % 2 else 0.01} for i in range(6)]
        list(run_batch(inputs, "demo/sleep", client=client, poll_interval=0.3))
    assert len(seen["create"]) == 6
    assert sorted(p for p, _ in seen["terminal"]) == sorted(seen["create"])
    assert all(error is None for _, error in seen["terminal"])


def test_bad_rows_fail_alone_with_their_line_numbers(
    client: Client, tmp_path: Path
) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        '{"text": "a"}\n[1, 2]\nnot json\n\n{"text": NaN}\n"text"\n{"text": "b"}\n'
    )
    results = {r["key"]: r for r in run_batch(rows, "demo/echo", client=client)}
    assert results["1"]["status"] == results["7"]["status"] == "succeeded"
    assert results["2"]["error"]["message"] == "line 2: not a JSON object but a list"
    assert results["3"]["error"]["message"].startswith("line 3: not JSON")
    assert "NaN is not JSON" in results["5"]["error"]["message"]
    assert results["6"]["error"]["message"] == "line 6: not a JSON object but str"
    assert {results[k]["status"] for k in "2356"} == {"invalid"}
    assert results["2"]["prediction_id"] is None


def test_a_csv_row_with_the_wrong_fields_fails_alone(
    client: Client, tmp_path: Path
) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text('id,text\n1,hello\n2,"two\nlines"\n3\n4,four\n')
    results = {
        r["key"]: r for r in run_batch(rows, "demo/echo", client=client, key="id")
    }
    assert results["1"]["output"] == {"id": "1", "text": "hello"}
    assert results["2"]["output"] == {"id": "2", "text": "two\nlines"}
    assert results["4"]["line"] == 6
    assert results["4"]["status"] == "succeeded"
    bad = results["line 5"]
    assert bad["status"] == "invalid"
    assert bad["error"]["message"] == "line 5: 1 fields where the header names 2"


def test_duplicate_keys_fail_and_send_nothing(
    server: LocalServer, client: Client
) -> None:
    inputs = [{"id": "a", "text": "1"}, {"id": "a", "text": "2"}]
    results = list(
        run_batch(inputs, "demo/echo", client=client, key="id", ordered=True)
    )
    assert [r["status"] for r in results] == ["succeeded", "invalid"]
    assert "duplicate key 'a'" in results[1]["error"]["message"]
    assert len(server.predictions) == 1


def test_a_second_run_redoes_nothing_and_yields_every_result_again(
    server: LocalServer, client: Client, tmp_path: Path
) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", [{"text": str(i)} for i in range(10)])
    first = list(run_batch(rows, "demo/echo", client=client, ledger=tmp_path / "l"))
    again = run_batch(rows, "demo/echo", client=client, ledger=tmp_path / "l")
    second = list(again)
    assert sorted(map(json.dumps, first)) == sorted(map(json.dumps, second))
    assert len(server.predictions) == 10
    assert again.progress().resumed == 10


def test_a_crash_after_keys_and_ids_are_recorded_resumes_exactly_once(
    server: LocalServer, client: Client, tmp_path: Path
) -> None:
    """The states a crash leaves: keyed (create maybe sent), created, done."""
    rows = write_rows(tmp_path / "rows.jsonl", [{"text": str(i)} for i in range(3)])
    ledger_path = tmp_path / "l"
    # Row 1: its create reached the server, the answer was lost (keyed).
    # Row 2: created and recorded, not finished when the batch died.
    from predictions.batch._rows import InputFile

    file = InputFile(rows)
    ledger = Ledger(ledger_path, "demo/echo", str(rows.resolve()), file.sha)
    row1, row2, _ = list(file)
    ledger.write_key(row1.key, 0, 1, row1.sha, "key-of-row-1", resent=False)
    ledger.write_key(row2.key, 1, 2, row2.sha, "key-of-row-2", resent=False)
    ledger.commit()
    first = client.predictions.create(
        {"input": {"text": "0"}}, "demo/echo"
    )  # not through the key: a plain create, to show it is not the row's
    sent = _create_with_key(client, {"text": "0"}, "key-of-row-1")
    made = _create_with_key(client, {"text": "1"}, "key-of-row-2")
    ledger.write_prediction(row2.key, made["id"], False)
    ledger.commit()
    ledger.close()
    before = len(server.predictions)

    results = {
        r["key"]: r
        for r in run_batch(rows, "demo/echo", client=client, ledger=ledger_path)
    }
    assert results["1"]["prediction_id"] == sent["id"] != first["id"]  # replayed
    assert results["2"]["prediction_id"] == made["id"]  # waited on, not re-made
    assert results["3"]["status"] == "succeeded"
    assert len(server.predictions) == before + 1  # only row 3 was new
    with sqlite3.connect(ledger_path) as db:
        sends = dict(db.execute("SELECT key, sends FROM rows"))
        replayed = dict(db.execute("SELECT key, replayed FROM rows"))
    assert sends == {"1": 2, "2": 1, "3": 1}  # row 1 was sent again
    assert replayed["1"] == 1  # ...and the server said it replayed: no duplicate


def _create_with_key(client: Client, value: Any, key: str) -> Dict[str, Any]:
    from predictions._requests import create_request

    request = create_request(
        {"input": value}, "demo/echo", idempotent=False, max_retries=0,
        idempotency_key=key,
    )  # fmt: skip
    return client.api.request(request)  # type: ignore[no-any-return]


def test_retry_failed_redoes_only_the_failed_rows_and_keeps_the_old_ones(
    server: LocalServer, client: Client, tmp_path: Path
) -> None:
    def fail_if(input: Dict[str, Any]) -> str:
        if input["message"] == "boom":
            raise RuntimeError("boom")
        return "fine"

    server.register("test/fail-if", fail_if)
    rows = write_rows(
        tmp_path / "rows.jsonl",
        [{"message": "boom"}, {"message": "boom"}, {"message": "fine"}],
    )
    ledger = tmp_path / "l"
    first = {
        r["key"]: r
        for r in run_batch(rows, "test/fail-if", client=client, ledger=ledger)
    }
    assert [first[k]["status"] for k in "123"] == ["failed", "failed", "succeeded"]
    again = {
        r["key"]: r
        for r in run_batch(
            rows, "test/fail-if", client=client, ledger=ledger, retry_failed=True
        )
    }
    assert again["3"]["prediction_id"] == first["3"]["prediction_id"]
    assert again["1"]["prediction_id"] != first["1"]["prediction_id"]
    assert len(server.predictions) == 5
    with sqlite3.connect(ledger) as db:
        kept = {p for (p,) in db.execute("SELECT prediction_id FROM superseded")}
    assert kept == {first["1"]["prediction_id"], first["2"]["prediction_id"]}


def test_a_ledger_of_another_model_is_refused_naming_both(
    server: LocalServer, client: Client, tmp_path: Path
) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", [{"text": "a"}])
    list(run_batch(rows, "demo/echo", client=client, ledger=tmp_path / "l"))
    sent = len(server.requests)
    with pytest.raises(LedgerMismatchError) as caught:
        run_batch(rows, "demo/word-count", client=client, ledger=tmp_path / "l")
    assert "model demo/echo" in str(caught.value)
    assert "model demo/word-count" in str(caught.value)
    assert len(server.requests) == sent


def test_a_ledger_of_another_input_file_is_refused_naming_both(
    server: LocalServer, client: Client, tmp_path: Path
) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", [{"text": "a"}])
    other = write_rows(tmp_path / "other.jsonl", [{"text": "b"}])
    list(run_batch(rows, "demo/echo", client=client, ledger=tmp_path / "l"))
    sent = len(server.requests)
    with pytest.raises(LedgerMismatchError) as caught:
        run_batch(other, "demo/echo", client=client, ledger=tmp_path / "l")
    assert "rows.jsonl" in str(caught.value)
    assert "other.jsonl" in str(caught.value)
    assert len(server.requests) == sent


def test_an_input_file_changed_since_is_refused_unless_forced(
    server: LocalServer, client: Client, tmp_path: Path
) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", [{"text": "a"}, {"text": "b"}])
    first = list(run_batch(rows, "demo/echo", client=client, ledger=tmp_path / "l"))
    write_rows(rows, [{"text": "a"}, {"text": "B"}, {"text": "c"}])
    sent = len(server.requests)
    with pytest.raises(LedgerMismatchError, match="changed since the ledger"):
        run_batch(rows, "demo/echo", client=client, ledger=tmp_path / "l")
    assert len(server.requests) == sent
    forced = {
        r["key"]: r
        for r in run_batch(
            rows, "demo/echo", client=client, ledger=tmp_path / "l", force=True
        )
    }
    assert forced["1"]["prediction_id"] == first[0]["prediction_id"] or (
        forced["1"]["prediction_id"] in {r["prediction_id"] for r in first}
    )
    assert forced["2"]["output"] == {"text": "B"}  # redone: its input changed
    assert forced["3"]["output"] == {"text": "c"}
    assert len(server.predictions) == 4


def test_a_changed_row_from_python_is_refused_before_it_is_sent(
    server: LocalServer, client: Client, tmp_path: Path
) -> None:
    list(run_batch([{"text": "a"}], "demo/echo", client=client, ledger=tmp_path / "l"))
    sent = len(server.requests)
    with pytest.raises(LedgerMismatchError, match="row '1'"):
        list(
            run_batch(
                [{"text": "b"}], "demo/echo", client=client, ledger=tmp_path / "l"
            )
        )
    assert len(server.requests) == sent


@pytest.mark.slow  # real waits of seconds: once, not on every Python
def test_rate_limits_are_waited_out_never_raised(tmp_path: Path) -> None:
    limit = RateLimit(reads_per_second=3, creates_per_second=15, burst=2)
    with LocalServer(rate_limit=limit, prefer_wait_max=1) as server, Client(
        server.base_url, access_token="tok", trust_env=False
    ) as client:
        inputs = [{"seconds": 1.1 if i % 4 == 0 else 0.01} for i in range(30)]
        results = list(
            run_batch(inputs, "demo/sleep", client=client, poll_interval=0.3)
        )
    assert [r["status"] for r in results] == ["succeeded"] * 30
    assert len(server.predictions) == 30


def test_transient_create_failures_are_sent_again_with_the_same_key(
    tmp_path: Path,
) -> None:
    faults = [Fault.parse("503@create,seq=2-4"), Fault.parse("drop_after@create,seq=6")]
    with LocalServer(faults=faults) as server, Client(
        server.base_url, trust_env=False, max_retries=0
    ) as client:
        inputs = [{"text": str(i)} for i in range(8)]
        results = list(
            run_batch(inputs, "demo/echo", client=client, ledger=tmp_path / "l")
        )
        assert [r["status"] for r in results] == ["succeeded"] * 8
        texts = sorted(p["input"]["text"] for p in server.predictions)
    assert texts == [str(i) for i in range(8)]  # the dropped answer was replayed


def test_a_rejected_create_fails_its_row_only(tmp_path: Path) -> None:
    with LocalServer(faults=[Fault.parse("422@create,seq=2")]) as server, Client(
        server.base_url, trust_env=False
    ) as client:
        results = list(
            run_batch(
                [{"text": str(i)} for i in range(3)],
                "demo/echo",
                client=client,
                ordered=True,
            )
        )
    assert [r["status"] for r in results].count("rejected") == 1
    assert [r["status"] for r in results].count("succeeded") == 2
    assert len(server.predictions) == 2


@pytest.mark.parametrize(
    ("status", "ends"),
    [(401, True), (403, True), (404, False), (422, False), (429, False), (503, False)],
)
def test_which_errors_end_a_batch_is_one_rule(status: int, ends: bool) -> None:
    from predictions.batch._results import ends_the_batch
    from predictions.errors import error_class_for

    response = requests.Response()
    response.status_code = status
    error = error_class_for(status)("refused", response=response)
    assert ends_the_batch(error) is ends
    assert ends_the_batch(KeyboardInterrupt())
    assert not ends_the_batch(requests.ConnectionError("down"))


def test_a_scan_lists_the_running_statuses_of_the_one_list() -> None:
    from predictions.types import RUNNING, RUNNING_STATUSES

    assert set(RUNNING) == RUNNING_STATUSES
    assert RUNNING == ("pending", "starting", "started")  # the order on the wire


def test_a_bad_token_stops_the_batch_at_once(tmp_path: Path) -> None:
    with LocalServer(token="right") as server, Client(
        server.base_url, access_token="wrong", trust_env=False
    ) as client:
        batch = run_batch([{"text": "a"}] * 5, "demo/echo", client=client)
        with pytest.raises(AuthenticationError):
            list(batch)
        # The first create goes alone: the others never leave.
        assert len([r for r in server.requests if r.method == "POST"]) == 1


def test_an_unwritable_ledger_stops_before_more_creates_and_forgets_nothing(
    server: LocalServer, client: Client, tmp_path: Path
) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", [{"text": str(i)} for i in range(200)])
    batch = run_batch(
        rows, "demo/echo", client=client, ledger=tmp_path / "l", concurrency=4
    )

    def read_until_the_disk_fills() -> None:
        for number, _ in enumerate(batch, 1):
            if number == 20:  # the disk fills up
                batch.ledger._db.execute("PRAGMA max_page_count = 1")

    with pytest.raises(LedgerWriteError) as caught:
        read_until_the_disk_fills()
    created = {p["id"] for p in server.predictions}
    assert len(created) < 200  # it stopped
    with contextlib.closing(sqlite3.connect(tmp_path / "l")) as db:
        keyed = {k for (k,) in db.execute("SELECT key FROM rows")}
        recorded = {p for (p,) in db.execute("SELECT prediction_id FROM rows") if p}
    # Every prediction made is in the ledger, or named by the error.
    assert created <= recorded | set(caught.value.unrecorded.values())
    assert len(keyed) >= len(created)
    # Once there is room again, the same batch goes on, exactly once.
    again = list(run_batch(rows, "demo/echo", client=client, ledger=tmp_path / "l"))
    assert len(again) == 200
    assert len(server.predictions) == 200


def test_a_ledger_that_cannot_be_opened_is_refused_before_anything_is_sent(
    server: LocalServer, client: Client, tmp_path: Path
) -> None:
    with pytest.raises(LedgerWriteError, match="cannot open the ledger"):
        run_batch([{"text": "a"}], "demo/echo", client=client, ledger=tmp_path)
    assert server.requests == []


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"concurrency": "4"}, TypeError),
        ({"concurrency": 0}, ValueError),
        ({"hold": -1}, ValueError),
        ({"poll_interval": 0}, ValueError),
        ({"key": 3}, TypeError),
    ],
)
def test_bad_options_are_refused_before_anything_is_sent(
    server: LocalServer, client: Client, kwargs: Dict[str, Any], error: type
) -> None:
    with pytest.raises(error):
        run_batch([{"text": "a"}], "demo/echo", client=client, **kwargs)
    with pytest.raises(ValueError, match="model"):
        run_batch([{"text": "a"}], "not a model", client=client)
    with pytest.raises(TypeError):
        run_batch({"text": "a"}, "demo/echo", client=client)  # type: ignore[arg-type]
    assert server.requests == []


@pytest.mark.slow  # real waits of seconds: once, not on every Python
def test_the_coordinator_sleeps_while_every_place_is_taken(
    server: LocalServer, client: Client
) -> None:
    """With more rows keyed than creates may fly, it waited with a timeout of 0
    for the clock, spinning a core until an answer came."""
    inputs = [{"seconds": 0.9} for _ in range(40)]  # held, all of them
    started_cpu, started = time.thread_time(), time.monotonic()
    results = list(run_batch(inputs, "demo/sleep", client=client, concurrency=40))
    cpu, wall = time.thread_time() - started_cpu, time.monotonic() - started
    assert len(results) == 40
    assert cpu < 0.5 * wall, (cpu, wall)  # a spinning loop takes all of it


def test_a_ledger_in_use_by_another_batch_is_refused(
    server: LocalServer, client: Client, tmp_path: Path
) -> None:
    first = run_batch(
        [{"text": "a"}], "demo/echo", client=client, ledger=tmp_path / "l"
    )
    with pytest.raises(LedgerWriteError, match="in use by another batch"):
        run_batch([{"text": "a"}], "demo/echo", client=client, ledger=tmp_path / "l")
    first.close()  # never iterated: the ledger is given back
    assert (
        len(
            list(
                run_batch(
                    [{"text": "a"}], "demo/echo", client=client, ledger=tmp_path / "l"
                )
            )
        )
        == 1
    )
    assert len(server.predictions) == 1


@pytest.mark.slow  # real waits of seconds: once, not on every Python
def test_close_from_another_thread_ends_the_iteration(
    server: LocalServer, client: Client, tmp_path: Path
) -> None:
    import threading

    rows = [{"seconds": 0.2} for _ in range(200)]
    batch = run_batch(
        rows, "demo/sleep", client=client, ledger=tmp_path / "l", concurrency=4
    )
    timer = threading.Timer(1.0, batch.close)
    timer.start()
    done = list(batch)  # ends: no exception, fewer rows
    timer.join()
    assert 0 < len(done) < 200
    again = list(run_batch(rows, "demo/sleep", client=client, ledger=tmp_path / "l"))
    assert len(again) == 200
    assert len(server.predictions) == 200


@pytest.mark.slow  # real waits of seconds: once, not on every Python
def test_a_server_with_no_list_is_polled_one_by_one() -> None:
    with LocalServer(
        prefer_wait_max=1, faults=[Fault.parse("404@list")]
    ) as server, Client(server.base_url, trust_env=False) as client:
        inputs = [{"seconds": 1.2} for _ in range(6)]
        results = list(
            run_batch(inputs, "demo/sleep", client=client, poll_interval=0.3)
        )
    assert [r["status"] for r in results] == ["succeeded"] * 6


@pytest.mark.slow  # real waits of seconds: once, not on every Python
def test_a_list_that_keeps_showing_an_ended_prediction_holds_no_row_forever(
    server: LocalServer, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from predictions.batch import _reads as _batch_reads

    monkeypatch.setattr(_batch_reads, "VERIFY_EVERY", 2.0)
    original = _batch_reads.Reads.list_running

    def lying(self: Any, limit: int) -> Any:
        running, pages, complete = original(self, limit)
        return running | set(self.running), pages, complete  # all, always

    monkeypatch.setattr(_batch_reads.Reads, "list_running", lying)
    inputs = [{"seconds": 1.1} for _ in range(4)]
    results = list(run_batch(inputs, "demo/sleep", client=client, poll_interval=0.3))
    assert [r["status"] for r in results] == ["succeeded"] * 4


@pytest.mark.slow  # real waits of seconds: once, not on every Python
def test_a_row_whose_create_alone_keeps_failing_fails_alone(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from predictions.errors import InternalServerError

    monkeypatch.setattr("predictions._waiting.rules.POLL_FAILURE_WINDOW", 1.0)
    with Client(server.base_url, trust_env=False, max_retries=0) as client:
        original = client.api.request

        def failing(request: Any) -> Any:
            if request.method == "POST" and b'"bad"' in (request.body or b""):
                response = requests.Response()
                response.status_code = 503
                raise InternalServerError("boom", response=response)
            return original(request)

        client.api.request = failing  # type: ignore[method-assign]
        inputs = [{"text": "bad"}] + [{"seconds": 0.1} for _ in range(30)]
        results = {
            r["key"]: r
            for r in run_batch(inputs, "demo/sleep", client=client, concurrency=2)
        }
    assert results["1"]["status"] == "rejected"
    assert "its create failed for 1 s" in results["1"]["error"]["message"]
    assert all(results[str(k)]["status"] == "succeeded" for k in range(2, 32))


def test_the_model_version_is_pinned_by_the_first_create(
    server: LocalServer, client: Client, tmp_path: Path
) -> None:
    """A model that gets a new version mid-batch: every row runs the first's."""
    server.register("me/model", lambda value: {"v": 1})
    inputs = [{"n": n} for n in range(20)]
    batch = run_batch(
        inputs, "me/model", client=client, ledger=tmp_path / "l", concurrency=2
    )
    results = []
    for result in batch:
        results.append(result)
        if len(results) == 1:
            assert server.register("me/model", lambda value: {"v": 2}) == 2
    assert len(results) == 20
    assert {r["output"]["v"] for r in results} == {1}
    assert {p["model"]["version_number"] for p in server.predictions} == {1}
