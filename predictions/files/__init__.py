"""Files: `File` in a prediction's input, and its upload.

A `File` is bytes, a path or a binary file object whose size and MIME type
are known when it is made: a bad one fails there, before anything is sent.

`prepare_input` uploads every `File` found in an input and returns a new
input with each replaced by its `download_url` (the API's "Uploads"); the
caller's input is never changed. It and the other uploading names are handed
on from `predictions.files._uploads`, loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, List

from predictions.errors import UploadError
from predictions.files._file import DEFAULT_MIME_TYPE, Content, File

if TYPE_CHECKING:  # handed on by __getattr__ below, on first use
    from predictions.files._uploads import MAX_PARALLEL_PARTS as MAX_PARALLEL_PARTS
    from predictions.files._uploads import Progress as Progress
    from predictions.files._uploads import async_prepare_input as async_prepare_input
    from predictions.files._uploads import async_prepare_params as async_prepare_params
    from predictions.files._uploads import async_upload as async_upload
    from predictions.files._uploads import prepare_input as prepare_input
    from predictions.files._uploads import prepare_params as prepare_params
    from predictions.files._uploads import upload as upload

_UPLOADING = (
    "MAX_PARALLEL_PARTS",
    "Progress",
    "async_prepare_input",
    "async_prepare_params",
    "async_upload",
    "prepare_input",
    "prepare_params",
    "upload",
)
"""The names handed on from `predictions.files._uploads`, loaded on first use."""


def __getattr__(name: str) -> Any:
    if name not in _UPLOADING:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module("predictions.files._uploads"), name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted({*globals(), *_UPLOADING})


__all__ = ["DEFAULT_MIME_TYPE", "Content", "File", "UploadError", *_UPLOADING]
