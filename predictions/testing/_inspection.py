"""What tests do with a running `LocalServer`: add models, look inside, steer it."""

from __future__ import annotations

from typing import Any, Deque, Dict, List, Mapping, Optional

from ._faults import Faults
from ._listener import RecordedRequest
from ._models import ModelFn, ModelRegistry
from ._ratelimit import RateLimiter
from ._runner import Runner
from ._store import TERMINAL, Store
from ._uploads import Uploads
from ._webhooks import Delivery, WebhookDispatcher


class Inspection:
    """`LocalServer`'s methods for tests: models, what it holds and saw, reset."""

    registry: ModelRegistry
    limiter: RateLimiter
    faults: Optional[Faults]
    _store: Store
    _runner: Runner
    _uploads: Uploads
    _webhooks: WebhookDispatcher
    _request_log: Deque[RecordedRequest]
    _storage_log: Deque[RecordedRequest]

    # ---- models -------------------------------------------------------------

    def register(
        self, ref: str, fn: ModelFn, *, input_schema: Optional[Mapping[str, Any]] = None
    ) -> int:
        """Add a model backed by a Python callable, or its next version.

        Args:
            ref: `owner/name`.
            fn: Called as `fn(input)` or `fn(input, ctx)`; plain or `async def`.
                `ctx.log(line)` appends to the logs; `ctx.cancelled` tells a
                plain function it was cancelled.
            input_schema: What `Validate-Input: true` checks (a JSON Schema
                subset: type, properties, required, enum, bounds...).

        Returns:
            The version number (1 the first time, then 2, 3...).
        """
        return self.registry.register(ref, fn, input_schema)

    # ---- looking inside -----------------------------------------------------

    @property
    def predictions(self) -> List[Dict[str, Any]]:
        """Every stored prediction (as GET returns it), oldest first."""
        return self._store.snapshot()

    def prediction(self, prediction_id: str) -> Optional[Dict[str, Any]]:
        """One prediction as GET returns it, or None."""
        return self._store.get(prediction_id)

    @property
    def requests(self) -> List[RecordedRequest]:
        """The requests received (the last 10,000), oldest first.

        Each keeps at most the first 64 KiB of its body.
        """
        return list(self._request_log)

    @property
    def storage_requests(self) -> List[RecordedRequest]:
        """The requests the storage port received (the last 10,000), oldest first.

        Part PUTs and downloads, with their headers; bodies are not kept.
        """
        return list(self._storage_log)

    @property
    def webhook_deliveries(self) -> List[Delivery]:
        """Every webhook delivery attempt (the last 10,000), oldest first."""
        return self._webhooks.deliveries

    def wait(self, prediction_id: str, timeout: float = 10.0) -> Dict[str, Any]:
        """Wait until a prediction ends.

        Args:
            prediction_id: Its id.
            timeout: Seconds to wait at most.

        Returns:
            The ended prediction.

        Raises:
            KeyError: No such prediction.
            TimeoutError: It has not ended in time.
        """
        prediction = self._store.wait(prediction_id, timeout)
        if prediction is None:
            raise KeyError(prediction_id)
        if prediction["status"] not in TERMINAL:
            raise TimeoutError(
                "Prediction {} is still {}".format(prediction_id, prediction["status"])
            )
        return prediction

    def set_status(self, prediction_id: str, status: str) -> None:
        """Force a prediction's status, e.g. `abandoned` or one clients do not know.

        A terminal status also stops the prediction if it runs.

        Raises:
            KeyError: No such prediction.
        """
        record = self._store.force_status(prediction_id, status)
        if record is None:
            raise KeyError(prediction_id)
        if status in TERMINAL:
            record.context.request_cancel()
            self._runner.cancel(prediction_id)

    def reset(self) -> None:
        """Forget predictions, requests, uploads, webhook deliveries, idempotency keys.

        Running predictions are cancelled; rate-limit buckets refill; models
        are cold again; fault rules start over from their seed.
        """
        for record in self._store.clear():
            self._runner.cancel(record.id)
        self._runner.forget_warm()
        self._uploads.clear()
        self._request_log.clear()
        self._storage_log.clear()
        self._webhooks.clear()
        self.limiter.reset()
        if self.faults is not None:
            self.faults.reset()
