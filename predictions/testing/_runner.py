"""Runs predictions off the request threads, on one asyncio event loop.

Every prediction is a task on a single background loop, so a sleeping
`async def` model costs no thread; plain functions go to a small thread pool.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Optional

from ._store import Record, Store

MAX_RUN_SECONDS = 30 * 60.0
"""The API fails a prediction that runs longer than 30 minutes."""


class Runner:
    """One event-loop thread that runs every prediction of a server."""

    def __init__(
        self, store: Store, workers: int = 4, max_run_seconds: float = MAX_RUN_SECONDS
    ) -> None:
        """Create a runner (not started).

        Args:
            store: Where the predictions live.
            workers: Threads for models that are plain functions.
            max_run_seconds: A prediction running longer fails.
        """
        self._store = store
        self._workers = workers
        self._max_run_seconds = max_run_seconds
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._executor: Optional[ThreadPoolExecutor] = None
        self._tasks: Dict[str, asyncio.Task[None]] = {}

    def start(self) -> None:
        """Start the loop thread; returns once the loop runs."""
        self._loop = asyncio.new_event_loop()
        self._executor = ThreadPoolExecutor(
            self._workers, thread_name_prefix="predictions-testing-model"
        )
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run,
            args=(self._loop, ready),
            name="predictions-testing-runner",
            daemon=True,
        )
        self._thread.start()
        ready.wait()

    def _run(self, loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        try:
            loop.run_forever()
        finally:
            tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the loop, cancelling what runs, and wait for the threads.

        A plain-function model that ignores `ctx.cancelled` may outlive this by
        running to its end in its pool thread; we wait for it at most `timeout`.
        """
        deadline = time.monotonic() + timeout
        loop, thread, executor = self._loop, self._thread, self._executor
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(max(0.0, deadline - time.monotonic()))
        if executor is not None:
            executor.shutdown(wait=False)
            for worker in list(getattr(executor, "_threads", ())):
                worker.join(max(0.0, deadline - time.monotonic()))
        self._loop = self._thread = self._executor = None

    def submit(self, record: Record) -> None:
        """Schedule a stored prediction to run."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._spawn, record)

    def cancel(self, prediction_id: str) -> None:
        """Cancel a prediction's task, if it is running."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._cancel_task, prediction_id)

    def _spawn(self, record: Record) -> None:
        task = asyncio.get_running_loop().create_task(self._execute(record))
        self._tasks[record.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(record.id, None))

    def _cancel_task(self, prediction_id: str) -> None:
        task = self._tasks.get(prediction_id)
        if task is not None:
            task.cancel()

    async def _execute(self, record: Record) -> None:
        store = self._store
        started = time.monotonic()
        setup_logs = [f"Setting up {record.model.ref}"]
        if not store.update(record, status="started", setup_logs=setup_logs, logs=[]):
            return  # cancelled while pending
        running = time.monotonic()
        store.update(record, setup_time=running - started)
        try:
            outcome = await self._outcome(record, running)
        except Exception as exc:  # a bug of ours: the prediction still ends
            outcome = {"status": "failed", "error": _error("internal", _describe(exc))}
        store.update(record, execution_time=time.monotonic() - running, **outcome)

    async def _outcome(self, record: Record, running: float) -> Dict[str, Any]:
        """Run the model; the changes that end its prediction."""
        try:
            output = await asyncio.wait_for(self._call(record), self._max_run_seconds)
        except Exception as exc:  # the model's own failure: reported, not raised
            if time.monotonic() - running >= self._max_run_seconds:
                message = f"Prediction timed out after {self._max_run_seconds:g} s"
                return {"status": "failed", "error": _error("internal", message)}
            detail = {"type": type(exc).__name__}
            error = _error("external", _describe(exc), detail)
            return {"status": "failed", "error": error}
        try:
            json.dumps(output, allow_nan=False)
        except (TypeError, ValueError) as exc:
            message = f"Output is not JSON serialisable: {exc}"
            return {"status": "failed", "error": _error("internal", message)}
        return {"status": "succeeded", "output": output}

    async def _call(self, record: Record) -> Any:
        model = record.model
        args = (
            (record.input, record.context) if model.takes_context else (record.input,)
        )
        if model.is_async:
            result = model.fn(*args)
        else:
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(
                self._executor, functools.partial(model.fn, *args)
            )
        if inspect.isawaitable(result):
            result = await result
        return result


def _error(source: str, message: str, detail: Any = None) -> Dict[str, Any]:
    return {"source": source, "message": message, "detail": detail}


def _describe(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # a __str__ that raises
        return type(exc).__name__
