"""What a failed attempt raises: transport failures as typed errors.

Each error says what happened in words a caller can act on, and whether the
request may have reached the server (`request_sent`), which is what the
retry policy asks before sending a create again.
"""

from __future__ import annotations

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
        return APITimeoutError(
            f"{where}: connecting timed out after {timeout[0]:.3g} s",
            request_sent=False,
        )
    if isinstance(exc, requests.exceptions.Timeout):
        return APITimeoutError(f"{where}: no answer within {timeout[1]:.3g} s")
    if isinstance(exc, requests.exceptions.ConnectionError) and not answered:
        sent = _maybe_sent(exc)
        state = "the connection broke" if sent else "could not connect"
        return APIConnectionError(
            f"{where}: {state} ({_reason(exc)})", request_sent=sent
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


def _reason(exc: BaseException) -> str:
    cause = exc.args[0] if exc.args else exc
    if not isinstance(cause, BaseException):  # an errno, as SSL errors carry
        cause = exc
    if isinstance(cause, MaxRetryError) and cause.reason is not None:
        cause = cause.reason
    return excerpt(str(cause)) or type(cause).__name__


__all__ = ["connection_error", "cut_short"]
