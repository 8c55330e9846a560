"""The `download` part of bench.py: output files saved, beside plain requests.

    python bench.py download

    DOWNLOAD_PROFILE=1 python bench.py download   # and a profile of our sides

The files are the local server's: `predictions serve`, in a process of its
own, runs `demo/files` (`{"count": n, "size": bytes}` -> `{"files": [url,
...]}`) and its storage port serves them as a file host does (from disk,
with `Content-Length`, an ETag, `Range`; no `Content-MD5`). Every side
fetches the same URLs from that one server.

(a) One 200 MB file (DOWNLOAD_MB) saved by `OutputFile.save` and by
    `Predictions.download`, beside plain `requests` writing
    `iter_content(1 MiB)` to disk: throughput as a ratio (goal >= 0.9x) and
    each side's peak memory growth (goal < 50 MB). A row reads the file
    with `http.client` and keeps nothing: how fast the server gives it (if
    that were not well above the others, the server would set the ratios).
(a') The client checks a file's MD5 only when its host sends `Content-MD5`
    (an ETag is opaque, RFC 9110: never taken for an MD5), which the local
    server does not. So `FileServer`, a small threaded server of this module
    (`sendfile`), serves a file of the same size with the header and without
    it: the save with the check, without it, and requests, all from it.
(b) 8 files of 25 MB saved by one `download` (4 at once, its default, and 8),
    beside plain requests with as many threads.
(c) A batch of 200 rows (DOWNLOAD_BATCH_ROWS) of `demo/files` making a 1 MB
    file each, through `run_batch` against a server limiting reads to 3/s and
    creates to 15/s and holding creates 1 s at most, as the `batch` part
    does: without `outputs_dir` (the URLs kept) and with it (every file
    saved), beside the floor those limits set (rows / 15 per second, as the
    `batch` part reckons it; the server's creates bucket starts full, so a
    batch may end a second under it). Goal: with files within 1.15x of
    without. The batch runs in this process, the server in its own.

Each side of (a), (a') and (b) runs alone in a fresh process (`python
downloads.py side ...`), so its memory is its own: the growth is the peak RSS
(`ru_maxrss`) past the RSS before the transfer, with the client made and
warm (the largest of the rounds). Rounds are interleaved; the best of each
side's is compared (and its median shown): on a shared machine the same side
takes 0.1 s or 0.45 s by the kernel's mood (page allocation), and noise only
ever adds time.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import http.server
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from typing import Any, Callable, Dict, Iterator, List, Tuple

MB = 1000 * 1000
MIB = 1024 * 1024
ROUNDS = int(os.environ.get("DOWNLOAD_ROUNDS", "5"))
BIG = int(os.environ.get("DOWNLOAD_MB", "200")) * MB
SMALL, SMALL_COUNT = 25 * MB, 8
BATCH_ROWS = int(os.environ.get("DOWNLOAD_BATCH_ROWS", "200"))
BATCH_FILE = 1 * MB
BATCH_ROUNDS = int(os.environ.get("DOWNLOAD_BATCH_ROUNDS", "2"))

Prediction = Dict[str, Any]


# ---- where the files come from ----------------------------------------------


def demo_files(base_url: str, count: int, size: int) -> Prediction:
    """A succeeded prediction of the local server's `demo/files`."""
    import predictions

    with predictions.Client(base_url, "bench", trust_env=False) as client:
        done: Any = client.predictions.create(
            {"input": {"count": count, "size": size}}, "demo/files", wait=True
        )
    assert done["status"] == "succeeded", done
    return dict(done)


class FileServer(http.server.ThreadingHTTPServer):
    """Files of a folder over HTTP/1.1, streamed from disk, for (a').

    `GET /md5/NAME` answers with `Content-MD5` (the client checks it);
    `GET /plain/NAME` without (the client has nothing to check). Both send
    the same bytes, `Content-Length` and an opaque ETag.
    """

    daemon_threads = True

    def __init__(self, folder: str) -> None:
        super().__init__(("127.0.0.1", 0), _FileHandler)
        self.folder = folder
        self.md5: Dict[str, str] = {}

    def add(self, name: str, size: int) -> None:
        """Write a file of `size` random bytes, and note its MD5."""
        digest = hashlib.md5()
        block = os.urandom(MIB)
        with open(os.path.join(self.folder, name), "wb") as out:
            left = size
            while left > 0:
                piece = block[: min(MIB, left)]
                out.write(piece)
                digest.update(piece)
                left -= len(piece)
        self.md5[name] = base64.b64encode(digest.digest()).decode("ascii")

    def prediction(self, name: str, md5: bool) -> Prediction:
        """A succeeded prediction whose output is this file's URL."""
        kind = "md5" if md5 else "plain"
        url = f"http://127.0.0.1:{self.server_port}/{kind}/{name}"
        return {
            "id": f"bench-{kind}",
            "status": "succeeded",
            "output": {"files": [url]},
        }


class _FileHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FileServer

    def do_GET(self) -> None:
        _, kind, name = self.path.split("/", 2)
        if name not in self.server.md5 or kind not in ("md5", "plain"):
            self.send_error(404)
            return
        path = os.path.join(self.server.folder, name)
        size = os.path.getsize(path)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.send_header("ETag", f'"v1-{size}"')
        if kind == "md5":
            self.send_header("Content-MD5", self.server.md5[name])
        self.end_headers()
        with open(path, "rb") as file:
            self.connection.sendfile(file)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve_files(sizes: List[Tuple[str, int]]) -> Iterator[FileServer]:
    """A `FileServer` holding files of these names and sizes, for the block."""
    with tempfile.TemporaryDirectory(prefix="bench-files-") as folder:
        server = FileServer(folder)
        for name, size in sizes:
            server.add(name, size)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield server
        finally:
            server.shutdown()
            server.server_close()


# ---- one side, in a process of its own ---------------------------------------


def _rss() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _urls(prediction: Prediction) -> List[str]:
    return list(prediction["output"]["files"])


def _requests_side(urls: List[str], folder: str, parallel: int) -> None:
    import requests

    session = requests.Session()

    def one(index: int) -> None:
        with session.get(urls[index], stream=True, timeout=60) as response:
            response.raise_for_status()
            with open(os.path.join(folder, f"file-{index}"), "wb") as out:
                for chunk in response.iter_content(MIB):
                    out.write(chunk)

    if parallel == 1:
        for index in range(len(urls)):
            one(index)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(one, range(len(urls))))


def _raw_side(urls: List[str]) -> None:
    """Read each body into one buffer, keeping nothing: the server's pace."""
    buffer = bytearray(MIB)
    for url in urls:
        parts = urllib.parse.urlsplit(url)
        connection = http.client.HTTPConnection(parts.netloc, timeout=60)
        connection.request("GET", f"{parts.path}?{parts.query}")
        response = connection.getresponse()
        assert response.status == 200, response.status
        while response.readinto(buffer):
            pass
        connection.close()


def _ours_side(
    prediction: Prediction, folder: str, parallel: int, how: str
) -> Callable[[], None]:
    """A `predictions` side: made (client, files) now, run by the call."""
    import predictions

    client = predictions.Client("http://127.0.0.1:9/v1", trust_env=False)
    (first, *_) = client.predictions.output_files(prediction)  # type: ignore[arg-type]

    def run() -> None:
        if how == "save":
            first.save(folder)
        else:
            client.predictions.download(
                prediction,  # type: ignore[arg-type]
                folder,
                max_parallel=parallel,
            )

    return run


def side(argv: List[str]) -> None:
    """Run one side; print its figures as JSON: seconds, CPU seconds, growth."""
    who, how, parallel, folder, given = argv
    prediction = json.loads(given)
    urls = _urls(prediction)
    if who == "requests":
        import requests  # noqa: F401  (imported before the RSS is read)

        def run() -> None:
            _requests_side(urls, folder, int(parallel))

    elif who == "raw":

        def run() -> None:
            _raw_side(urls)

    else:
        run = _ours_side(prediction, folder, int(parallel), how)
    profile = os.environ.get("DOWNLOAD_PROFILE") == "1" and who == "predictions"
    before = _rss()
    cpu = time.process_time()
    started = time.perf_counter()
    if profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.runcall(run)
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("tottime").print_stats(12)
    else:
        run()
    wall = time.perf_counter() - started
    print(
        json.dumps(
            {
                "wall": wall,
                "cpu": time.process_time() - cpu,
                "grew": (_peak() - before) / MB,
            }
        )
    )


Side = Tuple[str, str, int, Prediction]
"""Who ("requests", "predictions", "raw"), how ("save", "download"),
parallel, and the prediction whose files it fetches."""


def _run_side(
    who: str, how: str, parallel: int, prediction: Prediction
) -> Dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-saved-") as folder:
        out = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "side", who, how,
             str(parallel), folder, json.dumps(prediction)],
            capture_output=True, text=True, timeout=600, check=False,
            env=dict(os.environ, PREDICTIONS_PLUGINS=""),
        )  # fmt: skip
        if out.returncode != 0:
            raise RuntimeError(f"{who} {how}: {out.stderr}")
        if out.stderr:
            print(out.stderr, file=sys.stderr)
        saved = sorted(os.listdir(folder))
        expected = 0 if who == "raw" else len(_urls(prediction))
        assert len(saved) == expected, (who, how, saved)
        return dict(json.loads(out.stdout.splitlines()[-1]))


def _compare(
    title: str, total: int, sides: Dict[str, Side]
) -> Dict[str, Dict[str, float]]:
    """Interleaved rounds of every side; print the best, as ratios to the first."""
    runs: Dict[str, List[Dict[str, float]]] = {name: [] for name in sides}
    for _ in range(ROUNDS):
        for name, (who, how, parallel, prediction) in sides.items():
            runs[name].append(_run_side(who, how, parallel, prediction))
    rows = {}
    for name, done in runs.items():
        best = min(done, key=lambda r: r["wall"])
        rows[name] = {
            "wall": best["wall"],
            "cpu": best["cpu"],
            "median": statistics.median(r["wall"] for r in done),
            "grew": max(r["grew"] for r in done),
        }
    reference = rows[next(iter(sides))]
    print(f"\n{title}: best of {ROUNDS} interleaved rounds, a process per side")
    print(
        f"  {'side':44} {'MB/s':>6} {'x requests':>10} {'median s':>8} "
        f"{'CPU s':>6} {'peak RSS growth MB':>18}"
    )
    for name, row in rows.items():
        print(
            f"  {name:44} {total / MB / row['wall']:6.0f} "
            f"{reference['wall'] / row['wall']:9.2f}x {row['median']:8.2f} "
            f"{row['cpu']:6.2f} {row['grew']:18.1f}"
        )
    return rows


def _ratio(rows: Dict[str, Dict[str, float]], ours: str, theirs: str) -> float:
    """How many times `theirs`' wall time `ours` is: its throughput ratio."""
    return rows[theirs]["wall"] / rows[ours]["wall"]


# ---- the parts ---------------------------------------------------------------


def download() -> None:
    """Parts (a), (a'), (b) and (c); see the module."""
    from bench import server

    with server() as base_url:
        big = demo_files(base_url, 1, BIG)
        small = demo_files(base_url, SMALL_COUNT, SMALL)
        one = _compare(
            f"(a) One {BIG / MB:.0f} MB file of the local server (demo/files), "
            "saved to disk",
            BIG,
            {
                "requests iter_content(1 MiB)": ("requests", "-", 1, big),
                "predictions OutputFile.save": ("predictions", "save", 1, big),
                "predictions Predictions.download": ("predictions", "download", 1, big),
                "http.client, nothing kept (the server's pace)": ("raw", "-", 1, big),
            },
        )  # fmt: skip
        many = _compare(
            f"(b) {SMALL_COUNT} files of {SMALL / MB:.0f} MB of the local server "
            "in parallel",
            SMALL * SMALL_COUNT,
            {
                "requests, 4 threads": ("requests", "-", 4, small),
                "predictions download (max_parallel=4)": (
                    "predictions", "download", 4, small,
                ),
                "requests, 8 threads": ("requests", "-", 8, small),
                "predictions download (max_parallel=8)": (
                    "predictions", "download", 8, small,
                ),
            },
        )  # fmt: skip
    with serve_files([("big.bin", BIG)]) as files:
        checked = files.prediction("big.bin", md5=True)
        unchecked = files.prediction("big.bin", md5=False)
        md5 = _compare(
            f"(a') One {BIG / MB:.0f} MB file of a host that sends Content-MD5 "
            "(FileServer)",
            BIG,
            {
                "requests iter_content(1 MiB)": ("requests", "-", 1, checked),
                "predictions save, Content-MD5 sent (checked)": (
                    "predictions", "save", 1, checked,
                ),
                "predictions save, no Content-MD5": (
                    "predictions", "save", 1, unchecked,
                ),
            },
        )  # fmt: skip
    requests_one = "requests iter_content(1 MiB)"
    save = one["predictions OutputFile.save"]
    fetched = one["predictions Predictions.download"]
    print(
        f"\n  (a) save: {_ratio(one, 'predictions OutputFile.save', requests_one):.2f}x"
        f" plain requests' throughput (goal >= 0.9), peak memory growth "
        f"{save['grew']:.1f} MB (goal < 50 MB)"
    )
    print(
        f"  (a) download: "
        f"{_ratio(one, 'predictions Predictions.download', requests_one):.2f}x, "
        f"peak memory growth {fetched['grew']:.1f} MB"
    )
    print(
        f"  (a') save with Content-MD5 checked: "
        f"{_ratio(md5, 'predictions save, Content-MD5 sent (checked)', requests_one):.2f}"
        f"x requests' throughput from the same host; without the header "
        f"{_ratio(md5, 'predictions save, no Content-MD5', requests_one):.2f}x"
    )
    for threads in (4, 8):
        ours = f"predictions download (max_parallel={threads})"
        print(
            f"  (b) {SMALL_COUNT} files, {threads} at once: "
            f"{_ratio(many, ours, f'requests, {threads} threads'):.2f}x requests "
            f"with {threads} threads, peak memory growth {many[ours]['grew']:.1f} MB"
        )
    batch_with_files()


def batch_with_files(rows: int = BATCH_ROWS) -> None:
    """(c): a batch of `rows` rows with a 1 MB file each, at the rate-limit floor."""
    from bench import server

    import predictions
    from predictions.batch import run_batch

    floor = rows / 15
    inputs = [{"count": 1, "size": BATCH_FILE, "n": n} for n in range(rows)]
    ways = ("without files (URLs kept)", "with outputs_dir (saved)")
    walls: Dict[str, List[float]] = {way: [] for way in ways}
    print(
        f"\n(c) A batch of {rows} rows of demo/files, a {BATCH_FILE / MB:.0f} MB "
        "file each: server limits reads 3/s, creates 15/s, holds 1 s "
        f"({BATCH_ROUNDS} interleaved rounds)"
    )
    print(
        f"  {'way':28} {'wall s':>7} {'floor s':>7} {'x floor':>7} {'reads':>6} "
        f"{'ok':>5} {'file GETs':>9} {'files saved':>11} {'MB saved':>8}"
    )
    for _ in range(BATCH_ROUNDS):
        for way in ways:
            keep = way.startswith("with outputs_dir")
            with server(
                "--rate-limit", "reads=3,creates=15", "--prefer-wait-max", "1"
            ) as base_url, tempfile.TemporaryDirectory(prefix="bench-batch-") as folder:

                class Gets:
                    """Counts the API's reads and the file host's GETs apart."""

                    def __init__(self, api: str) -> None:
                        self.api = api
                        self.counts = {"api": 0, "files": 0}

                    @predictions.hookimpl
                    def predictions_on_request(self, request: Any) -> None:
                        if request.method == "GET":
                            to_api = request.url.startswith(self.api)
                            self.counts["api" if to_api else "files"] += 1

                counter = Gets(base_url)
                gets = counter.counts
                client = predictions.Client(base_url, "bench", plugins=[counter])
                started = time.perf_counter()
                done = list(
                    run_batch(
                        inputs,
                        "demo/files",
                        client=client,
                        outputs_dir=folder if keep else None,
                    )
                )
                wall = time.perf_counter() - started
                client.close()
                ok = sum(1 for r in done if r["status"] == "succeeded")
                saved = [
                    os.path.getsize(os.path.join(top, name))
                    for top, _, names in os.walk(folder)
                    for name in names
                ]
            walls[way].append(wall)
            print(
                f"  {way:28} {wall:7.1f} {floor:7.1f} {wall / floor:7.2f} "
                f"{gets['api']:6} {ok:5} {gets['files']:9} {len(saved):11} "
                f"{sum(saved) / MB:8.0f}"
            )
    without, with_files = (min(walls[way]) for way in ways)
    print(
        f"  with files / without (best of each): {with_files / without:.2f}x "
        f"(goal <= 1.15); without files {without / floor:.2f}x the floor, with "
        f"files {with_files / floor:.2f}x (the server's creates bucket starts "
        "full, 15: a batch may end 1 s under the floor)"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["side"]:
        side(sys.argv[2:])
    else:
        download()
