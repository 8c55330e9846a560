"""What a row sends: fields left out (exclude), CSV cells typed (types)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from predictions import Client
from predictions.batch import InputError, LedgerMismatchError, run_batch
from predictions.batch._rows import Row
from predictions.batch._shape import Shape
from predictions.batch._source import Source
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


def csv_row(**cells: str) -> Row:
    return Row(0, "k", 7, dict(cells), None, "sha")


def sent_inputs(server: LocalServer) -> List[Dict[str, Any]]:
    return [json.loads(r.body)["input"] for r in server.requests if r.method == "POST"]


@pytest.mark.parametrize(
    ("kind", "cell", "value"),
    [
        ("int", "42", 42),
        ("int", " -3 ", -3),
        ("float", "1.5", 1.5),
        ("float", "3e-4", 3e-4),
        ("float", "-2", -2.0),
        ("bool", "TRUE", True),
        ("bool", "no", False),
        ("bool", "0", False),
        ("json", '["a", {"b": 1}]', ["a", {"b": 1}]),
        ("json", '{"x": null}', {"x": None}),
        ("json", "7", 7),
        ("str", " as is ", " as is "),
    ],
)
def test_a_typed_cell_is_sent_as_its_type(kind: str, cell: str, value: Any) -> None:
    shaped = Shape(types={"c": kind}).apply(csv_row(c=cell, other="x"))
    assert shaped.error is None
    assert shaped.input == {"c": value, "other": "x"}
    assert type(shaped.input["c"]) is type(value)


@pytest.mark.parametrize(
    ("kind", "cell", "why"),
    [
        ("int", "1.5", "not an int"),
        ("int", "", "not an int"),
        ("int", "1e3", "not an int"),
        ("float", "nan", "not a float"),
        ("float", "1e999", "not a float"),
        ("float", "one", "not a float"),
        ("bool", "maybe", "not a bool"),
        ("json", "[1,", "not JSON"),
        ("json", "NaN", "not JSON"),
    ],
)
def test_a_cell_that_does_not_convert_fails_its_row_naming_line_column_value(
    kind: str, cell: str, why: str
) -> None:
    shaped = Shape(types={"age": kind}).apply(csv_row(age=cell, name="x"))
    assert shaped.input is None
    assert shaped.error is not None
    assert shaped.error.startswith(f"line 7: the column 'age' holds {cell!r}: {why}")


def test_a_long_bad_cell_is_cut_in_the_message() -> None:
    shaped = Shape(types={"n": "int"}).apply(csv_row(n="x" * 1000))
    assert shaped.error is not None
    assert len(shaped.error) < 200


@pytest.mark.parametrize(
    ("exclude", "types", "error", "message"),
    [
        ("id", None, TypeError, "list of field names"),
        ([""], None, ValueError, "non-empty string"),
        ((), ["age"], TypeError, "map column names to types"),
        ((), {"age": "integer"}, ValueError, "one of str, int, float, bool, json"),
        (["age"], {"age": "int"}, ValueError, "both excluded and typed"),
    ],
)
def test_bad_options_are_refused(
    exclude: Any, types: Any, error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        Shape(exclude, types)


def test_the_key_is_read_before_its_field_is_left_out(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("id,age\nx,3\n")
    rows = list(Source(path, key="id", exclude=["id"], types={"age": "int"}))
    assert [(row.key, row.input) for row in rows] == [("x", {"age": 3})]


@pytest.mark.parametrize(
    ("exclude", "types", "message"),
    [
        (["idd"], None, "has no column 'idd' to exclude (its columns are id, text)"),
        ([], {"txt": "int"}, "has no column 'txt' to type"),
        (["id", "text"], None, "leaves nothing to send"),
    ],
)
def test_a_csv_is_checked_against_its_header_at_once(
    tmp_path: Path, exclude: List[str], types: Any, message: str
) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("id,text\n1,a\n")
    with pytest.raises(InputError) as caught:
        Source(path, exclude=exclude, types=types)
    assert message in str(caught.value)


def test_types_are_for_csv_only(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": "1"}\n')
    with pytest.raises(ValueError, match="CSV"):
        Source(path, types={"a": "int"})
    with pytest.raises(ValueError, match="CSV"):
        Source([{"a": "1"}], types={"a": "int"})


def test_jsonl_and_lists_are_read_through_for_a_field_no_row_has(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"id": 1, "text": "a"}\n{"id": 2, "other": "b"}\n')
    Source(path, exclude=["other"]).check_exclusions()  # the last row has it
    with pytest.raises(InputError, match=r"no row of .* has the field 'txt'"):
        Source(path, exclude=["txt"]).check_exclusions()
    with pytest.raises(InputError, match="no row has the field 'txt'"):
        Source([{"text": "a"}], exclude=["txt"]).check_exclusions()
    # An iterator is read once, by the batch: not before it.
    Source(iter([{"text": "a"}]), exclude=["txt"]).check_exclusions()


def test_excluding_every_field_of_every_row_is_refused_and_of_one_row_fails_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"id": 1}\n{"id": 2}\n')
    with pytest.raises(InputError, match=r"leaves no row of .* anything to send"):
        Source(path, exclude=["id"]).check_exclusions()
    rows = list(Source([{"id": 1, "text": "a"}, {"id": 2}], exclude=["id"]))
    assert rows[0].input == {"text": "a"}
    assert rows[1].error == (
        "row 2: nothing is left to send: every field it has is excluded"
    )


# Against the local server ----------------------------------------------------


def test_a_csv_batch_sends_typed_cells_without_its_excluded_key(
    server: LocalServer, client: Client, tmp_path: Path
) -> None:
    path = tmp_path / "rows.csv"
    path.write_text(
        'id,age,ok,tags\nx,3,yes,"[""a"", ""b""]"\ny,four,no,[]\nz,5,0,{}\n'
    )
    results = {
        r["key"]: r
        for r in run_batch(
            path,
            "demo/echo",
            client=client,
            key="id",
            exclude=["id"],
            types={"age": "int", "ok": "bool", "tags": "json"},
        )
    }
    assert results["x"]["output"] == {"age": 3, "ok": True, "tags": ["a", "b"]}
    assert results["z"]["output"] == {"age": 5, "ok": False, "tags": {}}
    assert results["y"]["status"] == "invalid"
    assert results["y"]["error"]["message"] == (
        "line 3: the column 'age' holds 'four': not an int (a whole number)"
    )
    # The bad row sent nothing; no row sent its key.
    assert sorted(i["age"] for i in sent_inputs(server)) == [3, 5]
    assert all("id" not in i for i in sent_inputs(server))


@pytest.mark.parametrize(
    "options",
    [
        {"exclude": ["txt"]},
        {"exclude": ["id", "text"]},
        {"exclude": "id"},
        {"types": {"text": "int"}},
    ],
)
def test_bad_exclusions_send_nothing(
    server: LocalServer, client: Client, tmp_path: Path, options: Dict[str, Any]
) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"id": 1, "text": "a"}\n')
    with pytest.raises((InputError, TypeError, ValueError)):
        run_batch(path, "demo/echo", client=client, **options)
    assert server.requests == []


def test_a_ledger_made_before_exclude_existed_resumes_and_another_shape_is_refused(
    server: LocalServer, client: Client, tmp_path: Path
) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text(
        "".join(json.dumps({"id": n, "text": "t"}) + "\n" for n in range(5))
    )
    ledger = tmp_path / "rows.ledger"
    list(run_batch(path, "demo/echo", client=client, ledger=ledger, key="id", limit=3))
    with sqlite3.connect(str(ledger)) as db:  # as an earlier version wrote it
        db.execute("DELETE FROM meta WHERE name IN ('exclude', 'types')")
    db.close()
    sent = len(sent_inputs(server))
    with pytest.raises(LedgerMismatchError) as caught:
        run_batch(
            path, "demo/echo", client=client, ledger=ledger, key="id", exclude=["id"]
        )
    assert "leaving out no field" in str(caught.value)
    assert "leaving out 'id'" in str(caught.value)
    assert len(sent_inputs(server)) == sent
    results = list(run_batch(path, "demo/echo", client=client, ledger=ledger, key="id"))
    assert len(results) == 5
    assert len(sent_inputs(server)) == sent + 2  # only the rows not done before


def test_a_batch_that_excludes_resumes_without_sending_a_row_again(
    server: LocalServer, client: Client, tmp_path: Path
) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text(
        "".join(json.dumps({"id": n, "text": "t"}) + "\n" for n in range(4))
    )
    ledger = tmp_path / "rows.ledger"
    options: Dict[str, Any] = {"ledger": ledger, "key": "id", "exclude": ["id"]}
    list(run_batch(path, "demo/echo", client=client, limit=2, **options))
    results = list(run_batch(path, "demo/echo", client=client, **options))
    assert sorted(r["key"] for r in results) == ["0", "1", "2", "3"]
    assert sent_inputs(server) == [{"text": "t"}] * 4


# The command line ------------------------------------------------------------


def test_the_command_line_excludes_and_types(
    server: LocalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("id,n,tags\na,1,[1]\n")
    out = tmp_path / "out.jsonl"
    code = main(
        ["batch", "demo/echo", "--input", str(path), "--output", str(out),
         "--key", "id", "--exclude", "id", "--type", "n=int", "--type", "tags=json",
         "--base-url", server.base_url]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert json.loads(out.read_text())["output"] == {"n": 1, "tags": [1]}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--type", "n"], "--type n: give FIELD=TYPE"),
        (["--type", "n=integer"], "TYPE one of str, int, float, bool, json"),
        (["--type", "n=int", "--type", "n=float"], "two types"),
        (["--type", "m=int"], "has no column 'm' to type"),
        (["--exclude", "m"], "has no column 'm' to exclude"),
        (["--exclude", "id", "--exclude", "n"], "leaves nothing to send"),
        (["--exclude", "n", "--type", "n=int"], "both excluded and typed"),
    ],
)
def test_command_line_mistakes_are_usage_errors_that_send_nothing(
    server: LocalServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: List[str],
    message: str,
) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("id,n\na,1\n")
    code = main(
        ["batch", "demo/echo", "--input", str(path), "--output",
         str(tmp_path / "out.jsonl"), *extra, "--base-url", server.base_url]
    )  # fmt: skip
    assert code == 2
    assert message in capsys.readouterr().err
    assert server.requests == []
    assert not (tmp_path / "out.jsonl.ledger").exists()


def test_the_command_line_refuses_types_for_jsonl(
    server: LocalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"n": "1"}\n')
    code = main(
        ["batch", "demo/echo", "--input", str(path), "--output",
         str(tmp_path / "out.jsonl"), "--type", "n=int", "--base-url", server.base_url]
    )  # fmt: skip
    assert code == 2
    assert "CSV" in capsys.readouterr().err
    assert server.requests == []


def test_map_batch_excludes_in_every_partition_even_one_without_the_field(
    server: LocalServer, client: Client
) -> None:
    dask_bag = pytest.importorskip("dask.bag")
    from predictions.dask import map_batch

    rows = [{"text": "a", "secret": 1}, {"text": "b", "secret": 2}, {"text": "c"}]
    bag = dask_bag.from_sequence(rows, npartitions=2)  # the second has no secret
    results = map_batch(bag, "demo/echo", client=client, exclude=["secret"])
    done = results.compute(scheduler="synchronous")
    assert sorted(r["output"]["text"] for r in done) == ["a", "b", "c"]
    assert all("secret" not in i for i in sent_inputs(server))
