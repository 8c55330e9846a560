"""Side-by-side measurements: this client against its peers, printed as ratios.

    make bench                       # every part
    python benchmarks/bench.py percall startup   # some parts

Parts:
  percall  client CPU and wall time per get and per create, against one local
           server in its own process: raw urllib3, plain requests, wriftai
           0.17.0, this client with no plugins, with both first-party ones,
           and with requests' Session.send patched by a pass-through wrapper
           as tracing tools patch it (the client then sends through it).
  startup  whole-process wall time of importing (and making a client), medians.
  async    1,000 concurrent async_create(wait=True) on demo/sleep (1 s): wall
           time and peak threads, this client against wriftai's asyncio client.
  pacing   200 concurrent waits against a server limiting reads to 3/s:
           errors, requests sent and 429s received, both clients.
  memory   RSS growth over 10,000 predictions waited on in one process.
  latency  time from create(..., wait=True) to the result for a model that
           runs 200 ms, median of 20: this client, wriftai 0.17.0 and 0.34.0
           (the latter from its own venv: WRIFTAI_034_PYTHON).
  streams  the time from an event leaving the server to the caller (median,
           this client and wriftai 0.34.0); 200 concurrent async streams:
           how many complete, the client's threads, and an async_get's
           latency meanwhile.
  upload   a 200 MB file: upload throughput beside a raw PUT of the same
           bytes over loopback, and the client's memory growth.
  batch    500 rows (BATCH_ROWS) against a server limiting reads to 3/s and
           creates to 15/s, holding creates 1 s at most: run_batch's wall
           time beside the floor those limits set, and the same workload
           through as_completed (create all, then wait), for short (200 ms)
           and long (2 s, past the hold) predictions. Goal: within 1.15x.
  batchmem 20,000 rows through run_batch with a ledger file, the inputs from
           a generator: wall time, and the process's memory growth.
  download output files saved (downloads.py), the local server's demo/files
           (in its own process): a 200 MB file by OutputFile.save and
           download beside plain requests iter_content(1 MiB) (throughput
           ratio, goal >= 0.9x; peak memory growth, goal < 50 MB); the save
           from a host that sends Content-MD5 (checked) and one that does
           not; 8 files of 25 MB in parallel; a batch of 200 rows with a
           1 MB file each through run_batch(outputs_dir=) at the rate-limit
           floor, beside the same batch keeping only the URLs (goal: within
           1.15x).
  otel     CPU per get with predictions-otel (tracing.py): with no SDK set
           up (goal <= 1.1x no plugin) and with the SDK, its exporters
           dropping everything (goal <= 1.5x), side by side.

Figures are from one run on a shared machine: compare the rows of one run,
as ratios, not numbers across runs.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager, nullcontext
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

ROUNDS = 7
CALLS = 300


@contextmanager
def server(*args: str) -> Iterator[str]:
    """A local server in its own process; yields its base URL."""
    env = dict(os.environ, PREDICTIONS_PLUGINS="")
    process = subprocess.Popen(
        [sys.executable, "-m", "predictions", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    base_url = process.stdout.readline().strip()
    try:
        yield base_url
    finally:
        process.terminate()
        process.wait(10)


@contextmanager
def session_send_patched() -> Iterator[None]:
    """Wrap requests' `Session.send` as instrumentations do, meanwhile."""
    import functools

    import requests

    original = requests.Session.send

    @functools.wraps(original)
    def send(self: Any, request: Any, **kwargs: Any) -> Any:
        return original(self, request, **kwargs)

    requests.Session.send = send  # type: ignore[method-assign]
    try:
        yield
    finally:
        requests.Session.send = original  # type: ignore[method-assign]


PATCHED = "predictions (Session.send patched)"
"""The row measured with `session_send_patched`."""


def measure(fn: Callable[[], Any], calls: int) -> Tuple[float, float]:
    """(CPU, wall) seconds per call of `fn`, over `calls` calls."""
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.process_time() - cpu) / calls, (time.perf_counter() - wall) / calls


def table(title: str, rows: Dict[str, Tuple[float, float]], reference: str) -> None:
    print(f"\n{title}")
    print(
        f"  {'client':36} {'CPU us':>8} {'wall us':>8} {'CPU/wriftai':>12} {'wall/wriftai':>12}"
    )
    ref_cpu, ref_wall = rows[reference]
    for name, (cpu, wall) in rows.items():
        print(
            f"  {name:36} {cpu * 1e6:8.0f} {wall * 1e6:8.0f} "
            f"{cpu / ref_cpu:12.2f} {wall / ref_wall:12.2f}"
        )


def percall() -> None:
    import requests
    import urllib3
    import wriftai

    import predictions

    with server() as base_url:
        jsonlog = tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False).name
        os.environ["PREDICTIONS_PLUGINS"] = ""
        ours = predictions.Client(base_url)
        os.environ["PREDICTIONS_PLUGINS"] = "progress,jsonlog"
        os.environ["PREDICTIONS_JSONLOG"] = jsonlog
        ours_plugins = predictions.Client(base_url)
        assert ours_plugins.plugins.active
        os.environ["PREDICTIONS_PLUGINS"] = ""
        theirs = wriftai.Client(api_base_url=base_url, access_token="bench")
        pool = urllib3.PoolManager()
        session = requests.Session()
        headers = {"Content-Type": "application/json"}
        created = ours.predictions.create({"input": {"text": "bench"}}, "demo/echo")
        pid = created["id"]
        url = f"{base_url}/predictions/{pid}"
        create_url = f"{base_url}/models/demo/echo/predictions"
        body = json.dumps({"input": {"text": "bench"}, "webhook": None})
        params = {"input": {"text": "bench"}}

        gets: Dict[str, Callable[[], Any]] = {
            "urllib3 (raw)": lambda: json.loads(pool.request("GET", url).data),
            "requests.Session (defaults)": lambda: session.get(url).json(),
            "wriftai 0.17.0": lambda: theirs.predictions.get(pid),
            "predictions (no plugins)": lambda: ours.predictions.get(pid),
            "predictions (both plugins)": lambda: ours_plugins.predictions.get(pid),
            PATCHED: lambda: ours.predictions.get(pid),
        }
        creates: Dict[str, Callable[[], Any]] = {
            "urllib3 (raw)": lambda: json.loads(
                pool.request("POST", create_url, body=body, headers=headers).data
            ),
            "requests.Session (defaults)": lambda: session.post(
                create_url, data=body, headers=headers
            ).json(),
            "wriftai 0.17.0": lambda: theirs.predictions.create(params, "demo/echo"),
            "predictions (no plugins)": lambda: ours.predictions.create(
                params, "demo/echo"
            ),
            "predictions (both plugins)": lambda: ours_plugins.predictions.create(
                params, "demo/echo"
            ),
            PATCHED: lambda: ours.predictions.create(params, "demo/echo"),
        }
        for title, calls in (("get", gets), ("create", creates)):
            samples: Dict[str, List[Tuple[float, float]]] = {name: [] for name in calls}
            for name, fn in calls.items():
                with session_send_patched() if name == PATCHED else nullcontext():
                    measure(fn, 50)  # warm up connections and caches
            for _ in range(ROUNDS):  # interleaved, so the machine's noise is shared
                for name, fn in calls.items():
                    with session_send_patched() if name == PATCHED else nullcontext():
                        samples[name].append(measure(fn, CALLS))
            rows = {
                name: (
                    statistics.median(s[0] for s in runs),
                    statistics.median(s[1] for s in runs),
                )
                for name, runs in samples.items()
            }
            table(
                f"Per {title}: medians of {ROUNDS} interleaved rounds of {CALLS} calls",
                rows,
                "wriftai 0.17.0",
            )
        ours.close()
        ours_plugins.close()
        os.unlink(jsonlog)


def startup(runs: int = 31) -> None:
    def median_wall(code: str) -> float:
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    url = "http://127.0.0.1:9/v1"
    cases = [
        ("python -c pass", "pass", "pass"),
        ("import", "import wriftai", "import predictions"),
        (
            "from X import Client",
            "from wriftai import Client",
            "from predictions import Client",
        ),
        (
            "import and make a client",
            f"from wriftai import Client; Client(api_base_url='{url}')",
            f"from predictions import Client; Client('{url}')",
        ),
    ]
    print(f"\nStart-up: whole processes, medians of {runs} runs")
    print(f"  {'case':28} {'wriftai ms':>10} {'predictions ms':>15} {'ratio':>6}")
    for label, theirs, ours in cases:
        a, b = median_wall(theirs), median_wall(ours)
        print(f"  {label:28} {a * 1e3:10.0f} {b * 1e3:15.0f} {b / a:6.2f}")


class PeakThreads:
    """Samples threading.active_count() while a block runs."""

    def __init__(self) -> None:
        self.peak = threading.active_count()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, threading.active_count() - 1)  # not this one

    def __enter__(self) -> PeakThreads:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


def async_scale(count: int = 1000) -> None:
    import httpx
    import wriftai
    from wriftai.predictions import AsyncWaitOptions as TheirOptions

    import predictions

    params = {"input": {"seconds": 1}}
    with server() as base_url:
        ours = predictions.Client(base_url)
        # wriftai's default 10 s timeout also bounds the wait for one of its 100
        # pooled connections, which 1,000 tasks exceed: give it ours (60 s).
        theirs = wriftai.Client(
            api_base_url=base_url,
            access_token="bench",
            client_options={"timeout": httpx.Timeout(60.0, connect=10.0)},  # type: ignore[typeddict-item]
        )

        async def run_ours() -> List[Any]:
            options = predictions.AsyncWaitOptions(poll_interval=1.0)
            return await asyncio.gather(
                *(
                    ours.predictions.async_create(params, "demo/sleep", True, options)
                    for _ in range(count)
                ),
                return_exceptions=True,
            )

        async def run_theirs() -> List[Any]:
            options = TheirOptions(poll_interval=1.0)
            return await asyncio.gather(
                *(
                    theirs.predictions.async_create(
                        dict(params), "demo/sleep", wait=True, wait_options=options
                    )
                    for _ in range(count)
                ),
                return_exceptions=True,
            )

        print(
            f"\nAsync at scale: {count} concurrent async_create(wait=True), demo/sleep 1 s"
        )
        print(f"  {'client':28} {'wall s':>7} {'succeeded':>9} {'peak threads':>12}")
        results = {}
        for name, run in (("wriftai 0.17.0", run_theirs), ("predictions", run_ours)):
            gc.collect()
            with PeakThreads() as peak:
                started = time.perf_counter()
                done = asyncio.run(run())
                wall = time.perf_counter() - started
            ok = sum(
                1 for p in done if isinstance(p, dict) and p["status"] == "succeeded"
            )
            errors = sorted(
                {type(p).__name__ for p in done if isinstance(p, BaseException)}
            )
            results[name] = wall
            print(f"  {name:28} {wall:7.2f} {ok:9} {peak.peak:12}  {' '.join(errors)}")
        print(
            f"  wall ratio predictions/wriftai: "
            f"{results['predictions'] / results['wriftai 0.17.0']:.2f}; "
            f"max_workers={ours.settings.max_workers}, so the bound is "
            f"{ours.settings.max_workers + 2} threads"
        )
        ours.close()


def pacing(count: int = 200) -> None:
    import wriftai

    import predictions

    params = {"input": {"text": "paced"}}
    print(
        f"\nPacing: {count} concurrent waits, server limiting reads to 3/s, creates 15/s"
    )
    print(
        f"  {'client':16} {'wall s':>7} {'ok':>4} {'errors':>6} {'requests':>8} {'429s':>5}"
    )
    for name in ("wriftai 0.17.0", "predictions"):
        with server("--rate-limit", "reads=3,creates=15") as base_url:
            statuses: List[int] = []

            class Count:
                def __init__(self, seen: List[int]) -> None:
                    self.seen = seen

                @predictions.hookimpl
                def predictions_on_response(self, response: Any) -> None:
                    self.seen.append(response.status_code)

            async def count_response(response: Any, seen: List[int] = statuses) -> None:
                seen.append(response.status_code)

            async def one(client: Any, ours: bool) -> Optional[BaseException]:
                try:
                    if ours:
                        await client.predictions.async_create(
                            params, "demo/echo", True, predictions.AsyncWaitOptions(1.0)
                        )
                    else:
                        from wriftai.predictions import AsyncWaitOptions

                        await client.predictions.async_create(
                            dict(params), "demo/echo", True, AsyncWaitOptions(1.0)
                        )
                except Exception as exc:
                    return exc
                return None

            async def run(client: Any, ours: bool) -> List[Optional[BaseException]]:
                return await asyncio.gather(*(one(client, ours) for _ in range(count)))

            started = time.perf_counter()
            if name == "predictions":
                client = predictions.Client(
                    base_url, "bench", plugins=[Count(statuses)]
                )
                errors = asyncio.run(run(client, True))
                client.close()
            else:
                client = wriftai.Client(api_base_url=base_url, access_token="bench")
                client._async_client.event_hooks["response"].append(count_response)
                errors = asyncio.run(run(client, False))
            wall = time.perf_counter() - started
            failed = [e for e in errors if e is not None]
            print(
                f"  {name:16} {wall:7.1f} {count - len(failed):4} {len(failed):6} "
                f"{len(statuses):8} {statuses.count(429):5}"
            )


def memory(count: int = 10_000, batch: int = 1000) -> None:
    import predictions

    def rss_mb() -> float:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    with server() as base_url:
        jsonlog = tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False).name
        os.environ["PREDICTIONS_PLUGINS"] = "jsonlog"
        os.environ["PREDICTIONS_JSONLOG"] = jsonlog
        client = predictions.Client(base_url)
        os.environ["PREDICTIONS_PLUGINS"] = ""
        options = predictions.AsyncWaitOptions(poll_interval=0.05)

        async def wave(size: int) -> None:
            await asyncio.gather(
                *(
                    client.predictions.async_create(
                        {"input": {"n": i}}, "demo/echo", True, options
                    )
                    for i in range(size)
                )
            )

        asyncio.run(wave(batch))  # warm up: sessions, threads, caches
        gc.collect()
        before = rss_mb()
        started = time.perf_counter()
        for _ in range(count // batch):
            asyncio.run(wave(batch))
        gc.collect()
        after = rss_mb()
        client.close()
        os.unlink(jsonlog)
    print(f"\nMemory: {count} predictions created and waited on (async, jsonlog on)")
    print(
        f"  RSS before {before:.1f} MB, after {after:.1f} MB: grew {after - before:.1f} MB "
        f"(bound 50 MB) in {time.perf_counter() - started:.1f} s"
    )


def latency(rounds: int = 20, seconds: float = 0.2) -> None:
    import wriftai

    import predictions

    params = {"input": {"seconds": seconds}}
    with server() as base_url:
        ours = predictions.Client(base_url)
        theirs = wriftai.Client(api_base_url=base_url, access_token="bench")
        ours.predictions.create({"input": {"text": "warm"}}, "demo/echo", wait=True)
        theirs.predictions.create({"input": {"text": "warm"}}, "demo/echo", wait=True)

        def median(create: Callable[[], Any]) -> float:
            times = []
            for _ in range(rounds):
                started = time.perf_counter()
                done = create()
                times.append(time.perf_counter() - started)
                assert done["status"] == "succeeded", done
            return statistics.median(times)

        rows = {
            "predictions": median(
                lambda: ours.predictions.create(params, "demo/sleep", wait=True)
            ),
            "wriftai 0.17.0": median(
                lambda: theirs.predictions.create(dict(params), "demo/sleep", wait=True)
            ),
        }
        python = os.environ.get("WRIFTAI_034_PYTHON")
        if python:
            script = os.path.join(os.path.dirname(__file__), "latency_wriftai034.py")
            out = subprocess.run(
                [python, script, base_url, str(rounds), str(seconds)],
                capture_output=True,
                text=True,
                timeout=600,
                check=True,
            )
            rows["wriftai 0.34.0"] = float(out.stdout.split()[-1])
        ours.close()
    print(
        f"\nLatency: create(..., wait=True) to the result, a model of "
        f"{seconds * 1000:.0f} ms, median of {rounds}"
    )
    print(f"  {'client':20} {'ms':>7} {'over the model':>15}")
    for name, value in rows.items():
        print(f"  {name:20} {value * 1000:7.0f} {value / seconds:14.2f}x")
    if "wriftai 0.34.0" not in rows:
        print("  (wriftai 0.34.0: set WRIFTAI_034_PYTHON, as make bench does)")


async def _clock_model(input: Any) -> Any:
    """`bench/clock`: each piece is the time it left the server.

    An async generator, so that hundreds run at once on the server's loop.
    """
    for _ in range(int(input["pieces"])):
        await asyncio.sleep(float(input.get("gap", 0.01)))
        yield repr(time.time())


def streams(pieces: int = 200, concurrent: int = 200) -> None:
    import predictions
    from predictions.testing import LocalServer

    with LocalServer(models={"bench/clock": _clock_model}) as server:
        client = predictions.Client(server.base_url)
        lags = []
        events = client.predictions.create(
            {"input": {"pieces": pieces}}, "bench/clock", wait=True, stream=True
        )
        for event in events:
            if event["event"] == "output":
                lags.append((time.time() - float(event["data"])) * 1000)
        rows = {"predictions": statistics.median(lags)}
        python = os.environ.get("WRIFTAI_034_PYTHON")
        if python:
            script = os.path.join(os.path.dirname(__file__), "events_wriftai034.py")
            out = subprocess.run(
                [python, script, server.base_url, str(pieces)],
                capture_output=True,
                text=True,
                timeout=600,
                check=True,
            )
            rows["wriftai 0.34.0"] = float(out.stdout.split()[-1])
        print(f"\nEvents: from leaving the server to the caller, median of {pieces}")
        for name, value in rows.items():
            print(f"  {name:20} {value:7.2f} ms")

        async def many() -> Tuple[int, float, int]:
            async def one() -> int:
                stream = await client.predictions.async_create(
                    {"input": {"pieces": 20, "gap": 0.25}},
                    "bench/clock",
                    wait=True,
                    stream=True,
                )
                return sum([1 async for e in stream if e["event"] == "output"])

            tasks = [asyncio.ensure_future(one()) for _ in range(concurrent)]
            await asyncio.sleep(2.0)  # all open, waiting for their next events
            threads = sum(  # the client's own, not the in-process server's
                1
                for thread in threading.enumerate()
                if thread.name.startswith("predictions")
                and not thread.name.startswith("predictions-testing")
            )
            started = time.perf_counter()
            await client.predictions.async_get(created["id"])
            get_ms = (time.perf_counter() - started) * 1000
            counts = await asyncio.gather(*tasks)
            return sum(1 for c in counts if c == 20), get_ms, threads

        created = client.predictions.create({"input": 1}, "demo/echo")
        done, get_ms, threads = asyncio.run(many())
        print(f"\n{concurrent} concurrent async streams (20 events each, 5 s)")
        print(
            f"  {done} of {concurrent} complete; the client had {threads} threads "
            f"while they were open (max_workers={client.settings.max_workers}, "
            "and one stream thread per open stream); "
            f"an async_get meanwhile took {get_ms:.1f} ms"
        )
        client.close()


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def upload(size: int = 200 * 1024 * 1024) -> None:
    import requests

    import predictions
    from predictions.files import File
    from predictions.files import upload as upload_file

    with tempfile.NamedTemporaryFile(delete=False) as handle:
        block = os.urandom(1024 * 1024)
        for _ in range(size // len(block)):
            handle.write(block)
        path = handle.name
    mb = size / 1024 / 1024
    try:
        # The server in a process of its own: the memory measured is the client's.
        with server("--part-size", str(16 * 1024 * 1024)) as base_url:
            client = predictions.Client(base_url, "bench")
            gc.collect()
            before = _rss_mb()
            started = time.perf_counter()
            upload_file(client.api, File(path))
            ours = time.perf_counter() - started
            grew = _rss_mb() - before
            client.close()
        # The floor: the same bytes in one raw PUT, to a one-part upload.
        with server("--part-size", str(size)) as base_url:
            created = requests.post(
                f"{base_url}/uploads",
                json={"size": size, "mime_type": "application/octet-stream"},
                headers={"Authorization": "Bearer bench"},
            ).json()
            with open(path, "rb") as body:
                started = time.perf_counter()
                requests.put(
                    created["urls"][0], data=body, headers={"Content-Length": str(size)}
                ).raise_for_status()
                raw = time.perf_counter() - started
    finally:
        os.unlink(path)
    print(f"\nUpload of {mb:.0f} MB over loopback (16 MiB parts, 4 at once)")
    print(
        f"  predictions  {mb / ours:7.1f} MB/s ({ours:.2f} s); RSS grew {grew:.1f} MB"
    )
    print(f"  raw PUT      {mb / raw:7.1f} MB/s ({raw:.2f} s)")
    print(f"  throughput: {raw / ours:.2f}x a raw PUT's (goal >= 0.8; memory < 50 MB)")


def batch(rows: int = int(os.environ.get("BATCH_ROWS", "500"))) -> None:
    import predictions
    from predictions.batch import as_completed, run_batch

    print(f"\nBatches: {rows} rows, server limits reads 3/s, creates 15/s, holds 1 s")
    print(
        f"  {'workload':22} {'way':14} {'wall s':>7} {'floor s':>7} {'x floor':>7} "
        f"{'reads':>6} {'ok':>5}"
    )
    workloads = [("short (200 ms)", 0.2, rows / 15), ("long (2 s)", 2.0, rows / 3)]
    for label, seconds, floor in workloads:
        inputs = [{"seconds": seconds, "n": n} for n in range(rows)]
        for way in ("run_batch", "as_completed"):
            with server(
                "--rate-limit", "reads=3,creates=15", "--prefer-wait-max", "1"
            ) as base_url:
                reads: List[int] = []

                class Reads:
                    def __init__(self, seen: List[int]) -> None:
                        self.seen = seen

                    @predictions.hookimpl
                    def predictions_on_request(self, request: Any) -> None:
                        if request.method == "GET":
                            self.seen.append(1)

                client = predictions.Client(base_url, "bench", plugins=[Reads(reads)])
                started = time.perf_counter()
                if way == "run_batch":
                    done = list(run_batch(inputs, "demo/sleep", client=client))
                else:
                    created = [
                        client.predictions.create({"input": i}, "demo/sleep")
                        for i in inputs
                    ]
                    done = list(as_completed(created, client=client))
                wall = time.perf_counter() - started
                client.close()
                ok = sum(1 for r in done if r["status"] == "succeeded")
                print(
                    f"  {label:22} {way:14} {wall:7.1f} {floor:7.1f} "
                    f"{wall / floor:7.2f} {len(reads):6} {ok:5}"
                )


def batch_memory(rows: int = 20_000) -> None:
    """A long batch's memory: RSS growth over `rows` rows, with a ledger file."""
    import predictions
    from predictions.batch import run_batch

    with server() as base_url, tempfile.TemporaryDirectory() as folder:
        client = predictions.Client(base_url, "bench")
        inputs = ({"text": f"row {n}"} for n in range(rows))  # never a list
        ledger = os.path.join(folder, "rows.ledger")
        list(run_batch(({"text": "warm"} for _ in range(200)), "demo/echo",
                       client=client))  # fmt: skip
        gc.collect()
        before = _rss_mb()
        started = time.perf_counter()
        done = 0
        for _ in run_batch(inputs, "demo/echo", client=client, ledger=ledger):
            done += 1
        wall = time.perf_counter() - started
        gc.collect()
        grew = _rss_mb() - before
        size = os.path.getsize(ledger) / 1e6
        client.close()
    print(
        f"\nA batch of {done:,} rows (no limits, a ledger file): {wall:.1f} s, "
        f"{done / wall:.0f} rows/s; RSS grew {grew:.1f} MB; ledger {size:.1f} MB"
    )


def download() -> None:
    from downloads import download as saved_files

    saved_files()


def otel() -> None:
    from tracing import otel as tracing_cost

    tracing_cost()


PARTS = {
    "percall": percall,
    "startup": startup,
    "async": async_scale,
    "pacing": pacing,
    "memory": memory,
    "latency": latency,
    "streams": streams,
    "upload": upload,
    "batch": batch,
    "batchmem": batch_memory,
    "download": download,
    "otel": otel,
}


def main(argv: List[str]) -> int:
    os.environ["PREDICTIONS_PLUGINS"] = ""  # no plugins unless a part asks for them
    parts = argv or list(PARTS)
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        print(f"unknown parts {unknown}; choose from {list(PARTS)}", file=sys.stderr)
        return 2
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    for part in parts:
        PARTS[part]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
