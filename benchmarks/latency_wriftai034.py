"""Median seconds from create(..., wait=True) to the result, with wriftai 0.34.

Run by bench.py's `latency` part with the Python of a venv that has wriftai
0.34.0 (it cannot share a venv with 0.17.0): `python latency_wriftai034.py
BASE_URL ROUNDS SECONDS` prints the median.
"""

from __future__ import annotations

import statistics
import sys
import time

import wriftai

base_url, rounds, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
client = wriftai.Client(api_base_url=base_url, access_token="bench")
client.predictions.create(model="demo/echo", input={"text": "warm"}, wait=True)
times = []
for _ in range(rounds):
    started = time.perf_counter()
    done = client.predictions.create(
        model="demo/sleep", input={"seconds": seconds}, wait=True
    )
    times.append(time.perf_counter() - started)
    assert done["status"] == "succeeded", done
print(statistics.median(times))
