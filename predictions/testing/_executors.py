"""Ending a thread pool without waiting on it forever."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor


def shut_down(executor: ThreadPoolExecutor, deadline: float) -> None:
    """Shut a pool down and wait for its threads, until a deadline at most.

    `shutdown(wait=True)` has no timeout, and a model or a webhook receiver
    that never returns would hold the caller forever; so this joins the pool's
    threads one by one, each until `deadline` at the latest.

    Args:
        executor: The pool.
        deadline: A `time.monotonic()` time.
    """
    executor.shutdown(wait=False)
    # `_threads` is private, but the only way to wait with a timeout; it has
    # been there since Python 3.2.
    for worker in list(getattr(executor, "_threads", ())):
        worker.join(max(0.0, deadline - time.monotonic()))
