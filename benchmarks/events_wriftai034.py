"""Median milliseconds from an event leaving the server to wriftai 0.34's caller.

Run by bench.py's `streams` part with the Python of a venv that has wriftai
0.34.0: `python events_wriftai034.py BASE_URL PIECES` prints the median. The
model (`bench/clock`, registered by bench.py) sends the time each piece left.
"""

from __future__ import annotations

import statistics
import sys
import time

import wriftai

base_url, pieces = sys.argv[1], int(sys.argv[2])
client = wriftai.Client(api_base_url=base_url, access_token="bench")
lags = []
events = client.predictions.create(
    model="bench/clock", input={"pieces": pieces}, wait=True, stream=True
)
for event in events:
    if event["event"] == "output":
        lags.append((time.time() - float(event["data"])) * 1000)
print(statistics.median(lags))
