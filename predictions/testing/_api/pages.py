"""The list's query (`cursor`, `page_size`, `statuses`) and its pages of records."""

from __future__ import annotations

import base64
import binascii
import bisect
import urllib.parse
from dataclasses import dataclass
from typing import FrozenSet, List, Optional, Sequence, Tuple

from predictions.testing._api import schema as _schema
from predictions.testing._api.protocol import INT_PARSING
from predictions.testing._api.schema import ValidationError

STATUSES = (
    "pending",
    "starting",
    "started",
    "succeeded",
    "failed",
    "cancelled",
    "abandoned",
)
"""The statuses of the API's lifecycle, in order: what `statuses=` may name (the
server's own list, apart from the client's on purpose, as `records.TERMINAL`)."""

DEFAULT_PAGE_SIZE = 25
MIN_PAGE_SIZE = 5
MAX_PAGE_SIZE = 50

Cursor = Tuple[str, int]
"""A decoded cursor: `("n", seq)` pages to older items, `("p", seq)` to newer."""


def encode_cursor(kind: str, seq: int) -> str:
    """Make an opaque cursor: `n` pages to older items, `p` to newer ones."""
    raw = f"{kind}:{seq}".encode("ascii")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> Cursor:
    """Read a cursor made by `encode_cursor`.

    Raises:
        ValueError: It is not one.
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        kind, _, seq = (
            base64.urlsafe_b64decode(padded.encode("ascii"))
            .decode("ascii")
            .partition(":")
        )
        if kind in ("n", "p") and seq.isdigit():
            return kind, int(seq)
    except (ValueError, UnicodeError, binascii.Error):
        pass
    raise ValueError("Invalid cursor")


@dataclass(frozen=True)
class ListQuery:
    """What `GET /predictions` asks for."""

    cursor: Optional[Cursor] = None
    page_size: int = DEFAULT_PAGE_SIZE
    statuses: Optional[FrozenSet[str]] = None
    """Only these statuses; None for every one."""


def parse_list_query(target: str) -> Tuple[ListQuery, List[ValidationError]]:
    """Read and check the list's query string, as FastAPI would.

    `page_size` is 5 to 50 (default 25); `statuses` is repeated for several
    statuses, each one of `STATUSES`. The last `cursor` and `page_size` win.

    Args:
        target: The request target (path and query).

    Returns:
        `(query, errors)`; the query is usable when there are no errors.
    """
    query = urllib.parse.parse_qs(
        urllib.parse.urlsplit(target).query, keep_blank_values=True
    )
    errors: List[ValidationError] = []
    cursor: Optional[Cursor] = None
    raw_cursor = (query.get("cursor") or [""])[-1]
    if raw_cursor:
        try:
            cursor = decode_cursor(raw_cursor)
        except ValueError:
            loc = ["query", "cursor"]
            errors.append(_schema.error(loc, "Invalid cursor", "value_error"))
    page_size = DEFAULT_PAGE_SIZE
    sizes = query.get("page_size")
    if sizes:
        loc = ["query", "page_size"]
        try:
            page_size = int(sizes[-1].strip())
        except ValueError:
            errors.append(_schema.error(loc, INT_PARSING, "int_parsing"))
        else:
            if page_size < MIN_PAGE_SIZE:
                msg = f"Input should be greater than or equal to {MIN_PAGE_SIZE}"
                item = _schema.error(loc, msg, "greater_than_equal")
                item["ctx"] = {"ge": MIN_PAGE_SIZE}
                errors.append(item)
            elif page_size > MAX_PAGE_SIZE:
                msg = f"Input should be less than or equal to {MAX_PAGE_SIZE}"
                item = _schema.error(loc, msg, "less_than_equal")
                item["ctx"] = {"le": MAX_PAGE_SIZE}
                errors.append(item)
    statuses: Optional[FrozenSet[str]] = None
    if "statuses" in query:
        names = query["statuses"]
        expected = ", ".join(f"'{s}'" for s in STATUSES[:-1])
        expected += f" or '{STATUSES[-1]}'"
        for index, name in enumerate(names):
            if name not in STATUSES:
                item = _schema.error(
                    ["query", "statuses", index], f"Input should be {expected}", "enum"
                )
                item["input"] = name
                item["ctx"] = {"expected": expected}
                errors.append(item)
        statuses = frozenset(names)
    return ListQuery(cursor, page_size, statuses), errors


def select(
    seqs: Sequence[int], cursor: Optional[Cursor], page_size: int
) -> Tuple[int, int, Optional[str], Optional[str]]:
    """Which slice of a list (oldest first) a page shows, and its cursors.

    Args:
        seqs: The sequence numbers of the listed records, increasing.
        cursor: Where the page starts; None for the newest page.
        page_size: Items per page.

    Returns:
        `(lo, hi, next_cursor, previous_cursor)`: the page is `[lo:hi]`,
        shown newest first; `next_cursor` leads to older items.
    """
    if cursor is None:
        hi = len(seqs)
        lo = max(0, hi - page_size)
    elif cursor[0] == "n":
        hi = bisect.bisect_left(seqs, cursor[1])
        lo = max(0, hi - page_size)
    else:
        lo = bisect.bisect_right(seqs, cursor[1])
        hi = min(len(seqs), lo + page_size)
    next_cursor = previous_cursor = None
    if lo > 0:
        next_cursor = encode_cursor("n", seqs[lo] if lo < len(seqs) else seqs[-1] + 1)
    if hi < len(seqs):
        previous_cursor = encode_cursor("p", seqs[hi - 1] if hi > 0 else seqs[0] - 1)
    return lo, hi, next_cursor, previous_cursor
