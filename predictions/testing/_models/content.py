"""What the demo models' output files hold, made chunk by chunk.

A PNG of one colour (`demo/image`: zlib and struct, no imaging library) and
deterministic pseudo-random bytes (`demo/files`), each an iterator of bytes
chunks, so that `PredictionContext.save_file` writes them as they are made
and no file is ever whole in memory.
"""

from __future__ import annotations

import hashlib
import re
import struct
import zlib
from typing import Iterator, Tuple

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
"""The eight bytes every PNG file starts with."""

BLOCK = 1024 * 1024
"""Bytes of pseudo-random data made at a time (1 MiB)."""

PREFIX = 16
"""Bytes at the start of each block that differ from one block to the next."""

_COLOR = re.compile(r"#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})\Z")


def parse_color(text: str) -> Tuple[int, int, int]:
    """A colour `#rgb` or `#rrggbb` as its red, green and blue (0 to 255).

    Raises:
        ValueError: It is not in one of the two forms.
    """
    match = _COLOR.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"color must be #rgb or #rrggbb, not {text!r}")
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    red, green, blue = (int(digits[i : i + 2], 16) for i in (0, 2, 4))
    return red, green, blue


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC-32 of type and data."""
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png(width: int, height: int, color: Tuple[int, int, int]) -> Iterator[bytes]:
    """A PNG image of one colour, 8-bit RGB, in chunks.

    The rows are compressed as they are made: each piece the compressor
    gives out is an `IDAT` chunk of its own, as the format allows.

    Args:
        width: Pixels per row, at least 1.
        height: Rows, at least 1.
        color: Red, green and blue, 0 to 255 each.
    """
    yield PNG_SIGNATURE
    # 8 bits per sample, colour type 2 (RGB), deflate, no filter, no interlace.
    yield _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    compressor = zlib.compressobj()
    row = b"\x00" + bytes(color) * width  # filter type 0 (none), then the pixels
    for _ in range(height):
        data = compressor.compress(row)
        if data:
            yield _png_chunk(b"IDAT", data)
    yield _png_chunk(b"IDAT", compressor.flush())
    yield _png_chunk(b"IEND", b"")


def pseudo_random(seed: bytes, size: int) -> Iterator[bytes]:
    """`size` pseudo-random bytes, the same for the same seed, a MiB at a time.

    A block of SHAKE-256 output for the seed is repeated; every repeat after
    the first starts with 16 bytes of its own (its number, hashed with the
    seed), so no two blocks are the same. A block costs a copy and a short
    hash: hundreds of megabytes a second.

    Args:
        seed: What makes the bytes (different seeds, different bytes).
        size: How many bytes.
    """
    block = hashlib.shake_256(seed).digest(min(size, BLOCK))
    tail = block[PREFIX:]
    number = 0
    left = size
    while left > 0:
        if number == 0:
            chunk = block
        else:
            prefix = hashlib.shake_256(seed + b"/%d" % number).digest(PREFIX)
            chunk = prefix + tail
        yield chunk[:left] if left < len(chunk) else chunk
        left -= min(left, len(chunk))
        number += 1
