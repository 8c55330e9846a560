"""What a span says of a prediction: its model, status and times."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Dict, Mapping, Optional, Union

AttributeValue = Union[str, bool, int, float]

TERMINAL = frozenset({"succeeded", "failed", "canceled", "cancelled", "abandoned"})
"""The statuses a prediction ends in."""

FAILED = frozenset({"failed", "abandoned"})
"""The terminal statuses that make a span's status ERROR (cancelled does not:
the caller or its owner asked for it)."""

_FRACTION = re.compile(r"\.(\d+)")


def model_of(prediction: Mapping[str, Any]) -> Optional[str]:
    """`owner/name:version` of a prediction's `model` field, if it has one."""
    model = prediction.get("model")
    if isinstance(model, Mapping):
        return f"{model.get('owner')}/{model.get('name')}:{model.get('version_number')}"
    return model if isinstance(model, str) else None


def _instant(text: Any) -> Optional[float]:
    """Unix seconds of an ISO 8601 time (`Z` or an offset; any fraction)."""
    if not isinstance(text, str):
        return None
    # fromisoformat before 3.11 reads neither `Z` nor fractions of other
    # than 3 or 6 digits.
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text.strip())
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _seconds(text: Any) -> Optional[float]:
    """A duration field (decimal seconds as a string, or a number)."""
    if isinstance(text, bool) or text is None:
        return None
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if value >= 0 else None


def times_of(prediction: Mapping[str, Any]) -> Dict[str, float]:
    """Queue, setup and run times, in seconds, as far as the prediction tells.

    `setup_time` and `execution_time` are the prediction's own. The queue
    time is derived: from `created_at` to its last update (`updated_at`, its
    end once terminal), less setup and execution; only for a terminal
    prediction whose times are all known.
    """
    times: Dict[str, float] = {}
    setup = _seconds(prediction.get("setup_time"))
    execution = _seconds(prediction.get("execution_time"))
    if setup is not None:
        times["predictions.prediction.setup_time"] = setup
    if execution is not None:
        times["predictions.prediction.execution_time"] = execution
    if prediction.get("status") in TERMINAL:
        created = _instant(prediction.get("created_at"))
        updated = _instant(prediction.get("updated_at"))
        if created is not None and updated is not None and updated >= created:
            queued = updated - created - (setup or 0.0) - (execution or 0.0)
            times["predictions.prediction.queue_time"] = max(queued, 0.0)
    return times


def primitive(value: Any) -> Optional[AttributeValue]:
    """The value if a span attribute may hold it (a number, text, a bool)."""
    return value if isinstance(value, (str, bool, int, float)) else None


__all__ = ["FAILED", "TERMINAL", "AttributeValue", "model_of", "primitive", "times_of"]
