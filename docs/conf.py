"""Sphinx configuration: the API reference from the Google-style docstrings."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

from predictions import __version__  # noqa: E402

project = "predictions"
author = "the predictions developers"
release = version = __version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"
autodoc_default_options = {"members": True, "show-inheritance": True}
exclude_patterns = ["_build"]
html_theme = "alabaster"
suppress_warnings = ["ref.python"]  # re-exported names resolve to two paths
