"""The built-in models of the local server, one for each feature it shows.

`demo/echo`, `demo/sleep`, `demo/fail` and `demo/word-count` answer at once,
slowly, never and by counting; `demo/stream-words` streams (a generator, one
word per `output` event); `demo/file-info` reads a file sent as an upload's
download URL.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from typing import Any, AsyncIterator, Dict, Mapping, Optional, Tuple

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
