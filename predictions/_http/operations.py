"""Operations as plugins see them: each started and ended once, current while it runs.

An `Operation` (`hookspecs`) is made only when a plugin is active: with none,
every function here returns at once and nothing is made or set, so that the
hooks cost nothing to a client without plugins (`current_operation()` is
then None).

- `Scope`: a `with` block that is one operation: it starts it (the
  `on_operation_start` hook), makes it current in the block's context, and
  ends it as the block ends, with the error that ended the block, if any
  (`create`, `wait`, an upload). `keep()` hands its end to someone else (the
  generator that follows a create's event stream).
- `start` and `end`: the same, for an operation whose end is someone else's
  to call (a stream's, a batch's, a batch row's, `as_completed`'s waits);
  `end` ends it once, however often it is called.
- `current` and `under`: make an operation current around a request, in the
  caller's context or in the copy a pool thread runs (a generator never
  leaves its operation current in its caller's context between two yields).
"""

from __future__ import annotations

import functools
import threading
import weakref
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, TypeVar, Union

from predictions.hookspecs import Operation, _current

if TYPE_CHECKING:
    from predictions.plugins import PluginHost

T = TypeVar("T")

_ended: weakref.WeakSet[Operation] = weakref.WeakSet()
"""The operations ended (and still alive): none ends twice."""
_ending = threading.Lock()


class _Nothing:
    """The scope of no operation (no plugin is active): it does nothing."""

    operation: Optional[Operation] = None

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None

    def keep(self) -> None:
        """Nothing to hand on."""


NOTHING = _Nothing()


def start(
    hooks: PluginHost,
    kind: str,
    name: str,
    model: Optional[str] = None,
    parent: Union[Operation, bool, None] = True,
) -> Optional[Operation]:
    """Start an operation (its `on_operation_start` hook); None if no plugin is active.

    Args:
        hooks: The client's plugins.
        kind: "prediction", "stream", "upload" or "batch".
        name: The public call that makes it.
        model: The model as the caller named it, if any.
        parent: Its parent; True for the operation current in the calling
            context.
    """
    if not hooks.active:
        return None
    operation = Operation(
        kind,
        name,
        model=model,
        parent=_current.get() if parent is True else parent or None,
    )
    hooks.call("predictions_on_operation_start", operation=operation)
    return operation


def end(
    hooks: PluginHost, operation: Optional[Operation], error: Optional[BaseException]
) -> None:
    """End an operation (its `on_operation_end` hook), once: later calls do nothing."""
    if operation is None:
        return
    with _ending:
        if operation in _ended:
            return
        _ended.add(operation)
    hooks.call("predictions_on_operation_end", operation=operation, error=error)


def end_when_dropped(owner: Any, hooks: PluginHost, operation: Operation) -> None:
    """End `operation` when `owner` is collected, if nothing ended it before.

    For a generator that may never be started (a create's event stream): a
    generator closed before its first `next()` runs none of its code.
    """
    weakref.finalize(owner, end, hooks, operation, GeneratorExit())


def saw(operation: Optional[Operation], prediction: Mapping[str, Any]) -> None:
    """Note a prediction seen: the last one, its id, its model with its version."""
    if operation is None or not isinstance(prediction, Mapping):
        return
    operation.prediction = prediction  # type: ignore[assignment]
    prediction_id = prediction.get("id")
    if isinstance(prediction_id, str):
        operation.prediction_id = prediction_id
    model = prediction.get("model")
    if isinstance(model, Mapping) and model.get("owner") and model.get("name"):
        version = model.get("version_number")
        operation.model = f"{model['owner']}/{model['name']}" + (
            "" if version is None else f":{version}"
        )


class Scope:
    """One operation, as a `with` block: started, current in it, ended with it.

    Args:
        hooks: The client's plugins (at least one active).
        operation: The operation, not yet started.
    """

    __slots__ = ("_kept", "_token", "hooks", "operation")

    def __init__(self, hooks: PluginHost, operation: Operation) -> None:
        self.hooks = hooks
        self.operation = operation
        self._kept = False

    def __enter__(self) -> Operation:
        self.hooks.call("predictions_on_operation_start", operation=self.operation)
        self._token = _current.set(self.operation)
        return self.operation

    def __exit__(self, kind: Any, error: Optional[BaseException], tb: Any) -> None:
        _current.reset(self._token)
        if error is None and self._kept:
            return
        end(self.hooks, self.operation, error)

    def keep(self) -> None:
        """Leave the operation running when the block ends well: another ends it."""
        self._kept = True


AnyScope = Union[Scope, _Nothing]
"""What `scope` gives: an operation's block, or nothing's (no plugin active)."""


def scope(
    hooks: PluginHost, kind: str, name: str, model: Optional[str] = None
) -> AnyScope:
    """A `with` block that is one operation (see `Scope`); nothing with no plugin.

    Its parent is the operation current where the block is entered.
    """
    if not hooks.active:
        return NOTHING
    return Scope(hooks, Operation(kind, name, model=model, parent=_current.get()))


class _Current:
    __slots__ = ("_token", "operation")

    def __init__(self, operation: Operation) -> None:
        self.operation = operation

    def __enter__(self) -> None:
        self._token = _current.set(self.operation)

    def __exit__(self, *exc: Any) -> None:
        _current.reset(self._token)


def current(operation: Optional[Operation]) -> Union[_Current, _Nothing]:
    """A `with` block in which `operation` is current (none: nothing changes)."""
    return NOTHING if operation is None else _Current(operation)


def under(operation: Operation, function: Callable[..., T], *args: Any) -> T:
    """Call `function(*args)` with `operation` current: in a context copied for it.

    For work handed to a pool (`threads.submit`), whose context is a copy
    made for that call alone: what is set here stays there.
    """
    _current.set(operation)
    return function(*args)


def bound(
    operation: Optional[Operation], function: Callable[..., T]
) -> Callable[..., T]:
    """`function`, called with `operation` current (see `under`); itself if None."""
    if operation is None:
        return function
    return functools.partial(under, operation, function)


__all__ = [
    "AnyScope",
    "bound",
    "NOTHING",
    "Scope",
    "current",
    "end",
    "end_when_dropped",
    "saw",
    "scope",
    "start",
    "under",
]
