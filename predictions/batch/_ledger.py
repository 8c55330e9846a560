"""The batch ledger: what each row of a batch has done, on disk (SQLite).

A row is written three times, each time before what it records could be lost:

1. its `Idempotency-Key`, committed *before* its create is sent (`keyed`);
2. its prediction's id, when the create answers (`created`);
3. its result, when the prediction ends (`done`), with its output files
   (each one's local path, size and SHA-256) when the batch keeps them: in
   the same transaction, so a row is never done without its files. Until
   then, each file of a row saved whole is noted (`saving`, with the
   prediction it came from): a run that resumes the row does not fetch it
   again.

So a batch stopped at any moment (a crash, `kill -9`, Ctrl-C) resumes: done
rows are not redone, created rows are waited on, and keyed rows, whose create
may have been in flight, are sent again with the same key. A row sent again
is counted (`sends`): on a server that ignores the key, a row sent more than
once may have made one prediction more than the ledger knows of.

The database is in WAL mode with `synchronous=FULL`: a commit has reached the
disk before the create it allows is sent. One connection, used by one thread
(the batch's coordinator).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from typing import Any, Dict, Mapping, NoReturn, Optional, Sequence, Tuple

from predictions._clock import SYSTEM_CLOCK, Clock
from predictions.batch._identity import check_identity, identity
from predictions.errors import LedgerMismatchError, LedgerWriteError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rows (
    key TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    line INTEGER,
    input_sha TEXT NOT NULL,
    state TEXT NOT NULL,
    idempotency_key TEXT,
    sends INTEGER NOT NULL DEFAULT 0,
    replayed INTEGER NOT NULL DEFAULT 0,
    prediction_id TEXT,
    status TEXT,
    result TEXT,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS superseded (
    key TEXT NOT NULL,
    idempotency_key TEXT,
    sends INTEGER NOT NULL,
    prediction_id TEXT,
    status TEXT,
    result TEXT,
    why TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS rows_by_prediction ON rows (prediction_id);
CREATE TABLE IF NOT EXISTS files (key TEXT NOT NULL, number INTEGER NOT NULL,
    place TEXT NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL,
    sha256 TEXT NOT NULL, prediction_id TEXT NOT NULL, PRIMARY KEY (key, number));
CREATE TABLE IF NOT EXISTS saving (key TEXT NOT NULL, number INTEGER NOT NULL,
    place TEXT NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL,
    sha256 TEXT NOT NULL, prediction_id TEXT NOT NULL, PRIMARY KEY (key, number));
"""

SavedFile = Tuple[Tuple[Any, ...], str, int, str]
"""One output file of a row, kept: (its place in the output as keys and
indexes, its local path, its size, its SHA-256 in hex)."""


class Entry:
    """One row as the ledger has it."""

    __slots__ = (
        "idempotency_key",
        "input_sha",
        "prediction_id",
        "replayed",
        "result",
        "sends",
        "state",
        "status",
    )

    def __init__(self, values: Tuple[Any, ...]) -> None:
        (
            self.input_sha,
            self.state,
            self.idempotency_key,
            self.sends,
            self.replayed,
            self.prediction_id,
            self.status,
            result,
        ) = values
        self.result: Optional[Dict[str, Any]] = (
            None if result is None else json.loads(result)
        )


class Ledger:
    """A batch's ledger file.

    Args:
        path: The SQLite file (made if missing).
        model: The model the batch runs.
        source: What the rows come from, for messages (a file's path), or None.
        source_sha: The input file's SHA-256, or None for rows from Python.
        key_field: The input field the row keys come from; None for numbers.
        force: Take a ledger whose input file changed (its rows are matched
            by key; a row whose input changed is redone).
        clock: The clock whose wall time dates each write (the client's).
        exclude: The input fields the batch leaves out of what it sends.
        types: The CSV columns the batch converts, to the names of their types.

    Raises:
        LedgerMismatchError: The ledger was made for another batch (another
            model, input file, key field, fields left out or columns typed),
            or its input file changed (without `force`).
        LedgerWriteError: The file cannot be opened or written.
    """

    def __init__(
        self,
        path: os.PathLike[str] | str,
        model: str,
        source: Optional[str] = None,
        source_sha: Optional[str] = None,
        key_field: Optional[str] = None,
        force: bool = False,
        clock: Clock = SYSTEM_CLOCK,
        exclude: Sequence[str] = (),
        types: Optional[Mapping[str, str]] = None,
    ) -> None:
        self.path = os.fspath(path)
        self.force = force
        self._clock = clock
        try:
            self._db = sqlite3.connect(
                self.path, timeout=1.0, isolation_level=None, check_same_thread=False
            )
            # One batch at a time: the first write lock is kept until close,
            # so a second batch on the same ledger is refused, never run along.
            self._db.execute("PRAGMA locking_mode=EXCLUSIVE")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            self._db.execute(
                "CREATE TEMP TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY)"
            )
            self._db.execute(
                "CREATE TEMP TABLE IF NOT EXISTS names (name TEXT PRIMARY KEY)"
            )
            meta = dict(self._db.execute("SELECT name, value FROM meta").fetchall())
        except sqlite3.DatabaseError as exc:
            self._refuse(exc, "open")
        self.pinned: Optional[str] = meta.get("pinned") or None
        """The model with its version, once the batch's first create told it."""
        wanted = identity(model, source, source_sha, key_field, exclude, types)
        if meta:
            try:
                check_identity(self.path, meta, wanted, force)
            except LedgerMismatchError:
                self._db.close()  # its lock is given back at once
                raise
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            self._refuse(exc, "open")
        if not meta or (force and meta.get("source_sha") != wanted["source_sha"]):
            self._db.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)", sorted(wanted.items())
            )
            self.commit()

    def _refuse(self, exc: sqlite3.DatabaseError, doing: str) -> NoReturn:
        """Raise the LedgerWriteError for a failure to open or write the file."""
        with contextlib.suppress(AttributeError, sqlite3.Error):
            self._db.close()
        if "locked" in str(exc):
            raise LedgerWriteError(
                f"the ledger {self.path} is in use by another batch (one batch "
                "at a time runs on a ledger)",
                {},
            ) from None
        raise LedgerWriteError(
            f"cannot {doing} the ledger {self.path}: {exc}", {}
        ) from None

    def pin(self, model: str) -> None:
        """Record the model with its version, as the first create told it."""
        self.pinned = model
        self._write("INSERT OR REPLACE INTO meta VALUES ('pinned', ?)", model)

    def _begin(self) -> None:
        self._write("BEGIN IMMEDIATE")

    def _write(self, sql: str, *params: Any) -> None:
        try:
            self._db.execute(sql, params)
        except sqlite3.DatabaseError as exc:
            raise LedgerWriteError(
                f"cannot write the ledger {self.path}: {exc}", {}
            ) from None

    def commit(self) -> None:
        """Make everything recorded since the last commit durable.

        Raises:
            LedgerWriteError: It could not be written (nothing since the last
                commit is on disk; the ledger is as it was then).
        """
        try:
            self._db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            with contextlib.suppress(sqlite3.DatabaseError):
                self._db.execute("ROLLBACK")
            self._begin_quietly()
            raise LedgerWriteError(
                f"cannot write the ledger {self.path}: {exc}", {}
            ) from None
        self._begin()

    def _begin_quietly(self) -> None:
        with contextlib.suppress(sqlite3.DatabaseError):
            self._db.execute("BEGIN IMMEDIATE")

    def close(self) -> None:
        """Commit what is pending (if it can) and close the file."""
        with contextlib.suppress(sqlite3.DatabaseError):
            self._db.execute("COMMIT")
        self._db.close()

    def first_time(self, key: str) -> bool:
        """Whether this run meets the key for the first time.

        The keys met are kept by SQLite, not in a set: a run over millions of
        rows does not hold their keys in memory.

        Raises:
            LedgerWriteError: The keys met cannot be written down.
        """
        return self._first("seen", key)

    def first_name(self, name: str) -> bool:
        """Whether this run meets a name (a row's outputs folder) for the first time.

        Raises:
            LedgerWriteError: The names met cannot be written down.
        """
        return self._first("names", name)

    def _first(self, table: str, value: str) -> bool:
        try:
            cursor = self._db.execute(
                f"INSERT OR IGNORE INTO temp.{table} VALUES (?)", (value,)
            )
        except sqlite3.DatabaseError as exc:
            raise LedgerWriteError(
                f"cannot write the ledger {self.path}: {exc}", {}
            ) from None
        return cursor.rowcount == 1

    def entry(self, key: str) -> Optional[Entry]:
        """The row with this key, or None if the ledger has none."""
        found = self._db.execute(
            "SELECT input_sha, state, idempotency_key, sends, replayed, "
            "prediction_id, status, result FROM rows WHERE key = ?",
            (key,),
        ).fetchone()
        return None if found is None else Entry(found)

    def write_key(
        self,
        key: str,
        seq: int,
        line: Optional[int],
        input_sha: str,
        idempotency_key: str,
        resent: bool,
    ) -> None:
        """Record that a row's create is about to be sent with this key."""
        if resent:
            self._write(
                "UPDATE rows SET sends = sends + 1, seq = ?, updated = ? WHERE key = ?",
                seq,
                self._clock.wall(),
                key,
            )
            return
        self._write(
            "INSERT OR REPLACE INTO rows (key, seq, line, input_sha, state, "
            "idempotency_key, sends, updated) VALUES (?, ?, ?, ?, 'keyed', ?, 1, ?)",
            key,
            seq,
            line,
            input_sha,
            idempotency_key,
            self._clock.wall(),
        )

    def other_row(self, prediction_id: str, key: str) -> Optional[str]:
        """The key of a row other than `key` that holds this prediction, if any."""
        found = self._db.execute(
            "SELECT key FROM rows WHERE prediction_id = ? AND key != ? LIMIT 1",
            (prediction_id, key),
        ).fetchone()
        return None if found is None else str(found[0])

    def write_prediction(self, key: str, prediction_id: str, replayed: bool) -> None:
        """Record the prediction a row's create made."""
        self._write(
            "UPDATE rows SET state = 'created', prediction_id = ?, "
            "replayed = replayed OR ?, updated = ? WHERE key = ?",
            prediction_id,
            int(replayed),
            self._clock.wall(),
            key,
        )

    def done(
        self,
        key: str,
        seq: int,
        line: Optional[int],
        input_sha: str,
        result: Mapping[str, Any],
        files: Sequence[SavedFile] = (),
    ) -> None:
        """Record a row's result and files (the row is made if it never was sent)."""
        self._write(
            "INSERT INTO rows (key, seq, line, input_sha, state, status, result, "
            "updated) VALUES (?, ?, ?, ?, 'done', ?, ?, ?) ON CONFLICT(key) DO "
            "UPDATE SET state = 'done', status = excluded.status, "
            "result = excluded.result, updated = excluded.updated",
            key,
            seq,
            line,
            input_sha,
            result["status"],
            json.dumps(result, separators=(",", ":"), ensure_ascii=False),
            self._clock.wall(),
        )
        self._forget_files(key)
        for number, file in enumerate(files):
            self._write_file("files", key, result["prediction_id"], number, file)

    def write_saved(
        self, key: str, prediction_id: str, number: int, file: SavedFile
    ) -> None:
        """Note a file of a row not yet done, saved whole from this prediction."""
        self._write_file("saving", key, prediction_id, number, file)

    def saved(self, key: str, prediction_id: str) -> Dict[int, SavedFile]:
        """The files of a row noted saved from this prediction, by their number."""
        found = self._db.execute(
            "SELECT number, place, path, size, sha256 FROM saving "
            "WHERE key = ? AND prediction_id = ?",
            (key, prediction_id),
        ).fetchall()
        return {n: (tuple(json.loads(place)), *rest) for n, place, *rest in found}

    def _write_file(
        self, table: str, key: str, prediction_id: str, number: int, file: SavedFile
    ) -> None:
        place, path, size, sha256 = file
        self._write(
            f"INSERT OR REPLACE INTO {table} VALUES (?, ?, ?, ?, ?, ?, ?)",
            key, number, json.dumps(list(place), ensure_ascii=False), path, size,
            sha256, prediction_id,
        )  # fmt: skip

    def _forget_files(self, key: str) -> None:
        self._write("DELETE FROM files WHERE key = ?", key)
        self._write("DELETE FROM saving WHERE key = ?", key)

    def supersede(self, key: str, why: str) -> None:
        """Keep a row's past (its prediction, its result) aside and forget it.

        Used before a row is redone (`retry_failed`, or its input changed):
        the old prediction is never lost from the ledger.
        """
        self._write(
            "INSERT INTO superseded SELECT key, idempotency_key, sends, "
            "prediction_id, status, result, ?, ? FROM rows WHERE key = ?",
            why,
            self._clock.wall(),
            key,
        )
        self._write("DELETE FROM rows WHERE key = ?", key)
        self._forget_files(key)


__all__ = [
    "Entry",
    "Ledger",
    "SavedFile",
    "LedgerMismatchError",
    "LedgerWriteError",
]
