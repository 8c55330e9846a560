"""Work handed to another thread runs in a copy of the caller's context.

A thread pool runs what it is given in its own thread's context, so a
`contextvars.ContextVar` the caller set (a tracer's current span, a request
id a logging filter reads) would not be seen there, nor by the plugin hooks
called there. Every hand-off of the client goes through here: the `async_`
twins' requests, an upload's parts and output files' downloads
(`API.in_parallel`), async streams' reads and a batch's rows. Each call
runs in a copy taken when it is handed off (as `asyncio.to_thread` does
from Python 3.9): one copy per call, since one context cannot be entered by
two threads at once, and what the work sets stays in its copy.
"""

from __future__ import annotations

import contextvars
from concurrent.futures import Executor, Future
from typing import Any, Callable, Optional, TypeVar

T = TypeVar("T")


def submit(pool: Executor, function: Callable[..., T], *args: Any) -> Future[T]:
    """Run `function(*args)` on `pool` in a copy of the caller's context."""
    return pool.submit(contextvars.copy_context().run, function, *args)


async def run_in(pool: Optional[Executor], function: Callable[..., T], *args: Any) -> T:
    """Await `function(*args)`, run on `pool` in a copy of the caller's context.

    Args:
        pool: The threads; None for the event loop's default executor.
        function: What to run there.
        *args: Its arguments.
    """
    import asyncio  # imported on first use: a sync-only program never pays for it

    context = contextvars.copy_context()
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(pool, context.run, function, *args)


__all__ = ["run_in", "submit"]
