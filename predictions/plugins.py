"""Plugins: entry points, the allow-list, listing, and calls that never break the host.

Installed plugins are found through the entry-point group `predictions.plugins`
(an entry point names a module or an object with `@hookimpl` functions, or a
class made with no arguments). They are discovered and imported once per
process, the first time a client is made, never at import time.
`PREDICTIONS_PLUGINS` chooses which load: unset, all; empty, none; `a,b`,
those entry-point names. `Client(plugins=[...])` adds objects in code.
One check decides whether a plugin is taken (its hooks' names and
arguments), for a client and for `list_plugins()` alike, so that a listing
shows a plugin as a client would find it.

A plugin that fails to load, or whose hook raises, is reported once, with
`warnings.warn` (a `PluginWarning` naming the plugin; the command line shows
it as one line on stderr), and the caller's operation goes on; with
`strict_plugins=True` or `PREDICTIONS_STRICT_PLUGINS=1` the error is raised
instead, for plugin authors and tests.
"""

from __future__ import annotations

import difflib
import threading
import types
import warnings
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple, Union

import pluggy

from predictions import hookspecs
from predictions._settings import PLUGINS_ENV as ALLOW_ENV
from predictions._settings import STRICT_PLUGINS_ENV as STRICT_ENV
from predictions._settings import plugin_names_from_env, strict_plugins_from_env
from predictions.errors import PluginError, PluginWarning

ENTRY_POINT_GROUP = "predictions.plugins"
"""The entry-point group installed plugins register under."""

HOOK_NAMES = tuple(
    name for name in hookspecs.__all__ if name.startswith("predictions_")
)


PluginValidationError = pluggy.PluginValidationError
"""A plugin was refused at registration: an unknown hook or argument."""


LOADED = "loaded"
"""`PluginInfo.status` of a plugin a client takes."""
REFUSED = "refused"
"""`PluginInfo.status` of a plugin that imports but that a client refuses."""
IMPORT_FAILED = "import_failed"
"""`PluginInfo.status` of a plugin whose entry point fails to import."""


@dataclass(frozen=True)
class PluginInfo:
    """An installed plugin, as `list_plugins()` describes it.

    Attributes:
        name: The entry-point name (what `PREDICTIONS_PLUGINS` lists).
        distribution: The distribution that installs it.
        version: The distribution's version.
        hooks: The hooks it implements as written (a refused plugin's
            misspelled ones too), sorted.
        error: Why a client would not take it (its status's reason), or None.
        entry_point: What its entry point names (`module` or `module:object`).
        status: `loaded`, `refused` (it imports, and a client refuses it:
            an unknown hook, an argument its hook lacks, a wrapper) or
            `import_failed`.
        selected: Whether `PREDICTIONS_PLUGINS` selects it (a client made now
            would load it).
    """

    name: str
    distribution: str
    version: str
    hooks: Tuple[str, ...]
    error: Optional[str] = None
    entry_point: str = ""
    status: str = LOADED
    selected: bool = True


@dataclass
class _Installed:
    entry_point: Any  # importlib.metadata.EntryPoint
    distribution: str
    version: str
    plugin: Any = None
    error: Optional[BaseException] = None
    loaded: bool = False


_lock = threading.Lock()
_installed: Optional[Dict[str, _Installed]] = None


def _discover() -> Dict[str, _Installed]:
    """Find the installed plugins' entry points, once per process."""
    global _installed
    with _lock:
        if _installed is None:
            import importlib.metadata as metadata  # costs ~20 ms: only when needed

            found: Dict[str, _Installed] = {}
            for dist in metadata.distributions():
                for entry_point in dist.entry_points:
                    if entry_point.group != ENTRY_POINT_GROUP:
                        continue
                    found.setdefault(
                        entry_point.name,
                        _Installed(entry_point, dist.metadata["Name"], dist.version),
                    )
            _installed = found
        return _installed


def _load(installed: _Installed) -> None:
    """Import one installed plugin, once per process."""
    with _lock:
        if installed.loaded:
            return
        installed.loaded = True
        try:
            plugin = installed.entry_point.load()
            installed.plugin = plugin() if isinstance(plugin, type) else plugin
        except Exception as exc:
            installed.error = exc


def _forget_installed() -> None:
    """Discover again on next use (for tests that fake entry points)."""
    global _installed
    with _lock:
        _installed = None


def _hooks_of(plugin: Any) -> Tuple[str, ...]:
    marker = f"{hookspecs.PROJECT_NAME}_impl"
    return tuple(
        sorted(
            name
            for name in dir(plugin)
            if getattr(getattr(plugin, name, None), marker, None) is not None
        )
    )


def plugin_label(plugin: Any) -> str:
    """A plugin's name for messages: its module's, or its class's."""
    if isinstance(plugin, types.ModuleType):
        return plugin.__name__
    return f"{type(plugin).__module__}.{type(plugin).__qualname__}"


def _name_of(impl: Any) -> str:
    # pluggy names a plugin object registered without a name by its id().
    if impl.plugin_name == str(id(impl.plugin)):
        return plugin_label(impl.plugin)
    return str(impl.plugin_name)


strict_from_env = strict_plugins_from_env
"""Whether `PREDICTIONS_STRICT_PLUGINS` asks for strict mode (read by `_settings`)."""


def list_plugins() -> List[PluginInfo]:
    """Describe every installed plugin, whether `PREDICTIONS_PLUGINS` selects it or not.

    Each is imported and checked as a client checks it, so a plugin that a
    client would refuse is listed as refused, with the reason.

    Returns:
        One `PluginInfo` per entry point of the `predictions.plugins` group,
        sorted by name.
    """
    chosen = plugin_names_from_env()
    infos = []
    for name, installed in sorted(_discover().items()):
        _load(installed)
        hooks: Tuple[str, ...] = ()
        reason: Optional[str]
        if installed.error is not None:
            status, reason = IMPORT_FAILED, _describe(installed.error)
        else:
            hooks = _hooks_of(installed.plugin)
            reason = _admit(_new_manager(), installed.plugin, name)
            status = LOADED if reason is None else REFUSED
        infos.append(
            PluginInfo(
                name=name,
                distribution=installed.distribution,
                version=installed.version,
                hooks=hooks,
                error=reason,
                entry_point=installed.entry_point.value,
                status=status,
                selected=chosen is None or name in chosen,
            )
        )
    return infos


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _new_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    return manager


def _admit(
    manager: pluggy.PluginManager, plugin: Any, name: Optional[str]
) -> Optional[str]:
    """Register `plugin` on `manager` if a client takes it; else say why not.

    The one check of a plugin, for a client and for `list_plugins()` alike.
    Each hookimpl is read on a manager without hookspecs (which takes them
    as written), so that every mistake is named at once, with its hook.

    Returns:
        None when registered; else the reasons, `; `-separated, with nothing
        left registered.
    """
    probe = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    probe.register(plugin)
    reasons = []
    for caller in sorted(probe.get_hookcallers(plugin) or (), key=lambda c: c.name):
        spec = getattr(getattr(manager.hook, caller.name, None), "spec", None)
        if spec is None:
            reasons.append(_unknown_hook(caller.name))
            continue
        for impl in caller.get_hookimpls():
            unknown = [arg for arg in impl.argnames if arg not in spec.argnames]
            if unknown:
                reasons.append(
                    f"hook {caller.name!r} has no argument "
                    f"{', '.join(map(repr, unknown))} (its arguments: "
                    f"{', '.join(spec.argnames)})"
                )
            if impl.hookwrapper or getattr(impl, "wrapper", False):
                reasons.append(
                    f"hook {caller.name!r} is a wrapper (predictions hooks are "
                    "plain observers)"
                )
    if reasons:
        return "; ".join(reasons)
    try:  # pluggy's own checks, should it ever have one more than these
        manager.register(plugin, name=name)
        manager.check_pending()
    except PluginValidationError as exc:
        if manager.is_registered(plugin):
            manager.unregister(plugin)
        return str(exc)
    return None


def _unknown_hook(name: str) -> str:
    near = difflib.get_close_matches(name, HOOK_NAMES, n=1, cutoff=0.9)
    if near:
        return f"unknown hook {name!r} (did you mean {near[0]!r}?)"
    return f"unknown hook {name!r} (the hooks: {', '.join(HOOK_NAMES)})"


class PluginHost:
    """A client's plugin manager, and the one place hooks are called from.

    Args:
        plugins: Plugin objects to add (modules, or objects with `@hookimpl`
            functions); refused with `PluginValidationError` if they
            implement an unknown hook or take an argument a hook lacks.
        strict: Raise plugin failures instead of warning; None reads
            `PREDICTIONS_STRICT_PLUGINS`.
        entry_points: Which installed plugins to load: True, those that
            `PREDICTIONS_PLUGINS` selects; False, none; a list, those names
            (a client passes what its settings resolved).

    Raises:
        PluginValidationError: A plugin given in `plugins` is not valid.
        PluginError: In strict mode, an installed plugin failed to load or
            was not valid.
    """

    def __init__(
        self,
        plugins: Sequence[Any] = (),
        *,
        strict: Optional[bool] = None,
        entry_points: Union[bool, Sequence[str]] = True,
    ) -> None:
        self.strict = strict_plugins_from_env() if strict is None else strict
        self.manager = _new_manager()
        self._impls: Dict[str, List[Any]] = {}
        self._warned: Set[str] = set()
        if entry_points is True:
            self._add_installed(plugin_names_from_env())
        elif entry_points:
            self._add_installed(entry_points)
        for plugin in plugins:
            self.register(plugin)

    @property
    def active(self) -> bool:
        """Whether any plugin implements any hook (hooks cost nothing if not)."""
        return bool(self._impls)

    def register(self, plugin: Any, name: Optional[str] = None) -> None:
        """Add a plugin object.

        Args:
            plugin: A module or object with `@hookimpl` functions.
            name: Its name in messages; pluggy's default if None.

        Raises:
            PluginValidationError: It implements an unknown hook, takes an
                argument the hook lacks, or is a hook wrapper.
        """
        reason = _admit(self.manager, plugin, name)
        if reason is not None:
            label = name or plugin_label(plugin)
            raise PluginValidationError(plugin, f"plugin {label!r} refused: {reason}")
        self._refresh()

    def unregister(self, name: str) -> bool:
        """Remove the plugin registered under `name`; tell whether there was one."""
        plugin = self.manager.get_plugin(name)
        if plugin is None:
            return False
        self.manager.unregister(plugin)
        self._refresh()
        return True

    def call(self, hook_name: str, **kwargs: Any) -> None:
        """Call every implementation of a hook, each in isolation.

        A hook that raises is reported (or raised in strict mode) and the
        others still run.

        Args:
            hook_name: One of the `predictions_*` hooks.
            **kwargs: The hook's arguments, all of them, by name.

        Raises:
            PluginError: In strict mode, a hook raised.
        """
        impls = self._impls.get(hook_name)
        if not impls:
            return
        for impl in impls:
            try:
                impl.function(*[kwargs[arg] for arg in impl.argnames])
            except Exception as exc:
                self._report(f"plugin {_name_of(impl)!r} failed in {hook_name}", exc)

    def collect(self, hook_name: str, **kwargs: Any) -> List[Tuple[str, Any]]:
        """Call every implementation of a hook, each in isolation, as `call` does.

        Returns:
            (plugin name, result) for each implementation that returned
            something other than None, in calling order.
        """
        results = []
        for impl in self._impls.get(hook_name, ()):
            try:
                result = impl.function(*[kwargs[arg] for arg in impl.argnames])
            except Exception as exc:
                self._report(f"plugin {_name_of(impl)!r} failed in {hook_name}", exc)
                continue
            if result is not None:
                results.append((_name_of(impl), result))
        return results

    def warn_once(self, plugin: str, message: str) -> None:
        """Report a plugin's misuse (as a failure is reported), once per plugin."""
        if plugin not in self._warned:
            self._warned.add(plugin)
            self._report(message, None)

    def _refresh(self) -> None:
        impls: Dict[str, List[Any]] = {}
        for hook_name in HOOK_NAMES:
            # pluggy calls the last registered first; keep its order.
            found = list(
                reversed(getattr(self.manager.hook, hook_name).get_hookimpls())
            )
            if found:
                impls[hook_name] = found
        self._impls = impls

    def _add_installed(self, allowed: Optional[Sequence[str]]) -> None:
        installed = _discover()
        names = sorted(installed) if allowed is None else allowed
        for name in names:
            entry = installed.get(name)
            if entry is None:
                self._report(
                    f"{ALLOW_ENV} names plugin {name!r}, which is not installed "
                    f"(installed: {', '.join(sorted(installed)) or 'none'})",
                    None,
                )
                continue
            _load(entry)
            where = f"plugin {name!r} (from {entry.distribution} {entry.version})"
            if entry.error is not None:
                self._report(f"{where} failed to load", entry.error)
                continue
            reason = _admit(self.manager, entry.plugin, name)
            if reason is not None:
                self._report(f"{where} was refused: {reason}", None)
        self._refresh()

    def _report(self, message: str, exc: Optional[BaseException]) -> None:
        text = message if exc is None else f"{message}: {_describe(exc)}"
        if self.strict:
            raise PluginError(text) from exc
        # One channel, not a log line too (each message came out twice): a
        # warning can be filtered, and logging.captureWarnings() logs it.
        warnings.warn(text, PluginWarning, stacklevel=3)


__all__ = [
    "ALLOW_ENV",
    "ENTRY_POINT_GROUP",
    "HOOK_NAMES",
    "IMPORT_FAILED",
    "LOADED",
    "REFUSED",
    "STRICT_ENV",
    "PluginError",
    "PluginHost",
    "PluginInfo",
    "PluginValidationError",
    "PluginWarning",
    "list_plugins",
    "strict_from_env",
]
