"""Webhook deliveries: in order per prediction, retried, never in the way.

Deliveries run on their own small thread pool; each prediction's events go
out one after another (its next event waits for the previous one's last
attempt), different predictions' events go out side by side. As options, the
hosted API's ways that receivers must cope with: each event delivered twice,
and signatures by several secrets at once (a secret being rotated).
"""

from __future__ import annotations

import collections
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any, Deque, Dict, Iterable, List, Optional, Set, Tuple

from predictions.testing._api.store import Record
from predictions.testing._executors import shut_down


@dataclass(frozen=True)
class Delivery:
    """One delivery attempt, as `LocalServer.webhook_deliveries` lists it.

    Attributes:
        prediction_id: The prediction's id.
        status: The prediction's status in the payload.
        url: Where it went.
        attempt: 1 for the first attempt, 2 for the first retry...
        ok: Whether the receiver answered 2xx.
        response_status: The receiver's status code; None for no answer.
        error: What went wrong, or None.
        duplicate: Whether this is the repeated copy of a delivery
            (`webhook_duplicates`).
    """

    prediction_id: str
    status: str
    url: str
    attempt: int
    ok: bool
    response_status: Optional[int]
    error: Optional[str]
    duplicate: bool = False


@dataclass(frozen=True)
class _Event:
    url: str
    secret: Optional[str]
    payload: bytes
    status: str


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is a failed delivery: the payload never goes to another URL."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class WebhookDispatcher:
    """Sends each status change of a prediction to its webhook URL."""

    def __init__(
        self,
        retries: int = 3,
        backoff: float = 0.5,
        timeout: float = 5.0,
        workers: int = 4,
        rotation_secrets: Iterable[str] = (),
        duplicates: bool = False,
    ) -> None:
        """Create a dispatcher (not started).

        Args:
            retries: Extra attempts after a failed one (non-2xx or no answer).
            backoff: Seconds before the first retry, doubling after each.
            timeout: Seconds each attempt may take.
            workers: Deliveries sent at the same time (to different predictions).
            rotation_secrets: Secrets that also sign every signed delivery,
                their `v1=` parts before the webhook's own.
            duplicates: Deliver every event twice (the copy after the
                original's last attempt).
        """
        self._retries = retries
        self._backoff = backoff
        self._timeout = timeout
        self._workers = workers
        self._rotation_secrets = tuple(rotation_secrets)
        self._duplicates = duplicates
        self._lock = threading.Lock()
        self._queues: Dict[str, Deque[_Event]] = {}
        self._active: Set[str] = set()
        self._log: Deque[Delivery] = collections.deque(maxlen=10000)
        self._stopping = threading.Event()
        self._executor: Optional[ThreadPoolExecutor] = None
        # ProxyHandler({}): a delivery to 127.0.0.1 must not go through a proxy
        # from the environment.
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), _NoRedirects()
        )

    def start(self) -> None:
        """Start accepting deliveries."""
        self._stopping.clear()
        self._executor = ThreadPoolExecutor(
            self._workers, thread_name_prefix="predictions-testing-webhook"
        )

    def stop(self, timeout: float = 2.0) -> None:
        """Drop what is queued and wait (at most `timeout`) for attempts in flight."""
        deadline = time.monotonic() + timeout
        self._stopping.set()
        with self._lock:
            executor, self._executor = self._executor, None
            self._queues.clear()
        if executor is not None:
            shut_down(executor, deadline)

    @property
    def deliveries(self) -> List[Delivery]:
        """Every attempt so far (the last 10,000), oldest first."""
        with self._lock:
            return list(self._log)

    def clear(self) -> None:
        """Forget the attempts made so far and what is queued."""
        with self._lock:
            self._log.clear()
            self._queues.clear()

    def enqueue(self, record: Record, payload: bytes) -> None:
        """Queue one event; never blocks (the store calls it under its lock).

        Args:
            record: The prediction (its `webhook` says where to).
            payload: The prediction's JSON at the change.
        """
        webhook = record.webhook or {}
        event = _Event(
            str(webhook.get("url")), webhook.get("secret"), payload, record.status
        )
        with self._lock:
            if self._executor is None:
                return
            self._queues.setdefault(record.id, collections.deque()).append(event)
            if record.id not in self._active:
                self._active.add(record.id)
                self._executor.submit(self._drain, record.id)

    def _drain(self, prediction_id: str) -> None:
        while not self._stopping.is_set():
            with self._lock:
                queue = self._queues.get(prediction_id)
                if not queue:
                    self._queues.pop(prediction_id, None)
                    self._active.discard(prediction_id)
                    return
                event = queue.popleft()
            self._deliver(prediction_id, event)
        with self._lock:
            self._active.discard(prediction_id)

    def _deliver(self, prediction_id: str, event: _Event) -> None:
        for duplicate in (False, True) if self._duplicates else (False,):
            if self._stopping.is_set():
                return
            self._attempts(prediction_id, event, duplicate)

    def _attempts(self, prediction_id: str, event: _Event, duplicate: bool) -> None:
        delay = self._backoff
        for attempt in range(1, self._retries + 2):
            status, error = self._attempt(event)
            ok = status is not None and 200 <= status < 300
            with self._lock:
                self._log.append(
                    Delivery(
                        prediction_id,
                        event.status,
                        event.url,
                        attempt,
                        ok,
                        status,
                        error,
                        duplicate,
                    )
                )
            if ok or attempt > self._retries or self._stopping.wait(delay):
                return
            delay *= 2

    def _signed(self, payload: bytes, secret: str) -> Dict[str, str]:
        """The signature header: one `v1=` part per secret, the webhook's last."""
        # Imported here: the client's module (and with it requests) loads
        # only when a delivery is actually signed.
        from predictions.webhooks import SIGNATURE_HEADER, sign

        timestamp = int(time.time())
        secrets = [s for s in self._rotation_secrets if s and s != secret]
        parts = [
            sign(payload, s, timestamp).split(",", 1)[1] for s in [*secrets, secret]
        ]
        return {SIGNATURE_HEADER: ",".join([f"t={timestamp}", *parts])}

    def _attempt(self, event: _Event) -> Tuple[Optional[int], Optional[str]]:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "predictions-testing-webhooks",
        }
        if event.secret:
            headers.update(self._signed(event.payload, event.secret))
        request = urllib.request.Request(
            event.url, data=event.payload, headers=headers, method="POST"
        )
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                _read_all(response)
                return int(response.status), None
        except urllib.error.HTTPError as exc:
            return int(exc.code), f"HTTP {exc.code}"
        except Exception as exc:  # any failure to deliver is one failed attempt
            return None, f"{type(exc).__name__}: {exc}"


def _read_all(response: IO[bytes]) -> None:
    while response.read(65536):
        pass
