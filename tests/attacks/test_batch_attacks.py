"""Attacks on the batch runner: spins, hangs, lost rows, ledger states, the pacer."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

import predictions.batch._rows as batch_rows
import predictions.batch._run as batch_run
from predictions import Client
from predictions._http.pacing import Pacer, Slot
from predictions.batch import run_batch
from predictions.batch._ledger import Ledger
from predictions.batch._rows import input_sha
from predictions.errors import APIStatusError
from predictions.testing import Fault, LocalServer
from tests.attacks.conftest import describe, run_bounded
from tests.conftest import FakeClock

WALL = FakeClock.WALL_OFFSET + 1000.0


def make_client(server: LocalServer, **kw: Any) -> Client:
    return Client(server.base_url, access_token="tok", trust_env=False, **kw)


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer(prefer_wait_max=5) as running:
        yield running


@pytest.fixture
def client(server: LocalServer) -> Iterator[Client]:
    with make_client(server) as made:
        yield made


def cpu_of_iteration(run: Any) -> tuple:
    """Iterate `run` in this thread; (results, CPU seconds this thread used)."""
    start = time.thread_time()
    results = list(run)
    return results, time.thread_time() - start


def creates(server: LocalServer) -> int:
    return sum(
        1
        for r in server.requests
        if r.method == "POST" and r.path.split("?")[0].endswith("/predictions")
    )


# ---- busy-spinning ---------------------------------------------------------


@pytest.mark.slow  # real waits of seconds: once, not on every Python
@pytest.mark.timeout(30)
def test_coordinator_does_not_spin_while_the_first_held_create_is_out(
    client: Client,
) -> None:
    # The first create goes alone and is held ~1 s; the other rows wait in
    # _to_create with due=0, so _until_next() returns 0 again and again.
    inputs = [{"seconds": 1.0} for _ in range(6)]
    run = run_batch(inputs, "demo/sleep", client=client, hold=5, concurrency=6)
    started = time.monotonic()
    results, cpu = cpu_of_iteration(run)
    wall = time.monotonic() - started
    assert [r["status"] for r in results] == ["succeeded"] * 6
    assert cpu < 0.35 * wall, f"coordinator used {cpu:.2f} s CPU in {wall:.2f} s"


@pytest.mark.slow  # real waits of seconds: once, not on every Python
@pytest.mark.timeout(30)
def test_coordinator_does_not_spin_while_more_rows_than_create_slots_wait(
    server: LocalServer,
) -> None:
    # max_workers=4 -> 2 create slots; concurrency 8: 6 rows wait (due=0)
    # while two held creates are out.
    with make_client(server, max_workers=4) as small:
        inputs = [{"seconds": 0.8} for _ in range(8)]
        run = run_batch(inputs, "demo/sleep", client=small, hold=5, concurrency=8)
        started = time.monotonic()
        results, cpu = cpu_of_iteration(run)
        wall = time.monotonic() - started
    assert [r["status"] for r in results] == ["succeeded"] * 8
    assert cpu < 0.35 * wall, f"coordinator used {cpu:.2f} s CPU in {wall:.2f} s"


@pytest.mark.slow  # real waits of seconds: once, not on every Python
@pytest.mark.timeout(30)
def test_coordinator_does_not_spin_while_a_get_is_in_flight() -> None:
    # One running prediction, polled alone; each GET takes 1 s. While it is in
    # flight the row's check_at is in the past and _until_next() returns 0.
    with LocalServer(faults=[Fault.parse("delay@get,delay=1")]) as slow, make_client(
        slow
    ) as c:
        run = run_batch(
            [{"seconds": 1.2}], "demo/sleep", client=c, hold=0, poll_interval=0.3
        )
        started = time.monotonic()
        results, cpu = cpu_of_iteration(run)
        wall = time.monotonic() - started
    assert results[0]["status"] == "succeeded"
    assert cpu < 0.35 * wall, f"coordinator used {cpu:.2f} s CPU in {wall:.2f} s"


@pytest.mark.slow  # real waits of seconds: once, not on every Python
@pytest.mark.timeout(30)
def test_coordinator_does_not_spin_while_a_failed_get_backs_off() -> None:
    # A GET fails (no client retry): the row waits in _to_fetch with a future
    # `due`, but its past check_at makes _until_next() return 0.
    with LocalServer(faults=[Fault.parse("503@get,seq=1-3")]) as flaky, make_client(
        flaky, max_retries=0
    ) as c:
        run = run_batch(
            [{"seconds": 1.0}], "demo/sleep", client=c, hold=0, poll_interval=0.3
        )
        started = time.monotonic()
        results, cpu = cpu_of_iteration(run)
        wall = time.monotonic() - started
    assert results[0]["status"] == "succeeded"
    assert cpu < 0.35 * wall, f"coordinator used {cpu:.2f} s CPU in {wall:.2f} s"


# ---- close / interrupt / resume ------------------------------------------


@pytest.mark.timeout(30)
def test_close_before_iterating_releases_the_ledger(
    client: Client, tmp_path: Path
) -> None:
    ledger = tmp_path / "rows.ledger"
    first = run_batch([{"text": "a"}], "demo/echo", client=client, ledger=ledger)
    first.close()  # never iterated: its generator's finally never runs
    started = time.monotonic()
    outcome = run_bounded(
        lambda: list(
            run_batch([{"text": "a"}], "demo/echo", client=client, ledger=ledger)
        ),
        15,
    )
    assert outcome.finished, describe(outcome)
    assert outcome.error is None, describe(outcome)
    assert [r["status"] for r in outcome.value] == ["succeeded"]
    assert time.monotonic() - started < 3


@pytest.mark.slow  # real waits of seconds: once, not on every Python
@pytest.mark.timeout(30)
def test_interrupt_with_held_creates_is_bounded_and_resume_makes_no_duplicate(
    server: LocalServer, client: Client, tmp_path: Path
) -> None:
    ledger = tmp_path / "rows.ledger"
    inputs = [{"seconds": 3.0} for _ in range(3)]
    calls = [0]

    def interrupt(progress: Any) -> None:
        calls[0] += 1
        if calls[0] == 3:  # ~1 s in: creates are held on the server
            raise KeyboardInterrupt

    run = run_batch(
        inputs, "demo/sleep", client=client, ledger=ledger, hold=5,
        on_progress=interrupt,
    )  # fmt: skip
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        list(run)
    assert time.monotonic() - started < 1.0 + batch_run.CLOSE_GRACE + 1.5
    results = list(run_batch(inputs, "demo/sleep", client=client, ledger=ledger))
    assert sorted(r["key"] for r in results) == ["1", "2", "3"]
    assert all(r["status"] == "succeeded" for r in results)
    assert len(server.predictions) == 3, "a resent key made a second prediction"


@pytest.mark.slow  # real waits of seconds: once, not on every Python
@pytest.mark.timeout(30)
def test_resume_of_created_rows_creates_nothing_again(
    server: LocalServer, client: Client, tmp_path: Path
) -> None:
    ledger = tmp_path / "rows.ledger"
    inputs = [{"seconds": 1.5} for _ in range(4)]
    holder: Dict[str, Any] = {}

    def interrupt(progress: Any) -> None:
        if holder["run"].counts["created"] == 4:
            raise KeyboardInterrupt

    run = run_batch(
        inputs, "demo/sleep", client=client, ledger=ledger, hold=0,
        on_progress=interrupt,
    )  # fmt: skip
    holder["run"] = run
    with pytest.raises(KeyboardInterrupt):
        list(run)
    before = creates(server)
    results = list(run_batch(inputs, "demo/sleep", client=client, ledger=ledger))
    assert [r["status"] for r in results] == ["succeeded"] * 4
    assert creates(server) == before == 4
    assert len({r["prediction_id"] for r in results}) == 4


@pytest.mark.timeout(30)
def test_dropped_create_is_resent_with_its_key_and_made_once(tmp_path: Path) -> None:
    ledger = tmp_path / "rows.ledger"
    with LocalServer(
        faults=[Fault.parse("drop_after@create,seq=1")]
    ) as srv, make_client(srv) as c:
        inputs = [{"text": str(i)} for i in range(3)]
        results = list(run_batch(inputs, "demo/echo", client=c, ledger=ledger, hold=1))
        assert sorted(r["status"] for r in results) == ["succeeded"] * 3
        assert len(srv.predictions) == 3
    db = sqlite3.connect(ledger)
    resent = db.execute(
        "SELECT key, sends, replayed FROM rows WHERE sends > 1"
    ).fetchall()
    assert resent == [("1", 2, 1)]


@pytest.mark.timeout(30)
def test_created_row_whose_prediction_is_gone_is_lost_not_hung(
    client: Client, tmp_path: Path
) -> None:
    path = tmp_path / "rows.ledger"
    value = {"text": "a"}
    made = Ledger(path, "demo/echo")
    made.write_key("1", 0, None, input_sha(value), "k-1", resent=False)
    made.write_prediction("1", "no-such-prediction", False)
    made.commit()
    made.close()
    outcome = run_bounded(
        lambda: list(run_batch([value], "demo/echo", client=client, ledger=path)), 10
    )
    assert outcome.finished, describe(outcome)
    assert outcome.error is None, describe(outcome)
    assert [r["status"] for r in outcome.value] == ["lost"]


# ---- servers that lie --------------------------------------------------------


@pytest.mark.timeout(30)
def test_a_row_answered_with_another_rows_finished_prediction_is_lost(
    client: Client,
) -> None:
    """Both rows reported row 1's output (issue 19): the check for running
    predictions holds for finished ones too; the second row is `lost`."""
    api = client.api
    original = api.request
    first: Dict[str, Any] = {}

    def lying(request: Any) -> Any:
        answer = original(request)
        if request.method == "POST" and request.path.endswith("/predictions"):
            prediction, replayed = answer
            first.setdefault("prediction", prediction)
            return first["prediction"], replayed  # finished: row 1's output
        return answer

    api.request = lying  # type: ignore[method-assign]
    outcome = run_bounded(
        lambda: list(
            run_batch(
                [{"text": "one"}, {"text": "two"}], "demo/echo", client=client,
                concurrency=1,
            )
        ),
        10,
    )  # fmt: skip
    assert outcome.finished, describe(outcome)
    assert outcome.error is None, describe(outcome)
    results = {r["key"]: r for r in outcome.value}
    assert results["1"]["status"] == "succeeded"
    assert results["1"]["output"] == {"text": "one"}
    assert results["2"]["status"] == "lost"
    assert results["2"]["output"] != {"text": "one"}
    assert "which is row '1'" in results["2"]["error"]["message"]


@pytest.mark.timeout(30)
def test_two_rows_answered_with_the_same_prediction_id_both_finish(
    client: Client,
) -> None:
    # A server that answers two creates with one prediction id: _running is
    # keyed by prediction id, so the first row is overwritten and never ends.
    api = client.api
    original = api.request
    first: Dict[str, Any] = {}

    def lying(request: Any) -> Any:
        answer = original(request)
        if request.method == "POST" and request.path.endswith("/predictions"):
            prediction, replayed = answer
            if "id" not in first:
                first["id"] = prediction["id"]
            else:
                prediction = dict(prediction, id=first["id"], status="pending")
            return prediction, replayed
        return answer

    api.request = lying  # type: ignore[method-assign]
    outcome = run_bounded(
        lambda: list(
            run_batch(
                [{"seconds": 0.3}, {"seconds": 0.3}], "demo/sleep", client=client,
                hold=0, poll_interval=0.2, concurrency=1,
            )
        ),
        10,
    )  # fmt: skip
    # concurrency=1: the second create goes only after the first row is done,
    # so this one must pass; with concurrency 2 (below) it hangs.
    assert outcome.finished, describe(outcome)
    assert outcome.error is None, describe(outcome)
    first.clear()
    outcome = run_bounded(
        lambda: list(
            run_batch(
                [{"seconds": 0.3}, {"seconds": 0.3}], "demo/sleep", client=client,
                hold=0, poll_interval=0.2, concurrency=2,
            )
        ),
        10,
    )  # fmt: skip
    assert outcome.finished, describe(outcome)
    assert outcome.error is None, describe(outcome)
    assert sorted(r["key"] for r in outcome.value) == ["1", "2"]


@pytest.mark.timeout(30)
def test_list_that_omits_running_predictions_still_ends_every_row(
    client: Client,
) -> None:
    real_list = client.predictions.list

    def lying_list(options: Any = None, **kw: Any) -> Any:
        page = real_list(options, **kw)
        page.items = []  # "nothing is running"
        return page

    client.predictions.list = lying_list  # type: ignore[method-assign]
    inputs = [{"seconds": 1.0} for _ in range(6)]
    outcome = run_bounded(
        lambda: list(
            run_batch(inputs, "demo/sleep", client=client, hold=0, poll_interval=0.3)
        ),
        15,
    )
    assert outcome.finished, describe(outcome)
    assert outcome.error is None, describe(outcome)
    assert sorted(r["key"] for r in outcome.value) == [str(i) for i in range(1, 7)]
    assert all(r["status"] == "succeeded" for r in outcome.value)


@pytest.mark.timeout(30)
def test_creates_failing_forever_stop_the_batch(monkeypatch: Any) -> None:
    monkeypatch.setattr("predictions._waiting.rules.POLL_FAILURE_WINDOW", 1.0)
    with LocalServer(faults=[Fault.parse("503@create")]) as srv, make_client(
        srv, max_retries=0
    ) as c:
        outcome = run_bounded(
            lambda: list(run_batch([{"text": "a"}] * 3, "demo/echo", client=c)),
            15,
        )
    assert outcome.finished, describe(outcome)
    assert isinstance(outcome.error, APIStatusError), describe(outcome)


@pytest.mark.slow  # real waits of seconds: once, not on every Python
@pytest.mark.timeout(30)
def test_no_pacer_slot_is_leaked_by_failing_requests() -> None:
    faults = [
        Fault.parse("drop_before@create,seq=2"),
        Fault.parse("503@create,seq=4"),
        Fault.parse("drop_before@get,seq=1"),
        Fault.parse("503@list,seq=1"),
    ]
    with LocalServer(faults=faults) as srv, make_client(srv, max_retries=0) as c:
        inputs = [{"seconds": 0.8} for _ in range(5)]
        results = list(
            run_batch(inputs, "demo/sleep", client=c, hold=0, poll_interval=0.2)
        )
        assert len(results) == 5
        pacer = c.api.pacer
        assert pacer is not None
        time.sleep(0.2)
        leaked = {name: len(b.flying) for name, b in pacer._buckets.items()}
    assert leaked == {"read": 0, "create": 0}


# ---- ordered mode ----------------------------------------------------------


@pytest.mark.slow  # real waits of seconds: once, not on every Python
@pytest.mark.timeout(30)
def test_ordered_mode_buffers_a_bounded_number_of_results(client: Client) -> None:
    inputs = [{"seconds": 1.5}] + [{"seconds": 0.0} for _ in range(60)]
    run = run_batch(inputs, "demo/sleep", client=client, ordered=True, concurrency=2)
    most = [0]
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            most[0] = max(most[0], len(run._in_order))
            time.sleep(0.005)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        results = list(run)
    finally:
        stop.set()
        watcher.join()
    assert [r["key"] for r in results] == [str(i) for i in range(1, 62)]
    assert most[0] <= 4 * 2 + 2


# ---- files -----------------------------------------------------------------


@pytest.mark.timeout(30)
def test_csv_with_bom_crlf_blank_lines_and_key(client: Client, tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_bytes(
        b'\xef\xbb\xbfid,text\r\na,hello\r\n\r\nb,"two\r\nlines"\r\nc,x\r\n'
    )
    run = run_batch(path, "demo/echo", client=client, key="id")
    results = {r["key"]: r for r in run}
    assert set(results) == {"a", "b", "c"}
    assert results["b"]["output"] == {"id": "b", "text": "two\r\nlines"}
    assert all(r["status"] == "succeeded" for r in results.values())
    assert run.total == 3


@pytest.mark.timeout(30)
def test_jsonl_with_bom_crlf_blank_lines_total_and_keys(
    client: Client, tmp_path: Path
) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(
        b'\xef\xbb\xbf{"id": "a"}\r\n\r\n   \r\n{"id": "b"}\r\n{"id": "a"}\r\n'
    )
    run = run_batch(path, "demo/echo", client=client, key="id")
    results = list(run)
    assert run.total == 3
    statuses = sorted((r["key"], r["status"]) for r in results)
    assert statuses == [("a", "invalid"), ("a", "succeeded"), ("b", "succeeded")]


@pytest.mark.timeout(30)
def test_jsonl_line_too_long_fails_alone_and_total_is_right(
    client: Client, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setattr(batch_rows, "MAX_ROW_BYTES", 64)
    monkeypatch.setattr(batch_rows, "_CHUNK", 16)
    path = tmp_path / "rows.jsonl"
    long = json.dumps({"text": "x" * 200})
    path.write_text(f'{{"text": "a"}}\n{long}\n{{"text": "b"}}\n')
    run = run_batch(path, "demo/echo", client=client)
    results = sorted(run, key=lambda r: r["line"])
    assert [r["status"] for r in results] == ["succeeded", "invalid", "succeeded"]
    assert results[2]["output"] == {"text": "b"}
    assert run.total == 3, f"total {run.total} for 3 lines"


def test_non_utf8_jsonl_is_refused_before_anything_is_sent(
    server: LocalServer, client: Client, tmp_path: Path
) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"text": "a"}\n{"text": "\xff"}\n')
    with pytest.raises(ValueError, match="not UTF-8"):
        run_batch(path, "demo/echo", client=client)
    assert creates(server) == 0


# ---- the pacer ---------------------------------------------------------------


def limits(remaining: int, reset_in: float, limit: int) -> Dict[str, str]:
    return {
        "x-ratelimit-limit": str(limit),
        "x-ratelimit-remaining": str(remaining),
        "x-ratelimit-reset": str(WALL + reset_in),
    }


def spendable(pacer: Pacer, bucket: str) -> int:
    """How many requests the pacer would send now without waiting."""
    taken = 0
    while taken < 100 and pacer.reserve(bucket) == 0.0:
        taken += 1
    return taken


def test_pacer_answer_between_reserve_and_flying_does_not_lose_a_reservation() -> None:
    # Fixed window, limit 3. Thread A has a request out; thread B takes a
    # token, and A's answer comes before B's request has gone: the answer sets
    # tokens = remaining - later, and B's place, taken a moment earlier, must
    # count among the later ones (the pacer took the token and registered the
    # slot in two steps, under two locks: the answer could fall between).
    clock = FakeClock()
    pacer = Pacer(clock)
    learn = pacer.take("read")  # the probe
    learn.observe(200, limits(2, 1.0, 3))  # server: 2 left in this window
    a = pacer.take("read")  # server counts it: 1 left
    delay, b = pacer._claim("read", None, False)  # thread B takes the last one...
    assert delay == 0.0
    assert b is not None
    a.observe(200, limits(1, 1.0, 3))  # ...A's answer arrives before B goes
    # The server has 0 left in this window; the pacer must not send more.
    assert spendable(pacer, "read") == 0


def test_pacer_answers_with_tied_send_times_do_not_overdraw() -> None:
    # Two requests sent at the same clock reading (a coarse clock: Windows'
    # monotonic ticks every ~16 ms). The server counts A then B; B's answer
    # comes first, then A's older figure is taken as fresh (sent_at >= newest).
    clock = FakeClock()
    pacer = Pacer(clock)
    pacer.take("read").observe(200, limits(5, 1.0, 5))
    a = pacer.take("read")
    b = pacer.take("read")
    assert a.sent_at == b.sent_at
    b.observe(200, limits(3, 1.0, 5))  # the server counted A and B: 3 left
    a.observe(200, limits(4, 1.0, 5))  # A's figure, from before B
    assert spendable(pacer, "read") <= 3


def test_pacer_stale_answer_after_newer_does_not_raise_tokens() -> None:
    clock = FakeClock()
    pacer = Pacer(clock)
    pacer.take("read").observe(200, limits(5, 1.0, 5))
    a = pacer.take("read")
    clock.now += 0.01
    b = pacer.take("read")
    b.observe(200, limits(3, 1.0, 5))
    a.observe(200, limits(4, 1.0, 5))
    assert spendable(pacer, "read") <= 3


def test_pacer_released_slot_leaves_nothing_flying() -> None:
    clock = FakeClock()
    pacer = Pacer(clock)
    pacer.take("read").observe(200, limits(5, 1.0, 5))
    slots: List[Slot] = [pacer.take("read") for _ in range(3)]
    slots[0].release()
    slots[1].observe(500, {})
    slots[2].observe(429, {"retry-after": "1"})
    slots[2].release()  # a second give-back is a no-op
    assert all(not b.flying for b in pacer._buckets.values())


@pytest.mark.timeout(30)
def test_resent_key_after_a_new_model_version_gets_the_first_prediction(
    server: LocalServer, client: Client, tmp_path: Path
) -> None:
    # A crash after the key was committed and the create was made, before its
    # answer was recorded. Before the resume, the model gets a new version:
    # the resend (same key, "owner/name" now meaning v2) is answered 409. The
    # row was recorded "rejected" (the API refused its input), though a
    # prediction exists for it. No answer names that prediction: the row is
    # "lost", saying why, and nothing more is made. (Only the batch's first
    # create can be caught so: it goes alone, and its answer pins the version
    # in the ledger before any other is sent.)
    import requests

    server.register("me/m", lambda value: value)
    value = {"text": "a"}
    path = tmp_path / "rows.ledger"
    made = Ledger(path, "me/m")
    made.write_key("1", 0, None, input_sha(value), "key-1", resent=False)
    made.commit()
    made.close()
    first = requests.post(
        server.base_url + "/models/me/m/predictions",
        json={"input": value},
        headers={"Authorization": "Bearer tok", "Idempotency-Key": "key-1"},
        timeout=10,
    )
    assert first.status_code in (200, 201, 202), first.text
    server.register("me/m", lambda value: value)  # version 2
    results = list(run_batch([value], "me/m", client=client, ledger=path))
    assert results[0]["status"] == "lost", results[0]
    assert "Idempotency-Key" in results[0]["error"]["message"]
    assert len(server.predictions) == 1
