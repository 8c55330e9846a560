"""Which batch a ledger is of: the names its meta table holds, and the check.

A ledger is made for one batch: a model, an input (a file's path and its
SHA-256), the field its keys come from, and the shape of what each row sends
(the fields left out, the CSV columns typed). A run of another batch on it is
refused before anything is sent, naming both. A name that a ledger made by an
earlier version lacks counts as empty: such a ledger resumes a run that gives
none of the newer options, and its rows are matched as before.
"""

from __future__ import annotations

import json
from typing import Dict, Mapping, Optional, Sequence

from predictions.errors import LedgerMismatchError

SCHEMA_VERSION = "1"

_SAME_BATCH = ("model", "key_field", "exclude", "types")
"""What no run may change: the rows would be other rows, or sent otherwise."""


def identity(
    model: str,
    source: Optional[str] = None,
    source_sha: Optional[str] = None,
    key_field: Optional[str] = None,
    exclude: Sequence[str] = (),
    types: Optional[Mapping[str, str]] = None,
) -> Dict[str, str]:
    """The meta table of a ledger made for this batch, as names and texts."""
    # A column typed `str` is sent as it is read: the same batch as untyped.
    typed = {field: kind for field, kind in (types or {}).items() if kind != "str"}
    return {
        "schema": SCHEMA_VERSION,
        "model": model,
        "source": source or "",
        "source_sha": source_sha or "",
        "key_field": key_field or "",
        "exclude": json.dumps(sorted(set(exclude))) if exclude else "",
        "types": json.dumps(typed, sort_keys=True) if typed else "",
    }


def check_identity(
    path: str, meta: Mapping[str, str], wanted: Mapping[str, str], force: bool
) -> None:
    """Refuse a ledger made for another batch, naming both.

    Args:
        path: The ledger's file, for messages.
        meta: What the ledger's meta table holds.
        wanted: This batch's (`identity`).
        force: Take a ledger whose input file changed (not another batch).

    Raises:
        LedgerMismatchError: The ledger is of another batch, or (without
            `force`) its input file changed.
    """
    # Say what is left out and typed when either batch does so, else nothing.
    shaped = any(meta.get(name) or wanted[name] for name in ("exclude", "types"))
    made = describe(meta, shaped)
    if meta.get("schema") != SCHEMA_VERSION:
        raise LedgerMismatchError(
            f"the ledger {path} was written by another version of "
            f"this client (schema {meta.get('schema')!r})"
        )
    if any(meta.get(name, "") != wanted[name] for name in _SAME_BATCH):
        raise LedgerMismatchError(
            f"the ledger {path} is of another batch: it was made for "
            f"{made}; this batch is {describe(wanted, shaped)}"
        )
    if meta.get("source_sha", "") == wanted["source_sha"]:
        return
    if meta.get("source", "") != wanted["source"]:
        raise LedgerMismatchError(
            f"the ledger {path} is of another input: it was made for "
            f"{made}; this batch is {describe(wanted, shaped)}"
        )
    if not force:
        raise LedgerMismatchError(
            f"the input {wanted['source']} changed since the ledger "
            f"{path} was made; nothing was sent",
            option="force",
        )


def describe(meta: Mapping[str, str], shaped: bool = False) -> str:
    """A batch as a ledger's meta table names it, in words.

    Args:
        meta: The batch's names and texts (`identity`).
        shaped: Say which fields it leaves out and which columns it types,
            even when none.
    """
    what = f"model {meta.get('model')}"
    if meta.get("source"):
        what += f" on {meta['source']}"
    if meta.get("key_field"):
        what += f" (keys from the field {meta['key_field']!r})"
    if shaped:
        excluded = json.loads(meta["exclude"]) if meta.get("exclude") else []
        typed = json.loads(meta["types"]) if meta.get("types") else {}
        what += ", leaving out " + (
            ", ".join(repr(name) for name in excluded) or "no field"
        )
        what += ", typing " + (
            ", ".join(f"{name}={kind}" for name, kind in typed.items()) or "no column"
        )
    return what


__all__ = ["SCHEMA_VERSION", "check_identity", "describe", "identity"]
