"""Many predictions under injected faults: every call ends well or with a typed error.

For each fault kind, many predictions are created and waited on at once
against the local server's fault injection. Every call must end with its
finished prediction or a `PredictionsError` subclass, and the server must
hold exactly one prediction for each create call that succeeded, and never
two for one call (each call's input names it, so duplicates are counted).
"""

from __future__ import annotations

import asyncio
import collections
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional, Tuple

import pytest

from predictions import AsyncWaitOptions, Client, PredictionsError, WaitOptions
from predictions.testing import Fault, Faults, LocalServer
from tests.faults.conftest import FIGURES

CALLS = 40
SEED = 1234
# With at most a 40% chance of a fault per request, 11 attempts all fail
# with odds of 0.4**11 < 5e-5 per call: "every idempotent call succeeds" holds
# however the threads interleave the seeded draws.
RETRIES = 10

SCENARIOS: Dict[str, Tuple[List[Fault], str, Tuple[float, float]]] = {
    # name: (rules, retry_create, (connect, read) timeouts)
    "503 bursts on every route": (
        [Fault("status", status=503, probability=0.3)],
        "safe",
        (2, 5),
    ),
    "502/500 bursts, idempotent creates": (
        [
            Fault("status", route="create", status=502, probability=0.3),
            Fault("status", route="get", status=500, probability=0.3),
        ],
        "idempotent",
        (2, 5),
    ),
    "429 with Retry-After": (
        [Fault("status", status=429, probability=0.3, retry_after="0")],
        "safe",
        (2, 5),
    ),
    "429 without any rate-limit header": (
        [Fault("status", status=429, probability=0.3, rate_limit_headers=False)],
        "safe",
        (2, 5),
    ),
    "HTML 502 from a proxy": (
        [Fault("status", status=502, probability=0.3, body="<html>Bad Gateway</html>")],
        "safe",
        (2, 5),
    ),
    "dropped before acting": (
        [Fault("drop_before", probability=0.25)],
        "safe",
        (2, 5),
    ),
    "dropped after acting, safe creates": (
        [Fault("drop_after", probability=0.25)],
        "safe",
        (2, 5),
    ),
    "dropped after acting, idempotent creates": (
        [Fault("drop_after", probability=0.25)],
        "idempotent",
        (2, 5),
    ),
    "answers slower than the read timeout": (
        [Fault("delay", delay=0.6, probability=0.2)],
        "safe",
        (2, 0.3),
    ),
    "slow answers, idempotent creates": (
        [Fault("delay", delay=0.6, probability=0.2)],
        "idempotent",
        (2, 0.3),
    ),
    "truncated bodies": (
        [Fault("truncate", probability=0.25)],
        "safe",
        (2, 5),
    ),
    "truncated bodies, idempotent creates": (
        [Fault("truncate", probability=0.25)],
        "idempotent",
        (2, 5),
    ),
}

OPTIONS = WaitOptions(poll_interval=0.02, timeout=30)


def one_call(
    client: Client, index: int
) -> Tuple[int, Optional[Dict[str, Any]], Optional[BaseException]]:
    try:
        prediction = client.predictions.create(
            {"input": {"call": index}}, "demo/echo", wait=True, wait_options=OPTIONS
        )
    except BaseException as exc:  # judged by the test: only typed errors pass
        return index, None, exc
    return index, dict(prediction), None


def check(
    scenario: str,
    server: LocalServer,
    outcomes: List[Tuple[int, Optional[Dict[str, Any]], Optional[BaseException]]],
) -> None:
    untyped = [
        exc
        for _, _, exc in outcomes
        if exc is not None and not isinstance(exc, PredictionsError)
    ]
    assert untyped == [], f"every failure must be a typed PredictionsError: {untyped!r}"

    held = collections.Counter(p["input"]["call"] for p in server.predictions)
    duplicates = sum(count - 1 for count in held.values() if count > 1)
    assert duplicates == 0, (
        f"calls with more than one prediction: {held.most_common(3)}"
    )
    assert set(held) <= {index for index, _, _ in outcomes}, (
        "a prediction no call asked for"
    )

    results = [(index, p) for index, p, _ in outcomes if p is not None]
    for index, prediction in results:
        assert prediction["status"] == "succeeded"
        assert prediction["output"] == {"call": index}
        assert held[index] == 1
        assert server.prediction(prediction["id"]) is not None
    assert server.faults is not None
    FIGURES.append(
        {
            "scenario": scenario,
            "calls": len(outcomes),
            "faults": server.faults.total,
            "results": len(results),
            "errors": len(outcomes) - len(results),
            "duplicates": duplicates,
        }
    )


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_call_ends_with_its_result_or_a_typed_error(scenario: str) -> None:
    rules, retry_create, timeout = SCENARIOS[scenario]
    faults = Faults(rules, seed=SEED)
    with LocalServer(faults=faults) as server, Client(
        server.base_url, max_retries=RETRIES, retry_create=retry_create, timeout=timeout
    ) as client, ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(lambda i: one_call(client, i), range(CALLS)))
        check(scenario, server, outcomes)
    assert faults.total > 0, "the scenario injected no fault"
    if retry_create == "idempotent":
        # Every failure here is retried, with the same key: all calls succeed.
        # (In safe mode a connection dropped after the request was sent is
        # raised: from the client, "before acting" looks like "after".)
        assert [exc for _, _, exc in outcomes if exc is not None] == []


def test_async_calls_under_faults() -> None:
    faults = Faults(
        [
            Fault("status", status=503, probability=0.2),
            Fault("drop_after", probability=0.1),
            Fault("truncate", probability=0.1),
        ],
        seed=SEED,
    )
    options = AsyncWaitOptions(poll_interval=0.02, timeout=30)

    async def main(
        client: Client,
    ) -> List[Tuple[int, Optional[Dict[str, Any]], Optional[BaseException]]]:
        async def call(
            index: int,
        ) -> Tuple[int, Optional[Dict[str, Any]], Optional[BaseException]]:
            try:
                p = await client.predictions.async_create(
                    {"input": {"call": index}},
                    "demo/echo",
                    wait=True,
                    wait_options=options,
                )
            except BaseException as exc:
                return index, None, exc
            return index, dict(p), None

        return list(await asyncio.gather(*(call(i) for i in range(CALLS))))

    with LocalServer(faults=faults) as server, Client(
        server.base_url, max_retries=RETRIES, retry_create="idempotent"
    ) as client:
        outcomes = asyncio.run(main(client))
        check("async: 503, dropped after, truncated", server, outcomes)
    assert [exc for _, _, exc in outcomes if exc is not None] == []
