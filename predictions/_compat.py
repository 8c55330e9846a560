"""Names that moved between Python versions, imported from one place."""

from __future__ import annotations

import enum
import sys

if sys.version_info >= (3, 11):
    from enum import StrEnum
    from typing import NotRequired, TypedDict
else:
    from typing_extensions import NotRequired, TypedDict

    class StrEnum(str, enum.Enum):
        """A backport of Python 3.11's `enum.StrEnum`: members are `str`.

        `str(member)` and `format(member)` give the value, as on 3.11.
        """

        def __str__(self) -> str:
            return str(self.value)

        def __format__(self, format_spec: str) -> str:
            return str(self.value).__format__(format_spec)


__all__ = ["NotRequired", "StrEnum", "TypedDict"]
