"""The two ports of a running server, the API's and storage's, each on its thread.

Storage (upload parts, downloads, output files) has a port of its own so
that its URLs are another origin than the API's, as pre-signed storage URLs
are: what a client sends across origins is then visible to tests.
"""

from __future__ import annotations

import threading
from typing import Any, Deque, List, Optional, Tuple

from predictions.testing._api.app import App
from predictions.testing._http.api_port import Handler
from predictions.testing._http.faults import Faults
from predictions.testing._http.limits import ConnectionLimits
from predictions.testing._http.listener import HTTPServer, RecordedRequest
from predictions.testing._http.storage_port import Storage, StorageHandler


def origin(host: str, port: int) -> str:
    """`http://host:port`, with a wildcard host shown as loopback, IPv6 in brackets."""
    shown = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


class Ports:
    """Both HTTP servers of a `LocalServer`, bound, then served, then closed."""

    def __init__(
        self,
        host: str,
        ports: Tuple[int, int],
        app: App,
        storage: Storage,
        faults: Optional[Faults],
        logs: Tuple[Deque[RecordedRequest], Deque[RecordedRequest]],
        verbose: bool,
        limits: ConnectionLimits,
    ) -> None:
        """Bind both ports (nothing is served yet).

        Args:
            host: The address to listen on.
            ports: The API's port and storage's; 0 picks a free one.
            app: The API.
            storage: What the storage port serves (uploads, output files).
            faults: Fault rules of both, or None.
            logs: Where each records its requests.
            verbose: Log requests and server errors to stderr.
            limits: What bounds each port's connections.

        Raises:
            OSError: An address cannot be bound (neither is then).
            TypeError: The host cannot be a host name (it holds a NUL, say).
        """
        self.api = HTTPServer(
            (host, ports[0]), Handler, app, faults, logs[0], verbose, limits
        )
        try:
            self.storage = HTTPServer(
                (host, ports[1]),
                StorageHandler,
                storage,
                faults,
                logs[1],
                verbose,
                limits,
            )
        except BaseException:
            self.api.server_close()
            raise
        self.api_origin = origin(host, self.api.server_address[1])
        self.storage_origin = origin(host, self.storage.server_address[1])
        self._threads: List[threading.Thread] = []

    @property
    def servers(self) -> Tuple[HTTPServer[Any], HTTPServer[Any]]:
        """The API's server and storage's."""
        return self.api, self.storage

    def serve(self) -> None:
        """Serve both, each in a thread of its own."""
        for server, name in zip(self.servers, ("server", "storage")):
            thread = threading.Thread(
                target=server.serve, name=f"predictions-testing-{name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stopping(self) -> None:
        """Refuse new connections from now on (before the rest is stopped)."""
        for server in self.servers:
            server.stopping.set()

    def close(self, timeout: float) -> None:
        """Stop serving, close every connection and wait for their threads.

        Args:
            timeout: Seconds to wait for each group of threads, at most.
        """
        self.stopping()
        for server in self.servers:
            server.wake()
        for thread in self._threads:
            thread.join(timeout)
        for server in self.servers:
            server.close_all(timeout)
            server.server_close()
