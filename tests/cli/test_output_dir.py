"""`run -o DIR` and `get ID -o DIR`: the output's files saved from the shell."""

from __future__ import annotations

import io
import json
import os
import pathlib
import stat
import sys
from typing import Any, Dict, List, Optional, Tuple

import pytest

from predictions.cli._exit import EXIT_FILES
from predictions.cli._files import DownloadLine
from predictions.testing import LocalServer
from tests.cli.run import cli

WAIT = ["--poll-interval", "0.02"]
TEXT_URL = "data:text/plain;base64,aGVsbG8="  # "hello"


@pytest.fixture
def base(predictions_server: LocalServer) -> List[str]:
    return ["--base-url", predictions_server.base_url]


@pytest.fixture
def files_model(predictions_server: LocalServer) -> str:
    """`me/files`: an output of a `data:` URL and the uploaded file's own URL."""
    predictions_server.register(
        "me/files",
        lambda data: {"text": TEXT_URL, "copies": [data["file"]], "n": 1},
    )
    return "me/files"


@pytest.fixture
def upload(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "photo.bin"
    path.write_bytes(os.urandom(300_000))
    return path


def sent(server: LocalServer, method: str) -> List[Any]:
    return [r for r in server.requests if r.method == method]


def test_run_saves_the_files_and_prints_the_output_with_their_paths(
    capsys: pytest.CaptureFixture[str],
    base: List[str],
    files_model: str,
    upload: pathlib.Path,
    tmp_path: pathlib.Path,
) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, out, err = cli(
        capsys, "run", files_model, "-i", f"file=@{upload}", "-o", str(out_dir),
        *WAIT, *base,
    )  # fmt: skip
    assert code == 0, err
    output = json.loads(out)
    assert output["n"] == 1
    text, copy = pathlib.Path(output["text"]), pathlib.Path(output["copies"][0])
    assert text.parent == copy.parent == out_dir
    assert text.read_bytes() == b"hello"
    assert copy.read_bytes() == upload.read_bytes()
    assert sorted(p.name for p in out_dir.iterdir()) == sorted([text.name, copy.name])
    assert err == "", "no progress line where stderr is not a terminal"


def test_run_json_prints_the_prediction_with_the_local_paths(
    capsys: pytest.CaptureFixture[str],
    base: List[str],
    files_model: str,
    upload: pathlib.Path,
    tmp_path: pathlib.Path,
) -> None:
    code, out, err = cli(
        capsys, "run", files_model, "-i", f"file=@{upload}", "--output-dir",
        str(tmp_path), "--json", *WAIT, *base,
    )  # fmt: skip
    assert code == 0, err
    prediction = json.loads(out)
    assert prediction["status"] == "succeeded"
    assert prediction["output"]["text"] == str(tmp_path / "output.txt")
    assert prediction["input"]["file"].startswith("http")


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda tmp: str(tmp / "missing"), "no such directory (make it first"),
        (lambda tmp: str(_a_file(tmp)), "not a directory"),
    ],
)
def test_a_bad_directory_is_refused_before_anything_is_sent(
    capsys: pytest.CaptureFixture[str],
    base: List[str],
    predictions_server: LocalServer,
    tmp_path: pathlib.Path,
    make: Any,
    words: str,
) -> None:
    directory = make(tmp_path)
    code, _, err = cli(capsys, "run", "demo/echo", "-i", "a=1", "-o", directory, *base)
    assert code == 2
    assert words in err
    assert directory in err
    code, _, err = cli(capsys, "get", "some-id", "-o", directory, *base)
    assert code == 2
    assert predictions_server.requests == [], "nothing sent, nothing paid for"


def _a_file(tmp: pathlib.Path) -> pathlib.Path:
    path = tmp / "a-file"
    path.write_text("")
    return path


@pytest.mark.skipif(
    sys.platform == "win32" or os.geteuid() == 0, reason="root writes anywhere"
)
def test_a_directory_that_cannot_be_written_is_refused(
    capsys: pytest.CaptureFixture[str],
    base: List[str],
    predictions_server: LocalServer,
    tmp_path: pathlib.Path,
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        code, _, err = cli(capsys, "run", "demo/echo", "-o", str(locked), *base)
    finally:
        locked.chmod(stat.S_IRWXU)
    assert code == 2
    assert "cannot be written" in err
    assert predictions_server.requests == []


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["run", "demo/echo", "--no-wait"], "leave out --no-wait"),
        (
            ["run", "demo/stream-words", "-i", "text=a", "--stream"],
            "leave out --stream",
        ),
        (["run", "demo/echo", "--overwrite"], "--overwrite goes with --output-dir"),
        (["get", "some-id", "--overwrite"], "--overwrite goes with --output-dir"),
    ],
)
def test_options_that_do_not_go_with_output_dir_are_usage_errors(
    capsys: pytest.CaptureFixture[str],
    base: List[str],
    predictions_server: LocalServer,
    tmp_path: pathlib.Path,
    argv: List[str],
    words: str,
) -> None:
    extra = [] if "--overwrite" in argv else ["-o", str(tmp_path)]
    code, _, err = cli(capsys, *argv, *extra, *base)
    assert code == 2
    assert words in err
    assert predictions_server.requests == []


def test_a_file_already_there_exits_5_and_is_kept_until_overwrite(
    capsys: pytest.CaptureFixture[str],
    base: List[str],
    predictions_server: LocalServer,
    files_model: str,
    upload: pathlib.Path,
    tmp_path: pathlib.Path,
) -> None:
    mine = tmp_path / "output.txt"
    mine.write_text("mine")
    code, out, err = cli(
        capsys, "run", files_model, "-i", f"file=@{upload}", "-o", str(tmp_path),
        *WAIT, *base,
    )  # fmt: skip
    assert code == EXIT_FILES == 5
    assert out == ""
    assert f"{mine}: a file is already there (--overwrite replaces it)" in err
    assert mine.read_text() == "mine"
    assert err.count("\n") == 1, err
    # The message says how to have the files without paying again.
    command = err.split("succeeded: ", 1)[1].rsplit(" saves its files", 1)[0]
    assert command.startswith("predictions get ")
    assert f"-o {tmp_path} --overwrite" in command
    creates = len(sent(predictions_server, "POST"))
    code, out, err = cli(capsys, *command.split()[1:])
    assert code == 0, err
    assert mine.read_text() == "hello"
    assert "output:" in out
    assert str(mine) in out
    assert len(sent(predictions_server, "POST")) == creates, "nothing created again"


def test_an_expired_url_exits_5_and_says_which_command_tries_again(
    capsys: pytest.CaptureFixture[str],
    base: List[str],
    predictions_server: LocalServer,
    tmp_path: pathlib.Path,
) -> None:
    gone = f"{predictions_server.storage_url}/files/expired-token?sig=secret"
    predictions_server.register("me/gone", lambda data: {"image": gone})
    code, out, err = cli(capsys, "run", "me/gone", "-o", str(tmp_path), *WAIT, *base)
    assert code == 5
    assert out == ""
    assert "can no longer be had" in err
    assert "answered 404" in err
    assert "secret" not in err, "the URL's signature is not shown"
    assert "predictions get " in err
    assert list(tmp_path.iterdir()) == [], "no partial file left"


def test_a_download_that_fails_exits_5_and_leaves_no_partial_file(
    capsys: pytest.CaptureFixture[str],
    base: List[str],
    predictions_server: LocalServer,
    tmp_path: pathlib.Path,
) -> None:
    predictions_server.register(
        "me/bad", lambda data: {"bad": "data:text/plain;base64,!!not base64"}
    )
    code, out, err = cli(capsys, "run", "me/bad", "-o", str(tmp_path), *WAIT, *base)
    assert code == 5
    assert out == ""
    assert "is not valid base64" in err
    assert list(tmp_path.iterdir()) == []


def test_get_saves_the_files_of_a_finished_prediction_and_refuses_one_running(
    capsys: pytest.CaptureFixture[str],
    base: List[str],
    predictions_server: LocalServer,
    tmp_path: pathlib.Path,
) -> None:
    predictions_server.register("me/text", lambda data: TEXT_URL)
    code, out, err = cli(capsys, "run", "me/text", "--no-wait", *base)
    finished = json.loads(out)["id"]
    predictions_server.wait(finished)
    code, out, err = cli(capsys, "get", finished, "-o", str(tmp_path), *base)
    assert code == 0, err
    assert out.splitlines()[-1] == str(tmp_path / "output.txt")
    code, out, err = cli(capsys, "get", finished, "-o", str(tmp_path), "--json", *base)
    assert code == 5, "the file is there now"
    code, out, err = cli(
        capsys, "get", finished, "-o", str(tmp_path), "--json", "--overwrite", *base
    )
    assert code == 0, err
    assert json.loads(out)["output"] == str(tmp_path / "output.txt")

    code, out, _ = cli(
        capsys, "run", "demo/sleep", "-i", "seconds=30", "--no-wait", *base
    )
    running = json.loads(out)["id"]
    code, out, err = cli(capsys, "get", running, "-o", str(tmp_path), *base)
    assert code == 5
    assert out == ""
    assert f"prediction {running} has not finished" in err
    assert f"predictions wait {running}" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["output.txt"]


def test_get_of_a_failed_prediction_with_output_dir_exits_1(
    capsys: pytest.CaptureFixture[str], base: List[str], tmp_path: pathlib.Path
) -> None:
    code, out, _ = cli(capsys, "run", "demo/fail", "--no-wait", *base)
    failed = json.loads(out)["id"]
    code, out, err = cli(capsys, "wait", failed, *WAIT, *base)
    assert code == 1
    code, out, err = cli(capsys, "get", failed, "-o", str(tmp_path), *base)
    assert code == 1
    assert "error: demo/fail always fails" in out
    assert "has no files to save" in err


def test_an_output_with_no_file_is_printed_and_says_so(
    capsys: pytest.CaptureFixture[str], base: List[str], tmp_path: pathlib.Path
) -> None:
    code, out, err = cli(
        capsys, "run", "demo/echo", "-i", "text=hi", "-o", str(tmp_path), *WAIT, *base
    )
    assert code == 0
    assert json.loads(out) == {"text": "hi"}
    assert "the output holds no file" in err
    assert list(tmp_path.iterdir()) == []


def test_run_local_with_output_dir_says_the_server_is_gone_on_failure(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    (tmp_path / "output.txt").write_text("mine")
    code, _, err = cli(
        capsys, "run", "--local", "demo/echo", "-i", f"f={TEXT_URL}",
        "-o", str(tmp_path), *WAIT,
    )  # fmt: skip
    assert code == 5
    assert "the local server stopped" in err
    assert "predictions get" not in err


# ---- the progress line ------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


class FakeFile:
    def __init__(self, name: str, path: Tuple[Any, ...]) -> None:
        self.name = name
        self.path = path


MIB = 1024 * 1024


def line_of(count: int = 1) -> Tuple[DownloadLine, Terminal, FakeClock, List[Any]]:
    stream, clock = Terminal(), FakeClock()
    files: List[Any] = [FakeFile(f"f{i}.png", (i,)) for i in range(count)]
    return DownloadLine(stream, clock, files), stream, clock, files  # type: ignore[arg-type]


def test_a_small_quick_download_draws_nothing() -> None:
    line, stream, clock, (file,) = line_of()
    line(file, 1000, 2000)
    clock.now += 0.5
    line(file, 2000, 2000)
    line.end(saved=True)
    assert stream.getvalue() == ""


def test_a_large_file_is_shown_at_once_and_ends_on_a_line_of_its_own() -> None:
    line, stream, clock, (file,) = line_of()
    line(file, MIB, 200 * MIB)
    assert stream.getvalue() == "\r\x1b[2Ksaving f0.png: 1.0 MiB of 200.0 MiB, -"
    clock.now += 0.05
    line(file, 2 * MIB, 200 * MIB)
    assert stream.getvalue().count("\x1b[2K") == 1, "redrawn at most every 0.1 s"
    clock.now += 0.05
    line(file, 5 * MIB, 200 * MIB)
    assert stream.getvalue().endswith("saving f0.png: 5.0 MiB of 200.0 MiB, 50.0 MiB/s")
    clock.now += 3.9
    line(file, 200 * MIB, 200 * MIB)
    line.end(saved=True)
    assert stream.getvalue().endswith(
        "\r\x1b[2Ksaved 1 file (200.0 MiB) in 4.0 s, 50.0 MiB/s\n"
    )


def test_a_slow_download_is_shown_after_a_second_and_erased_on_failure() -> None:
    line, stream, clock, files = line_of(2)
    line(files[0], 1000, None)
    clock.now += 1.0
    line(files[1], 2000, 4000)
    assert stream.getvalue() == "\r\x1b[2Ksaving 2 files (0 done): 3 KiB, 3 KiB/s"
    line.end(saved=False)
    assert stream.getvalue().endswith("\r\x1b[2K"), "erased: the error starts clean"
    assert not stream.getvalue().endswith("\n")


def test_the_line_is_cut_to_the_terminal_s_width(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "30")
    line, stream, _clock, (file,) = line_of()
    line(file, 10 * MIB, None)
    assert stream.getvalue() == "\r\x1b[2K" + "saving f0.png: 10.0 MiB, -"[:29]


def test_no_line_where_stderr_is_not_a_terminal(
    capsys: pytest.CaptureFixture[str],
    base: List[str],
    predictions_server: LocalServer,
    tmp_path: pathlib.Path,
) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(6 * MIB))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, out, err = cli(
        capsys, "run", "demo/echo", "-i", f"f=@{big}", "-o", str(out_dir), *WAIT, *base
    )
    assert code == 0, err
    assert err == ""
    saved: Dict[str, Optional[str]] = json.loads(out)
    assert pathlib.Path(str(saved["f"])).read_bytes() == big.read_bytes()


def test_the_command_that_tries_again_shows_no_password_of_the_base_url(
    capsys: pytest.CaptureFixture[str],
    predictions_server: LocalServer,
    files_model: str,
    upload: pathlib.Path,
    tmp_path: pathlib.Path,
) -> None:
    """`user:password@` in `--base-url` is "shown nowhere": the hint printed it."""
    (tmp_path / "output.txt").write_text("mine")
    with_password = predictions_server.base_url.replace("://", "://me:pw-secret@")
    code, _, err = cli(
        capsys, "run", files_model, "-i", f"file=@{upload}", "-o", str(tmp_path),
        *WAIT, "--base-url", with_password,
    )  # fmt: skip
    assert code == EXIT_FILES
    assert "predictions get " in err
    assert "pw-secret" not in err
    assert "--base-url 'http://***@127.0.0.1:" in err
