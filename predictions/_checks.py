"""The checks of every number, count and token the client is given.

They are the only ones in the client: a client's settings, a wait's options,
a batch's and a call's `max_retries` use them, so the same mistake gets the
same error everywhere (a string where a number belongs is a `TypeError`; a
number out of range is a `ValueError`).
"""

from __future__ import annotations

import math
import re
from typing import Any, Optional, Tuple

Timeout = Tuple[float, float]
"""(connect, read) timeouts in seconds."""

# Tokens and header values travel in one header line: any control character
# would end it (http.client then raises an error that quotes the value).
CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")

MAX_SECONDS = 30 * 24 * 3600.0
"""The longest any timeout, wait or interval may be (30 days): a number past
it is a mistake, and one far past it (1e12) overflows the sockets and sleeps
it becomes (`OverflowError`)."""


def check_number(
    name: str,
    value: Any,
    *,
    minimum: Optional[float] = 0.0,
    inclusive: bool = True,
    optional: bool = False,
    maximum: Optional[float] = None,
) -> None:
    """Refuse a value that is not a finite number of at least `minimum`.

    Args:
        name: What the value is, for the message.
        value: The value to check.
        minimum: The smallest value allowed, or None for no bound.
        inclusive: Whether `minimum` itself is allowed.
        optional: Whether None is allowed.
        maximum: The largest value allowed (`MAX_SECONDS` for a number that
            becomes a timeout or a sleep), or None for no bound.

    Raises:
        TypeError: It is not an int or a float (a bool or a str is not).
        ValueError: It is NaN, infinite, below the minimum or above the
            maximum.
    """
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        what = (
            "a number of seconds"
            if "timeout" in name or "interval" in name
            else ("a number")
        )
        also = ", or None" if optional else ""
        raise TypeError(f"{name} must be {what}{also}, not {value!r}")
    if minimum is None:
        below = False
    else:
        below = value < minimum if inclusive else value <= minimum
    # An int is always finite (and math.isfinite(10**400) would overflow).
    if (isinstance(value, float) and not math.isfinite(value)) or below:
        bound = (
            ""
            if minimum is None
            else (f" and >= {minimum:g}" if inclusive else f" and > {minimum:g}")
        )
        raise ValueError(f"{name} must be finite{bound}, not {value!r}")
    if maximum is not None and value > maximum:
        most = f"{maximum:g}"
        if maximum == MAX_SECONDS:
            most = f"{maximum:.0f} seconds ({maximum / 86400:g} days)"
        raise ValueError(f"{name} must be at most {most}, not {value!r}")


def check_count(name: str, value: Any, *, minimum: int = 0) -> None:
    """Refuse a value that is not a whole number of at least `minimum`.

    Raises:
        TypeError: It is not an int (a bool is not).
        ValueError: It is below the minimum.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {value}")


def check_timeout_pair(timeout: Any) -> Timeout:
    """Check a timeout: seconds for both phases, or a (connect, read) pair.

    Returns:
        The (connect, read) pair as floats.

    Raises:
        TypeError: It is neither a number nor a pair of numbers.
        ValueError: A number is not finite and > 0.
    """
    pair = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    if len(pair) != 2:
        raise TypeError(
            f"timeout must be seconds or a (connect, read) pair, not {timeout!r}"
        )
    for phase, value in zip(("connect", "read"), pair):
        check_number(f"timeout ({phase})", value, inclusive=False, maximum=MAX_SECONDS)
    return (float(pair[0]), float(pair[1]))


def clean_token(token: Optional[str]) -> Optional[str]:
    """Strip a token of the white space around it; refuse control characters.

    A token read from a file or a secret mount often ends in a newline. The
    error never repeats the token.

    Returns:
        The token, or None for none (also for an empty or blank one).

    Raises:
        TypeError: It is not a string.
        ValueError: It holds a control character or a non-ASCII one.
    """
    if token is None:
        return None
    if not isinstance(token, str):
        raise TypeError(f"access_token must be a string, not {type(token).__name__}")
    token = token.strip()
    if CONTROL_CHARACTER.search(token) or not token.isascii():
        raise ValueError(
            "access_token holds a control or non-ASCII character (shown nowhere, "
            "for its safety): check where it is read from"
        )
    return token or None


__all__ = [
    "CONTROL_CHARACTER",
    "MAX_SECONDS",
    "Timeout",
    "check_count",
    "check_number",
    "check_timeout_pair",
    "clean_token",
]
