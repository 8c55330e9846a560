"""The request hooks of one attempt, and the headers plugins may add to it.

`AttemptHooks` is made for an attempt only while a plugin is active (the
transport asks `PluginHost.active` first): it tells the plugins of the
attempt as it goes (`on_request` before each hop, `on_response` once
answered, `on_request_error` when no answer came), each with the attempt's
number, its wall-clock start, the seconds it waited for the pacer, the
operation current where it is sent, and its route's template.

Before each hop to the API's own origin, `predictions_request_headers` is
asked for headers to add (a tracer's `traceparent`). They never replace the
client's own: a header the request already has, or one of `OWN_HEADERS`, is
dropped, and so is a name or value that is not a valid header, each time,
with one `PluginWarning` per plugin. Nothing is asked for other origins (an
upload's part URLs, output files' hosts), where nothing of the client's goes.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any, Mapping, Optional

from predictions.hookspecs import current_operation

if TYPE_CHECKING:
    import requests

    from predictions.plugins import PluginHost

OWN_HEADERS = frozenset(
    {
        "authorization",
        "content-type",
        "content-length",
        "idempotency-key",
        "prefer",
        "user-agent",
        "accept",
        "range",
        "if-range",
        "cookie",
        "host",
    }
)
"""Headers the client sets itself (lower case): no plugin's header replaces them."""

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(r"[\r\n\x00]|^\s")


class AttemptHooks:
    """What one attempt tells the plugins (made only while a plugin is active).

    Args:
        hooks: The client's plugins.
        attempt: The attempt's number (1 for the first).
        api_origin: `scheme://host[:port]` of the API.
        paced: Seconds the attempt waited for the pacer before it was sent.
    """

    __slots__ = (
        "api_origin",
        "attempt",
        "hooks",
        "operation",
        "paced",
        "prepared",
        "started",
        "template",
    )

    def __init__(
        self, hooks: PluginHost, attempt: int, api_origin: str, paced: float = 0.0
    ) -> None:
        self.hooks = hooks
        self.paced = paced
        self.attempt = attempt
        self.api_origin = api_origin
        self.operation = current_operation()
        self.started = time.time()
        self.prepared: Optional[requests.PreparedRequest] = None
        self.template: Optional[str] = None

    def before(
        self,
        prepared: requests.PreparedRequest,
        template: Optional[str],
        own_origin: bool,
    ) -> None:
        """Before a hop is sent: the plugins' headers (own origin only), `on_request`.

        Args:
            prepared: The hop's prepared request.
            template: Its route's template (None for a redirect's target).
            own_origin: Whether it goes to the API's origin with the client's
                credentials (only then are the plugins asked for headers).
        """
        self.prepared, self.template = prepared, template
        # The wait came before the first hop: a redirect's hops did not wait.
        paced, self.paced = self.paced, 0.0
        if own_origin:
            self._add_headers(prepared)
        self.hooks.call(
            "predictions_on_request",
            request=prepared,
            attempt=self.attempt,
            operation=self.operation,
            template=template,
            started=self.started,
            paced=paced,
        )

    def answered(self, response: requests.Response, elapsed: float) -> None:
        """The attempt's answer came (its body read, unless streamed)."""
        self.hooks.call(
            "predictions_on_response",
            request=response.request,
            response=response,
            elapsed=elapsed,
            attempt=self.attempt,
            operation=self.operation,
            template=self.template,
            started=self.started,
        )

    def failed(self, error: BaseException, elapsed: float) -> None:
        """The attempt got no answer (told only if it was sent: `before` ran)."""
        if self.prepared is None:
            return
        self.hooks.call(
            "predictions_on_request_error",
            request=self.prepared,
            error=error,
            attempt=self.attempt,
            started=self.started,
            elapsed=elapsed,
            operation=self.operation,
            template=self.template,
        )

    def _add_headers(self, prepared: requests.PreparedRequest) -> None:
        own = {name.lower() for name in prepared.headers}
        given = self.hooks.collect(
            "predictions_request_headers",
            request=prepared,
            attempt=self.attempt,
            operation=self.operation,
        )
        for plugin, headers in given:
            if not isinstance(headers, Mapping):
                self.hooks.warn_once(
                    plugin,
                    f"plugin {plugin!r}: predictions_request_headers returned "
                    f"{type(headers).__name__}, not a mapping of headers; ignored",
                )
                continue
            try:
                pairs = list(headers.items())
            except Exception as exc:  # a mapping of its own that fails
                self.hooks.warn_once(
                    plugin, f"plugin {plugin!r}: its headers could not be read: {exc}"
                )
                continue
            for name, value in pairs:
                refused = _refused(name, value, own)
                if refused:
                    self.hooks.warn_once(
                        plugin,
                        f"plugin {plugin!r}: header {name!r} not added ({refused}); "
                        "this plugin's headers are checked so from now on, "
                        "without another warning",
                    )
                    continue
                prepared.headers[name] = value


def _refused(name: Any, value: Any, own: Any) -> str:
    """Why a plugin's header is not added ("" if it is)."""
    if not isinstance(name, str) or not _TOKEN.fullmatch(name):
        return "not a header name"
    if name.lower() in OWN_HEADERS or name.lower() in own:
        return "the client sets it itself"
    if not isinstance(value, str) or _BAD_VALUE.search(value):
        return "its value is not a string that a header can carry"
    return ""


__all__ = ["OWN_HEADERS", "AttemptHooks"]
