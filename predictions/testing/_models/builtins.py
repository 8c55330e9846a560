"""The built-in models of the local server, one for each feature it shows.

`demo/echo`, `demo/sleep`, `demo/fail` and `demo/word-count` answer at once,
slowly, never and by counting; `demo/stream-words` streams (a generator, one
word per `output` event); `demo/file-info` reads a file sent as an upload's
download URL. Three make output files, as the hosted API's models do:
`demo/image` a PNG (`{"width", "height"}`, 1 to 4096 each, default 64, and
`"color"`, `#rgb` or `#rrggbb`) -> `{"image": url}`; `demo/files` `count`
files (0 to 1000, default 1) of `size` pseudo-random bytes each (up to 4 GiB,
default 1024), named `file-1.bin`, `file-2.bin`, ... -> `{"files": [url,
...]}`; `demo/data-url` `{"text": str}` (default "hello", at most 64 KiB in
UTF-8) -> `{"file": "data:text/plain;base64,..."}`.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from typing import (
    Any,
    AsyncIterator,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Tuple,
)

from predictions.testing._models.content import parse_color, png, pseudo_random
from predictions.testing._models.registry import (
    ModelEntry,
    ModelFn,
    ModelRegistry,
    PredictionContext,
)

FILE_CHUNK = 1024 * 1024
"""How much of a file `demo/file-info` reads at a time."""

MAX_WORD_DELAY = 10.0
"""The longest pause `demo/stream-words` takes between words."""

MAX_IMAGE_SIDE = 4096
"""The widest and tallest image `demo/image` makes, in pixels."""

MAX_FILES = 1000
"""The most files `demo/files` makes at once."""

MAX_FILE_SIZE = 4 * 1024**3
"""The largest file `demo/files` makes (4 GiB)."""

MAX_DATA_TEXT = 64 * 1024
"""The longest text `demo/data-url` takes, in UTF-8 bytes (64 KiB)."""


def _required(input: Any, key: str) -> Any:
    """The value of `input[key]`, or a failure that names the missing key.

    Raises:
        ValueError: The input is not an object, or it has no `key`: the
            prediction fails with `missing input 'key'`, not a bare `'key'`.
    """
    if not isinstance(input, dict):
        raise ValueError(f"the input must be a JSON object with {key!r}")
    if key not in input:
        raise ValueError(f"missing input {key!r}")
    return input[key]


def _integer(input: Any, key: str, default: int, low: int, high: int) -> int:
    """The integer `input[key]` (`default` when absent), from `low` to `high`.

    Raises:
        ValueError: The input is not an object, or the value is not such an
            integer (2.0 is 2; true is not 1).
    """
    if not isinstance(input, dict):
        raise ValueError("the input must be a JSON object")
    value = input.get(key, default)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    integer = isinstance(value, int) and not isinstance(value, bool)
    if not integer or not low <= value <= high:
        raise ValueError(f"{key} must be an integer from {low} to {high}: {value!r}")
    return int(value)


def echo(input: Any) -> Any:
    """`demo/echo`: the output is the input."""
    return input


async def sleep(input: Any, ctx: PredictionContext) -> Dict[str, Any]:
    """`demo/sleep`: sleep `input["seconds"]`, logging a line per step.

    A step is 0.1 s when sleeping at most a second, else 1 s.
    """
    seconds = float(_required(input, "seconds"))
    if not 0 <= seconds <= 60:
        raise ValueError("seconds must be between 0 and 60")
    step = 0.1 if seconds <= 1 else 1.0
    steps = max(1, int(-(-seconds // step)))
    ctx.log(f"sleeping {seconds:g} s")
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    for index in range(1, steps + 1):
        await asyncio.sleep(max(0.0, min(step, end - loop.time())))
        ctx.log(f"step {index}/{steps}")
    return {"slept": seconds}


def fail(input: Any, ctx: PredictionContext) -> Any:
    """`demo/fail`: always fails, with `input["message"]` if given."""
    ctx.log("about to fail")
    message = input.get("message") if isinstance(input, dict) else None
    raise RuntimeError(message or "demo/fail always fails")


def word_count(input: Any) -> Dict[str, int]:
    """`demo/word-count`: count the whitespace-separated words of `input["text"]`."""
    counts: Dict[str, int] = {}
    for word in str(_required(input, "text")).split():
        counts[word] = counts.get(word, 0) + 1
    return counts


async def stream_words(input: Any) -> AsyncIterator[str]:
    """`demo/stream-words`: yield the words of `input["text"]`, one by one.

    Each piece is a word with the whitespace after it (whitespace before the
    first word goes with it), so the pieces joined, the output, are the text.
    `input["delay"]` (0 to 10, default 0) is the pause before each word.
    """
    text = str(_required(input, "text"))
    delay = float(input.get("delay", 0))
    if not 0 <= delay <= MAX_WORD_DELAY:
        raise ValueError(f"delay must be between 0 and {MAX_WORD_DELAY:g} seconds")
    # Each match takes the whitespace after its word, so only the first one
    # can start with whitespace.
    words = re.findall(r"\s*\S+\s*", text) or ([text] if text else [])
    for word in words:
        if delay:
            await asyncio.sleep(delay)
        yield word


def file_info(input: Any, ctx: PredictionContext) -> Dict[str, Any]:
    """`demo/file-info`: the size and SHA-256 of the file at `input["file"]`.

    The file is a download URL of this server (an upload); any other URL
    fails the prediction, saying so.
    """
    url = _required(input, "file")
    if not isinstance(url, str):
        raise ValueError("file must be a download URL (a string)")
    digest = hashlib.sha256()
    size = 0
    with ctx.open_file(url) as file:
        for chunk in iter(lambda: file.read(FILE_CHUNK), b""):
            digest.update(chunk)
            size += len(chunk)
    return {"size": size, "sha256": digest.hexdigest()}


def image(input: Any, ctx: PredictionContext) -> Dict[str, str]:
    """`demo/image`: a PNG of `width` x `height` pixels of one `color`, saved."""
    width = _integer(input, "width", 64, 1, MAX_IMAGE_SIDE)
    height = _integer(input, "height", 64, 1, MAX_IMAGE_SIDE)
    color = parse_color(input.get("color", "#ff8800"))
    content = png(width, height, color)
    return {"image": ctx.save_file(content, name="image.png", mime_type="image/png")}


def files(input: Any, ctx: PredictionContext) -> Dict[str, List[str]]:
    """`demo/files`: `count` files of `size` pseudo-random bytes, saved.

    The bytes are the same for the same file number (`file-N.bin`) in every
    prediction, and differ from one number to the next.
    """
    count = _integer(input, "count", 1, 0, MAX_FILES)
    size = _integer(input, "size", 1024, 0, MAX_FILE_SIZE)
    urls = []
    for number in range(1, count + 1):
        content = _unless_cancelled(pseudo_random(b"demo/files %d" % number, size), ctx)
        urls.append(ctx.save_file(content, name=f"file-{number}.bin"))
    return {"files": urls}


def _unless_cancelled(
    chunks: Iterable[bytes], ctx: PredictionContext
) -> Iterator[bytes]:
    """The chunks, until the prediction is cancelled (then the file is dropped)."""
    for chunk in chunks:
        if ctx.cancelled:
            raise RuntimeError("cancelled")
        yield chunk


def data_url(input: Any, ctx: PredictionContext) -> Dict[str, str]:
    """`demo/data-url`: `input["text"]` as a `data:` URL of `text/plain`."""
    text = input.get("text", "hello") if isinstance(input, dict) else None
    if not isinstance(text, str):
        raise ValueError("text must be a string")
    data = text.encode("utf-8")
    if len(data) > MAX_DATA_TEXT:
        raise ValueError(f"text must be at most {MAX_DATA_TEXT} bytes in UTF-8")
    return {"file": ctx.data_url(data, "text/plain")}


BUILTIN_MODELS: Dict[str, Tuple[ModelFn, Optional[Mapping[str, Any]]]] = {
    "demo/echo": (echo, None),
    "demo/sleep": (
        sleep,
        {
            "type": "object",
            "properties": {"seconds": {"type": "number", "minimum": 0, "maximum": 60}},
            "required": ["seconds"],
        },
    ),
    "demo/fail": (
        fail,
        {"type": "object", "properties": {"message": {"type": "string"}}},
    ),
    "demo/word-count": (
        word_count,
        {
            "type": "object",
            "properties": {"text": {"type": "string"}},
            "required": ["text"],
        },
    ),
    "demo/stream-words": (
        stream_words,
        {
            "type": "object",
            "properties": {
                "text": {"type": "string"},
                "delay": {"type": "number", "minimum": 0, "maximum": MAX_WORD_DELAY},
            },
            "required": ["text"],
        },
    ),
    "demo/file-info": (
        file_info,
        {
            "type": "object",
            "properties": {"file": {"type": "string"}},
            "required": ["file"],
        },
    ),
    "demo/image": (
        image,
        {
            "type": "object",
            "properties": {
                "width": {"type": "integer", "minimum": 1, "maximum": MAX_IMAGE_SIDE},
                "height": {"type": "integer", "minimum": 1, "maximum": MAX_IMAGE_SIDE},
                "color": {"type": "string", "pattern": "^#([0-9a-fA-F]{3}){1,2}$"},
            },
        },
    ),
    "demo/files": (
        files,
        {
            "type": "object",
            "properties": {
                "count": {"type": "integer", "minimum": 0, "maximum": MAX_FILES},
                "size": {"type": "integer", "minimum": 0, "maximum": MAX_FILE_SIZE},
            },
        },
    ),
    "demo/data-url": (
        data_url,
        {
            "type": "object",
            "properties": {"text": {"type": "string", "maxLength": MAX_DATA_TEXT}},
        },
    ),
}
"""The built-in models: reference -> (callable, input schema)."""


def build_registry(models: Optional[Mapping[str, ModelEntry]]) -> ModelRegistry:
    """Make a registry with the built-ins, replaced or extended by `models`.

    Args:
        models: `{"owner/name": fn}`, `{"owner/name": (fn, input_schema)}` or
            `{"owner/name": None}` (drop a built-in). An entry whose reference
            is a built-in's replaces it (as its version 1).

    Returns:
        The registry.
    """
    entries: Dict[str, ModelEntry] = dict(BUILTIN_MODELS)
    entries.update(models or {})
    registry = ModelRegistry()
    for ref, entry in entries.items():
        if entry is None:
            continue
        if isinstance(entry, tuple):
            fn, schema = entry
        else:
            fn, schema = entry, None
        registry.register(ref, fn, input_schema=schema)
    return registry
