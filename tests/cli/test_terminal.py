"""`predictions run` in a pseudo-terminal: the progress line as a person sees it."""

from __future__ import annotations

import importlib.util
import os
import pathlib
import pty
import re
import select
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("predictions_progress") is None,
    reason="the progress plugin is not installed (make test installs it)",
)


def render(raw: str) -> str:
    """What a terminal shows: apply line erases and cursor-up moves, like a screen."""
    screen: list = [""]
    row = 0
    for token in re.split(r"(\x1b\[\d*[A-Za-z]|\r|\n)", raw):
        if token == "\n":
            row += 1
            if row == len(screen):
                screen.append("")
        elif token == "\r":
            continue
        elif token.startswith("\x1b["):
            number = int(token[2:-1] or 1)
            kind = token[-1]
            if kind == "F":
                row = max(0, row - number)
            elif kind == "J":
                del screen[row + 1 :]
                screen[row] = ""
            elif kind == "K":
                screen[row] = ""
        elif token:
            screen[row] += token
    return "\n".join(line for line in screen if line)


def run_in_a_terminal(*argv: str, code: int = 0, ctrl_c_after: str = "") -> str:
    """Run the command line in a pseudo-terminal; what it wrote there.

    `ctrl_c_after`: send it SIGINT (Ctrl-C) once this has been written.
    """
    parent, child = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREDICTIONS_")}
    env["COLUMNS"] = "120"
    process = subprocess.Popen(
        [sys.executable, "-m", "predictions", *argv],
        stdin=child, stdout=child, stderr=child, env=env, close_fds=True,
    )  # fmt: skip
    os.close(child)
    raw = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([parent], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(parent, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            raw += chunk
            if ctrl_c_after and ctrl_c_after.encode() in raw:
                ctrl_c_after = ""
                process.send_signal(signal.SIGINT)
        elif process.poll() is not None:
            break
    os.close(parent)
    assert process.wait(timeout=30) == code
    return raw.decode("utf-8", "replace")


def test_the_progress_line_redraws_in_place() -> None:
    text = run_in_a_terminal(
        "run", "--local", "demo/sleep", "-i", "seconds=1", "--poll-interval", "0.1",
        "--prefer-wait", "0",
    )  # fmt: skip
    assert "\x1b[2K" in text, "the line is cleared and redrawn"
    assert text.count("demo/sleep:1 started") >= 3, "redrawn at each poll"
    screen = render(text)
    lines = screen.splitlines()
    # On the screen, the live line was replaced by the final one: no "started" left.
    assert not any("demo/sleep:1 started" in line for line in lines), screen
    assert any("demo/sleep:1 succeeded (waited" in line for line in lines), screen
    assert '"slept": 1' in screen


def test_a_streamed_output_is_not_garbled_by_the_progress_line() -> None:
    """The output streams on its own line; the final status line comes after."""
    text = run_in_a_terminal(
        "run", "--local", "demo/stream-words", "-i", "text=one two three four",
        "-i", "delay=0.05", "--stream",
    )  # fmt: skip
    lines = render(text).splitlines()
    assert "one two three four" in lines, lines
    final = [
        i for i, line in enumerate(lines) if "demo/stream-words:1 succeeded" in line
    ]
    assert final, lines
    assert final[0] > lines.index("one two three four"), "the status comes after"


def test_the_elapsed_time_moves_between_polls_and_the_end_is_one_line() -> None:
    text = run_in_a_terminal(
        "run", "--local", "demo/sleep", "-i", "seconds=1.5", "--poll-interval", "2",
    )  # fmt: skip
    # The early polls come 0.1, 0.3 and 0.7 s apart, the fifth 2 s after the
    # fourth (at 1.1 s): no poll in those 2 s, yet the live line shows the time
    # going on (every 0.5 s). The create's answer may say pending, starting or
    # started: the server's runner takes the prediction on concurrently.
    shown = set(
        re.findall(r"demo/sleep:1 (?:pending|start\w+) (\d+\.\d)s, 4 polls\b", text)
    )
    assert len(shown) >= 3, text
    lines = render(text).splitlines()
    finals = [line for line in lines if "demo/sleep:1 succeeded" in line]
    assert len(finals) == 1, lines
    assert re.search(r"succeeded \(waited [\d.]+s, \d+ polls?[,)]", finals[0])
    assert "1 polls" not in text


def test_waiting_on_an_id_that_does_not_exist_prints_the_error_once() -> None:
    from predictions.testing import LocalServer

    with LocalServer() as server:
        text = run_in_a_terminal(
            "wait", "no-such-id", "--base-url", server.base_url, code=3
        )
    # "404 Not Found", not "404": the request id is random hex and may hold 404.
    assert text.count("404 Not Found") == 1, text
    assert "NotFoundError" not in text


def test_a_large_download_shows_a_line_that_never_shares_one_with_the_output(
    tmp_path: pathlib.Path,
) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(6 * 1024 * 1024))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    text = run_in_a_terminal(
        "run", "--local", "demo/echo", "-i", f"file=@{big}", "-o", str(out_dir),
        "--poll-interval", "0.1",
    )  # fmt: skip
    # Drawn from the first chunk on (the file is announced over 4 MiB), however
    # little of it has come (a chunk is what the socket had: KiB or MiB).
    progress = r"saving \S+: [\d.]+ (KiB|MiB) of 6\.0 MiB, [\d.]+ (KiB|MiB)/s"
    assert re.search(progress, text), text
    lines = render(text).splitlines()
    finals = [i for i, line in enumerate(lines) if line.startswith("saved 1 file")]
    assert len(finals) == 1, lines
    assert re.fullmatch(
        r"saved 1 file \(6\.0 MiB\) in [\d.]+ s, [\d.]+ MiB/s", lines[finals[0]]
    )
    assert not any(line.startswith("saving ") for line in lines), "replaced by the end"
    # The output comes after, on lines of its own, with the local path.
    (saved,) = list(out_dir.iterdir())
    assert lines[finals[0] + 1 :] == ["{", f'  "file": "{saved}"', "}"], lines
    assert saved.read_bytes() == big.read_bytes()


def test_ctrl_c_during_a_stream_starts_its_lines_on_a_fresh_line() -> None:
    """The streamed words, the progress line and what Ctrl-C says: a line each."""
    text = run_in_a_terminal(
        "run", "--local", "demo/stream-words", "-i", "text=one two three four five",
        "-i", "delay=0.5", "--stream", code=130, ctrl_c_after="two",
    )  # fmt: skip
    lines = render(text).splitlines()
    assert lines[0].startswith("one two"), lines
    assert "interrupted" not in lines[0]
    assert re.search(r"demo/stream-words:1 interrupted \(Ctrl-C\)", lines[1]), lines
    assert re.fullmatch(
        r"predictions: interrupted: prediction [\w-]+ stopped with the local server",
        lines[2],
    ), lines
    assert "Traceback" not in text
