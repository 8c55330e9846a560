"""The options of waiting for a prediction, and their checks."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Generic, Mapping, Optional, TypeVar

from predictions._checks import MAX_SECONDS, check_number
from predictions._requests import Hold
from predictions.types import TERMINAL_STATUSES, PredictionWithIO


def check_poll_interval(poll_interval: Any) -> None:
    """Refuse a poll interval that is not a finite number of seconds >= 0.

    Raises:
        TypeError: It is not a number.
        ValueError: It is negative, infinite or NaN.
    """
    check_number("poll_interval", poll_interval, maximum=MAX_SECONDS)


def check_timeout(timeout: Any) -> None:
    """Refuse a timeout that is neither None nor a finite number of seconds > 0.

    Raises:
        TypeError: It is neither None nor a number.
        ValueError: It is not > 0 and finite, or over `MAX_SECONDS` (30 days).
    """
    check_number(
        "timeout", timeout, inclusive=False, optional=True, maximum=MAX_SECONDS
    )


OnPoll = TypeVar("OnPoll")
"""The type of a wait's `on_poll` callback."""


@dataclass
class BaseWaitOptions(Generic[OnPoll]):
    """Options for customizing wait behaviour."""

    poll_interval: float = 1.0
    """Time in seconds between polling attempts to check the prediction status."""
    on_poll: Optional[OnPoll] = None
    """Optional callback that receives the latest prediction after each poll."""
    timeout: Optional[float] = None
    """Seconds after which the wait raises `WaitTimeoutError`; None: no deadline."""
    cancel_on_timeout: bool = False
    """Ask the server to cancel the prediction when the wait times out."""
    cancel_on_interrupt: bool = False
    """Ask the server to cancel the prediction on Ctrl-C (KeyboardInterrupt)."""
    prefer_wait: Optional[float] = None
    """For `create(..., wait=True)`: seconds the server is asked to hold the
    create until the prediction finishes (`Prefer: wait=N`); None asks for
    the server's default hold; 0 asks for none."""
    early_polls: bool = False
    """Poll sooner at first: 0.1, 0.3 and 0.7 s after the first poll (each
    at most `poll_interval`), then every `poll_interval`."""

    def __post_init__(self) -> None:
        check_wait_numbers(self)


def check_wait_numbers(options: BaseWaitOptions[Any]) -> None:
    """Refuse wait options whose numbers are of a wrong type or out of range.

    Raises:
        TypeError: A number is not a number.
        ValueError: A number is out of range.
    """
    check_poll_interval(options.poll_interval)
    check_timeout(options.timeout)
    check_number("prefer_wait", options.prefer_wait, optional=True, maximum=MAX_SECONDS)


@dataclass
class WaitOptions(BaseWaitOptions[Callable[[PredictionWithIO], None]]):
    """Options for customizing wait behaviour.

    Attributes:
        poll_interval: Seconds between polls (default 1.0).
        on_poll: Called with the latest prediction after each poll.
        timeout: Seconds after which the wait raises `WaitTimeoutError`
            carrying the last prediction seen; None (default) waits without
            a deadline.
        cancel_on_timeout: On timeout, ask the server to cancel first.
        cancel_on_interrupt: On Ctrl-C, ask the server to cancel first.
        prefer_wait: For `create(..., wait=True)`: seconds to ask the server
            to hold the create until the prediction finishes, so that one
            that finishes by then costs no poll; None (default) asks for the
            server's default hold, 0 for none. It is cut to `timeout`. With
            `cancel_on_interrupt`, the create is not held: a Ctrl-C can only
            cancel a prediction whose id is known.
        early_polls: Poll sooner at first, for a prediction that may end
            within a second: the polls after the first come 0.1, 0.3 and
            0.7 s apart (never further apart than `poll_interval`), then
            `poll_interval` apart. That is at most three polls in any second,
            the hosted API's rate limit for reads, so they draw on no burst.
            False (default): every poll comes `poll_interval` after the last,
            as the reference client's do. The command line turns it on.
    """


@dataclass
class AsyncWaitOptions(BaseWaitOptions[Callable[[PredictionWithIO], Awaitable[None]]]):
    """Options for customizing asynchronous wait behaviour.

    The same fields as `WaitOptions`; `on_poll` is awaited (a plain function
    returning None is accepted too).
    """


DEFAULT_WAIT_OPTIONS = WaitOptions()
"""Default wait options."""

DEFAULT_ASYNC_WAIT_OPTIONS = AsyncWaitOptions()
"""Default async wait options."""


def is_terminal(prediction: Mapping[str, Any]) -> bool:
    """Tell whether a prediction has finished; unknown statuses have not.

    Args:
        prediction: A prediction as the API sends it.

    Returns:
        True if its status is one after which it never changes.
    """
    return prediction.get("status") in TERMINAL_STATUSES


def check_wait_options(options: Any, *, asynchronous: bool) -> None:
    """Refuse wait options that cannot run, before any request.

    Args:
        options: The caller's options.
        asynchronous: Whether they are for `async_wait`.

    Raises:
        TypeError: If they are not wait options or `on_poll` does not fit.
        ValueError: If `poll_interval` or `timeout` is out of range.
    """
    expected = AsyncWaitOptions if asynchronous else WaitOptions
    if not isinstance(options, BaseWaitOptions):
        raise TypeError(f"wait options must be a {expected.__name__}, not {options!r}")
    check_wait_numbers(options)
    on_poll = getattr(options, "on_poll", None)
    if on_poll is not None and not callable(on_poll):
        raise TypeError("on_poll must be callable")
    if not asynchronous and inspect.iscoroutinefunction(on_poll):
        raise TypeError(
            "on_poll is a coroutine function: pass it in AsyncWaitOptions to "
            "async_wait or async_create"
        )


def check_wait(wait: Any, options: Any, *, asynchronous: bool) -> None:
    """Refuse wait options given as `wait` (they would be taken as True, unread).

    Raises:
        TypeError: `wait` is wait options, or `wait_options` is not right.
    """
    if isinstance(wait, BaseWaitOptions):
        raise TypeError(
            "wait is True or False: pass the options as wait_options=..., "
            "with wait=True"
        )
    if wait:
        check_wait_options(options, asynchronous=asynchronous)


def hold_of(options: BaseWaitOptions[Any], deadline: Optional[float] = None) -> Hold:
    """The hold a create that waits with these options asks of the server.

    `prefer_wait`, cut to `timeout`; none when they cancel on Ctrl-C (which
    needs the prediction's id at once, so the create cannot be held).
    """
    if options.cancel_on_interrupt:
        return Hold(0.0, deadline)
    seconds = options.prefer_wait
    if options.timeout is not None:
        seconds = options.timeout if seconds is None else min(seconds, options.timeout)
    return Hold(seconds, deadline)


__all__ = [
    "check_wait",
    "DEFAULT_ASYNC_WAIT_OPTIONS",
    "DEFAULT_WAIT_OPTIONS",
    "AsyncWaitOptions",
    "BaseWaitOptions",
    "WaitOptions",
    "check_poll_interval",
    "check_timeout",
    "check_wait_numbers",
    "check_wait_options",
    "hold_of",
    "is_terminal",
]
