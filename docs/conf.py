"""Sphinx configuration: the guides, and the API reference from the docstrings."""

import importlib
import os
import re
import sys

sys.path.insert(0, os.path.abspath(".."))

from predictions import __version__  # noqa: E402

project = "predictions"
author = "the predictions developers"
copyright = f"2026, {author}"
release = version = __version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
autodoc_member_order = "bysource"
autodoc_preserve_defaults = True  # `clock=SYSTEM_CLOCK`, not an object's repr
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"
autodoc_default_options = {"members": True, "show-inheritance": True}
exclude_patterns = ["_build"]
# The docstrings' `name` (single backquotes) is code, as in Markdown.
default_role = "code"
html_theme = "furo"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_title = f"predictions {release}"
suppress_warnings = ["ref.python"]  # re-exported names resolve to two paths

# The public faces, in the order a class's public path is chosen: a user
# imports `WaitOptions` from `predictions`, `BatchRun` from `predictions.batch`.
PUBLIC_MODULES = (
    "predictions",
    "predictions.batch",
    "predictions.files",
    "predictions.webhooks",
    "predictions.plugins",
    "predictions.testing",
)
PRIVATE = re.compile(r"(^|\.)_")

# (public module, name) -> the private module the class is defined in.
HOMES = {}


def publish_classes():
    """Give each public class defined in a private module its public path.

    Autodoc names a class by its `__module__`: in signatures, "Bases:",
    type annotations and the inventory (as the `:canonical:` name), where
    `predictions._waiting.options.WaitOptions` would show a path no user
    imports from. This changes `__module__` in the Sphinx process only.
    """
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            value = getattr(module, name)
            if isinstance(value, type) and PRIVATE.search(value.__module__):
                HOMES[(module_name, name)] = value.__module__
                value.__module__ = module_name


publish_classes()


def follow_imported(app, modname, fullname):
    """Where viewcode finds the source of a class `publish_classes` moved."""
    return HOMES.get((modname, fullname.split(".")[0]))


def object_defaults(app, what, name, obj, options, signature, return_annotation):
    """Show a default that is an object by its class: `Clock()`, not its repr."""
    if signature:
        signature = re.sub(r"<(?:[\w.]+\.)?(\w+) object(?: at 0x\w+)?>", r"\1()", signature)
    return signature, return_annotation


# Types of private names, as the reader knows them: the wait options' callback
# type is a type variable of their generic base (a function in both).
TYPE_NAMES = {"predictions._waiting.options.OnPoll": "Callable"}


def type_names(app, what, name, obj, options, lines):
    """Name the types `TYPE_NAMES` knows as a reader would (after napoleon)."""
    for index, line in enumerate(lines):
        for private, public in TYPE_NAMES.items():
            line = line.replace(private, public)
        lines[index] = line


def setup(app):
    app.connect("viewcode-follow-imported", follow_imported)
    app.connect("autodoc-process-signature", object_defaults)
    app.connect("autodoc-process-docstring", type_names, priority=900)
