"""Models the local server runs: the registry and the calling convention.

A model is a Python callable. It is called as `fn(input)` or, when it takes a
second positional parameter, `fn(input, ctx)` with a `PredictionContext`.
An `async def` model is awaited on the server's event loop (and may
`await asyncio.sleep(...)` without holding a thread); a plain function runs on
a small thread pool. Whatever it returns (JSON-serialisable) is the output;
whatever it raises fails the prediction with `error.source == "external"`.

A model may also be a generator (`def` with `yield`, run on the pool, or
`async def` with `yield`, run on the loop): each piece it yields is one
`output` event of a streamed prediction, as it is yielded; its output is the
pieces joined into one string when every piece is a string (so `""` when it
yields nothing), else the list of the pieces.

A model's output may hold files, as the hosted API's do: URLs that
`ctx.save_file` gives (served by the storage port, time-limited), or small
`data:` URLs that `ctx.data_url` makes. The built-in models are in
`builtins`.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import threading
from dataclasses import dataclass
from typing import (
    IO,
    Any,
    Callable,
    Dict,
    List,
    Mapping,
    Optional,
    Tuple,
    Union,
)

from predictions.testing._api.outputs import Content, check_mime_type

ModelFn = Callable[..., Any]
"""A model: `fn(input)` or `fn(input, ctx)`, plain or `async def`."""

ModelEntry = Union[ModelFn, Tuple[ModelFn, Optional[Mapping[str, Any]]], None]
"""What `LocalServer(models=...)` maps a reference to: a callable, a
`(callable, input_schema)` pair, or None to remove a built-in."""

SaveFile = Callable[[Content, str, str], str]
"""Saves an output file: `(content, name, mime_type)` -> its URL."""

_SEGMENT_FORBIDDEN = set("/:?#%")


class PredictionContext:
    """What a running model can use: its prediction's id, logs, files, cancellation."""

    def __init__(
        self,
        prediction_id: str,
        log: Callable[[str], None],
        open_file: Optional[Callable[[str], IO[bytes]]] = None,
        save_file: Optional[SaveFile] = None,
    ) -> None:
        """Create a context (the server does this for each prediction).

        Args:
            prediction_id: The id of the prediction being run.
            log: Appends one line to the prediction's `logs`.
            open_file: Opens a download URL of the server's uploads.
            save_file: Saves an output file of the server's storage.
        """
        self.prediction_id = prediction_id
        self._log = log
        self._open_file = open_file
        self._save_file = save_file
        self._cancelled = threading.Event()

    def open_file(self, url: str) -> IO[bytes]:
        """Open the file behind one of this server's download URLs, for reading.

        Files in an input arrive as URLs (the API's uploads); this reads one
        from the server's disk, as downloading it would, with no network.

        Args:
            url: A `download_url` an upload's completion gave.

        Returns:
            The file, open in binary mode; close it (or use `with`).

        Raises:
            ValueError: It is not a download URL of this server, or it expired.
        """
        if self._open_file is None:
            raise ValueError("This server serves no files")
        return self._open_file(url)

    def save_file(
        self,
        content: Content,
        *,
        name: str = "output",
        mime_type: str = "application/octet-stream",
    ) -> str:
        """Save an output file on the server's storage; its URL, for the output.

        The URL is as the hosted API's file hosts give them: absolute, on
        another origin than the API (the storage port), signed in its query
        string, needing no authentication, with `name` as its last path
        segment (percent-encoded); it stops working (410) after the server's
        `output_lifetime`. The storage port answers `Range` requests (206,
        with the file's MD5 as its `ETag`).

        Args:
            content: The bytes, or an iterable of bytes chunks (a generator,
                say): each is written to disk as it comes, so a file larger
                than the memory can be made.
            name: The file's name (no slash; at most 255 bytes in UTF-8).
            mime_type: Its MIME type, the `Content-Type` it is served with.

        Returns:
            The file's URL.

        Raises:
            ValueError: A bad name or MIME type, or the server does not run.
            TypeError: The content (or a chunk of it) is not bytes.
        """
        if self._save_file is None:
            raise ValueError("This server stores no files")
        return self._save_file(content, name, mime_type)

    @staticmethod
    def data_url(content: bytes, mime_type: str = "application/octet-stream") -> str:
        """A `data:` URL (RFC 2397, base64) holding a small file, for the output.

        Args:
            content: The bytes.
            mime_type: Its MIME type.

        Returns:
            `data:<mime_type>;base64,<content in base64>`.

        Raises:
            ValueError: A bad MIME type.
            TypeError: The content is not bytes.
        """
        if not isinstance(content, (bytes, bytearray, memoryview)):
            raise TypeError(f"content must be bytes, not {type(content).__name__}")
        encoded = base64.b64encode(content).decode("ascii")
        return f"data:{check_mime_type(mime_type)};base64,{encoded}"

    def log(self, line: str) -> None:
        """Append a line to the prediction's `logs` (visible to GET at once).

        Args:
            line: The text; converted with `str()`, trailing newlines dropped.
        """
        self._log(str(line).rstrip("\n"))

    @property
    def cancelled(self) -> bool:
        """Whether the prediction was cancelled; a plain function may poll it."""
        return self._cancelled.is_set()

    def request_cancel(self) -> None:
        """Mark the prediction cancelled (the server calls this)."""
        self._cancelled.set()


def _takes_context(fn: ModelFn) -> bool:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [
        p
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in positional)


def _is_async(fn: ModelFn) -> bool:
    # An object whose class has `async def __call__` is async too; so is an
    # async generator, which only the event loop can run.
    call = type(fn).__call__
    return any(
        asyncio.iscoroutinefunction(f) or inspect.isasyncgenfunction(f)
        for f in (fn, call)
    )


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model."""

    owner: str
    name: str
    number: int
    fn: ModelFn
    input_schema: Optional[Mapping[str, Any]]
    takes_context: bool
    is_async: bool

    @property
    def ref(self) -> str:
        """The reference `owner/name:number`."""
        return f"{self.owner}/{self.name}:{self.number}"


def split_ref(ref: str) -> Tuple[str, str, Optional[int]]:
    """Split `owner/name` or `owner/name:version` into its parts.

    Args:
        ref: The model reference.

    Returns:
        `(owner, name, version)`, version None when not given.

    Raises:
        ValueError: The reference is not in one of the two forms.
    """
    owner, slash, rest = ref.partition("/")
    name, colon, version = rest.partition(":")
    valid = bool(slash) and _valid_segment(owner) and _valid_segment(name)
    if colon and not (version.isdigit() and version.isascii()):
        valid = False
    if not valid:
        raise ValueError("Model must be in owner/name or owner/name:version format")
    return owner, name, int(version) if colon else None


def _valid_segment(text: str) -> bool:
    return (
        bool(text)
        and text not in (".", "..")
        and not any(c in _SEGMENT_FORBIDDEN or c.isspace() or ord(c) < 32 for c in text)
    )


class ModelRegistry:
    """The models a server knows, by `owner/name`, each with its versions."""

    def __init__(self) -> None:
        """Create an empty registry."""
        self._lock = threading.Lock()
        self._versions: Dict[Tuple[str, str], List[ModelVersion]] = {}

    def register(
        self,
        ref: str,
        fn: ModelFn,
        input_schema: Optional[Mapping[str, Any]] = None,
    ) -> int:
        """Add the next version of a model.

        Args:
            ref: `owner/name` (without a version).
            fn: The model callable.
            input_schema: The schema `Validate-Input: true` checks the input
                against; None accepts any input.

        Returns:
            The new version's number (1 for a model's first version).

        Raises:
            ValueError: The reference is malformed or names a version.
            TypeError: `fn` is not callable.
        """
        owner, name, version = split_ref(ref)
        if version is not None:
            raise ValueError("Register owner/name; versions are numbered for you")
        if not callable(fn):
            raise TypeError(f"A model must be callable, got {fn!r}")
        with self._lock:
            versions = self._versions.setdefault((owner, name), [])
            model = ModelVersion(
                owner=owner,
                name=name,
                number=len(versions) + 1,
                fn=fn,
                input_schema=input_schema,
                takes_context=_takes_context(fn),
                is_async=_is_async(fn),
            )
            versions.append(model)
            return model.number

    def remove(self, ref: str) -> None:
        """Forget a model and all its versions (no error when unknown).

        Args:
            ref: `owner/name`.
        """
        owner, name, _ = split_ref(ref)
        with self._lock:
            self._versions.pop((owner, name), None)

    def find(
        self, owner: str, name: str, number: Optional[int] = None
    ) -> Optional[ModelVersion]:
        """Look a model version up.

        Args:
            owner: The model's owner.
            name: The model's name.
            number: The version; None for the latest.

        Returns:
            The version, or None when the model or the version is unknown.
        """
        with self._lock:
            versions = self._versions.get((owner, name))
            if not versions:
                return None
            if number is None:
                return versions[-1]
            if 1 <= number <= len(versions):
                return versions[number - 1]
            return None

    def refs(self) -> List[str]:
        """The known references, `owner/name:latest-version`, sorted."""
        with self._lock:
            return sorted(v[-1].ref for v in self._versions.values() if v)
