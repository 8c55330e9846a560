"""The `download` part of bench.py: output files saved, beside plain requests.

    python bench.py download

    DOWNLOAD_PROFILE=1 python bench.py download   # and a profile of our sides

(a) One 200 MB file (DOWNLOAD_MB) saved by `OutputFile.save` and by
    `Predictions.download`, beside plain `requests` writing
    `iter_content(1 MiB)` to disk: throughput as a ratio (goal >= 0.9x) and
    each side's peak memory growth (goal < 50 MB). A row where the host gives
    no MD5 (its ETag is not one) shows what the client's MD5 check costs.
(b) 8 files of 25 MB saved by one `download` (4 at once, its default, and 8),
    beside plain requests with as many threads.

Each side runs alone in a fresh process (`python downloads.py side ...`), so
its memory is its own: the growth is the peak RSS (`ru_maxrss`) past the RSS
before the transfer, with the client made and warm (the largest of the
rounds). Rounds are interleaved; the best of each side's is compared (and
its median shown): on a shared machine the same side takes 0.1 s or 0.45 s
by the kernel's mood (page allocation), and noise only ever adds time. The files are served by `FileServer`, a threaded
HTTP server of this module, from disk (`sendfile`), with `Content-Length`
and an ETag that is the file's MD5 (as the local server's are).

TODO(batch outputs_dir): (c) a batch of 200 rows with a 1 MB file each at
the rate-limit floor needs the batch runner's `outputs_dir`, which is not on
this branch yet; `batch_with_files` below is where it goes.
"""

from __future__ import annotations

import contextlib
import hashlib
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
from typing import Any, Callable, Dict, Iterator, List, Tuple

MB = 1000 * 1000
MIB = 1024 * 1024
ROUNDS = int(os.environ.get("DOWNLOAD_ROUNDS", "5"))
BIG = int(os.environ.get("DOWNLOAD_MB", "200")) * MB
SMALL, SMALL_COUNT = 25 * MB, 8


# ---- where the files come from ----------------------------------------------


class FileServer(http.server.ThreadingHTTPServer):
    """Files of a folder over HTTP/1.1, streamed from disk, with MD5 ETags.

    `GET /md5/NAME` answers with `ETag: "<md5 hex>"` (the client checks it);
    `GET /plain/NAME` with an ETag that is no MD5 (the client cannot check).
    """

    daemon_threads = True

    def __init__(self, folder: str) -> None:
        super().__init__(("127.0.0.1", 0), _FileHandler)
        self.folder = folder
        self.md5: Dict[str, str] = {}

    def add(self, name: str, size: int) -> None:
        """Write a file of `size` random-looking bytes, and note its MD5."""
        digest = hashlib.md5()
        block = os.urandom(MIB)
        with open(os.path.join(self.folder, name), "wb") as out:
            left = size
            while left > 0:
                piece = block[: min(MIB, left)]
                out.write(piece)
                digest.update(piece)
                left -= len(piece)
        self.md5[name] = digest.hexdigest()

    def url(self, name: str, md5: bool = True) -> str:
        """The URL of a file added: its ETag an MD5, or (`md5` False) not one."""
        kind = "md5" if md5 else "plain"
        return f"http://127.0.0.1:{self.server_port}/{kind}/{name}"


class _FileHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FileServer

    def do_GET(self) -> None:
        _, kind, name = self.path.split("/", 2)
        path = os.path.join(self.server.folder, os.path.basename(name))
        if name not in self.server.md5 or kind not in ("md5", "plain"):
            self.send_error(404)
            return
        size = os.path.getsize(path)
        etag = self.server.md5[name] if kind == "md5" else f"v1-{size}"
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.send_header("ETag", f'"{etag}"')
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


# The one line to change once the local server serves `demo/files` (Range,
# ETag, on its storage port): a function of the same shape that runs it and
# hands out the output's URLs.
SOURCE = serve_files


# ---- one side, in a process of its own ---------------------------------------


def _rss() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


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


def _ours_side(
    urls: List[str], folder: str, parallel: int, how: str
) -> Callable[[], None]:
    """A `predictions` side: made (client, files) now, run by the call."""
    import predictions

    client = predictions.Client("http://127.0.0.1:9/v1", trust_env=False)
    output = urls[0] if len(urls) == 1 else urls
    prediction: Any = {"id": "bench", "status": "succeeded", "output": output}
    (first, *_) = client.predictions.output_files(prediction)

    def run() -> None:
        if how == "save":
            first.save(folder)
        else:
            client.predictions.download(prediction, folder, max_parallel=parallel)

    return run


def side(argv: List[str]) -> None:
    """Run one side; print its figures as JSON: seconds, CPU seconds, growth."""
    who, how, parallel, folder, *urls = argv
    if who == "requests":
        import requests  # noqa: F401  (imported before the RSS is read)

        def run() -> None:
            _requests_side(urls, folder, int(parallel))

    else:
        run = _ours_side(urls, folder, int(parallel), how)
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


def _run_side(who: str, how: str, parallel: int, urls: List[str]) -> Dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-saved-") as folder:
        out = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "side", who, how,
             str(parallel), folder, *urls],
            capture_output=True, text=True, timeout=600, check=False,
            env=dict(os.environ, PREDICTIONS_PLUGINS=""),
        )  # fmt: skip
        if out.returncode != 0:
            raise RuntimeError(f"{who} {how}: {out.stderr}")
        if out.stderr:
            print(out.stderr, file=sys.stderr)
        saved = sorted(os.listdir(folder))
        assert len(saved) == len(urls), (who, how, saved)
        return dict(json.loads(out.stdout.splitlines()[-1]))


def _compare(
    title: str, total: int, sides: Dict[str, Tuple[str, str, int, List[str]]]
) -> Dict[str, Dict[str, float]]:
    """Interleaved rounds of every side; print medians, as ratios to the first."""
    runs: Dict[str, List[Dict[str, float]]] = {name: [] for name in sides}
    for _ in range(ROUNDS):
        for name, (who, how, parallel, urls) in sides.items():
            runs[name].append(_run_side(who, how, parallel, urls))
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
        f"  {'side':40} {'MB/s':>6} {'x requests':>10} {'median s':>8} "
        f"{'CPU s':>6} {'peak RSS growth MB':>18}"
    )
    for name, row in rows.items():
        print(
            f"  {name:40} {total / MB / row['wall']:6.0f} "
            f"{reference['wall'] / row['wall']:9.2f}x {row['median']:8.2f} "
            f"{row['cpu']:6.2f} {row['grew']:18.1f}"
        )
    return rows


def _md5_seconds(size: int) -> float:
    """Seconds MD5 takes over `size` bytes, a MiB at a time (the client's check)."""
    block = os.urandom(MIB)
    digest = hashlib.md5()
    started = time.perf_counter()
    for _ in range(size // MIB):
        digest.update(block)
    return time.perf_counter() - started


def download() -> None:
    """Parts (a) and (b); see the module."""
    big = [("big.bin", BIG)]
    small = [(f"small-{n}.bin", SMALL) for n in range(SMALL_COUNT)]
    with SOURCE(big + small) as files:
        one, plain = [files.url("big.bin")], [files.url("big.bin", md5=False)]
        rows = _compare(
            f"(a) One {BIG / MB:.0f} MB file over loopback, saved to disk",
            BIG,
            {
                "requests iter_content(1 MiB)": ("requests", "-", 1, one),
                "predictions OutputFile.save": ("predictions", "save", 1, one),
                "predictions Predictions.download": ("predictions", "download", 1, one),
                "predictions save, host gives no MD5": (
                    "predictions", "save", 1, plain,
                ),
            },
        )  # fmt: skip
        many = [files.url(name) for name, _ in small]
        _compare(
            f"(b) {SMALL_COUNT} files of {SMALL / MB:.0f} MB in parallel",
            SMALL * SMALL_COUNT,
            {
                "requests, 4 threads": ("requests", "-", 4, many),
                "predictions download (max_parallel=4)": (
                    "predictions", "download", 4, many,
                ),
                "requests, 8 threads": ("requests", "-", 8, many),
                "predictions download (max_parallel=8)": (
                    "predictions", "download", 8, many,
                ),
            },
        )  # fmt: skip
    ours = rows["predictions OutputFile.save"]
    theirs = rows["requests iter_content(1 MiB)"]
    unchecked = rows["predictions save, host gives no MD5"]
    md5 = _md5_seconds(BIG)
    ratio = theirs["wall"] / ours["wall"]
    print(
        f"\n  save: {ratio:.2f}x plain requests' throughput (goal >= 0.9), peak "
        f"memory growth {ours['grew']:.1f} MB (goal < 50 MB)"
    )
    print(
        f"  where the time goes: the MD5 check. MD5 of {BIG / MB:.0f} MB alone "
        f"takes {md5:.2f} s here ({BIG / MB / md5:.0f} MB/s, a ceiling for a "
        f"checked file: {md5 / ours['wall']:.0%} of the save's wall time). "
        f"Without it (the host gives no MD5) the save takes "
        f"{unchecked['wall']:.2f} s, {theirs['wall'] / unchecked['wall']:.2f}x "
        f"requests; with it {ours['wall']:.2f} s. CPU {ours['cpu']:.2f} s, "
        f"{unchecked['cpu']:.2f} s unchecked, requests' {theirs['cpu']:.2f} s "
        "(DOWNLOAD_PROFILE=1 prints a profile of each predictions side)."
    )


def batch_with_files() -> None:
    """(c), to come: a batch of 200 rows with a 1 MB file each at the rate floor.

    TODO(batch outputs_dir): run `run_batch(..., outputs_dir=...)` over a
    model whose output is a 1 MB file, against a server limiting reads to
    3/s and creates to 15/s, and print its wall time beside the floor those
    limits set (rows / 15 per second), as the `batch` part does.
    """
    raise NotImplementedError("needs the batch runner's outputs_dir")


if __name__ == "__main__":
    if sys.argv[1:2] == ["side"]:
        side(sys.argv[2:])
    else:
        download()
