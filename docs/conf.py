"""Sphinx configuration: the API reference from the Google-style docstrings."""

import os
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
html_title = f"predictions {release}"
suppress_warnings = ["ref.python"]  # re-exported names resolve to two paths
