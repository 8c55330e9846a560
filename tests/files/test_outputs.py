"""Output files (issue 20): found, named, saved whole, bounded, sent no credential."""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from predictions import Client, DownloadError, OutputExpiredError, OutputFile
from predictions.files._names import safe_name, unique_names
from tests.files.conftest import BODY, cancel_once_asked, succeeded
from tests.files.file_host import FileHost, Hosted


def files_in(directory: Path) -> list:
    return sorted(os.listdir(directory))


# ---- finding ---------------------------------------------------------------


def test_output_files_are_every_url_at_any_depth_in_document_order(
    client: Client,
) -> None:
    output = {
        "a": "https://x.test/one.png?X-Sig=1",
        "b": [1, "not a url", {"c": "data:text/plain,hi"}, "http://y.test/two"],
        "d": "/relative/path.png",
        "e": "ftp://x.test/three",
    }
    found = client.predictions.output_files(succeeded(output))
    assert [(f.path, f.url) for f in found] == [
        (("a",), output["a"]),
        (("b", 2, "c"), "data:text/plain,hi"),
        (("b", 3), "http://y.test/two"),
    ]
    assert [f.name for f in found] == ["one.png", "output.txt", "two"]
    assert found[1].mime_type == "text/plain"
    assert "X-Sig" not in repr(found[0])  # a signature is a credential of sorts


def test_an_output_that_is_a_url_itself_has_the_empty_path(client: Client) -> None:
    (file,) = client.predictions.output_files(succeeded("https://x.test/a.wav"))
    assert file.path == ()
    assert file.name == "a.wav"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd", "_.._etc_passwd"),
        ("/abs/name.png", "_abs_name.png"),
        ("a\x00b\x1fc.png", "a_b_c.png"),
        ("..", "output"),
        ("", "output"),
        ("CON.txt", "_CON.txt"),
        ("nul", "_nul"),
        ('a<b>c:"d|e?f*.png', "a_b_c__d_e_f_.png"),
        (" .hidden. ", "hidden"),
    ],
)
def test_a_name_never_leaves_its_directory(raw: str, expected: str) -> None:
    assert safe_name(raw) == expected


def test_a_long_name_is_cut_to_fit_with_its_extension() -> None:
    name = safe_name("é" * 300 + ".png")
    assert name.endswith(".png")
    assert len(name.encode()) <= 240
    assert name.encode().decode() == name  # cut at a character, not inside one


def test_a_name_without_extension_takes_its_types() -> None:
    assert safe_name("output", "image/png") == "output.png"
    assert safe_name("photo.jpeg", "image/png") == "photo.jpeg"
    assert unique_names(["a.png", "A.png", "a.png", "b"]) == [
        "a.png",
        "A-2.png",
        "a-3.png",
        "b",
    ]


def test_names_from_urls_are_decoded_then_made_safe(client: Client) -> None:
    (file,) = client.predictions.output_files(
        succeeded("https://x.test/d/..%2F..%2Fevil%00.sh")
    )
    assert file.name == "_.._evil_.sh"


# ---- downloading -----------------------------------------------------------


def test_download_saves_every_file_and_returns_a_copy_with_local_paths(
    client: Client, host: FileHost, tmp_path: Path
) -> None:
    first = host.add("a.bin", Hosted(BODY))
    second = host.add("a.bin2", Hosted(b"second", content_type="text/plain"))
    same_name = host.add("x/a.bin", Hosted(b"third"))
    data = "data:application/json;base64," + base64.b64encode(b"{}").decode()
    prediction = succeeded({"files": [first, second, same_name], "meta": data, "n": 1})
    before = repr(prediction)
    output = client.predictions.download(prediction, tmp_path)
    assert repr(prediction) == before  # the prediction is not changed
    assert output == {
        "files": [str(tmp_path / n) for n in ("a.bin", "a.bin2", "a-2.bin")],
        "meta": str(tmp_path / "output.json"),
        "n": 1,
    }
    assert (tmp_path / "a.bin").read_bytes() == BODY
    assert (tmp_path / "a-2.bin").read_bytes() == b"third"
    assert (tmp_path / "output.json").read_bytes() == b"{}"
    assert files_in(tmp_path) == ["a-2.bin", "a.bin", "a.bin2", "output.json"]


def test_no_credential_of_the_client_goes_to_a_file_url_nor_its_redirects(
    client: Client, host: FileHost, tmp_path: Path
) -> None:
    url = host.add("final.bin", Hosted(BODY))
    with FileHost() as other:  # another origin, redirecting to the first
        start = other.add("start.bin", Hosted(b"", script=[f"redirect:{url}"]))
        client.predictions.download(succeeded(start), tmp_path)
        seen = other.headers_of("start.bin") + host.headers_of("final.bin")
    assert (tmp_path / "start.bin").read_bytes() == BODY
    for headers in seen:
        assert "authorization" not in headers
        assert "cookie" not in headers
        assert "x-team" not in headers
        assert "secret" not in repr(headers)


def test_a_redirect_to_another_scheme_or_too_many_are_refused(
    client: Client, host: FileHost, tmp_path: Path
) -> None:
    file_url = host.add("f.bin", Hosted(b"", script=["redirect:file:///etc/passwd"]))
    with pytest.raises(DownloadError, match="only http"):
        client.predictions.download(succeeded(file_url), tmp_path)
    loop = host.add("loop.bin", Hosted(b""))
    host.files["/files/loop.bin"].script = [f"redirect:{loop}"] * 10
    with pytest.raises(DownloadError, match="more than 5"):
        client.predictions.download(succeeded(loop), tmp_path)
    assert files_in(tmp_path) == []


def test_a_cut_body_resumes_from_the_byte_reached_with_the_same_etag(
    client: Client, host: FileHost, tmp_path: Path
) -> None:
    url = host.add("big.bin", Hosted(BODY, script=["cut"]))
    client.predictions.download(succeeded(url), tmp_path)
    assert (tmp_path / "big.bin").read_bytes() == BODY
    first, second = host.headers_of("big.bin")
    assert "range" not in first
    assert second["range"] == f"bytes={len(BODY) // 2}-"
    assert second["if-range"] == '"' + hashlib.md5(BODY).hexdigest() + '"'


def test_a_host_that_ignores_the_range_restarts_the_file(
    client: Client, host: FileHost, tmp_path: Path
) -> None:
    url = host.add("big.bin", Hosted(BODY, script=["cut", "norange"]))
    client.predictions.download(succeeded(url), tmp_path)
    assert (tmp_path / "big.bin").read_bytes() == BODY


def test_a_file_that_changed_between_attempts_is_fetched_anew_whole(
    client: Client, host: FileHost, tmp_path: Path
) -> None:
    url = host.add("big.bin", Hosted(BODY, script=["cut", "change"]))
    client.predictions.download(succeeded(url), tmp_path)
    assert (tmp_path / "big.bin").read_bytes() == BODY[::-1]  # one version, whole


def test_a_stalled_download_ends_and_resumes(
    client: Client, host: FileHost, tmp_path: Path
) -> None:
    url = host.add("big.bin", Hosted(BODY, script=["stall:3"]))
    client.predictions.download(succeeded(url), tmp_path)  # read timeout 0.5 s
    assert (tmp_path / "big.bin").read_bytes() == BODY
    assert len(host.headers_of("big.bin")) == 2


def test_a_slow_but_moving_download_is_not_cut_by_the_total_timeout(
    host: FileHost, tmp_path: Path
) -> None:
    url = host.add("slow.bin", Hosted(BODY, script=["trickle:1.6"]))
    with Client("http://127.0.0.1:9/v1", timeout=(2, 0.5), total_timeout=0.5) as c:
        c.predictions.download(succeeded(url), tmp_path)
    assert (tmp_path / "slow.bin").read_bytes() == BODY
    assert len(host.headers_of("slow.bin")) == 1


@pytest.mark.parametrize("status", [403, 404, 410])
def test_an_expired_url_raises_at_once_naming_the_file_and_prediction(
    client: Client, host: FileHost, tmp_path: Path, status: int
) -> None:
    url = host.add("gone.png", Hosted(BODY, script=[f"status:{status}"]))
    with pytest.raises(OutputExpiredError) as raised:
        client.predictions.download(succeeded({"image": url}), tmp_path)
    error = raised.value
    assert error.status_code == status
    assert error.prediction_id == "p-1"
    assert error.path == ("image",)
    assert "gone.png" in str(error)
    assert "secret-signature" not in str(error)
    assert "sig=" not in error.url
    assert len(host.headers_of("gone.png")) == 1  # not retried
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("step", ["status:503", "status:429", "cut", "status:500"])
def test_transient_failures_are_retried(
    client: Client, host: FileHost, tmp_path: Path, step: str
) -> None:
    url = host.add("f.bin", Hosted(BODY, script=[step, step]))
    client.predictions.download(succeeded(url), tmp_path)
    assert (tmp_path / "f.bin").read_bytes() == BODY


def test_retries_run_out_with_a_download_error_and_no_partial_file(
    client: Client, host: FileHost, tmp_path: Path
) -> None:
    url = host.add("f.bin", Hosted(BODY, etag="", script=["cut"] * 5))
    with pytest.raises(DownloadError, match=r"cut off|ended at byte"):
        client.predictions.download(succeeded(url), tmp_path)
    assert len(host.headers_of("f.bin")) == 3  # max_retries=2
    assert files_in(tmp_path) == []


def test_a_file_larger_than_the_limit_is_refused_from_its_length(
    host: FileHost, tmp_path: Path
) -> None:
    url = host.add("f.bin", Hosted(BODY))
    with Client("http://127.0.0.1:9/v1", max_download_bytes=1000) as c, pytest.raises(
        DownloadError, match="max_download_bytes=1000"
    ):
        c.predictions.download(succeeded(url), tmp_path)
    assert files_in(tmp_path) == []


def test_a_file_without_length_is_refused_as_it_passes_the_limit(
    host: FileHost, tmp_path: Path
) -> None:
    url = host.add("f.bin", Hosted(BODY, script=["chunked"]))
    with Client(
        "http://127.0.0.1:9/v1", max_download_bytes=200_000
    ) as c, pytest.raises(DownloadError, match="max_download_bytes"):
        c.predictions.download(succeeded(url), tmp_path)
    assert files_in(tmp_path) == []


def test_a_compressed_bomb_sent_against_identity_is_bounded(
    host: FileHost, tmp_path: Path
) -> None:
    bomb = bytes(50 * 1024 * 1024)
    url = host.add("f.bin", Hosted(bomb, etag="", script=["gzip"]))
    assert len(gzip.compress(bomb)) < 100_000
    with Client(
        "http://127.0.0.1:9/v1", max_download_bytes=1_000_000
    ) as c, pytest.raises(DownloadError, match="max_download_bytes"):
        c.predictions.download(succeeded(url), tmp_path)


def test_a_data_url_is_decoded_locally_and_bounded(
    client: Client, tmp_path: Path
) -> None:
    encoded = "data:text/plain,hello%20world"
    (file,) = client.predictions.output_files(succeeded(encoded))
    assert file.read() == b"hello world"
    big = "data:;base64," + base64.b64encode(bytes(3000)).decode()
    with Client("http://127.0.0.1:9/v1", max_download_bytes=1000) as c:
        (file,) = c.predictions.output_files(succeeded(big))
        with pytest.raises(DownloadError, match="max_download_bytes"):
            file.read()
    (bad,) = client.predictions.output_files(succeeded("data:;base64,!!!"))
    with pytest.raises(DownloadError, match="base64"):
        bad.read()


def test_a_checksum_that_does_not_match_keeps_no_file(
    client: Client, host: FileHost, tmp_path: Path
) -> None:
    md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    url = host.add("g.bin", Hosted(BODY, content_md5=md5))
    with pytest.raises(DownloadError, match="checksum"):
        client.predictions.download(succeeded(url), tmp_path)
    assert files_in(tmp_path) == []
    right = base64.b64encode(hashlib.md5(BODY).digest()).decode()
    url = host.add("h.bin", Hosted(BODY, content_md5=right, script=["cut"]))
    client.predictions.download(succeeded(url), tmp_path)  # checked across a resume
    assert (tmp_path / "h.bin").read_bytes() == BODY


def test_an_etag_is_opaque_not_taken_for_an_md5(
    client: Client, host: FileHost, tmp_path: Path
) -> None:
    url = host.add("f.bin", Hosted(BODY, etag='"' + "0" * 32 + '"'))
    client.predictions.download(succeeded(url), tmp_path)
    assert (tmp_path / "f.bin").read_bytes() == BODY


# ---- bad input: refused before anything is fetched -------------------------


def test_an_existing_file_is_not_overwritten_unless_asked(
    client: Client, host: FileHost, tmp_path: Path
) -> None:
    url = host.add("f.bin", Hosted(BODY))
    (tmp_path / "f.bin").write_bytes(b"mine")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        client.predictions.download(succeeded(url), tmp_path)
    assert host.seen == []
    assert (tmp_path / "f.bin").read_bytes() == b"mine"
    client.predictions.download(succeeded(url), tmp_path, overwrite=True)
    assert (tmp_path / "f.bin").read_bytes() == BODY


def test_a_directory_that_is_not_one_is_refused_before_any_download(
    client: Client, host: FileHost, tmp_path: Path
) -> None:
    url = host.add("f.bin", Hosted(BODY))
    with pytest.raises(FileNotFoundError):
        client.predictions.download(succeeded(url), tmp_path / "missing")
    (tmp_path / "plain").write_text("x")
    with pytest.raises(NotADirectoryError):
        client.predictions.download(succeeded(url), tmp_path / "plain")
    assert host.seen == []


def test_a_directory_that_cannot_be_written_is_refused(
    client: Client, host: FileHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = host.add("f.bin", Hosted(BODY))
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # root writes anywhere
    with pytest.raises(PermissionError, match="cannot be written"):
        client.predictions.download(succeeded(url), tmp_path)
    assert host.seen == []


def test_an_unfinished_prediction_is_refused_with_its_status(
    client: Client, host: FileHost, tmp_path: Path
) -> None:
    url = host.add("f.bin", Hosted(BODY))
    running = {"id": "p", "status": "processing", "output": [url]}
    with pytest.raises(ValueError, match="processing"):
        client.predictions.download(running, tmp_path)
    assert host.seen == []


def test_an_output_with_no_files_gives_an_unchanged_copy(
    client: Client, tmp_path: Path
) -> None:
    output = {"text": "no files here", "list": [1, 2]}
    prediction = succeeded(output)
    copy = client.predictions.download(prediction, tmp_path)
    assert copy == output
    assert copy is not output
    assert client.predictions.output_files(prediction) == []
    assert files_in(tmp_path) == []


def test_download_refuses_what_is_not_a_prediction(
    client: Client, tmp_path: Path
) -> None:
    with pytest.raises(TypeError, match="prediction"):
        client.predictions.download("p-1", tmp_path)  # type: ignore[arg-type]


# ---- one file: read, open, save, and the async twins -----------------------


def test_read_open_and_save_one_file(
    client: Client, host: FileHost, tmp_path: Path
) -> None:
    url = host.add("pic", Hosted(BODY, content_type="image/png"))
    (file,) = client.predictions.output_files(succeeded(url))
    assert isinstance(file, OutputFile)
    assert file.mime_type is None
    assert file.read() == BODY
    assert file.mime_type == "image/png"
    assert file.name == "pic.png"
    with file.open() as stream:
        assert stream.read(10) == BODY[:10]
        assert stream.read() == BODY[10:]
    assert file.save(str(tmp_path)) == str(tmp_path / "pic.png")
    assert file.save(str(tmp_path / "x.bin")) == str(tmp_path / "x.bin")
    with pytest.raises(FileExistsError):
        file.save(str(tmp_path / "x.bin"))
    assert (tmp_path / "x.bin").read_bytes() == BODY


def test_read_is_bounded(client: Client, host: FileHost) -> None:
    url = host.add("f.bin", Hosted(BODY))
    (file,) = client.predictions.output_files(succeeded(url))
    with pytest.raises(DownloadError, match="larger than"):
        file.read(max_bytes=1000)


def test_the_async_twins(client: Client, host: FileHost, tmp_path: Path) -> None:
    url = host.add("f.bin", Hosted(BODY))

    async def main() -> Any:
        (file,) = client.predictions.output_files(succeeded(url))
        assert await file.async_read() == BODY
        saved = await file.async_save(str(tmp_path / "one.bin"))
        output = await client.predictions.async_download(succeeded([url]), tmp_path)
        return saved, output

    saved, output = asyncio.run(main())
    assert saved == str(tmp_path / "one.bin")
    assert output == [str(tmp_path / "f.bin")]
    assert (tmp_path / "f.bin").read_bytes() == BODY


def test_several_files_go_at_once_and_a_failure_keeps_only_whole_files(
    client: Client, host: FileHost, tmp_path: Path
) -> None:
    urls = [host.add(f"f{i}.bin", Hosted(BODY)) for i in range(6)]
    urls.append(host.add("gone.bin", Hosted(BODY, script=["status:410"])))
    with pytest.raises(OutputExpiredError):
        client.predictions.download(succeeded(urls), tmp_path, max_parallel=3)
    for name in files_in(tmp_path):
        assert (tmp_path / name).read_bytes() == BODY  # none partial
    assert not [n for n in files_in(tmp_path) if n.endswith(".part")]


def test_cancelling_an_async_download_stops_it_and_leaves_no_partial_file(
    client: Client, host: FileHost, tmp_path: Path
) -> None:
    url = host.add("slow.bin", Hosted(BODY, script=["trickle:3"]))
    cancel_once_asked(
        host, lambda: client.predictions.async_download(succeeded(url), tmp_path)
    )
    client.close()  # waits for the pool's thread: the download has stopped
    assert files_in(tmp_path) == []


def test_read_and_open_after_a_restart_never_mix_two_starts(
    client: Client, host: FileHost
) -> None:
    url = host.add("f.bin", Hosted(BODY, script=["cut", "norange", "cut", "change"]))
    (file,) = client.predictions.output_files(succeeded(url))
    assert file.read() == BODY  # the half read first is dropped
    with file.open() as stream, pytest.raises(DownloadError, match="open it again"):
        stream.read()


def test_a_206_to_a_request_without_a_range_is_taken_as_the_whole(
    client: Client, host: FileHost, tmp_path: Path
) -> None:
    url = host.add("f.bin", Hosted(BODY, script=["always206"]))
    client.predictions.download(succeeded(url), tmp_path)
    assert (tmp_path / "f.bin").read_bytes() == BODY
    assert len(host.headers_of("f.bin")) == 1


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_a_saved_file_has_the_mode_any_new_file_gets(
    client: Client, host: FileHost, tmp_path: Path
) -> None:
    """mkstemp made the files 0600: unreadable to the user's group, unlike any other."""
    url = host.add("f.bin", Hosted(b"x"))
    old = os.umask(0o022)
    try:
        client.predictions.download(succeeded(url), tmp_path)
    finally:
        os.umask(old)
    assert (tmp_path / "f.bin").stat().st_mode & 0o777 == 0o644
