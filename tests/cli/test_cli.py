"""The command line, in-process and as a subprocess, against the local server."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any, List

import pytest

from predictions.cli import main
from predictions.testing import LocalServer
from tests.cli.run import cli

COMMANDS = ["run", "get", "list", "wait", "cancel", "plugins"]


@pytest.fixture
def base(predictions_server: LocalServer) -> List[str]:
    return ["--base-url", predictions_server.base_url]


def test_run_waits_and_prints_a_json_output_as_json(
    capsys: pytest.CaptureFixture[str], base: List[str]
) -> None:
    code, out, err = cli(capsys, "run", "demo/echo", "-i", "text=hello world", *base)
    assert code == 0, err
    assert json.loads(out) == {"text": "hello world"}


def test_run_prints_text_output_as_text(
    capsys: pytest.CaptureFixture[str],
    base: List[str],
    predictions_server: LocalServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    predictions_server.register("me/shout", lambda data: data["text"].upper())
    code, out, _ = cli(
        capsys, "run", "me/shout", "-i", "text=hi", "--poll-interval", "0.02", *base
    )
    assert (code, out) == (0, "HI\n")


def test_input_values_are_json_when_they_parse_else_text(
    capsys: pytest.CaptureFixture[str], base: List[str], tmp_path: Any
) -> None:
    essay = tmp_path / "essay.txt"
    essay.write_text("words, words\n")
    code, out, err = cli(
        capsys, "run", "demo/echo", *base, "--poll-interval", "0.02",
        "-i", "n=3", "-i", "flag=true", "-i", "name=ada", "-i", 'obj={"a": [1]}',
        "-i", "empty=", "-i", "eq=a=b", "-i", f"essay=<{essay}",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out) == {
        "n": 3,
        "flag": True,
        "name": "ada",
        "obj": {"a": [1]},
        "empty": "",
        "eq": "a=b",
        "essay": "words, words\n",
    }


def test_input_json_from_a_file_and_from_stdin(
    capsys: pytest.CaptureFixture[str],
    base: List[str],
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "input.json"
    path.write_text('{"text": "a b a"}')
    code, out, _ = cli(
        capsys, "run", "demo/word-count", "--input-json", str(path), *base
    )
    assert (code, json.loads(out)) == (0, {"a": 2, "b": 1})
    monkeypatch.setattr(sys, "stdin", io.StringIO('{"text": "x"}'))
    code, out, _ = cli(
        capsys, "run", "demo/word-count", "--input-json", "-", "-i", "text=y z", *base
    )
    assert (code, json.loads(out)) == (0, {"y": 1, "z": 1})


def test_run_no_wait_and_json(
    capsys: pytest.CaptureFixture[str], base: List[str], predictions_server: LocalServer
) -> None:
    code, out, _ = cli(
        capsys, "run", "demo/sleep", "-i", "seconds=5", "--no-wait", *base
    )
    created = json.loads(out)
    assert code == 0
    assert created["status"] in ("pending", "started")
    code, out, _ = cli(capsys, "run", "demo/echo", "-i", "x=1", "--json", *base)
    whole = json.loads(out)
    assert (code, whole["status"], whole["output"]) == (0, "succeeded", {"x": 1})
    request = [r for r in predictions_server.requests if r.method == "POST"][-1]
    assert "validate-input" not in request.headers


def test_run_with_webhook_and_validation(
    capsys: pytest.CaptureFixture[str],
    base: List[str],
    predictions_server: LocalServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOOK_SECRET", "s3")
    hook = [
        "--webhook",
        "http://127.0.0.1:9/hook",
        "--webhook-secret-env",
        "HOOK_SECRET",
    ]
    args = ["-i", "text=x", "--validate-input", "--no-wait", *hook, *base]
    code, _, err = cli(capsys, "run", "demo/word-count", *args)
    assert code == 0, err
    request = [r for r in predictions_server.requests if r.method == "POST"][-1]
    assert request.headers["validate-input"] == "true"
    assert json.loads(request.body)["webhook"] == {
        "url": "http://127.0.0.1:9/hook",
        "secret": "s3",
    }
    code, _, err = cli(
        capsys, "run", "demo/word-count", "-i", "nope=1", "--validate-input", *base
    )
    assert code == 3
    assert "text" in err


def test_a_failed_prediction_exits_1(
    capsys: pytest.CaptureFixture[str], base: List[str]
) -> None:
    code, out, err = cli(
        capsys,
        "run",
        "demo/fail",
        "-i",
        "message=nope",
        "--poll-interval",
        "0.02",
        *base,
    )
    assert code == 1
    assert out == ""
    assert "failed: nope" in err


def test_a_timed_out_wait_exits_4(
    capsys: pytest.CaptureFixture[str], base: List[str]
) -> None:
    code, _, err = cli(
        capsys, "run", "demo/sleep", "-i", "seconds=30", "--timeout", "0.2",
        "--poll-interval", "0.05", *base,
    )  # fmt: skip
    assert code == 4
    assert "did not finish within 0.2 s" in err


def test_api_and_network_errors_exit_3_with_one_line(
    capsys: pytest.CaptureFixture[str], base: List[str]
) -> None:
    code, out, err = cli(capsys, "get", "no-such-id", *base)
    assert (code, out) == (3, "")
    assert err.count("\n") == 1
    assert "404" in err
    assert "Traceback" not in err
    code, _, err = cli(capsys, "get", "x", "--base-url", "http://127.0.0.1:9/v1")
    assert code == 3
    assert err.count("\n") == 1
    assert "could not connect" in err
    code, _, err = cli(capsys, "get", "no-such-id", "--debug", *base)
    assert code == 3
    assert "Traceback" in err


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["run", "demo/echo/x"], "owner/name"),
        (["run", "demo"], "owner/name"),
        (["run", "demo/echo", "-i", "novalue"], "KEY=VALUE"),
        (["run", "demo/echo", "-i", "=x"], "KEY=VALUE"),
        (["run", "demo/echo", "-i", "text=</no/such/file"], "cannot read"),
        (["run", "demo/echo", "-i", "image=@/no/such/file"], "cannot upload"),
        (["run", "demo/echo", "--input-json", "/no/such.json"], "cannot read"),
        (["run", "demo/echo", "--timeout", "-1"], "--timeout"),
        (["run", "demo/echo", "--timeout", "0"], "--timeout"),
        (["run", "demo/echo", "--poll-interval", "-0.5"], "--poll-interval"),
        (["run", "demo/echo", "--poll-interval", "soon"], "--poll-interval"),
        (["run", "demo/echo", "--webhook-secret-env", "X"], "--webhook"),
        (
            [
                "run",
                "demo/echo",
                "--webhook",
                "http://h",
                "--webhook-secret-env",
                "UNSET_X",
            ],
            "UNSET_X",
        ),
        (["list", "--page-size", "0"], "--page-size"),
        (["get", ".."], "prediction id"),
        (["frobnicate"], "invalid choice"),
        ([], "required"),
    ],
)
def test_usage_errors_exit_2_with_one_line_and_send_nothing(
    capsys: pytest.CaptureFixture[str],
    base: List[str],
    predictions_server: LocalServer,
    argv: List[str],
    words: str,
) -> None:
    full = [*argv, *base] if argv and argv[0] in COMMANDS else argv
    try:
        code = main(full)
    except SystemExit as exc:  # argparse's own errors
        code = int(exc.code or 0)
    _, err = capsys.readouterr()
    assert code == 2
    assert words in err
    assert err.strip().count("\n") == 0, err
    assert predictions_server.requests == []


def test_invalid_input_json(
    capsys: pytest.CaptureFixture[str],
    base: List[str],
    predictions_server: LocalServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("{not json"))
    code, _, err = cli(capsys, "run", "demo/echo", "--input-json", "-", *base)
    assert code == 2
    assert "not valid JSON" in err
    monkeypatch.setattr(sys, "stdin", io.StringIO("[1, 2]"))
    code, _, err = cli(
        capsys, "run", "demo/echo", "--input-json", "-", "-i", "a=1", *base
    )
    assert code == 2
    assert predictions_server.requests == []


def test_get_list_wait_and_cancel(
    capsys: pytest.CaptureFixture[str], base: List[str]
) -> None:
    ids = []
    for seconds in (30, 0):
        _, out, _ = cli(
            capsys, "run", "demo/sleep", "-i", f"seconds={seconds}", "--no-wait", *base
        )
        ids.append(json.loads(out)["id"])
    code, out, _ = cli(capsys, "get", ids[0], *base)
    assert code == 0
    assert out.splitlines()[0].split() == [
        "ID",
        "MODEL",
        "STATUS",
        "CREATED",
        "SETUP",
        "EXECUTION",
    ]
    assert ids[0] in out
    assert "demo/sleep:1" in out
    code, out, _ = cli(capsys, "wait", ids[1], "--poll-interval", "0.02", *base)
    assert (code, json.loads(out)) == (0, {"slept": 0})
    code, out, err = cli(capsys, "cancel", ids[0], *base)
    # The hosted API cancels asynchronously (it answers null): the status
    # shown is the one of that moment; the wait below shows the cancel.
    assert code == 0
    assert out.split() in ([ids[0], "started"], [ids[0], "cancelled"])
    if "started" in out:
        assert "cancel asked for" in err
    code, out, _ = cli(capsys, "list", *base)
    lines = out.splitlines()
    assert code == 0
    assert lines[1].startswith(ids[1]), "newest first"
    assert len(lines) == 3
    # The hosted API's smallest page is 5: six predictions make two pages.
    for i in range(4):
        _, out, _ = cli(capsys, "run", "demo/echo", "-i", f"n={i}", "--no-wait", *base)
        ids.append(json.loads(out)["id"])
    code, out, _ = cli(capsys, "list", "--all", "--page-size", "5", "--json", *base)
    assert [json.loads(line)["id"] for line in out.splitlines()] == ids[::-1]
    code, out, err = cli(capsys, "wait", ids[0], *base)
    assert code == 1
    assert "cancelled" in err
    code, out, _ = cli(capsys, "list", "--status", "cancelled", "--json", *base)
    assert [json.loads(line)["id"] for line in out.splitlines()] == [ids[0]]
    code, out, _ = cli(
        capsys, "list", "--status", "cancelled", "--status", "succeeded", *base
    )
    assert len(out.splitlines()) == 1 + 6


def test_plugins_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "plugins")
    assert code == 0
    if "progress" in out:
        assert "predictions-progress" in out
        assert "predictions_on_poll" in out


@pytest.mark.parametrize("command", COMMANDS)
def test_help_on_every_command_with_examples(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: predictions {command}" in out
    assert "example" in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from predictions import __version__

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"predictions {__version__}"


# As a subprocess


def subprocess_env() -> dict:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREDICTIONS_", "WRIFTAI_"))
    }


def test_run_local_on_a_fresh_machine() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "predictions",
            "run",
            "--local",
            "demo/echo",
            "-i",
            "text=hi",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=subprocess_env(),
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"text": "hi"}


def test_ctrl_c_exits_130_and_asks_the_server_to_cancel(
    predictions_server: LocalServer, base: List[str]
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "predictions", "run", "demo/sleep", "-i", "seconds=60",
         "--poll-interval", "0.05", "--cancel-on-interrupt", *base],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**subprocess_env(), "PREDICTIONS_PLUGINS": ""},
    )  # fmt: skip
    for _ in range(400):
        if predictions_server.predictions:
            break
        time.sleep(0.025)
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    # The hosted API cancels asynchronously: the status follows a moment later.
    prediction_id = predictions_server.predictions[0]["id"]
    assert predictions_server.wait(prediction_id)["status"] == "cancelled"


def test_run_uploads_a_file_given_with_an_at(
    capsys: pytest.CaptureFixture[str], base: List[str], tmp_path: Any
) -> None:
    """`-i image=@photo.png` uploads the file's bytes (issue 13)."""
    data = bytes(range(256)) * 1000
    photo = tmp_path / "photo.png"
    photo.write_bytes(data)
    code, out, err = cli(capsys, "run", "demo/file-info", "-i", f"file=@{photo}", *base)
    assert code == 0, err
    assert json.loads(out) == {
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def test_run_stream_prints_the_output_as_it_comes(
    capsys: pytest.CaptureFixture[str], base: List[str]
) -> None:
    code, out, err = cli(
        capsys, "run", "demo/stream-words", "-i", "text=one two three", "--stream",
        *base,
    )  # fmt: skip
    assert code == 0, err
    assert out == "one two three\n"
    code, out, err = cli(
        capsys, "run", "demo/stream-words", "-i", "text=a b", "--stream", "--json",
        *base,
    )  # fmt: skip
    kinds = [json.loads(line)["event"] for line in out.splitlines()]
    assert kinds[0] == "init"
    assert kinds[-1] == "done"
    assert kinds.count("output") == 2


@pytest.mark.parametrize(
    ("model", "field", "printed"),
    [
        ("demo/echo", "text=hi", '{\n  "text": "hi"\n}\n'),
        ("demo/word-count", "text=one two one", '{\n  "one": 2,\n  "two": 1\n}\n'),
    ],
)
def test_run_stream_prints_a_whole_output_that_came_in_no_piece(
    capsys: pytest.CaptureFixture[str],
    base: List[str],
    model: str,
    field: str,
    printed: str,
) -> None:
    """It printed an empty line and exited 0: the output was lost (issue 19)."""
    code, out, err = cli(capsys, "run", model, "-i", field, "--stream", *base)
    assert code == 0, err
    code, whole, err = cli(capsys, "run", model, "-i", field, *base)
    assert code == 0, err
    assert out == whole == printed
