"""Reading a batch's rows: JSONL and CSV files, and rows from Python."""

from __future__ import annotations

from pathlib import Path

import pytest

from predictions.batch import _rows as _batch_rows
from predictions.batch._rows import InputError, InputFile, input_sha, python_rows


def test_jsonl_lines_keep_their_numbers_through_blank_lines_bom_and_crlf(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}\r\n\r\n   \n{"a": 2}\r\n{"a": 3}')
    file = InputFile(path)
    rows = list(file)
    assert [(r.key, r.line, r.input) for r in rows] == [
        ("1", 1, {"a": 1}),
        ("4", 4, {"a": 2}),
        ("5", 5, {"a": 3}),
    ]
    assert [r.seq for r in rows] == [0, 1, 2]
    assert file.total == 3
    assert rows[0].sha == input_sha({"a": 1})


def test_a_line_too_long_fails_alone_and_is_never_held_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_batch_rows, "MAX_ROW_BYTES", 64)
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n{"a": "' + "x" * 500 + '"}\n{"a": 3}\n')
    rows = list(InputFile(path))
    assert rows[0].input == {"a": 1}
    assert rows[1].error == "line 2: longer than 64 bytes"
    assert rows[2].input == {"a": 3}
    assert rows[2].line == 3


def test_a_file_that_is_not_utf8_is_refused_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": "\xff"}\n')
    with pytest.raises(InputError, match=r"not UTF-8 text \(near line 2\)"):
        InputFile(path)


def test_a_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        InputFile(tmp_path / "nope.jsonl")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "it is empty"),
        ("a,,b\n1,2,3\n", "a column has no name"),
        ("a,a\n1,2\n", "two columns have the same name"),
        ("1,hello\n2,world\n", "is line 1 data?"),
    ],
)
def test_a_csv_with_no_usable_header_is_refused(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "rows.csv"
    path.write_text(text)
    with pytest.raises(InputError, match="has no header") as caught:
        InputFile(path)
    assert problem in str(caught.value)


def test_a_csv_key_column_must_exist(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("id,text\n1,a\n")
    with pytest.raises(InputError, match="no column 'key'"):
        InputFile(path, key_field="key")


def test_a_row_without_its_key_fails_alone(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"id": "a"}\n{"other": 1}\n{"id": true}\n{"id": 7}\n')
    rows = list(InputFile(path, key_field="id"))
    assert [r.key for r in rows] == ["a", "line 2", "line 3", "7"]
    assert rows[1].error is not None
    assert "the key field 'id' is missing" in rows[1].error
    assert rows[2].error is not None
    assert rows[3].error is None


def test_python_rows_are_numbered_and_a_non_mapping_fails_alone() -> None:
    rows = list(python_rows([{"a": 1}, [1, 2], {"a": 3}], None))
    assert [r.key for r in rows] == ["1", "2", "3"]
    assert rows[1].error == "row 2: not a mapping but list"
    assert rows[2].input == {"a": 3}


@pytest.mark.parametrize("inputs", [b"rows", {"a": 1}, 42])
def test_python_rows_refuse_what_is_not_rows_at_once(inputs: object) -> None:
    with pytest.raises(TypeError, match="iterable of input mappings"):
        python_rows(inputs, None)  # type: ignore[arg-type]


# CSV records past the row limit (issue 19)


def test_a_long_csv_line_fails_alone_and_is_never_held_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """400 MiB on one CSV line cost 780 MB (JSONL: 14 MB): here 24 MiB over a
    1 MiB limit, and the memory in use never comes near the line's size."""
    import tracemalloc

    monkeypatch.setattr(_batch_rows, "MAX_ROW_BYTES", 1024 * 1024)
    path = tmp_path / "rows.csv"
    with open(path, "w", encoding="utf-8") as out:
        out.write("text,n\nshort,1\n")
        for _ in range(24):
            out.write("y" * (1024 * 1024))
        out.write(",2\nlast,3\n")
    tracemalloc.start()
    try:
        file = InputFile(path)
        rows = list(file)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert file.total == 3
    assert [r.input for r in rows] == [
        {"text": "short", "n": "1"},
        None,
        {"text": "last", "n": "3"},
    ]
    assert rows[1].error == f"line 3: longer than {1024 * 1024} bytes"
    assert rows[2].line == 4
    assert peak < 8 * 1024 * 1024, peak


def test_a_quoted_field_past_the_limit_is_one_invalid_row_and_nothing_after_is_misread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a quoted multi-line field passed the limit, the reader restarted
    mid-field: 7 predictions were created for 2 real rows."""
    monkeypatch.setattr(_batch_rows, "MAX_ROW_BYTES", 64)
    field = "\n".join(f"line {i}, with a comma" for i in range(20))
    path = tmp_path / "rows.csv"
    path.write_text(f'id,text\n1,"{field}"\n2,"two ""quoted"" words"\n', "utf-8")
    file = InputFile(path)
    rows = list(file)
    assert file.total == 2
    assert [(r.line, r.input, r.error is None) for r in rows] == [
        (2, None, False),
        (22, {"id": "2", "text": 'two "quoted" words'}, True),
    ]


@pytest.mark.parametrize("cut", [1, 2, 3, 5, 8, 13])
def test_csv_records_split_anywhere_between_reads_end_where_csv_says(cut: int) -> None:
    """Quotes are followed across reads (a `""` cut in two, a quote after a
    comma, a quote inside an unquoted field), as csv itself reads them."""
    import csv
    import io

    text = 'a,b\n"x ""y"",\nz",1\nplain"quote,2\n"",3\n"q\r\n",4\n'

    class Pieces(io.StringIO):
        def readline(self, size: int = -1) -> str:  # type: ignore[override]
            return super().readline(cut)

    records = [r for _, r in _batch_rows._records(Pieces(text, newline=""))]
    assert None not in records
    expected = list(csv.reader(io.StringIO(text, newline="")))
    assert [next(csv.reader([r])) for r in records if r] == expected
