"""Output files against the local server's demo models, over real sockets (issue 20)."""

from __future__ import annotations

import asyncio
import base64
import os
import time
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs

import pytest

import predictions
from predictions import Client, OutputExpiredError
from predictions.testing import LocalServer
from predictions.testing._http.faults import Fault


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer(token="secret-token") as made:
        yield made


def client_of(server: LocalServer, **options: Any) -> Client:
    options.setdefault("timeout", (5, 1))
    return Client(
        server.base_url, access_token="secret-token", trust_env=False, **options
    )


def make(client: Client, model: str, input: Any) -> Any:
    return client.predictions.create({"input": input}, model, wait=True)


def test_every_file_of_demo_files_is_saved_whole_with_no_credential(
    server: LocalServer, tmp_path: Path
) -> None:
    with client_of(server) as client:
        prediction = make(client, "demo/files", {"count": 5, "size": 300_000})
        output = client.predictions.download(prediction, tmp_path)
    urls = prediction["output"]["files"]
    assert output == {"files": [str(tmp_path / f"file-{i}.bin") for i in range(1, 6)]}
    bodies = [Path(path).read_bytes() for path in output["files"]]
    assert all(len(body) == 300_000 for body in bodies)
    assert len(set(bodies)) == 5
    with client_of(server) as client:  # the same bytes the host serves
        for body, url in zip(bodies, urls):
            (file,) = client.predictions.output_files({"output": url})
            assert file.read() == body
    seen = [r for r in server.storage_requests if "/outputs/" in r.path]
    assert len(seen) == 10
    for request in seen:
        assert "authorization" not in request.headers
        assert "cookie" not in request.headers
        assert "secret-token" not in repr(request.headers)
    assert sorted(os.listdir(tmp_path)) == [f"file-{i}.bin" for i in range(1, 6)]


def test_an_image_and_a_data_url(server: LocalServer, tmp_path: Path) -> None:
    with client_of(server) as client:
        image = make(client, "demo/image", {"width": 7, "height": 3})
        (file,) = client.predictions.output_files(image)
        assert file.name == "image.png"
        png = file.read()
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        assert file.mime_type == "image/png"
        data = make(client, "demo/data-url", {"text": "hello there"})
        output = client.predictions.download(data, tmp_path)
    assert Path(output["file"]).read_bytes() == b"hello there"
    assert Path(output["file"]).name == "output.txt"


def test_a_file_past_its_lifetime_raises_output_expired(tmp_path: Path) -> None:
    with LocalServer(token="secret-token", output_lifetime=0.3) as server, client_of(
        server
    ) as client:
        prediction = make(client, "demo/files", {"count": 1, "size": 10})
        query = prediction["output"]["files"][0].split("?", 1)[1]
        expires = float(parse_qs(query)["expires"][0])  # "1.5", not always 14 chars
        while time.time() <= expires + 0.05:
            time.sleep(0.05)
        with pytest.raises(OutputExpiredError) as raised:
            client.predictions.download(prediction, tmp_path)
    assert raised.value.status_code == 410
    assert raised.value.prediction_id == prediction["id"]
    assert "file-1.bin" in str(raised.value)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("kind", ["truncate", "stall", "drop_before", "503"])
def test_a_broken_file_download_resumes_and_ends_whole(
    kind: str, tmp_path: Path
) -> None:
    fault = (
        Fault("status", route="output", sequence=[1], status=503)
        if kind == "503"
        else Fault(kind, route="output", sequence=[1], delay=5.0)
    )
    with LocalServer(token="secret-token", faults=[fault]) as server, client_of(
        server
    ) as client:
        prediction = make(client, "demo/files", {"count": 1, "size": 2_000_000})
        (file,) = client.predictions.output_files(prediction)
        path = file.save(str(tmp_path))
        reference = client.predictions.output_files(prediction)[0].read()
        seen = [r for r in server.storage_requests if "/outputs/" in r.path]
    assert Path(path).read_bytes() == reference
    ranges = [r.headers.get("range") for r in seen[:2]]
    if kind in ("truncate", "stall"):  # half the body came: the rest is asked for
        assert ranges == [None, "bytes=1000000-"]


def test_a_host_that_ignores_ranges_gets_the_file_again_whole(tmp_path: Path) -> None:
    fault = Fault("truncate", route="output", sequence=[1])
    with LocalServer(
        token="secret-token", faults=[fault], output_ranges=False
    ) as server, client_of(server) as client:
        prediction = make(client, "demo/files", {"count": 1, "size": 1_000_000})
        (file,) = client.predictions.output_files(prediction)
        path = file.save(str(tmp_path))
        assert Path(path).read_bytes() == file.read()


def test_run_with_download_to_and_the_async_twin(
    server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WRIFTAI_API_BASE_URL", server.base_url)
    monkeypatch.setenv("WRIFTAI_ACCESS_TOKEN", "secret-token")
    output = predictions.run(
        "demo/data-url", {"text": "one"}, download_to=str(tmp_path / ".")
    )
    assert Path(output["file"]).read_bytes() == b"one"
    second = tmp_path / "second"
    second.mkdir()
    output = asyncio.run(
        predictions.async_run("demo/image", {"width": 2}, download_to=second)
    )
    assert Path(output["image"]).read_bytes().startswith(b"\x89PNG")


def test_run_refuses_a_bad_directory_before_the_prediction_is_made(
    server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WRIFTAI_API_BASE_URL", server.base_url)
    monkeypatch.setenv("WRIFTAI_ACCESS_TOKEN", "secret-token")
    with pytest.raises(FileNotFoundError):
        predictions.run("demo/echo", {"x": 1}, download_to=str(tmp_path / "nope"))
    assert server.predictions == []


def test_a_data_url_of_the_demo_decodes_to_its_text(server: LocalServer) -> None:
    with client_of(server) as client:
        prediction = make(client, "demo/data-url", {"text": "é ü"})
    url = prediction["output"]["file"]
    assert base64.b64decode(url.split(",", 1)[1]) == "é ü".encode()
    with client_of(server) as client:
        (file,) = client.predictions.output_files(prediction)
        assert file.read() == "é ü".encode()
