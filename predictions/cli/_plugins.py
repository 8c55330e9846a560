"""`predictions plugins`: the installed plugins, checked as a client checks them.

Exit 0 when every plugin that `PREDICTIONS_PLUGINS` selects loads; 1 when one
of them is refused or fails to import, or the variable names one that is not
installed: what a client made now would warn about.
"""

from __future__ import annotations

import argparse
from typing import Any, Dict, List

from predictions._settings import plugin_names_from_env
from predictions.cli._exit import EXIT_FAILED, EXIT_OK
from predictions.cli._output import print_json
from predictions.plugins import (
    ALLOW_ENV,
    ENTRY_POINT_GROUP,
    IMPORT_FAILED,
    LOADED,
    PluginInfo,
    list_plugins,
)


def plugins(args: argparse.Namespace) -> int:
    """List the installed plugins, as text or (--json) one JSON document.

    The document: `entry_point_group`; `plugins`, one object per installed
    plugin, sorted by name, with `name`, `distribution`, `version`,
    `entry_point`, `status` (`loaded`, `refused`, `import_failed`),
    `selected` (`PREDICTIONS_PLUGINS` selects it), `hooks` and `reason`
    (why it does not load, or null); `not_installed`, the names
    `PREDICTIONS_PLUGINS` gives that no installed plugin has. Keys are only
    ever added.
    """
    infos = list_plugins()
    chosen = plugin_names_from_env() or ()
    names = {info.name for info in infos}
    not_installed = [name for name in chosen if name not in names]
    if args.json:
        document: Dict[str, Any] = {
            "entry_point_group": ENTRY_POINT_GROUP,
            "plugins": [
                {
                    "name": info.name,
                    "distribution": info.distribution,
                    "version": info.version,
                    "entry_point": info.entry_point,
                    "status": info.status,
                    "selected": info.selected,
                    "hooks": list(info.hooks),
                    "reason": info.error,
                }
                for info in infos
            ],
            "not_installed": not_installed,
        }
        print_json(document)
    else:
        if not infos:
            print(f"no plugins installed (entry-point group {ENTRY_POINT_GROUP})")
        for info in infos:
            print("\n".join(_describe(info)))
        if not_installed:
            print(
                f"not installed, but named by {ALLOW_ENV}: {', '.join(not_installed)}"
            )
    failing = [info for info in infos if info.selected and info.status != LOADED]
    return EXIT_FAILED if failing or not_installed else EXIT_OK


def _describe(info: PluginInfo) -> List[str]:
    status = "failed to import" if info.status == IMPORT_FAILED else info.status
    if not info.selected:
        status += f", not selected by {ALLOW_ENV}"
    lines = [f"{info.name} ({info.distribution} {info.version}): {status}"]
    if info.error:
        lines.append(f"  {info.error}")
    if info.hooks:
        lines.append(f"  hooks: {', '.join(info.hooks)}")
    return lines


__all__ = ["plugins"]
