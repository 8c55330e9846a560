"""Checks of `LocalServer`'s options: each refused at once, naming the option."""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional

PORTS = ("port", "storage_port")
"""Options that are ports: 0 to 65535."""

DURATIONS = (
    "prefer_wait_default",
    "prefer_wait_max",
    "cancel_delay",
    "cold_start",
    "keep_warm",
    "stream_idle_default",
    "stream_idle_max",
    "stream_heartbeat",
    "download_lifetime",
    "output_lifetime",
    "request_timeout",
)
"""Options that are seconds: finite numbers >= 0."""

OPTIONAL_DURATIONS = ("expire_after", "events_expire_after")
"""Options that are seconds, or None."""


def check_seconds(name: str, value: Optional[float], *, optional: bool = False) -> None:
    """Refuse a duration that is not a finite number >= 0 (None when optional).

    Raises:
        ValueError: It is negative, NaN, infinite, or None where not allowed.
        TypeError: It is not a number.
    """
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {value!r}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")


def check_integer(name: str, value: Any, low: int, high: Optional[int] = None) -> None:
    """Refuse a value that is not an integer from `low` to `high` (None: no top).

    Raises:
        ValueError: It is out of range.
        TypeError: It is not an integer.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    if high is None and value < low:
        raise ValueError(f"{name} must be at least {low}, not {value}")
    if high is not None and not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, not {value}")


def check_options(options: Mapping[str, Any]) -> None:
    """Check a `LocalServer`'s options, given by name (its `locals()`).

    Raises:
        ValueError: A value out of range.
        TypeError: A value of the wrong type.
    """
    for name in PORTS:
        check_integer(name, options[name], 0, 65535)
    for name in DURATIONS:
        check_seconds(name, options[name])
    for name in OPTIONAL_DURATIONS:
        check_seconds(name, options[name], optional=True)
    check_integer("part_size", options["part_size"], 1)
    check_integer("max_connections", options["max_connections"], 1)
    if not isinstance(options["output_ranges"], bool):
        value = options["output_ranges"]
        raise TypeError(f"output_ranges must be True or False, not {value!r}")
    if isinstance(options["webhook_rotation_secrets"], str):
        raise TypeError("webhook_rotation_secrets must be a list of secrets")
