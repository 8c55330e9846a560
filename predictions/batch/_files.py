"""A batch's output files: saved into `outputs_dir/<row key>/` before the row is done.

Output URLs expire, so a batch that keeps the files saves them as soon as a
row's prediction has succeeded, and only then hands out its result. Each
file goes through a fixed hidden temporary name (`.NAME.part`, kept when the
batch is killed or stopped), so a run after a crash resumes it from its last
byte (`Range`) with the fresh URLs of a new read of the prediction, never
fetches it again in full, and never leaves a partial file under a final
name; a file it had saved whole is noted in the ledger and not fetched
again. The row's result, with the local paths in place of the URLs, and
each file's path, size and SHA-256 are written to the ledger in one
transaction.

Files are saved on the batch's own pool, `SAVES_IN_FLIGHT` at a time, in
threads of their own (the pool is that much larger): downloads never hold
the places of creates and reads. A file that can no longer be had (its URL
expired, or the download failed after the retries) ends its row
`output_lost`; a disk that refuses to write stops the batch.
"""

from __future__ import annotations

import collections
import hashlib
import os
import threading
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, List, Optional, Tuple

from predictions.batch._results import OpenRow, where
from predictions.errors import BatchError, DownloadError
from predictions.files._downloads import save_files
from predictions.files._fetch import Stopped
from predictions.files._names import folded, safe_name, unique_names
from predictions.files._outputs import OutputFile, find_files, with_local_paths
from predictions.files._saving import Saved

if TYPE_CHECKING:
    from predictions._http.api import API
    from predictions.batch._ledger import Ledger, SavedFile
    from predictions.batch._reads import Submit
    from predictions.batch._recorder import Recorder
    from predictions.batch._rows import Row

SAVES_IN_FLIGHT = 4
"""Output files a batch saves at once (each on a pool thread of its own)."""

Finish = Callable[..., None]
"""`finish(row, result, files=...)`: ends a row with its result and its files."""


class RowFiles:
    """The output files of one row, on their way to disk."""

    __slots__ = ("error", "files", "left", "opened", "result", "saved", "targets")

    def __init__(
        self,
        opened: OpenRow,
        result: Dict[str, Any],
        files: List[OutputFile],
        targets: List[str],
    ) -> None:
        self.opened = opened
        self.result = result
        self.files = files
        self.targets = targets
        self.saved: Dict[int, Saved] = {}
        self.left = len(files)  # files not yet answered
        self.error: Optional[DownloadError] = None


class Downloads:
    """The output files of one batch: where each row's go, which is saved when.

    Args:
        api: The client's API (the files are fetched through it).
        root: The directory the rows' folders are made in (it exists).
        ledger: The batch's ledger (read: the folder names met, the files
            of a row saved by an earlier run).
        recorder: The ledger's writes (each file saved of a row not done).
        submit: Sends a save on the batch's pool (see `Submit`).
        finish: Ends a row with its result and its files.
        counts: The batch's counters (`files_saved`, `bytes_saved`).
    """

    def __init__(
        self,
        api: API,
        root: str,
        ledger: Ledger,
        recorder: Recorder,
        submit: Submit,
        finish: Finish,
        counts: Dict[str, int],
    ) -> None:
        self.api = api
        self.root = root
        self._ledger = ledger
        self._recorder = recorder
        self._submit = submit
        self._finish = finish
        self._counts = counts
        self.queue: Deque[Tuple[RowFiles, int]] = collections.deque()
        self._stops: Dict[Tuple[int, int], threading.Event] = {}  # the saves in flight

    @property
    def in_flight(self) -> int:
        """Saves started and not yet answered."""
        return len(self._stops)

    def directory_for(self, key: str) -> str:
        """The folder of a row's files: its key made a safe name.

        Two keys that make the same name (`a/b` and `a_b`, or `A` and `a`,
        or an accent precomposed and combined, on a file system that
        ignores case or Unicode form) must not share a folder: the later row
        (in input order, so the same in every run) gets the SHA-256 of its
        key after its name.
        """
        name = safe_name(key)
        if not self._ledger.first_name(folded(name)):
            stem = name.encode("utf-8")[:200].decode("utf-8", "ignore")
            name = f"{stem}-{hashlib.sha256(key.encode('utf-8')).hexdigest()[:12]}"
            self._ledger.first_name(folded(name))
        return os.path.join(self.root, name)

    def lacks_files(self, result: Optional[Dict[str, Any]]) -> bool:
        """Whether a succeeded result still holds file URLs (saved by none).

        A result recorded with its files saved holds local paths instead: a
        row done by a run without `outputs_dir` is the only kind that does.
        """
        if not result or result.get("status") != "succeeded":
            return False
        return bool(self._files_of(result))

    def add(self, opened: OpenRow, result: Dict[str, Any]) -> bool:
        """Queue a succeeded row's files; False if it has none (it ends at once).

        The files an earlier run saved whole from the same prediction (noted
        in the ledger, still there with their size) are taken as they are.
        """
        files = self._files_of(result)
        if not files:
            return False
        assert opened.directory is not None
        names = unique_names(file.name for file in files)
        targets = [os.path.join(opened.directory, name) for name in names]
        row_files = RowFiles(opened, result, files, targets)
        prediction_id = result.get("prediction_id")
        earlier = self._ledger.saved(opened.row.key, prediction_id or "")
        for index, target in enumerate(targets):
            noted = earlier.get(index)
            if noted is not None and noted[1] == target and _size(target) == noted[2]:
                row_files.saved[index] = Saved(target, noted[2], noted[3])
                row_files.left -= 1
            else:
                self.queue.append((row_files, index))
        if row_files.left == 0:
            self._end(row_files)
        return True

    def send(self) -> None:
        """Start the queued saves, as far as the places allow."""
        while self.queue and self.in_flight < SAVES_IN_FLIGHT:
            row_files, index = self.queue.popleft()
            # One stop for each save: a failed file stops no other.
            stop = self._stops[id(row_files), index] = threading.Event()
            subject = (row_files, index)
            self._submit("saved", subject, self._save, row_files, index, stop)

    def stop(self) -> None:
        """Start no more saves; those in flight stop at their next chunk."""
        self.queue.clear()
        for stop in self._stops.values():
            stop.set()

    def _files_of(self, result: Dict[str, Any]) -> List[OutputFile]:
        return find_files(self.api, result, result.get("prediction_id"))

    def forget(self, subject: Tuple[RowFiles, int]) -> None:
        """A save answered while the batch stops: nothing is recorded."""
        self._stops.pop((id(subject[0]), subject[1]), None)

    def _save(self, row_files: RowFiles, index: int, stop: threading.Event) -> Saved:
        """Save one file (on a pool thread): resumed from its part, made durable."""
        target = row_files.targets[index]
        directory = os.path.dirname(target)
        os.makedirs(directory, exist_ok=True)
        (saved,) = save_files(
            self.api,
            [row_files.files[index]],
            [target],
            overwrite=True,
            max_parallel=1,
            parts=True,
            sha256=True,
            durable=True,
            stop=stop,
        )
        return saved

    def on_saved(self, subject: Tuple[RowFiles, int], answer: Any) -> None:
        """A save's answer (or its error); the row ends when its last file has one.

        Raises:
            BatchError: The disk refused a file (full, not writable): no row
                could keep its files.
        """
        row_files, index = subject
        self.forget(subject)
        row_files.left -= 1
        if isinstance(answer, DownloadError):
            if row_files.error is None:
                row_files.error = answer
                self._drop_queued(row_files)
        elif isinstance(answer, Stopped):
            return  # the batch stops: the row is resumed by the next run
        elif isinstance(answer, OSError):
            target = row_files.targets[index]
            raise BatchError(
                f"cannot save the output files of {where(row_files.opened.row)} "
                f"({target}): {answer}; the batch stopped. Its part is kept: "
                "run the batch again once the disk can be written"
            ) from answer
        elif isinstance(answer, BaseException):
            raise answer
        else:
            row_files.saved[index] = answer
            file = row_files.files[index]
            self._recorder.record_saved(
                row_files.opened.row,
                row_files.result["prediction_id"],
                index,
                (file.path, answer.path, answer.size, answer.sha256 or ""),
            )
        if row_files.left == 0:
            self._end(row_files)

    def _drop_queued(self, row_files: RowFiles) -> None:
        kept = collections.deque(i for i in self.queue if i[0] is not row_files)
        row_files.left -= len(self.queue) - len(kept)
        self.queue = kept

    def _end(self, row_files: RowFiles) -> None:
        row: Row = row_files.opened.row
        result = dict(row_files.result)
        error = row_files.error
        if error is not None:
            result["status"] = "output_lost"
            result["error"] = {
                "source": "client",
                "message": f"{where(row)}: {error}",
                "url": error.url,
                "status_code": error.status_code,
            }
            self._finish(row, result)
            return
        kept: List[SavedFile] = []
        local = {}
        for index, file in enumerate(row_files.files):
            saved = row_files.saved[index]
            local[file.path] = saved.path
            kept.append((file.path, saved.path, saved.size, saved.sha256 or ""))
            self._counts["bytes_saved"] += saved.size
        self._counts["files_saved"] += len(kept)
        result["output"] = with_local_paths(result.get("output"), local)
        self._finish(row, result, files=kept)


def _size(path: str) -> Optional[int]:
    try:
        return os.path.getsize(path)
    except OSError:
        return None


__all__ = ["SAVES_IN_FLIGHT", "Downloads", "RowFiles"]
