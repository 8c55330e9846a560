"""Files in an input (issue 13): File's checks, the upload's requests, the walk."""

from __future__ import annotations

import asyncio
import copy
import io
import json
import os
import pathlib
import threading
from typing import Any, Dict, List, Tuple

import pytest
import responses

import predictions
from predictions import (
    AuthenticationError,
    InternalServerError,
    InvalidResponseError,
    PredictionsError,
)
from predictions._http.api import API
from predictions.files import (
    File,
    UploadError,
    async_prepare_input,
    async_prepare_params,
    async_upload,
    prepare_input,
    prepare_params,
    upload,
)
from predictions.files import _file as files_module
from predictions.files import _uploads as uploads_module
from tests.conftest import BASE, TOKEN, FakeClock, settings

STORAGE = "https://storage.test/bucket/u1"
CREATE = f"{BASE}/uploads"
COMPLETE = f"{BASE}/uploads/u1/complete"
DOWNLOAD = "https://files.test/u1/cat.png?expires=1"


def part_urls(count: int, upload_id: str = "u1") -> List[str]:
    return [
        f"https://storage.test/bucket/{upload_id}/{i}?sig=s{i}" for i in range(count)
    ]


def add_create(
    mocked: responses.RequestsMock, size: int, part_size: int, upload_id: str = "u1"
) -> List[str]:
    """The API's answer to POST /uploads for `size` bytes in parts of `part_size`."""
    urls = part_urls(-(-size // part_size), upload_id)
    answer = {"id": upload_id, "urls": urls, "part_size": part_size}
    mocked.add("POST", CREATE, json=answer, status=201)
    return urls


def add_parts(mocked: responses.RequestsMock, urls: List[str]) -> None:
    for i, url in enumerate(urls):
        mocked.add("PUT", url, headers={"ETag": f'"e{i}"'})


def add_complete(
    mocked: responses.RequestsMock, upload_id: str = "u1", url: str = DOWNLOAD
) -> None:
    mocked.add(
        "POST", f"{BASE}/uploads/{upload_id}/complete", json={"download_url": url}
    )


def add_upload(
    mocked: responses.RequestsMock, size: int, part_size: int, upload_id: str = "u1"
) -> List[str]:
    urls = add_create(mocked, size, part_size, upload_id)
    add_parts(mocked, urls)
    add_complete(mocked, upload_id, f"https://files.test/{upload_id}")
    return urls


@pytest.fixture(autouse=True)
def bodies_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Part bodies are streams: the mock records their bytes, as newer
    `responses` do by themselves (older ones, on the oldest matrix, keep the
    stream object)."""
    original = responses.RequestsMock._on_request

    def on_request(self: Any, adapter: Any, request: Any, **kwargs: Any) -> Any:
        if hasattr(request.body, "read"):
            request.body = request.body.read()
        return original(self, adapter, request, **kwargs)

    monkeypatch.setattr(responses.RequestsMock, "_on_request", on_request)


def calls_to(mocked: responses.RequestsMock, method: str, url: str) -> List[Any]:
    """The requests sent with this method to this URL (or below it, for STORAGE)."""
    return [
        call.request
        for call in mocked.calls
        if call.request.method == method
        and (
            call.request.url == url
            or (url == STORAGE and call.request.url.startswith(STORAGE + "/"))
        )
    ]


def body_of(request: Any) -> Any:
    return json.loads(request.body)


@pytest.fixture
def data_file(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "cat.png"
    path.write_bytes(b"0123456789")
    return path


# File: bad input, nothing sent


@pytest.mark.parametrize(
    "content",
    [
        42,
        1.5,
        None,
        object(),
        ["a"],
        io.StringIO("text"),
        io.TextIOWrapper(io.BytesIO()),
    ],
    ids=["int", "float", "None", "object", "list", "StringIO", "text-wrapper"],
)
def test_what_is_not_bytes_a_path_or_a_binary_file_is_a_type_error(
    mocked: responses.RequestsMock, content: Any
) -> None:
    with pytest.raises(TypeError, match=r"text\.encode\(\)"):
        File(content)
    assert len(mocked.calls) == 0


def test_a_file_opened_in_text_mode_is_a_type_error(
    mocked: responses.RequestsMock, data_file: pathlib.Path
) -> None:
    with open(data_file) as text, pytest.raises(TypeError, match="'rb'"):
        File(text)

    class Duck:  # not an io class, but says how it was opened
        mode = "r"

        def read(self, size: int = -1) -> str:
            return ""

    with pytest.raises(TypeError, match="text mode"):
        File(Duck())
    assert len(mocked.calls) == 0


def test_a_stream_that_reads_text_is_a_type_error() -> None:
    class Duck:
        def read(self, size: int = -1) -> str:
            return ""

    with pytest.raises(TypeError, match="not a text stream"):
        File(Duck())


def test_a_file_not_opened_for_reading_or_closed_is_refused(
    data_file: pathlib.Path,
) -> None:
    with open(data_file, "ab") as appending, pytest.raises(TypeError, match="reading"):
        File(appending)
    closed = open(data_file, "rb")  # noqa: SIM115
    closed.close()
    with pytest.raises(ValueError, match="closed"):
        File(closed)


@pytest.mark.parametrize(
    "text", ["a cat\nsitting on a mat", "x" * 5000, "one line\r\nanother"]
)
def test_a_str_of_text_is_a_type_error_saying_what_to_pass(
    mocked: responses.RequestsMock, text: str
) -> None:
    """Issue 13: a str of text (not a path) is refused saying what to pass."""
    with pytest.raises(TypeError, match=r"text\.encode\(\)"):
        File(text)
    assert len(mocked.calls) == 0


@pytest.mark.parametrize(
    "text", ["a cat, sitting", "nul\x00in it", "missing/dir/cat.png"]
)
def test_a_str_is_a_path_and_one_that_does_not_exist_is_named(
    mocked: responses.RequestsMock, text: str
) -> None:
    with pytest.raises(FileNotFoundError, match=r"text\.encode\(\)") as caught:
        File(text)
    assert caught.value.filename == text
    assert len(mocked.calls) == 0


def test_a_missing_path_like_is_named(tmp_path: pathlib.Path) -> None:
    missing = tmp_path / "nope.png"
    with pytest.raises(FileNotFoundError, match=r"nope\.png"):
        File(missing)


def test_a_directory_is_refused(
    mocked: responses.RequestsMock, tmp_path: pathlib.Path
) -> None:
    with pytest.raises(IsADirectoryError) as caught:
        File(tmp_path)
    assert caught.value.filename == str(tmp_path)
    with pytest.raises(IsADirectoryError):
        File(str(tmp_path))
    assert len(mocked.calls) == 0


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_path_that_is_not_a_regular_file_is_refused(tmp_path: pathlib.Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="not a regular file"):
        File(fifo)


@pytest.mark.parametrize(
    ("mime_type", "error"),
    [
        (5, TypeError),
        (b"image/png", TypeError),
        ("png", ValueError),
        ("", ValueError),
        ("image/png\r\nX-Evil: 1", ValueError),
    ],
)
def test_a_bad_mime_type_is_refused(mime_type: Any, error: type) -> None:
    with pytest.raises(error, match="mime_type"):
        File(b"x", mime_type)


def test_non_contiguous_memory_is_refused() -> None:
    with pytest.raises(TypeError, match="contiguous"):
        File(memoryview(b"abcdef")[::2])


# File: what it knows


def test_mime_type_is_given_else_guessed_from_the_name_else_octet_stream(
    tmp_path: pathlib.Path,
) -> None:
    def made(name: str) -> pathlib.Path:
        path = tmp_path / name
        path.write_bytes(b"x")
        return path

    assert File(made("cat.png")).mime_type == "image/png"
    assert File(str(made("notes.txt"))).mime_type == "text/plain"
    assert File(made("data.tar.gz")).mime_type == "application/gzip"
    assert File(made("data:x.png")).mime_type == "image/png"
    assert File(made("blob.unknownext")).mime_type == "application/octet-stream"
    assert File(made("cat.png"), "image/webp").mime_type == "image/webp"
    assert File(b"x").mime_type == "application/octet-stream"
    assert File(b"x", "text/plain; charset=utf-8").mime_type == (
        "text/plain; charset=utf-8"
    )
    with open(made("doc.json"), "rb") as stream:
        assert File(stream).mime_type == "application/json"
    named = io.BytesIO(b"x")
    named.name = "clip.mp4"  # type: ignore[attr-defined]
    assert File(named).mime_type == "video/mp4"


def test_size_name_and_a_repr_without_the_content(data_file: pathlib.Path) -> None:
    secret = File(b"secret-content")
    assert (secret.size, secret.name) == (14, None)
    assert "secret" not in repr(secret)
    assert repr(secret) == (
        "File(<14 bytes>, size=14, mime_type='application/octet-stream')"
    )
    on_disk = File(data_file)
    assert (on_disk.size, on_disk.name) == (10, str(data_file))
    assert repr(on_disk) == f"File({str(data_file)!r}, size=10, mime_type='image/png')"
    assert File(bytearray(3)).size == 3
    assert File(memoryview(b"abcd")).size == 4
    assert File(pathlib.Path(data_file)).size == 10
    assert predictions.File is File


def test_a_file_object_is_sent_from_its_position(
    api: API, mocked: responses.RequestsMock
) -> None:
    stream = io.BytesIO(b"skip|payload")
    stream.seek(5)
    file = File(stream)
    assert file.size == 7
    urls = add_upload(mocked, 7, 4)
    upload(api, file)
    assert [calls_to(mocked, "PUT", url)[0].body for url in urls] == [b"payl", b"oad"]


class Pipe(io.RawIOBase):
    """A stream that can be read once and cannot seek."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._data.readinto(buffer)


def test_a_stream_that_cannot_seek_is_read_once_into_a_temporary_file(
    api: API, mocked: responses.RequestsMock
) -> None:
    file = File(Pipe(b"streamed bytes"))
    assert file.size == 14
    urls = add_upload(mocked, 14, 8)
    upload(api, file)
    assert [calls_to(mocked, "PUT", u)[0].body for u in urls] == [
        b"streamed",
        b" bytes",
    ]


# The upload: its requests


def test_the_upload_creates_sends_each_part_and_completes(
    clock: FakeClock, mocked: responses.RequestsMock
) -> None:
    api = API(settings(clock, headers=(("X-Api-Key", "also-secret"),)))
    file = File(b"0123456789", "image/png")
    urls = add_create(mocked, 10, 4)
    add_parts(mocked, urls)
    add_complete(mocked)
    try:
        assert upload(api, file) == DOWNLOAD
    finally:
        api.close()

    created = calls_to(mocked, "POST", CREATE)
    assert len(created) == 1
    assert body_of(created[0]) == {"size": 10, "mime_type": "image/png"}
    assert created[0].headers["Authorization"] == f"Bearer {TOKEN}"
    expected = [b"0123", b"4567", b"89"]
    for url, data in zip(urls, expected):
        (sent,) = calls_to(mocked, "PUT", url)
        assert sent.body == data
        assert sent.headers["Content-Length"] == str(len(data))
        assert sent.headers["Content-Type"] == "image/png"
        assert "Authorization" not in sent.headers
        assert "X-Api-Key" not in sent.headers
        assert sent.headers["User-Agent"].startswith("predictions-python/")
    (complete,) = calls_to(mocked, "POST", COMPLETE)
    assert body_of(complete) == {"etags": ['"e0"', '"e1"', '"e2"']}
    assert complete.headers["Authorization"] == f"Bearer {TOKEN}"
    assert mocked.calls[-1].request.url == COMPLETE


def test_etags_are_completed_in_part_order_when_parts_finish_out_of_order(
    api: API, mocked: responses.RequestsMock
) -> None:
    urls = add_create(mocked, 4, 1)
    last_done = threading.Event()
    finished: List[int] = []

    def part(index: int) -> Any:
        def answer(request: Any) -> Tuple[int, Dict[str, str], str]:
            if index == 0:
                assert last_done.wait(10)  # the first part ends last
            finished.append(index)
            if index == 3:
                last_done.set()
            return 200, {"ETag": f"tag-{index}"}, ""

        return answer

    for i, url in enumerate(urls):
        mocked.add_callback("PUT", url, callback=part(i))
    add_complete(mocked)
    assert upload(api, File(b"abcd")) == DOWNLOAD
    assert finished[-1] == 0
    (complete,) = calls_to(mocked, "POST", COMPLETE)
    assert body_of(complete) == {"etags": ["tag-0", "tag-1", "tag-2", "tag-3"]}


def test_an_empty_file_has_no_part(api: API, mocked: responses.RequestsMock) -> None:
    add_create(mocked, 0, 4)
    add_complete(mocked)
    assert upload(api, File(b"")) == DOWNLOAD
    (complete,) = calls_to(mocked, "POST", COMPLETE)
    assert body_of(complete) == {"etags": []}


def test_a_part_that_fails_once_is_sent_again_and_the_upload_completes(
    api: API, mocked: responses.RequestsMock, clock: FakeClock
) -> None:
    urls = add_create(mocked, 8, 4)
    mocked.add("PUT", urls[0], headers={"ETag": "e0"})
    mocked.add("PUT", urls[1], status=503)
    mocked.add("PUT", urls[1], headers={"ETag": "e1"})
    add_complete(mocked)
    assert upload(api, File(b"abcdefgh")) == DOWNLOAD
    attempts = calls_to(mocked, "PUT", urls[1])
    assert [a.body for a in attempts] == [b"efgh", b"efgh"]  # read afresh
    assert len(clock.sleeps) == 1
    assert body_of(calls_to(mocked, "POST", COMPLETE)[0]) == {"etags": ["e0", "e1"]}


def test_a_part_that_keeps_failing_names_the_file_and_the_part_and_nothing_completes(
    api: API, mocked: responses.RequestsMock, data_file: pathlib.Path
) -> None:
    mocked.assert_all_requests_are_fired = False
    urls = add_create(mocked, 10, 4)
    mocked.add("PUT", urls[0], headers={"ETag": "e0"})
    mocked.add("PUT", urls[1], status=503)
    mocked.add("PUT", urls[2], headers={"ETag": "e2"})
    file = File(data_file)
    with pytest.raises(UploadError) as caught:
        upload(api, file)
    error = caught.value
    assert (error.file, error.part) == (file, 1)
    assert "cat.png" in str(error)
    assert "part 1 (bytes 4-7)" in str(error)
    assert isinstance(error.__cause__, InternalServerError)
    assert isinstance(error, PredictionsError)
    assert len(calls_to(mocked, "PUT", urls[1])) == 3  # the client's 2 retries
    assert calls_to(mocked, "POST", COMPLETE) == []
    assert "sig=" not in str(error)  # a part URL's signature is a secret


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_no_part_starts_after_one_has_failed(
    api: API,
    mocked: responses.RequestsMock,
    monkeypatch: pytest.MonkeyPatch,
    asynchronous: bool,
) -> None:
    mocked.assert_all_requests_are_fired = False
    urls = add_create(mocked, 8, 1)  # 8 parts, 4 at once
    recorded = threading.Event()
    real_failed = uploads_module._Parts.fail_part

    def failed(self: Any, part: int, exc: Exception) -> None:
        real_failed(self, part, exc)
        recorded.set()

    monkeypatch.setattr(uploads_module._Parts, "fail_part", failed)
    first = threading.Lock()

    def answer(request: Any) -> Tuple[int, Dict[str, str], str]:
        if first.acquire(blocking=False):
            return 400, {}, ""  # the first part answered fails (not retried)
        assert recorded.wait(10)  # the others end after the failure is known
        return 200, {"ETag": "e"}, ""

    for url in urls:
        mocked.add_callback("PUT", url, callback=answer)
    file = File(b"01234567")

    def send() -> str:
        if asynchronous:
            return asyncio.run(async_upload(api, file))
        return upload(api, file)

    with pytest.raises(UploadError):
        send()
    assert len(calls_to(mocked, "PUT", STORAGE)) <= 4
    assert calls_to(mocked, "POST", COMPLETE) == []


def test_a_failed_create_names_the_file_and_sends_no_part(
    api: API, mocked: responses.RequestsMock
) -> None:
    mocked.add("POST", CREATE, status=401, json={"detail": "bad token"})
    with pytest.raises(UploadError, match="POST /uploads") as caught:
        upload(api, File(b"abc"))
    assert caught.value.part is None
    assert isinstance(caught.value.__cause__, AuthenticationError)
    assert len(mocked.calls) == 1


def test_the_create_is_retried_like_a_read(
    api: API, mocked: responses.RequestsMock
) -> None:
    mocked.add("POST", CREATE, status=503)
    add_upload(mocked, 3, 4)
    assert upload(api, File(b"abc")) == "https://files.test/u1"
    assert len(calls_to(mocked, "POST", CREATE)) == 2


@pytest.mark.parametrize(
    "answer",
    [
        {"urls": part_urls(1), "part_size": 4},
        {"id": "", "urls": part_urls(1), "part_size": 4},
        {"id": "..", "urls": part_urls(1), "part_size": 4},
        {"id": 7, "urls": part_urls(1), "part_size": 4},
        {"id": "u1", "part_size": 4},
        {"id": "u1", "urls": "https://storage.test/0", "part_size": 4},
        {"id": "u1", "urls": ["ftp://storage.test/0"], "part_size": 4},
        {"id": "u1", "urls": ["https:///no-host"], "part_size": 4},
        {"id": "u1", "urls": ["https://storage.test/0 x"], "part_size": 4},
        {"id": "u1", "urls": [None], "part_size": 4},
        {"id": "u1", "urls": part_urls(1), "part_size": 0},
        {"id": "u1", "urls": part_urls(1), "part_size": True},
        {"id": "u1", "urls": part_urls(1), "part_size": "4"},
        {"id": "u1", "urls": part_urls(1), "part_size": 4.0},
        {"id": "u1", "urls": part_urls(2), "part_size": 4},
        {"id": "u1", "urls": [], "part_size": 4},
        {"id": "u1", "urls": part_urls(1), "part_size": 1},
        ["not", "an", "object"],
    ],
)
def test_a_create_answer_that_does_not_fit_is_refused_before_any_part(
    api: API, mocked: responses.RequestsMock, answer: Any
) -> None:
    mocked.add("POST", CREATE, json=answer)
    with pytest.raises(UploadError) as caught:
        upload(api, File(b"abc"))
    assert isinstance(caught.value.__cause__, InvalidResponseError)
    assert all(call.request.method == "POST" for call in mocked.calls)
    assert calls_to(mocked, "POST", COMPLETE) == []


def test_a_part_answer_without_an_etag_is_named(
    api: API, mocked: responses.RequestsMock
) -> None:
    urls = add_create(mocked, 3, 4)
    mocked.add("PUT", urls[0])
    with pytest.raises(UploadError, match="no ETag header for part 0") as caught:
        upload(api, File(b"abc"))
    assert caught.value.part == 0
    assert isinstance(caught.value.__cause__, InvalidResponseError)
    assert calls_to(mocked, "POST", COMPLETE) == []


@pytest.mark.parametrize(
    "answer", [{}, {"download_url": 5}, {"download_url": "/relative"}, None]
)
def test_a_complete_answer_without_a_url_is_refused(
    api: API, mocked: responses.RequestsMock, answer: Any
) -> None:
    urls = add_create(mocked, 3, 4)
    add_parts(mocked, urls)
    mocked.add("POST", COMPLETE, json=answer)
    with pytest.raises(UploadError, match="completing upload 'u1'") as caught:
        upload(api, File(b"abc"))
    assert isinstance(caught.value.__cause__, InvalidResponseError)


def test_upload_checks_its_arguments_before_sending(
    api: API, mocked: responses.RequestsMock
) -> None:
    with pytest.raises(TypeError, match="File"):
        upload(api, b"abc")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="progress"):
        upload(api, File(b"abc"), progress=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="progress"):
        prepare_input(api, {"a": 1}, progress="x")  # type: ignore[arg-type]
    assert len(mocked.calls) == 0


# The file changing during the upload


def test_a_file_that_grows_during_the_upload_stops_it_before_complete(
    api: API, mocked: responses.RequestsMock, data_file: pathlib.Path
) -> None:
    mocked.assert_all_requests_are_fired = False
    urls = add_create(mocked, 10, 2)  # 5 parts, 4 at once: part 4 opens after one
    file = File(data_file)

    def grow(request: Any) -> Tuple[int, Dict[str, str], str]:
        with open(data_file, "ab") as stream:  # every part answered adds a byte
            stream.write(b"!")
        return 200, {"ETag": "e"}, ""

    for url in urls:
        mocked.add_callback("PUT", url, callback=grow)
    with pytest.raises(UploadError, match="changed during the upload") as caught:
        upload(api, file)
    assert caught.value.part is not None
    assert str(caught.value.part) in str(caught.value)
    assert "not 10" in str(caught.value)
    assert calls_to(mocked, "POST", COMPLETE) == []


def test_a_file_cut_before_the_upload_sends_no_part(
    api: API, mocked: responses.RequestsMock, data_file: pathlib.Path
) -> None:
    mocked.assert_all_requests_are_fired = False
    add_create(mocked, 10, 20)
    file = File(data_file)
    data_file.write_bytes(b"short")
    with pytest.raises(UploadError, match="is now 5 bytes, not 10") as caught:
        upload(api, file)
    assert caught.value.part == 0
    assert calls_to(mocked, "PUT", STORAGE) == []
    assert calls_to(mocked, "POST", COMPLETE) == []


def test_a_file_deleted_before_the_upload_is_named(
    api: API, mocked: responses.RequestsMock, data_file: pathlib.Path
) -> None:
    mocked.assert_all_requests_are_fired = False
    add_create(mocked, 10, 20)
    file = File(data_file)
    data_file.unlink()
    with pytest.raises(UploadError, match="cannot be opened") as caught:
        upload(api, file)
    assert isinstance(caught.value.__cause__, FileNotFoundError)
    assert calls_to(mocked, "PUT", STORAGE) == []


def test_a_part_read_short_stops_the_upload(
    api: API, mocked: responses.RequestsMock
) -> None:
    class Cut(io.BytesIO):
        def readinto(self, buffer: Any) -> int:
            return 0  # as if the file ended where it should not

    mocked.assert_all_requests_are_fired = False
    add_create(mocked, 6, 4)
    with pytest.raises(UploadError, match="ended 4 bytes early"):
        upload(api, File(Cut(b"abcdef")))
    assert calls_to(mocked, "POST", COMPLETE) == []


# Reading: a part at a time


class Recorder:
    """Wraps each file `files.py` opens, recording every seek and read."""

    def __init__(self) -> None:
        self.reads: List[Tuple[int, int]] = []  # (offset, bytes asked)
        self.opened = 0
        self.closed = 0
        self.lock = threading.Lock()

    def open(self, path: Any, mode: str = "r", buffering: int = -1) -> Any:
        recorder = self
        real = open(path, mode, buffering)  # noqa: SIM115 (the part closes it)
        with self.lock:
            self.opened += 1

        class Handle:
            def __getattr__(self, name: str) -> Any:
                return getattr(real, name)

            def readinto(self, buffer: Any) -> int:
                with recorder.lock:
                    recorder.reads.append((real.tell(), len(buffer)))
                return real.readinto(buffer)

            def read(self, size: int = -1) -> bytes:
                raise AssertionError("read() could read the whole file")

            def close(self) -> None:
                with recorder.lock:
                    recorder.closed += 1
                real.close()

        return Handle()


def test_a_path_is_read_part_by_part(
    api: API,
    mocked: responses.RequestsMock,
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = bytes(range(256)) * 40  # 10240 bytes
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    file = File(path)
    part_size = 3000
    urls = add_upload(mocked, len(data), part_size)
    recorder = Recorder()
    monkeypatch.setattr(files_module, "open", recorder.open, raising=False)
    upload(api, file)
    assert recorder.opened == recorder.closed == len(urls) == 4
    assert max(asked for _, asked in recorder.reads) <= part_size
    for url_index, url in enumerate(urls):
        start = url_index * part_size
        end = min(start + part_size, len(data))
        assert calls_to(mocked, "PUT", url)[0].body == data[start:end]
    for offset, asked in recorder.reads:  # no read crosses a part's end
        part_end = min((offset // part_size + 1) * part_size, len(data))
        assert offset + asked <= part_end


# Progress


def test_progress_counts_every_part_of_every_file(
    api: API, mocked: responses.RequestsMock
) -> None:
    add_upload(mocked, 10, 4, "u1")
    add_upload(mocked, 6, 4, "u2")
    seen: List[Tuple[int, int]] = []
    prepare_input(
        api, [File(b"0123456789"), File(b"abcdef")], progress=lambda *a: seen.append(a)
    )
    assert [total for _, total in seen] == [16] * 5
    assert [sent for sent, _ in seen] == sorted(sent for sent, _ in seen)
    assert seen[-1] == (16, 16)
    steps = [b[0] - a[0] for a, b in zip([(0, 16), *seen], seen)]
    assert sorted(steps[:3]) == [2, 4, 4]
    assert sorted(steps[3:]) == [2, 4]


def test_an_error_in_progress_stops_the_upload_and_is_raised_as_it_is(
    api: API, mocked: responses.RequestsMock
) -> None:
    mocked.assert_all_requests_are_fired = False
    add_parts(mocked, add_create(mocked, 3, 4))

    def stop(sent: int, total: int) -> None:
        raise KeyError("stop")

    with pytest.raises(KeyError, match="stop"):
        upload(api, File(b"abc"), progress=stop)
    assert calls_to(mocked, "POST", COMPLETE) == []


# The pool


def test_an_upload_run_from_a_busy_pool_does_not_wait_for_it(
    clock: FakeClock, mocked: responses.RequestsMock
) -> None:
    api = API(settings(clock, max_workers=1))  # its only thread runs the upload
    add_upload(mocked, 10, 2)
    try:
        future = api.executor().submit(upload, api, File(b"0123456789"))
        assert future.result(timeout=30) == "https://files.test/u1"
    finally:
        api.close()
    assert len(calls_to(mocked, "PUT", STORAGE)) == 5


# The input


def test_files_at_any_depth_are_replaced_and_the_callers_input_is_unchanged(
    api: API, mocked: responses.RequestsMock
) -> None:
    add_upload(mocked, 3, 4, "u1")
    add_upload(mocked, 2, 4, "u2")
    cat, dog = File(b"cat", "image/png"), File(b"do")
    untouched = {"deep": [1, 2]}
    value = {
        "prompt": "two pets",
        "images": [cat, {"nested": (dog, "x")}],
        "again": cat,  # the same File: uploaded once
        "other": untouched,
    }
    before = copy.deepcopy(value)
    inner = value["images"]
    result = prepare_input(api, value)
    assert result == {
        "prompt": "two pets",
        "images": ["https://files.test/u1", {"nested": ("https://files.test/u2", "x")}],
        "again": "https://files.test/u1",
        "other": {"deep": [1, 2]},
    }
    assert value["images"] is inner
    assert inner[0] is cat
    assert repr(value) == repr(before)
    assert result["other"] is untouched  # what holds no File is shared, not copied
    assert len(calls_to(mocked, "POST", CREATE)) == 2


def test_an_input_without_files_is_returned_as_it_is(
    api: API, mocked: responses.RequestsMock
) -> None:
    value = {"prompt": "hi", "list": [1, {"a": (2, None)}], "s": "cat.png"}
    assert prepare_input(api, value) is value
    assert prepare_input(api, "cat.png") == "cat.png"
    assert prepare_input(api, File) is File
    cycle: List[Any] = [1]
    cycle.append(cycle)
    assert prepare_input(api, cycle) is cycle  # the JSON encoder refuses it later
    assert len(mocked.calls) == 0


def test_an_input_nested_too_deep_is_refused(
    api: API, mocked: responses.RequestsMock
) -> None:
    value: Any = 1
    for _ in range(100_000):
        value = [value]
    with pytest.raises(ValueError, match="nested too deep"):
        prepare_input(api, value)
    assert len(mocked.calls) == 0


def test_prepare_params_replaces_the_input_in_a_new_dict(
    api: API, mocked: responses.RequestsMock
) -> None:
    add_upload(mocked, 3, 4)
    params = {"input": {"image": File(b"cat")}, "validate_input": True}
    before = dict(params)
    prepared = prepare_params(api, params)
    assert prepared == {
        "input": {"image": "https://files.test/u1"},
        "validate_input": True,
    }
    assert params == before
    plain = {"input": {"prompt": "hi"}}
    assert prepare_params(api, plain) is plain
    assert prepare_params(api, "not params") == "not params"
    assert prepare_params(api, {"webhook": None}) == {"webhook": None}


# The async twins


def test_async_upload_sends_the_same_requests(
    api: API, mocked: responses.RequestsMock
) -> None:
    urls = add_create(mocked, 10, 4)
    add_parts(mocked, urls)
    add_complete(mocked)
    seen: List[Tuple[int, int]] = []
    file = File(b"0123456789", "image/png")
    result = asyncio.run(async_upload(api, file, lambda *a: seen.append(a)))
    assert result == DOWNLOAD
    assert [calls_to(mocked, "PUT", u)[0].body for u in urls] == [
        b"0123",
        b"4567",
        b"89",
    ]
    for url in urls:
        assert "Authorization" not in calls_to(mocked, "PUT", url)[0].headers
    assert body_of(calls_to(mocked, "POST", COMPLETE)[0]) == {
        "etags": ['"e0"', '"e1"', '"e2"']
    }
    assert seen[-1] == (10, 10)
    assert len(seen) == 3


def test_async_upload_retries_a_part_and_names_one_that_keeps_failing(
    api: API, mocked: responses.RequestsMock
) -> None:
    mocked.assert_all_requests_are_fired = False
    urls = add_create(mocked, 8, 4)
    mocked.add("PUT", urls[0], status=503)
    mocked.add("PUT", urls[0], headers={"ETag": "e0"})
    mocked.add("PUT", urls[1], status=502)
    with pytest.raises(UploadError, match=r"part 1 \(bytes 4-7\)") as caught:
        asyncio.run(async_upload(api, File(b"abcdefgh")))
    assert caught.value.part == 1
    assert len(calls_to(mocked, "PUT", urls[0])) == 2
    assert len(calls_to(mocked, "PUT", urls[1])) == 3
    assert calls_to(mocked, "POST", COMPLETE) == []


def test_async_a_file_that_changes_stops_the_upload(
    api: API, mocked: responses.RequestsMock, data_file: pathlib.Path
) -> None:
    mocked.assert_all_requests_are_fired = False
    add_create(mocked, 10, 20)
    file = File(data_file)
    data_file.write_bytes(b"0123456789 and more")
    with pytest.raises(UploadError, match="is now 19 bytes"):
        asyncio.run(async_upload(api, file))
    assert calls_to(mocked, "POST", COMPLETE) == []


def test_async_prepare_input_and_params(
    api: API, mocked: responses.RequestsMock
) -> None:
    add_upload(mocked, 3, 4, "u1")
    cat = File(b"cat")
    value = {"images": [cat, {"x": cat}], "n": 1}
    result = asyncio.run(async_prepare_input(api, value))
    assert result == {
        "images": ["https://files.test/u1", {"x": "https://files.test/u1"}],
        "n": 1,
    }
    assert value["images"][0] is cat  # type: ignore[index]
    plain = {"input": [1, 2]}
    assert asyncio.run(async_prepare_params(api, plain)) is plain
    assert asyncio.run(async_prepare_input(api, value["n"])) == 1


def test_async_upload_checks_its_arguments(api: API) -> None:
    with pytest.raises(TypeError, match="File"):
        asyncio.run(async_upload(api, "cat.png"))  # type: ignore[arg-type]


# Hardened (issue 19): bounded part counts, a file that changes, a device


@pytest.mark.parametrize(
    ("size", "part_size"),
    [(100 * 1024, 4), (1_500_000, 1), (60 * 1024, 1024), (700 * 1024**2, 65536)],
    ids=[
        "100KB-in-25600-parts",
        "1.5M-one-byte-parts",
        "60-small-parts",
        "10700-parts",
    ],
)
def test_an_upload_cut_into_parts_that_make_no_sense_is_refused_before_any_put(
    api: API,
    mocked: responses.RequestsMock,
    tmp_path: pathlib.Path,
    size: int,
    part_size: int,
) -> None:
    """A 100 KB file could be made into 25,600 PUTs, each request built first."""
    count = -(-size // part_size)
    urls = [f"https://storage.test/p/{i}" for i in range(count)]
    mocked.add("POST", CREATE, json={"id": "u1", "urls": urls, "part_size": part_size})
    path = tmp_path / "sparse.bin"
    with open(path, "wb") as handle:
        handle.truncate(size)  # sparse: no memory, next to no disk
    built: List[int] = []
    real = uploads_module.part_request

    def counting(file: Any, upload: Any, part: int) -> Any:
        built.append(part)
        return real(file, upload, part)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(uploads_module, "part_request", counting)
        with pytest.raises(UploadError, match=r"parts of") as caught:
            upload(api, File(path))
    assert isinstance(caught.value.__cause__, InvalidResponseError)
    assert built == []
    assert calls_to(mocked, "PUT", "https://storage.test") == []


def test_a_few_small_parts_are_still_taken(
    api: API, mocked: responses.RequestsMock
) -> None:
    add_upload(mocked, 64, 4)  # 16 parts of 4 bytes: a small file, a few PUTs
    assert upload(api, File(b"x" * 64)) == "https://files.test/u1"


def test_part_requests_are_built_as_they_are_sent(
    api: API, mocked: responses.RequestsMock
) -> None:
    urls = add_create(mocked, 64, 4)
    mocked.add("PUT", urls[0], json={"detail": "no"}, status=403)
    built: List[int] = []
    real = uploads_module.part_request

    def counting(file: Any, upload: Any, part: int) -> Any:
        built.append(part)
        return real(file, upload, part)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(uploads_module, "part_request", counting)
        patch.setattr(uploads_module, "MAX_PARALLEL_PARTS", 1)
        with pytest.raises(UploadError):
            upload(api, File(b"x" * 64))
    assert built == [0], "one part was sent and failed: one request was built"


@pytest.mark.parametrize("as_path", [True, False], ids=["path", "file-object"])
def test_a_file_that_grows_during_its_upload_is_not_completed(
    api: API, mocked: responses.RequestsMock, tmp_path: pathlib.Path, as_path: bool
) -> None:
    """It completed short with no error, though the README promises one."""
    path = tmp_path / "growing.bin"
    path.write_bytes(b"0123456789")
    urls = add_create(mocked, 10, 16)

    def grow(request: Any) -> Tuple[int, Dict[str, str], str]:
        with open(path, "ab") as handle:
            handle.write(b"more")
        return 200, {"ETag": '"e0"'}, ""

    mocked.add_callback("PUT", urls[0], callback=grow)
    with open(path, "rb") as handle:
        file = File(path if as_path else handle)
        with pytest.raises(UploadError, match="is now 14 bytes, not 10") as caught:
            upload(api, file)
    assert caught.value.part is None
    assert calls_to(mocked, "POST", COMPLETE) == []


def test_a_file_that_grows_while_its_last_part_is_read_fails_that_part(
    api: API, mocked: responses.RequestsMock, tmp_path: pathlib.Path
) -> None:
    path = tmp_path / "growing.bin"
    path.write_bytes(b"0123456789")
    file = File(path)
    stream = files_module._open_part(file, 0, 0, 10)
    with open(path, "ab") as handle:
        handle.write(b"more")
    with pytest.raises(UploadError, match="part 0: the file is now 14 bytes"):
        stream.read()


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero here")
def test_a_device_opened_as_a_file_is_refused_when_made(
    mocked: responses.RequestsMock,
) -> None:
    """`File(open('/dev/zero', 'rb'))` said its size was 0 (issue 19)."""
    with open("/dev/zero", "rb") as zero, pytest.raises(ValueError, match="size can"):
        File(zero)
    assert len(mocked.calls) == 0


def test_the_names_the_package_hands_on_are_the_modules_own() -> None:
    """`predictions.files` lists them to load them on first use: the same lists."""
    import importlib

    handed_on = predictions.files._HANDED_ON
    assert {n for n, m in handed_on.items() if m == "_uploads"} == set(
        uploads_module.__all__
    )
    for name, module in handed_on.items():
        public = importlib.import_module(f"predictions.files.{module}").__all__
        assert name in public
