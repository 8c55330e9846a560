"""What a failed attempt raises: transport failures as typed errors.

Each error says what happened in words a caller can act on (the host and
port that could not be reached, and why: never urllib3's objects, tuples or
errnos), and whether the request may have reached the server
(`request_sent`), which is what the retry policy asks before sending a
create again.
"""

from __future__ import annotations

import re
import socket
from typing import Any, Optional, Tuple

import requests
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NewConnectionError,
    ProxyError,
    SSLError,
)

from predictions._checks import Timeout
from predictions._http.decode import excerpt
from predictions.errors import (
    APIConnectionError,
    APITimeoutError,
    InvalidResponseError,
)


def cut_short(where: str, seconds: float, by_deadline: bool) -> APITimeoutError:
    """The error of an attempt its total limit (or the caller's deadline) ended."""
    reason = "the caller's deadline" if by_deadline else "total_timeout"
    return APITimeoutError(
        f"{where}: no complete answer within {seconds:.3g} s ({reason})",
        deadline_reached=by_deadline,
    )


def connection_error(
    where: str, exc: BaseException, timeout: Timeout, answered: bool
) -> Exception:
    """The typed error of a failed attempt; `answered`: its headers had come."""
    if isinstance(exc, requests.exceptions.ContentDecodingError):
        return InvalidResponseError(
            f"{where}: the answer could not be decompressed ({_reason(exc)})"
        )
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        _, to = _connecting(exc)
        return APITimeoutError(
            f"{where}: connecting{to} timed out after {timeout[0]:.3g} s",
            request_sent=False,
        )
    if isinstance(exc, requests.exceptions.Timeout):
        return APITimeoutError(f"{where}: no answer within {timeout[1]:.3g} s")
    if isinstance(exc, requests.exceptions.ConnectionError) and not answered:
        sent = _maybe_sent(exc)
        if not sent:
            return APIConnectionError(
                f"{where}: could not connect{_not_connected(exc)}",
                request_sent=False,
            )
        return APIConnectionError(
            f"{where}: the connection broke ({_reason(exc)})", request_sent=True
        )
    return APIConnectionError(f"{where}: the answer was cut off ({_reason(exc)})")


def _maybe_sent(exc: requests.exceptions.ConnectionError) -> bool:
    """Tell whether a failed request may have reached the server.

    Only a failure to connect (wrapped by urllib3 in `MaxRetryError`) proves
    it did not: a TLS error after the request was written (a corrupt record
    in the answer) says nothing of the kind.
    """
    cause = exc.args[0] if exc.args else None
    if not isinstance(cause, MaxRetryError):
        return True
    return not isinstance(
        cause.reason, (NewConnectionError, ConnectTimeoutError, ProxyError, SSLError)
    )


def _cause(exc: BaseException) -> BaseException:
    """urllib3's error under the one requests raised."""
    cause = exc.args[0] if exc.args else exc
    if not isinstance(cause, BaseException):  # an errno, as SSL errors carry
        cause = exc
    if isinstance(cause, MaxRetryError) and cause.reason is not None:
        return cause.reason
    return cause


def _not_connected(exc: BaseException) -> str:
    """To where a connection could not be made, and why, as a person says it.

    Never a connection object's repr: " to the proxy 127.0.0.1:3128: connection
    refused", " to api.test:443: the host name could not be resolved (...)".
    """
    cause, to = _connecting(exc)
    failure = cause.__cause__ or cause.__context__  # the socket's own error
    if isinstance(failure, socket.gaierror):
        return f"{to}: the host name could not be resolved ({failure.strerror})"
    if isinstance(cause, NewConnectionError) and isinstance(failure, OSError):
        return f"{to}: {_reason(failure)}"
    if isinstance(cause, SSLError):
        return f"{to}: the TLS handshake failed ({_reason(cause)})"
    return f"{to} ({_reason(cause)})"


def _connecting(exc: BaseException) -> Tuple[BaseException, str]:
    """urllib3's error of a connection not made, and " to host:port" of it.

    A proxy's is " to the proxy host:port". The address is the connection's
    (urllib3 2 keeps it as `conn`, urllib3 1 as `pool` or the first argument),
    else the pool's (an SSL error names no connection).
    """
    cause = _cause(exc)
    proxy = isinstance(cause, ProxyError)
    if proxy:  # (message, what failed), on every urllib3
        inner = cause.args[-1] if cause.args else None
        cause = inner if isinstance(inner, BaseException) else cause
    connection: Any = getattr(cause, "conn", None)
    if connection is None:
        connection = vars(cause).get("pool") or (cause.args or [None])[0]
    to = _target_of(connection)
    if proxy:
        return cause, " to the proxy" + to[len(" to") :]
    pool = getattr(exc.args[0] if exc.args else None, "pool", None)
    return cause, to or _target_of(pool)


def _target_of(connection: Any) -> str:
    """The " to host:port" of a urllib3 connection or pool; "" if it has no host."""
    host: Optional[str] = getattr(connection, "host", None)
    if not isinstance(host, str):
        return ""
    port = getattr(connection, "port", None)
    return f" to {host}:{port}" if port else f" to {host}"


# What urllib3's messages hold of its objects: "<urllib3.connection.
# HTTPConnection object at 0x7f...>: " (1.x), "HTTPConnection(host='h',
# port=80): " (2.x); and OpenSSL's source line, "(_ssl.c:1006)".
_INTERNALS = re.compile(
    r"<[\w.]+ object at 0x[0-9a-f]+>:? ?|\b\w*Connection(Pool)?\([^()]*\):? ?"
    r"| ?\(_ssl\.c:\d+\)"
)


_WRAPPED = re.compile(r"^\w+\((.*)\)$")  # "IncompleteRead(6 bytes read, ...)"


def _reason(exc: BaseException) -> str:
    """What went wrong, in words: no tuple, no repr of an object or exception."""
    cause = _cause(exc)
    if len(cause.args) == 2 and isinstance(cause.args[1], BaseException):
        cause = cause.args[1]  # urllib3's (its words, what failed): the latter
    strerror = getattr(cause, "strerror", None)  # an OSError's, without errno
    text = excerpt(strerror if isinstance(strerror, str) else str(cause))
    text = _WRAPPED.sub(r"\1", _INTERNALS.sub("", text).strip())
    if not text:
        return type(cause).__name__
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


__all__ = ["connection_error", "cut_short"]
