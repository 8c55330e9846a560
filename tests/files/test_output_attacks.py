"""Output files against a hostile or broken file host, and a hostile directory.

Each test is a defect found by attacking issue 20's downloads: it failed
before its fix.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from predictions import Client, DownloadError
from predictions.files._downloads import save_files
from predictions.files._fetch import Stopped
from predictions.files._names import safe_name, unique_names
from tests.conftest import FakeClock
from tests.files.conftest import BODY, cancel_once_asked, succeeded
from tests.files.file_host import FileHost, Hosted
from tests.files.raw_host import RawHost, answer, chunked

# ---- the host's headers ----------------------------------------------------


def test_a_compressed_answer_is_not_measured_by_its_compressed_length(
    client: Client, host: FileHost, tmp_path: Path
) -> None:
    """A host that compresses against `Accept-Encoding: identity` sends the
    compressed length: the decoded file was refused as cut short, every time."""
    url = host.add("g.bin", Hosted(BODY, script=["gzip"] * 5))
    client.predictions.download(succeeded(url), tmp_path)
    assert (tmp_path / "g.bin").read_bytes() == BODY


def test_a_compressed_body_cut_short_is_no_file(client: Client, tmp_path: Path) -> None:
    """The compressed bytes are what `Content-Length` counts: a gzip stream
    cut short decodes without an error (urllib3 1.x checks no length)."""
    packed = gzip.compress(os.urandom(200_000))
    headers = {"Content-Length": len(packed), "Content-Encoding": "gzip"}
    with RawHost(
        [lambda h: answer(200, headers, packed[: len(packed) // 2])] * 3
    ) as raw, pytest.raises(DownloadError, match=r"cut off|ended at byte"):
        client.predictions.download(succeeded(raw.origin + "/f.bin"), tmp_path)
    assert os.listdir(tmp_path) == []


def test_a_content_md5_of_the_compressed_body_is_not_checked_on_the_file(
    client: Client, tmp_path: Path
) -> None:
    """Content-MD5 digests the body as sent, content-coding included (RFC
    1864, RFC 2616 14.15): the file, decoded, was refused as not matching."""
    packed = gzip.compress(BODY)
    headers = {
        "Content-Length": len(packed),
        "Content-Encoding": "gzip",
        "Content-MD5": base64.b64encode(hashlib.md5(packed).digest()).decode(),
    }
    with RawHost([lambda h: answer(200, headers, packed)]) as raw:
        client.predictions.download(succeeded(raw.origin + "/f.bin"), tmp_path)
    assert (tmp_path / "f.bin").read_bytes() == BODY


def test_a_body_in_an_encoding_nobody_decodes_is_still_measured_by_its_length(
    client: Client, tmp_path: Path
) -> None:
    """Bytes passed on as they came (an encoding urllib3 does not know) are
    what `Content-Length` counts: one cut short is no file (urllib3 1.x
    does not check the length itself)."""
    headers = {"Content-Length": len(BODY), "Content-Encoding": "x-unknown"}
    with RawHost(
        [lambda h: answer(200, headers, BODY[:1000])] * 3
    ) as raw, pytest.raises(DownloadError, match=r"cut off|ended at byte 1000"):
        client.predictions.download(succeeded(raw.origin + "/f.bin"), tmp_path)
    assert os.listdir(tmp_path) == []


def test_a_body_in_an_encoding_nobody_decodes_resumes_from_the_byte_reached(
    client: Client, tmp_path: Path
) -> None:
    """Its bytes are saved as they were sent, so a range of them follows on
    as any other's: it was read as a compressed body, its ETag dropped, and
    fetched again from its start (from a host that had answered the range:
    a mix of two starts)."""
    sent = {"ETag": '"e"', "Content-Encoding": "x-unknown"}
    rest = f"bytes 1000-{len(BODY) - 1}/{len(BODY)}"
    answers = [
        lambda h: answer(200, {**sent, "Content-Length": len(BODY)}, BODY[:1000]),
        lambda h: answer(
            206,
            {**sent, "Content-Length": len(BODY) - 1000, "Content-Range": rest},
            BODY[1000:],
        ),
    ]
    with RawHost(answers) as raw:
        client.predictions.download(succeeded(raw.origin + "/f.bin"), tmp_path)
        assert raw.seen[1]["range"] == "bytes=1000-"
        assert raw.seen[1]["if-range"] == '"e"'
    assert (tmp_path / "f.bin").read_bytes() == BODY


def test_a_length_of_other_digits_than_ascii_ones_is_no_length(
    client: Client, tmp_path: Path
) -> None:
    """ "\u00b2" (a latin-1 byte) is a digit to str.isdigit, not to int():
    the file failed with "invalid literal for int()"; http.client, which
    takes no such length, reads the body to its end."""
    with RawHost([lambda h: answer(200, {"Content-Length": "\u00b2"}, b"hi")]) as raw:
        client.predictions.download(succeeded(raw.origin + "/f.bin"), tmp_path)
    assert (tmp_path / "f.bin").read_bytes() == b"hi"


@pytest.mark.parametrize("status", [400, 416, 503])
def test_an_answer_refused_before_its_body_is_closed_at_once(
    client: Client, host: FileHost, status: int
) -> None:
    """Each refusal closed its answer or not by itself: a 416 (an expiry
    too) kept its connection open, and its DownloadError gave no status."""
    url = host.add("f.bin", Hosted(BODY, script=[f"status:{status}"] * 3))
    (file,) = client.predictions.output_files(succeeded(url))
    with pytest.raises(DownloadError) as raised:
        file.read()
    assert raised.value.status_code == status
    response = getattr(raised.value.__cause__, "response", None)
    assert response is not None
    assert response.raw.closed


def test_a_206_of_another_total_than_the_first_answer_is_not_mixed_in(
    client: Client, tmp_path: Path
) -> None:
    """Same ETag, but the resumed range says the file has another size: it is
    another version; its bytes were appended to the first's and saved whole."""
    new = BODY[::-1] + b"more"
    first = {"Content-Length": len(BODY), "ETag": '"e"'}
    answers = [
        lambda h: answer(200, first, BODY[:1000]),
        lambda h: answer(
            206,
            {
                "Content-Length": len(new) - 1000,
                "ETag": '"e"',
                "Content-Range": f"bytes 1000-{len(new) - 1}/{len(new)}",
            },
            new[1000:],
        ),
        lambda h: answer(200, {"Content-Length": len(new), "ETag": '"e"'}, new),
    ]
    with RawHost(answers) as raw:
        client.predictions.download(succeeded(raw.origin + "/f.bin"), tmp_path)
        assert "range" not in raw.seen[-1]  # fetched again from its start
    assert (tmp_path / "f.bin").read_bytes() == new


def emptied() -> RawHost:
    """A host whose file is cut at byte 1000, then is empty (no ETag: no range)."""
    return RawHost(
        [
            lambda h: answer(200, {"Content-Length": 2000}, b"x" * 1000),
            lambda h: answer(200, {"Content-Length": 0}),
        ]
    )


def test_a_file_started_over_and_empty_is_read_empty(client: Client) -> None:
    """No byte came after the start again, so nothing told read() to drop
    the 1000 bytes of the first start: they were returned as the file."""
    with emptied() as raw:
        (file,) = client.predictions.output_files(succeeded(raw.origin + "/f.bin"))
        assert file.read() == b""


def test_a_file_opened_then_started_over_empty_is_no_file(client: Client) -> None:
    """The 1000 bytes read before the break ended with no error, as if whole."""
    with emptied() as raw:
        (file,) = client.predictions.output_files(succeeded(raw.origin + "/f.bin"))
        with file.open() as stream, pytest.raises(DownloadError, match="open it again"):
            stream.read()


def test_a_file_saved_then_started_over_empty_is_saved_empty(
    client: Client, tmp_path: Path
) -> None:
    with emptied() as raw:
        client.predictions.download(succeeded(raw.origin + "/f.bin"), tmp_path)
    assert (tmp_path / "f.bin").read_bytes() == b""


@pytest.mark.parametrize(
    "made",
    [
        answer(302, {"Content-Length": 0}),  # a redirect with nowhere to go
        answer(300, {"Content-Length": 0}),
        answer(304, {}),  # nothing was asked conditionally
        answer(204, {}),
    ],
    ids=["302-no-location", "300", "304", "204"],
)
def test_an_answer_that_is_not_the_file_is_not_saved_as_an_empty_one(
    client: Client, tmp_path: Path, made: bytes
) -> None:
    with RawHost([lambda h: made] * 3) as raw, pytest.raises(
        DownloadError, match="not the file"
    ) as raised:
        client.predictions.download(succeeded(raw.origin + "/f.bin"), tmp_path)
    assert raised.value.status_code == int(made[9:12])
    assert os.listdir(tmp_path) == []


def test_a_body_that_goes_past_its_announced_size_is_not_read_past_it(
    client: Client,
) -> None:
    """A `Content-Length` beside a chunked body (http.client reads the chunks):
    the host's bytes were taken up to `max_download_bytes` (20 GiB)."""

    def liar(headers: Dict[str, str]) -> Iterator[bytes]:
        yield answer(200, {"Content-Length": 1000, "Transfer-Encoding": "chunked"})
        yield from chunked([b"y" * 65536] * 80)

    got = bytearray()

    def read_all() -> None:
        with file.open() as stream:
            for block in iter(lambda: stream.read(4096), b""):
                got.extend(block)

    with RawHost([liar] * 3) as raw:
        (file,) = client.predictions.output_files(succeeded(raw.origin + "/f.bin"))
        with pytest.raises(DownloadError, match="past the 1000 bytes"):
            read_all()
    assert len(got) <= 1000


# ---- stopping ----------------------------------------------------------------


class StoppingClock(FakeClock):
    """A fake clock whose first sleep (a retry's backoff) sets `stop`."""

    def __init__(self, stop: threading.Event) -> None:
        super().__init__()
        self.stop = stop

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        self.stop.set()


def test_a_stopped_download_sends_no_further_attempt(host: FileHost) -> None:
    """A cancel during a retry's backoff: the next attempt went out anyway."""
    stop = threading.Event()
    url = host.add("f.bin", Hosted(BODY, script=["status:503"]))
    with Client("http://127.0.0.1:9/v1", clock=StoppingClock(stop)) as c:
        (file,) = c.predictions.output_files(succeeded(url))
        with pytest.raises(Stopped):
            for _ in file.fetch(stop=stop).chunks():
                pass
    assert len(host.headers_of("f.bin")) == 1


def test_a_cancelled_async_save_leaves_no_file_behind(
    host: FileHost, tmp_path: Path
) -> None:
    """The save went on in its thread and named the file after the cancel."""
    url = host.add("slow.bin", Hosted(BODY, script=["trickle:1.5"]))
    with Client("http://127.0.0.1:9/v1", timeout=(2, 0.5)) as c:
        (file,) = c.predictions.output_files(succeeded(url))
        cancel_once_asked(host, lambda: file.async_save(str(tmp_path)))
    # closed: the pool's thread was waited for
    assert os.listdir(tmp_path) == []


# ---- the output's shape ----------------------------------------------------


def nested(depth: int, leaf: Any) -> Any:
    text = "[" * depth + json.dumps(leaf) + "]" * depth
    return json.loads(text)  # as deep as the client decodes from the API


@pytest.mark.parametrize("leaf", ["data:text/plain,hi", "no file"])
def test_a_deep_output_is_copied_not_a_recursion_error(
    client: Client, tmp_path: Path, leaf: str
) -> None:
    output = nested(600, leaf)
    copy = client.predictions.download(succeeded(output), tmp_path)
    inner = copy
    for _ in range(600):
        assert isinstance(inner, list)
        assert len(inner) == 1
        inner = inner[0]
    if leaf.startswith("data:"):
        assert inner == str(tmp_path / "output.txt")
        assert (tmp_path / "output.txt").read_bytes() == b"hi"
    else:
        assert inner == leaf


def buried(leaf: Any, depth: int) -> Any:
    for _ in range(depth):
        leaf = [leaf]
    return leaf


def test_files_are_found_in_an_output_of_any_depth(
    client: Client, tmp_path: Path
) -> None:
    """Python 3.12 decodes JSON 1,500 deep, 3.13 10,000 deep: the search for
    files recursed, and an output deeper than about 990 raised ValueError
    from output_files and download (and a batch's row kept its URLs, saving
    no file)."""
    output = buried(["data:,hi", {"x": "https://x.test/a.png"}], 3000)
    found = client.predictions.output_files(succeeded(output))
    assert [file.path for file in found] == [(0,) * 3000 + (0,), (0,) * 3000 + (1, "x")]
    assert [file.url for file in found] == ["data:,hi", "https://x.test/a.png"]
    copy = client.predictions.download(succeeded(buried("data:,hi", 3000)), tmp_path)
    for _ in range(3000):  # walked: == on lists this deep recurses
        (copy,) = copy
    assert copy == str(tmp_path / "output.txt")
    assert (tmp_path / "output.txt").read_bytes() == b"hi"


@pytest.mark.parametrize(
    "text",
    ["Data: 42", "data: yes, in short", "DATA:\nrow1,row2", "data:no type,here"],
)
def test_text_that_starts_with_data_colon_is_not_a_file(
    client: Client, tmp_path: Path, text: str
) -> None:
    """A model's prose ("Data: ...") was taken for a data: URL: download
    refused it (no comma), or saved it and put a path in place of the text."""
    prediction = succeeded({"text": text, "file": "data:;base64,aGk="})
    (file,) = client.predictions.output_files(prediction)
    assert file.path == ("file",)
    output = client.predictions.download(prediction, tmp_path)
    assert output == {"text": text, "file": str(tmp_path / "output.txt")}


@pytest.mark.parametrize(
    "url",
    [
        "data:,hi",
        "data:;base64,aGk=",
        "DATA:Text/Plain;Charset=UTF-8,hi",
        'data:text/plain;name="a b.txt";base64,aGk=',
        "data:image/svg+xml;utf8,<svg/>",  # a parameter with no value, as CSS has
    ],
)
def test_data_urls_of_every_form_are_still_files(client: Client, url: str) -> None:
    (file,) = client.predictions.output_files(succeeded([url]))
    assert file.read() in (b"hi", b"<svg/>")


# ---- the directory -----------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "symlink") or os.name != "posix", reason="POSIX")
def test_a_part_planted_as_a_symlink_is_not_written_through(
    client: Client, host: FileHost, tmp_path: Path
) -> None:
    """A batch's fixed `.NAME.part` (and its `.etag`) were opened by name: a
    link there made the download overwrite the file it points to, and the
    saved file became that link."""
    into, outside = tmp_path / "into", tmp_path / "outside"
    into.mkdir()
    outside.mkdir()
    victims: List[Path] = []
    for name in ("a", "b", "c"):
        victim = outside / name
        victim.write_text("precious")
        victims.append(victim)
    os.symlink(victims[0], into / ".f.bin.part")
    os.symlink(victims[1], into / ".f.bin.part.etag")
    os.symlink(victims[2], into / ".g.bin.part.etag")  # read as the ETag
    files = [
        client.predictions.output_files(succeeded(host.add(name, Hosted(BODY))))[0]
        for name in ("f.bin", "g.bin")
    ]
    (into / ".g.bin.part").write_bytes(BODY[:1000])
    api = client.predictions._api  # type: ignore[attr-defined]
    targets = [str(into / "f.bin"), str(into / "g.bin")]
    save_files(api, files, targets, overwrite=True, parts=True)
    for victim in victims:
        assert victim.read_bytes() == b"precious"
    for target in targets:
        assert not os.path.islink(target)
        assert Path(target).read_bytes() == BODY
    assert "precious" not in repr(host.seen)  # no file's content sent as If-Range
    assert sorted(os.listdir(into)) == ["f.bin", "g.bin"]


# ---- names -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("\u202egnp.exe", "_gnp.exe"),  # shown as "exe.png"
        ("a\u2066b\u2069.txt", "a_b_.txt"),
        ("a\x9b31mb.txt", "a_31mb.txt"),  # a C1 control: the 8-bit CSI
        ("nul .txt", "_nul .txt"),  # Windows: still the device
    ],
)
def test_names_hold_no_bidi_or_c1_control_and_no_spaced_device(
    raw: str, expected: str
) -> None:
    assert safe_name(raw) == expected


def test_names_that_differ_only_in_unicode_form_are_made_distinct() -> None:
    """macOS takes é (one code point) and e + ◌́ for one name."""
    assert unique_names(["\u00e9.png", "e\u0301.png", "\u00c9.png"]) == [
        "\u00e9.png",
        "e\u0301-2.png",
        "\u00c9-3.png",
    ]
