"""Pages of results: PaginationOptions, PaginatedResponse, and lazy iteration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import (
    Any,
    AsyncIterator,
    Awaitable,
    Callable,
    Dict,
    Generic,
    Iterator,
    List,
    Mapping,
    Optional,
    Set,
    Tuple,
    TypeVar,
)

from predictions._checks import check_count
from predictions._compat import NotRequired, TypedDict
from predictions.errors import PredictionsError

T = TypeVar("T")


class PaginationOptions(TypedDict):
    """Options for pagination."""

    cursor: NotRequired[str]
    """Cursor for pagination."""
    page_size: NotRequired[int]
    """Number of items per page (the hosted API takes 5 to 50; 25 by default)."""
    statuses: NotRequired[List[str]]
    """Only predictions in these statuses (sent as a repeated query key)."""


@dataclass
class PaginatedResponse(Generic[T]):
    """One page of results."""

    items: List[T]
    """List of items returned in the current page."""
    next_cursor: Optional[str]
    """Cursor pointing to the next page."""
    previous_cursor: Optional[str]
    """Cursor pointing to the previous page."""
    next_url: Optional[str]
    """URL to fetch the next page."""
    previous_url: Optional[str]
    """URL to fetch the previous page."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PaginatedResponse[T]:
        """Build a page from the API's JSON, ignoring keys it does not know.

        Args:
            data: The decoded page.

        Returns:
            The page.

        Raises:
            PredictionsError: If `items` is missing or not a list.
        """
        items = data.get("items")
        if not isinstance(items, list):
            raise PredictionsError("the API sent a page without a list of items")
        return cls(
            items=items,
            next_cursor=data.get("next_cursor"),
            previous_cursor=data.get("previous_cursor"),
            next_url=data.get("next_url"),
            previous_url=data.get("previous_url"),
        )


def check_pagination_options(options: Optional[Mapping[str, Any]]) -> None:
    """Refuse pagination options the API cannot take, before any request.

    `page_size` is passed on as it is (the server says which sizes it takes),
    once known to be a whole number of at least 1.

    Args:
        options: The caller's options, or None.

    Raises:
        TypeError: If the options are not a mapping or a value has a wrong
            type (`statuses` must be a list of strings, not one string).
        ValueError: If `page_size` is below 1, a status is empty, or a key
            is unknown.
    """
    if options is None:
        return
    if not isinstance(options, Mapping):
        raise TypeError(
            "pagination_options must be a mapping such as {'page_size': 50}"
        )
    unknown = set(options) - set(PaginationOptions.__annotations__)
    if unknown:
        raise ValueError(
            f"unknown pagination options {sorted(unknown)}: use cursor, "
            "page_size and statuses"
        )
    size = options.get("page_size")
    if size is not None:
        check_count("page_size", size, minimum=1)
    cursor = options.get("cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise TypeError("cursor must be a string")
    statuses = options.get("statuses")
    if statuses is not None:
        if isinstance(statuses, (str, bytes)) or not isinstance(
            statuses, (list, tuple)
        ):
            raise TypeError(
                f"statuses must be a list of statuses such as ['failed'], "
                f"not {statuses!r}"
            )
        for status in statuses:
            if not isinstance(status, str):
                raise TypeError(f"each status must be a string, not {status!r}")
            if not status.strip():
                raise ValueError("a status in statuses is empty")


def page_query(options: Optional[Mapping[str, Any]]) -> List[Tuple[str, str]]:
    """The query of a page: its options as (key, value) pairs, statuses repeated."""
    query: List[Tuple[str, str]] = []
    for key, value in (options or {}).items():
        if value is None:
            continue
        if key == "statuses":
            query.extend(("statuses", str(status)) for status in value)
        else:
            query.append((key, str(value)))
    return query


class _Pages:
    """Where an iteration over pages stands: the options of the next page, if any."""

    def __init__(self, options: Optional[PaginationOptions]) -> None:
        self.first = options
        self.next: Optional[PaginationOptions] = options
        self.more = True
        self._seen: Set[str] = set()

    def advance(self, page: PaginatedResponse[Any]) -> None:
        """Move past a page: to its next cursor, or to the end.

        Raises:
            PredictionsError: If the API sends the same cursor twice.
        """
        cursor = page.next_cursor
        if not cursor:
            self.more = False
            return
        if cursor in self._seen:
            raise PredictionsError(
                f"the API sent the cursor {cursor!r} twice; stopping"
            )
        self._seen.add(cursor)
        following: Dict[str, Any] = {"cursor": cursor}
        following.update((k, v) for k, v in (self.first or {}).items() if k != "cursor")
        self.next = following  # type: ignore[assignment]


def iterate_items(
    fetch: Callable[[Optional[PaginationOptions]], PaginatedResponse[T]],
    options: Optional[PaginationOptions] = None,
) -> Iterator[T]:
    """Yield every item of every page, fetching each page only when needed.

    Args:
        fetch: Fetches one page for the given options.
        options: Where to start and the page size.

    Yields:
        Each item, page after page.

    Raises:
        PredictionsError: If the API sends the same cursor twice.
    """
    pages = _Pages(options)
    while pages.more:
        page = fetch(pages.next)
        yield from page.items
        pages.advance(page)


async def async_iterate_items(
    fetch: Callable[[Optional[PaginationOptions]], Awaitable[PaginatedResponse[T]]],
    options: Optional[PaginationOptions] = None,
) -> AsyncIterator[T]:
    """Yield every item of every page, asynchronously; see `iterate_items`."""
    pages = _Pages(options)
    while pages.more:
        page = await fetch(pages.next)
        for item in page.items:
            yield item
        pages.advance(page)


__all__ = [
    "PaginatedResponse",
    "PaginationOptions",
    "async_iterate_items",
    "check_pagination_options",
    "iterate_items",
    "page_query",
]
