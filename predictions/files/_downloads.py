"""Downloading every file of an output: several at a time, each whole or not at all.

`download` checks everything it can before fetching a byte (the prediction
has finished, the directory exists and can be written, no file would be
overwritten unasked), then saves the files `DEFAULT_PARALLEL` at a time:
the calling thread saves some and free threads of the client's pool the
others, as an upload's parts go. It returns a copy of the output with each
file's URL replaced by its local path; the prediction is never changed.
`save_files` is the same for files already found, into chosen paths (a
batch's rows use it).
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence

from predictions._checks import check_count
from predictions.errors import DownloadError
from predictions.files._fetch import Stopped
from predictions.files._names import unique_names
from predictions.files._outputs import OutputFile, find_files, with_local_paths
from predictions.files._saving import (
    FileProgress,
    Saved,
    check_directory,
    check_target,
    save_file,
)
from predictions.types import TERMINAL_STATUSES

if TYPE_CHECKING:
    from predictions._http.api import API

DEFAULT_PARALLEL = 4
"""Files of one output saved at once."""


def download(
    api: API,
    prediction: Mapping[str, Any],
    directory: str,
    *,
    overwrite: bool = False,
    max_parallel: int = DEFAULT_PARALLEL,
    progress: Optional[FileProgress] = None,
    stop: Optional[threading.Event] = None,
) -> Any:
    """Save every file of a finished prediction's output into `directory`.

    See `Predictions.download`, which documents it.
    """
    check_count("max_parallel", max_parallel, minimum=1)
    files = find_files(api, prediction)
    status = prediction.get("status")
    if status not in TERMINAL_STATUSES:
        raise ValueError(
            f"the prediction has not finished (status {status!r}); wait for it "
            "before downloading its output"
        )
    directory = os.fspath(directory)
    check_directory(directory)
    output = prediction.get("output")
    if not files:
        return with_local_paths(output, {})
    names = unique_names(file.name for file in files)
    targets = [os.path.join(directory, name) for name in names]
    for target in targets:
        check_target(target, overwrite)
    saved = save_files(
        api,
        files,
        targets,
        overwrite=overwrite,
        max_parallel=max_parallel,
        progress=progress,
        stop=stop,
    )
    return with_local_paths(output, {f.path: s.path for f, s in zip(files, saved)})


def save_files(
    api: API,
    files: Sequence[OutputFile],
    targets: Sequence[str],
    *,
    overwrite: bool,
    max_parallel: int = DEFAULT_PARALLEL,
    parts: bool = False,
    sha256: bool = False,
    durable: bool = False,
    progress: Optional[FileProgress] = None,
    stop: Optional[threading.Event] = None,
) -> List[Saved]:
    """Save each file into its target, `max_parallel` at a time.

    The first failure stops the files not yet started, and is raised once
    those in progress have ended; each file saved before it is whole.

    Args:
        api: The client's API.
        files: The files.
        targets: Their paths, in the same order.
        overwrite: Replace files already there.
        max_parallel: Files saved at once.
        parts: Save through fixed temporary names (`.NAME.part`), kept on
            failure and resumed by a later call.
        sha256: Compute each file's SHA-256.
        durable: `fsync` each file before it is named.
        progress: Called as each file is saved.
        stop: Set to stop every file at its next chunk.

    Returns:
        What was saved, in the order of `files`.
    """
    stop = stop if stop is not None else threading.Event()
    results: Dict[int, Saved] = {}
    failures: List[BaseException] = []
    lock = threading.Lock()
    queue = list(range(len(files)))
    queue.reverse()

    def take() -> Optional[int]:
        with lock:
            return queue.pop() if queue and not failures else None

    def work() -> None:
        index = take()
        while index is not None:
            target = targets[index]
            part = _part_path(target) if parts else None
            try:
                results[index] = save_file(
                    files[index],
                    target,
                    overwrite=overwrite,
                    part=part,
                    sha256=sha256,
                    durable=durable,
                    progress=progress,
                    stop=stop,
                )
            except BaseException as exc:
                with lock:
                    failures.append(exc)
                    queue.clear()
                stop.set()
                return
            index = take()

    workers = min(max_parallel, len(files))
    if workers > 1:
        api.in_parallel(work, workers, lambda: None)
    else:
        work()
    if failures:
        raise _first(failures, files, results)
    return [results[index] for index in range(len(files))]


def _first(
    failures: List[BaseException],
    files: Sequence[OutputFile],
    results: Dict[int, Saved],
) -> BaseException:
    """The failure to raise: the first that is not a mere stop caused by it."""
    error = next((exc for exc in failures if not isinstance(exc, Stopped)), failures[0])
    if isinstance(error, DownloadError) and results:
        kept = ", ".join(repr(saved.path) for saved in results.values())
        error.args = (f"{error.args[0]} (saved whole before it: {kept})",)
    return error


def _part_path(target: str) -> str:
    directory, name = os.path.split(target)
    return os.path.join(directory, f".{name}.part")


__all__ = ["DEFAULT_PARALLEL", "download", "save_files"]
