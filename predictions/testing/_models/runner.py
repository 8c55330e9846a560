"""Runs predictions off the request threads, on one asyncio event loop.

Every prediction is a task on a single background loop, so a sleeping
`async def` model costs no thread; plain functions go to a small thread pool,
and a prediction of one stays `pending` until a thread of the pool is free.
A model version not run for `keep_warm` seconds (or never) is cold: its next
predictions are `starting` for `cold_start` seconds (one load, however many
wait for it) before they are `started`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import inspect
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Dict, Optional, Tuple

from predictions.testing._api.store import Record, Store
from predictions.testing._executors import shut_down
from predictions.testing._models.outputs import (
    BadOutput,
    as_json,
    call_model,
    drain,
    drain_async,
)

MAX_RUN_SECONDS = 30 * 60.0
"""The API fails a prediction that runs longer than 30 minutes."""

COLD_START = 0.02
"""Seconds a cold model version takes to load (ours: short, yet observable)."""

KEEP_WARM = 300.0
"""Seconds a model version stays loaded after its last prediction (ours)."""

_VersionKey = Tuple[str, str, int]


class _Escaped(Exception):
    """A model raised a BaseException that is not an Exception (SystemExit...).

    Carried as an Exception because asyncio re-raises SystemExit and
    KeyboardInterrupt out of the event loop, which would end the runner and
    leave every later prediction pending.
    """

    def __init__(self, original: BaseException) -> None:
        super().__init__(original)
        self.original = original


class _Worker:
    """A thread of the pool, held by one prediction until its model returns."""

    def __init__(self, free: asyncio.Semaphore, executor: ThreadPoolExecutor) -> None:
        self._free = free
        self._executor = executor
        self._held = False

    async def acquire(self) -> None:
        """Wait for a free thread."""
        await self._free.acquire()
        self._held = True

    def run(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """Run `fn` on the thread; it is free again once `fn` returns.

        Not sooner: a cancelled plain function may run on to its end, and
        until then the next prediction must not be reported `started`.
        """
        loop = asyncio.get_running_loop()
        future = self._executor.submit(fn, *args)
        self._held = False
        future.add_done_callback(lambda _: _call_soon(loop, self._free.release))
        return future

    def release(self) -> None:
        """Free the thread, unless a model runs on it."""
        if self._held:
            self._held = False
            self._free.release()


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], Any]) -> None:
    with contextlib.suppress(RuntimeError):  # the loop has been closed: stopped
        loop.call_soon_threadsafe(callback)


class Runner:
    """One event-loop thread that runs every prediction of a server."""

    def __init__(
        self,
        store: Store,
        workers: int = 4,
        max_run_seconds: float = MAX_RUN_SECONDS,
        cold_start: float = COLD_START,
        keep_warm: float = KEEP_WARM,
    ) -> None:
        """Create a runner (not started).

        Args:
            store: Where the predictions live.
            workers: Threads for models that are plain functions.
            max_run_seconds: A prediction running longer fails.
            cold_start: Seconds a cold model version takes to load; 0 for
                no cold starts (and no `starting` status).
            keep_warm: Seconds a model version stays warm after its last
                prediction started or ended; 0 makes every prediction cold.
        """
        self._store = store
        self._workers = workers
        self._max_run_seconds = max_run_seconds
        self._cold_start = cold_start
        self._keep_warm = keep_warm
        # Owned by the loop's thread: touched only from coroutines and callbacks.
        self._warm_until: Dict[_VersionKey, float] = {}
        self._loading: Dict[_VersionKey, asyncio.Task[None]] = {}
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._executor: Optional[ThreadPoolExecutor] = None
        self._tasks: Dict[str, asyncio.Task[None]] = {}
        self._free_workers: Optional[asyncio.Semaphore] = None

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
        # Made here: before Python 3.10 it binds to the current thread's loop.
        self._free_workers = asyncio.Semaphore(self._workers)
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

        Every prediction not yet ended is marked `cancelled`. A plain-function
        model that ignores `ctx.cancelled` may outlive this by running to its
        end in its pool thread; we wait for it at most `timeout`.
        """
        deadline = time.monotonic() + timeout
        loop, thread, executor = self._loop, self._thread, self._executor
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(max(0.0, deadline - time.monotonic()))
        if executor is not None:
            shut_down(executor, deadline)
        self._loop = self._thread = self._executor = None

    def submit(self, record: Record) -> None:
        """Schedule a stored prediction to run."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._spawn, record)

    def cancel(self, prediction_id: str, delay: float = 0.0) -> None:
        """Cancel a prediction, now or `delay` seconds from now.

        Its task is cancelled, and the prediction ends `cancelled`, unless it
        has ended meanwhile; a prediction that has no task (its status was
        forced back to a running one) is marked `cancelled` at once.
        """
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: stopped
                self._loop.call_soon_threadsafe(
                    self._cancel_later, prediction_id, delay
                )

    def forget_warm(self) -> None:
        """Make every model version cold again."""
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._warm_until.clear)

    def _spawn(self, record: Record) -> None:
        task = asyncio.get_running_loop().create_task(self._execute(record))
        self._tasks[record.id] = task
        task.add_done_callback(lambda done: self._finished(record, done))

    def _finished(self, record: Record, task: asyncio.Task[None]) -> None:
        self._tasks.pop(record.id, None)
        if task.cancelled():
            # Cancelled before its first step, the coroutine never ran its
            # own handler: the prediction must still end.
            record.context.request_cancel()
            self._store.update(record, status="cancelled")

    def _cancel_later(self, prediction_id: str, delay: float) -> None:
        if delay > 0:
            asyncio.get_running_loop().call_later(
                delay, self._cancel_task, prediction_id
            )
        else:
            self._cancel_task(prediction_id)

    def _cancel_task(self, prediction_id: str) -> None:
        task = self._tasks.get(prediction_id)
        if task is not None:
            task.cancel()
        else:
            self._store.cancel(prediction_id)

    async def _execute(self, record: Record) -> None:
        free, executor = self._free_workers, self._executor
        worker = None
        if not record.model.is_async and free is not None and executor is not None:
            worker = _Worker(free, executor)
        running: Optional[float] = None
        try:
            if worker is not None:
                await worker.acquire()  # pending until a thread of the pool is free
            running = await self._start(record)
            if running is None:
                return  # cancelled while pending
            outcome = await self._outcome(record, running, worker)
        except asyncio.CancelledError:
            # Through the API (the store says so already), by a reset (the
            # record is gone) or by stop(): it ends cancelled, never `started`.
            record.context.request_cancel()
            self._end(record, running, {"status": "cancelled"})
            raise
        except GeneratorExit:
            raise
        except BaseException as exc:  # a bug of ours: the prediction still ends
            outcome = {"status": "failed", "error": _error("internal", _describe(exc))}
        finally:
            if worker is not None:
                worker.release()
        self._end(record, running, outcome)

    async def _start(self, record: Record) -> Optional[float]:
        """Take a prediction through `starting` (when its model is cold) to `started`.

        Returns:
            When its model starts (`time.monotonic()`), or None if it ended.
        """
        model = record.model
        key = (model.owner, model.name, model.number)
        setup_began = time.monotonic()
        setup_logs = [f"Setting up {model.ref}"]
        if self._cold_start > 0 and self._warm_until.get(key, -1.0) < setup_began:
            setup_logs.append(f"Loading {model.ref} (cold start)")
            if not self._store.update(
                record, status="starting", setup_logs=list(setup_logs)
            ):
                return None
            load = self._loading.get(key)
            if load is None:
                load = asyncio.get_running_loop().create_task(self._load(key))
                self._loading[key] = load
            # Shielded: one prediction cancelled while it waits does not stop
            # the load the others wait for too.
            await asyncio.shield(load)
        if not self._store.update(
            record, status="started", setup_logs=setup_logs, logs=[]
        ):
            return None
        running = time.monotonic()
        self._warm(key)
        self._store.update(record, setup_time=running - setup_began)
        return running

    async def _load(self, key: _VersionKey) -> None:
        try:
            await asyncio.sleep(self._cold_start)
            self._warm(key)
        finally:
            self._loading.pop(key, None)

    def _warm(self, key: _VersionKey) -> None:
        until = time.monotonic() + self._keep_warm
        self._warm_until[key] = max(self._warm_until.get(key, until), until)

    def _end(
        self, record: Record, running: Optional[float], outcome: Dict[str, Any]
    ) -> None:
        changes = dict(outcome)
        if running is not None:
            elapsed = time.monotonic() - running
            changes["execution_time"] = elapsed
            changes["metrics"] = {"predict_time": round(elapsed, 3)}
            model = record.model
            self._warm((model.owner, model.name, model.number))
        self._store.update(record, **changes)

    async def _outcome(
        self, record: Record, running: float, worker: Optional[_Worker]
    ) -> Dict[str, Any]:
        """Run the model; the changes that end its prediction."""
        try:
            called = self._call(record, worker)
            output = as_json(await asyncio.wait_for(called, self._max_run_seconds))
        except BadOutput as exc:
            return {"status": "failed", "error": _error("internal", str(exc))}
        except Exception as exc:  # the model's own failure: reported, not raised
            if (
                isinstance(exc, asyncio.TimeoutError)
                and time.monotonic() - running >= self._max_run_seconds
            ):
                record.context.request_cancel()  # a plain function may stop
                message = f"Prediction timed out after {self._max_run_seconds:g} s"
                return {"status": "failed", "error": _error("internal", message)}
            raised = exc.original if isinstance(exc, _Escaped) else exc
            detail = {"type": type(raised).__name__}
            message = _missing_input(raised, record.input) or _describe(raised)
            return {"status": "failed", "error": _error("external", message, detail)}
        return {"status": "succeeded", "output": output}

    async def _call(self, record: Record, worker: Optional[_Worker]) -> Any:
        """Call the model, draining a generator; its output.

        A BaseException of the model's own comes out as `_Escaped`.
        """
        model, ctx = record.model, record.context
        # A copy: what the model does to its input never changes the stored one.
        given = copy.deepcopy(record.input)
        args = (given, ctx) if model.takes_context else (given,)
        emit = functools.partial(self._store.emit, record)
        try:
            if worker is None:
                result = model.fn(*args)
            else:
                future = worker.run(call_model, model.fn, args, emit, ctx)
                result = await asyncio.wrap_future(future)
            if inspect.isawaitable(result):
                result = await result
            if inspect.isasyncgen(result):
                result = await drain_async(result, emit)
            elif inspect.isgenerator(result):
                result = drain(result, emit, ctx)
            return result
        except (Exception, asyncio.CancelledError):
            raise
        except BaseException as exc:
            raise _Escaped(exc) from None


def _error(source: str, message: str, detail: Any = None) -> Dict[str, Any]:
    return {"source": source, "message": message, "detail": detail}


def _missing_input(exc: BaseException, given: Any) -> Optional[str]:
    """`missing input 'key'` for a model that read a key its input lacks.

    As the built-in models say it; a bare KeyError says only `'key'`.
    """
    if type(exc) is not KeyError or len(exc.args) != 1 or not isinstance(given, dict):
        return None
    key = exc.args[0]
    if not isinstance(key, str) or key in given:
        return None
    return f"missing input {key!r}"


def _describe(exc: BaseException) -> str:
    try:
        return str(exc) or type(exc).__name__
    except BaseException:  # a __str__ that raises (even SystemExit)
        return type(exc).__name__
