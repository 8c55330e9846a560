"""Client: resolves the configuration once, then hands it to the API and resources."""

from __future__ import annotations

import pickle
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

from predictions._clock import SYSTEM_CLOCK, Clock
from predictions._http.api import API, USER_AGENT
from predictions._http.threads import run_in
from predictions._settings import (
    DEFAULT_API_BASE_URL,
    DEFAULT_MAX_DOWNLOAD_BYTES,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_WORKERS,
    DEFAULT_RETRY_CREATE,
    DEFAULT_TIMEOUT,
    DEFAULT_TOTAL_TIMEOUT,
    Settings,
)
from predictions.plugins import PluginHost, plugin_label
from predictions.predictions import Predictions


class Client:
    """A client of the WriftAI predictions API.

    Settings are resolved once, here, into one frozen `Settings` object:
    arguments first, then the environment (`WRIFTAI_API_BASE_URL`,
    `WRIFTAI_ACCESS_TOKEN`, and with `trust_env` the proxy and CA bundle
    variables that requests reads), then defaults.

    Args:
        api_base_url: The API's base URL; else `WRIFTAI_API_BASE_URL`; else
            `https://api.wrift.ai/v1`. A `user:password@` in it is sent as
            basic authentication when there is no token, and shown nowhere.
        access_token: The bearer token; else `WRIFTAI_ACCESS_TOKEN`; with
            neither, requests go out unauthenticated. White space around it
            (a newline read from a file) is dropped.
        headers: Extra headers sent with every request.
        timeout: Seconds to connect, and to wait for each read of an answer:
            one number for both, or a (connect, read) pair. Defaults to
            (10, 60).
        total_timeout: Seconds one attempt may take in all, from sending to
            the last byte of its answer, however slowly the server sends it
            (default 300). A wait's deadline also bounds the attempt in flight.
        max_response_bytes: The largest answer read, once decompressed
            (default 64 MiB); a larger one raises `ResponseTooLargeError`.
        max_download_bytes: The largest output file saved or read (default
            20 GiB); a larger one raises `DownloadError` before its body is
            read when its size is announced, else as soon as it passes.
        max_retries: How many times a failed request may be repeated.
        retry_create: "safe" (default) retries a create only when the request
            certainly never reached the server, or on 429; "idempotent" also
            after timeouts, broken connections and 5xx, for servers that
            honour the `Idempotency-Key`.
        max_workers: Threads that run the `async_` methods' requests.
        verify: TLS verification: True, False or a CA bundle path. Wins over
            `REQUESTS_CA_BUNDLE` / `CURL_CA_BUNDLE`.
        proxies: Proxies by scheme, such as {"https": "http://proxy:3128"}.
            Wins over `HTTPS_PROXY` and the like.
        trust_env: Read proxies and the CA bundle from the environment.
        plugins: Plugin objects to add to the installed ones (modules or
            objects with `@predictions.hookimpl` functions).
        strict_plugins: Raise plugin failures instead of warning; None reads
            `PREDICTIONS_STRICT_PLUGINS`.
        pacing: Space requests to fit the rate limits the server announces
            (`x-ratelimit-*`, 429s), sharing one budget across threads and tasks.
        clock: The time every wait of this client uses (tests pass a fake one).

    A client pickles (for multiprocessing, Dask or Spark workers): its
    settings travel, the access token included; sessions, the thread pool
    and the plugin manager are made anew where it is unpickled. A plugin
    object given in `plugins` must pickle too. A process forked from one
    that used the client gets fresh sessions and a fresh thread pool.

    Attributes:
        settings: The resolved settings.
        predictions: Operations on predictions.
        plugins: The client's plugin manager (`PluginHost`).

    Raises:
        TypeError: An argument has a wrong type (a string where a number
            belongs, for one).
        ValueError: An argument is out of range, or the token holds a
            control character.
        PluginValidationError: A plugin in `plugins` implements an unknown hook
            or takes an argument its hook lacks.
    """

    def __init__(
        self,
        api_base_url: Optional[str] = None,
        access_token: Optional[str] = None,
        *,
        headers: Optional[Mapping[str, str]] = None,
        timeout: Union[float, Tuple[float, float]] = DEFAULT_TIMEOUT,
        total_timeout: float = DEFAULT_TOTAL_TIMEOUT,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_create: str = DEFAULT_RETRY_CREATE,
        max_workers: int = DEFAULT_MAX_WORKERS,
        verify: Union[bool, str, None] = None,
        proxies: Optional[Mapping[str, str]] = None,
        trust_env: bool = True,
        plugins: Sequence[Any] = (),
        strict_plugins: Optional[bool] = None,
        pacing: bool = True,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        arguments = dict(locals())  # every argument, as given: one list, above
        del arguments["self"]
        self._start(Settings.resolve(**arguments))

    def _start(self, settings: Settings) -> None:
        self.settings = settings
        self.plugins = PluginHost(
            settings.plugins,
            strict=settings.strict_plugins,
            entry_points=True
            if settings.plugin_names is None
            else settings.plugin_names,
        )
        self.api = API(settings, hooks=self.plugins)
        self.predictions = Predictions(self.api)

    @property
    def base_url(self) -> str:
        """The API's base URL, never with a user name or password in it."""
        return self.settings.base_url

    def __repr__(self) -> str:
        return f"<predictions.Client {self.settings.base_url}>"

    def __getstate__(self) -> Dict[str, Any]:
        for plugin in self.settings.plugins:
            try:
                pickle.dumps(plugin)
            except Exception as exc:
                raise TypeError(
                    f"this client cannot be pickled: its plugin {plugin_label(plugin)} "
                    f"cannot ({type(exc).__name__}: {exc}). Install the plugin as an "
                    "entry point (installed plugins load in every process), or "
                    "make it an object that pickles (a module, or an instance of "
                    "a class defined at module level)"
                ) from exc
        return {"settings": self.settings}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self._start(state["settings"])

    def close(self) -> None:
        """Close the client's sessions and thread pool; it cannot be used after.

        `with Client() as client:` closes it on leaving the block, and so does
        `async with`, which closes it on another thread: closing waits for
        the requests the pool still runs, and the event loop does not.
        """
        self.api.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        # Closing waits for the pool's requests in flight (a cancelled task's
        # request finishes in its thread): on a thread, not on the loop.
        await run_in(None, self.close)


__all__ = [
    "DEFAULT_API_BASE_URL",
    "DEFAULT_TIMEOUT",
    "USER_AGENT",
    "Client",
]
