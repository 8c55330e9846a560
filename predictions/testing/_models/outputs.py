"""A model's output: returned whole, or yielded piece by piece (and streamed).

Each piece a generator model yields is checked as JSON and handed to `emit`
(which records it as an `output` event) as soon as it is yielded; the output
is then the pieces joined into one string when every piece is a string, else
their list.
"""

from __future__ import annotations

import inspect
import json
from typing import Any, AsyncGenerator, Callable, Generator, List

from predictions.testing._api.protocol import MAX_JSON_DEPTH, dumps, too_deep
from predictions.testing._models.registry import PredictionContext

Emit = Callable[[Any], bool]
"""Records one piece; False once the prediction has ended (the model stops)."""


class BadOutput(Exception):
    """A model's output, or a piece of it, is not JSON."""


def as_json(output: Any) -> Any:
    """The output as every answer will show it: a copy, strictly JSON.

    Raises:
        BadOutput: NaN or an infinity, a cycle, nesting too deep, or
            something JSON cannot represent.
    """
    try:
        value = json.loads(dumps(output))
    except (TypeError, ValueError, RecursionError) as exc:
        raise BadOutput(f"Output is not JSON serialisable: {exc}") from None
    if too_deep(value):
        raise BadOutput(
            "Output is not JSON serialisable: arrays and objects nest deeper"
            f" than {MAX_JSON_DEPTH} levels"
        )
    return value


def joined(pieces: List[Any]) -> Any:
    """The output of a generator model: its text, or the list of its pieces."""
    if all(isinstance(piece, str) for piece in pieces):
        return "".join(pieces)
    return pieces


def call_model(
    fn: Callable[..., Any], args: Any, emit: Emit, ctx: PredictionContext
) -> Any:
    """Call a plain-function model; drain it here if it is a generator.

    Runs on a pool thread, so a generator's pieces are produced there too.
    """
    result = fn(*args)
    if inspect.isgenerator(result):
        return drain(result, emit, ctx)
    return result


def drain(pieces: Generator[Any, Any, Any], emit: Emit, ctx: PredictionContext) -> Any:
    """Run a generator to its end, emitting each piece; return the output.

    It stops early (and is closed) once the prediction has ended or was
    cancelled: a plain generator cannot be interrupted between pieces.

    Raises:
        BadOutput: A piece is not JSON.
    """
    kept: List[Any] = []
    try:
        for piece in pieces:
            value = as_json(piece)
            kept.append(value)
            if not emit(value) or ctx.cancelled:
                break
    finally:
        pieces.close()
    return joined(kept)


async def drain_async(pieces: AsyncGenerator[Any, Any], emit: Emit) -> Any:
    """Run an async generator to its end, emitting each piece; return the output.

    Raises:
        BadOutput: A piece is not JSON.
    """
    kept: List[Any] = []
    try:
        async for piece in pieces:
            value = as_json(piece)
            kept.append(value)
            if not emit(value):
                break
    finally:
        await pieces.aclose()
    return joined(kept)
