"""Checks of `LocalServer`'s options: each refused at once, naming the option."""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional


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


def check_port(name: str, value: Any) -> None:
    """Refuse a port that is not 0 to 65535.

    Raises:
        ValueError: It is out of range.
        TypeError: It is not an integer.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    if not 0 <= value <= 65535:
        raise ValueError(f"{name} must be between 0 and 65535, not {value}")


def check_options(
    ports: Mapping[str, Any],
    durations: Mapping[str, Any],
    optional_durations: Mapping[str, Any],
    part_size: Any,
) -> None:
    """Check a server's ports, durations and part size.

    Args:
        ports: Port options by name.
        durations: Durations that must be numbers, by name.
        optional_durations: Durations that may also be None, by name.
        part_size: Bytes per upload part: an integer >= 1.

    Raises:
        ValueError: A value out of range.
        TypeError: A value of the wrong type.
    """
    for name, port in ports.items():
        check_port(name, port)
    for name, seconds in durations.items():
        check_seconds(name, seconds)
    for name, seconds in optional_durations.items():
        check_seconds(name, seconds, optional=True)
    if isinstance(part_size, bool) or not isinstance(part_size, int):
        raise TypeError(f"part_size must be an integer, not {part_size!r}")
    if part_size < 1:
        raise ValueError(f"part_size must be at least 1 byte, not {part_size}")
