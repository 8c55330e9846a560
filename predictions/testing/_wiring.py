"""The pieces of a `LocalServer`, wired from its options, and their life.

`LocalServer` is the public face: its options, their documentation, what
tests call. `Parts` is the machinery behind it: the store, the runner,
webhooks, uploads, output files, the API and the request logs, and
starting, stopping and resetting them in the order that matters.
"""

from __future__ import annotations

import collections
from typing import Any, Deque, Mapping, Optional

from predictions.testing._api.app import App
from predictions.testing._api.creating import Creator
from predictions.testing._api.events import StreamSettings
from predictions.testing._api.outputs import Outputs
from predictions.testing._api.ratelimit import RateLimiter
from predictions.testing._api.store import Store
from predictions.testing._api.uploads import Uploads
from predictions.testing._api.webhooks import WebhookDispatcher
from predictions.testing._http.faults import Faults
from predictions.testing._http.limits import ConnectionLimits
from predictions.testing._http.listener import RecordedRequest
from predictions.testing._http.ports import Ports
from predictions.testing._http.storage_port import Storage
from predictions.testing._models.builtins import build_registry
from predictions.testing._models.runner import Runner

LOG_SIZE = 10000
"""Requests each port's log keeps (the last ones)."""


class Parts:
    """Everything a `LocalServer` runs, built from its options (checked already)."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        """Wire the pieces (nothing runs until `start()`).

        Args:
            options: `LocalServer`'s keyword arguments, by name.
        """
        o = options
        faults = o["faults"]
        self.faults: Optional[Faults] = (
            faults if isinstance(faults, Faults) or faults is None else Faults(faults)
        )
        self.limiter = RateLimiter(o["rate_limit"])
        self.registry = build_registry(o["models"])
        self.webhooks = WebhookDispatcher(
            o["webhook_retries"],
            o["webhook_backoff"],
            o["webhook_timeout"],
            rotation_secrets=o["webhook_rotation_secrets"],
            duplicates=o["webhook_duplicates"],
        )
        self.uploads = Uploads(o["part_size"], o["download_lifetime"])
        self.outputs = Outputs(o["output_lifetime"], o["output_ranges"])
        self.store = Store(
            self.webhooks.enqueue,
            o["expire_after"],
            events_expire_after=o["events_expire_after"],
            open_file=self.uploads.open_file,
            save_file=self.outputs.save,
        )
        self.runner = Runner(
            self.store,
            o["workers"],
            o["max_run_seconds"],
            o["cold_start"],
            o["keep_warm"],
        )
        streams = StreamSettings(
            o["stream_idle_default"], o["stream_idle_max"], o["stream_heartbeat"]
        )
        creator = Creator(
            self.store,
            self.runner,
            self.registry,
            self._api_url,
            prefer_wait_default=o["prefer_wait_default"],
            prefer_wait_max=o["prefer_wait_max"],
            streams=streams,
        )
        self.app = App(
            creator,
            self.limiter,
            o["token"],
            cancel_delay=o["cancel_delay"],
            uploads=self.uploads,
        )
        self.request_log: Deque[RecordedRequest] = collections.deque(maxlen=LOG_SIZE)
        self.storage_log: Deque[RecordedRequest] = collections.deque(maxlen=LOG_SIZE)
        self._host = o["host"]
        self._port_numbers = (o["port"], o["storage_port"])
        self._verbose = o["verbose"]
        self._limits = ConnectionLimits(o["request_timeout"], o["max_connections"])
        self.ports: Optional[Ports] = None
        self.base_url: Optional[str] = None

    def _api_url(self) -> str:
        if self.base_url is None:
            raise RuntimeError("Start the server first")
        return self.base_url

    def start(self) -> None:
        """Bind both ports, start the threads, serve.

        Raises:
            OSError: An address cannot be bound.
            TypeError: The host cannot be a host name (it holds a NUL, say).
        """
        ports = Ports(
            self._host,
            self._port_numbers,
            self.app,
            Storage(self.uploads, self.outputs),
            self.faults,
            (self.request_log, self.storage_log),
            self._verbose,
            self._limits,
        )
        self.base_url = f"{ports.api_origin}/v1"
        self.uploads.open(ports.storage_origin)
        self.outputs.open(ports.storage_origin)
        self.store.close(False)
        self.runner.start()
        self.webhooks.start()
        self.ports = ports
        ports.serve()

    def stop(self, timeout: float) -> None:
        """Stop everything `start()` started (see `LocalServer.stop`).

        Args:
            timeout: Seconds to wait for each group of threads, at most.
        """
        ports = self.ports
        if ports is None:
            return
        ports.stopping()
        self.store.close()  # ends held creates and open streams
        ports.close(timeout)
        # Webhooks first: the predictions the runner now cancels are not
        # announced to a receiver that may be gone already.
        self.webhooks.stop(timeout)
        self.runner.stop(timeout)
        self.uploads.close()
        self.outputs.close()
        self.ports = None

    def reset(self) -> None:
        """Forget what the server holds and saw (see `LocalServer.reset`)."""
        for record in self.store.clear():
            self.runner.cancel(record.id)
        self.runner.forget_warm()
        self.uploads.clear()
        self.outputs.clear()
        self.request_log.clear()
        self.storage_log.clear()
        self.webhooks.clear()
        self.limiter.reset()
        if self.faults is not None:
            self.faults.reset()
