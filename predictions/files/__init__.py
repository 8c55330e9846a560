"""Files: `File` in a prediction's input and its upload; `OutputFile` in its output.

A `File` is bytes, a path or a binary file object whose size and MIME type
are known when it is made: a bad one fails there, before anything is sent.
`prepare_input` uploads every `File` found in an input and returns a new
input with each replaced by its `download_url` (the API's "Uploads"); the
caller's input is never changed.

An `OutputFile` is a URL in a prediction's output (`find_files`), fetched
only when asked: read, opened, or saved whole under its final name
(`download` saves every file of an output). The uploading and downloading
names are handed on from their modules, loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, List

from predictions.errors import DownloadError, OutputExpiredError, UploadError
from predictions.files._file import DEFAULT_MIME_TYPE, Content, File

if TYPE_CHECKING:  # handed on by __getattr__ below, on first use
    from predictions.files._downloads import DEFAULT_PARALLEL as DEFAULT_PARALLEL
    from predictions.files._downloads import download as download
    from predictions.files._downloads import save_files as save_files
    from predictions.files._outputs import OutputFile as OutputFile
    from predictions.files._outputs import find_files as find_files
    from predictions.files._saving import FileProgress as FileProgress
    from predictions.files._saving import Saved as Saved
    from predictions.files._uploads import MAX_PARALLEL_PARTS as MAX_PARALLEL_PARTS
    from predictions.files._uploads import Progress as Progress
    from predictions.files._uploads import async_prepare_input as async_prepare_input
    from predictions.files._uploads import async_prepare_params as async_prepare_params
    from predictions.files._uploads import async_upload as async_upload
    from predictions.files._uploads import prepare_input as prepare_input
    from predictions.files._uploads import prepare_params as prepare_params
    from predictions.files._uploads import upload as upload

_HANDED_ON = {
    "DEFAULT_PARALLEL": "_downloads",
    "download": "_downloads",
    "save_files": "_downloads",
    "OutputFile": "_outputs",
    "find_files": "_outputs",
    "FileProgress": "_saving",
    "Saved": "_saving",
    "MAX_PARALLEL_PARTS": "_uploads",
    "Progress": "_uploads",
    "async_prepare_input": "_uploads",
    "async_prepare_params": "_uploads",
    "async_upload": "_uploads",
    "prepare_input": "_uploads",
    "prepare_params": "_uploads",
    "upload": "_uploads",
}
"""The names handed on from the package's modules, each loaded on first use."""


def __getattr__(name: str) -> Any:
    module = _HANDED_ON.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"predictions.files.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted({*globals(), *_HANDED_ON})


__all__ = [
    "DEFAULT_MIME_TYPE",
    "Content",
    "DownloadError",
    "File",
    "OutputExpiredError",
    "UploadError",
    *_HANDED_ON,
]
