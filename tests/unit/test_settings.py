"""One settings object: resolved and checked once; one error for one mistake."""

from __future__ import annotations

import pickle
from typing import Any, Callable

import pytest
import responses

from predictions import (
    AsyncWaitOptions,
    Client,
    NotFoundError,
    Settings,
    WaitOptions,
    as_completed,
    hookimpl,
)
from tests.conftest import BASE, TOKEN

NOT_A_NUMBER = ["5", b"5", None, True, [5]]


@pytest.mark.parametrize("value", NOT_A_NUMBER)
@pytest.mark.parametrize(
    "make",
    [
        lambda v: Client(BASE, timeout=v),
        lambda v: Client(BASE, total_timeout=v),
        lambda v: Client(BASE, max_retries=v),
        lambda v: Client(BASE, max_workers=v),
        lambda v: Client(BASE, max_response_bytes=v),
        lambda v: WaitOptions(poll_interval=v),
        lambda v: AsyncWaitOptions(poll_interval=v),
        lambda v: WaitOptions(timeout=v) if v is not None else WaitOptions(timeout=[]),
    ],
    ids=[
        "timeout",
        "total_timeout",
        "max_retries",
        "max_workers",
        "max_response_bytes",
        "poll_interval",
        "async_poll_interval",
        "wait_timeout",
    ],
)
def test_a_value_that_is_not_a_number_is_a_type_error_everywhere(
    make: Callable[[Any], Any], value: Any
) -> None:
    with pytest.raises(TypeError):
        make(value)


@pytest.mark.parametrize("value", [v for v in NOT_A_NUMBER if v is not None])
def test_the_per_call_and_batch_numbers_are_checked_alike(
    value: Any, mocked: responses.RequestsMock
) -> None:
    with Client(BASE, TOKEN) as client:
        with pytest.raises(TypeError):
            client.predictions.get("p1", max_retries=value)
        with pytest.raises(TypeError):
            as_completed(["p1"], client=client, poll_interval=value)
    assert len(mocked.calls) == 0


@pytest.mark.parametrize(
    "make",
    [
        lambda: Client(BASE, timeout=-1),
        lambda: Client(BASE, total_timeout=0),
        lambda: Client(BASE, max_retries=-1),
        lambda: Client(BASE, max_workers=0),
        lambda: Client(BASE, max_response_bytes=0),
        lambda: Client(BASE, retry_create="always"),
        lambda: WaitOptions(poll_interval=float("nan")),
        lambda: WaitOptions(timeout=0),
    ],
)
def test_a_number_out_of_range_is_a_value_error_everywhere(
    make: Callable[[], Any],
) -> None:
    with pytest.raises(ValueError, match="must be"):
        make()


def test_the_client_holds_one_frozen_settings_object(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WRIFTAI_API_BASE_URL", "http://env.test/v1/")
    monkeypatch.setenv("WRIFTAI_ACCESS_TOKEN", " env-token\n")
    client = Client(timeout=(2, 3), total_timeout=30)
    settings = client.settings
    assert isinstance(settings, Settings)
    assert settings.base_url == "http://env.test/v1"
    assert settings.access_token == "env-token"
    assert settings.timeout == (2.0, 3.0)
    assert client.api.settings is settings, "the API is built from the same object"
    with pytest.raises(AttributeError):
        settings.timeout = (1.0, 1.0)  # type: ignore[misc]
    monkeypatch.setenv("WRIFTAI_API_BASE_URL", "http://changed.test/v1")
    assert client.base_url == "http://env.test/v1", "the environment is read once"
    client.close()


def test_the_token_is_in_no_repr() -> None:
    client = Client(BASE, "tok-secret-123")
    assert "tok-secret-123" not in repr(client.settings)
    assert "tok-secret-123" not in repr(client)


@pytest.mark.parametrize("token", ["to\x00k-SECRET", "tok-SECRET\x7f", "tök-SECRET"])
def test_a_token_with_a_control_character_is_refused_without_repeating_it(
    token: str,
) -> None:
    with pytest.raises(ValueError, match="access_token") as info:
        Client(BASE, token)
    assert "SECRET" not in str(info.value)


def test_user_and_password_in_the_base_url_are_sent_as_basic_auth_and_shown_nowhere(
    mocked: responses.RequestsMock,
) -> None:
    mocked.add("GET", f"{BASE}/predictions/nope", json={"detail": "no"}, status=404)
    client = Client("https://me:hunter2@api.test/v1")
    assert "hunter2" not in repr(client) + repr(client.settings) + client.base_url
    with pytest.raises(NotFoundError) as info:
        client.predictions.get("nope")
    assert "hunter2" not in str(info.value)
    sent = mocked.calls[0].request
    assert sent.headers["Authorization"].startswith("Basic ")
    assert "hunter2" not in sent.url


def test_a_settings_object_pickles_and_builds_the_same_client() -> None:
    client = Client(BASE, TOKEN, timeout=(3, 7), max_workers=5)
    copy = pickle.loads(pickle.dumps(client))
    assert copy.settings == client.settings
    assert copy.settings.access_token == TOKEN
    assert copy.api is not client.api


class LocalPlugin:
    @hookimpl
    def predictions_on_poll(self, prediction: Any) -> None:
        pass


def test_a_plugin_that_cannot_pickle_is_named_with_what_to_do() -> None:
    """Issue 11: it failed deep in pickle, naming nothing."""

    class Unpicklable(LocalPlugin):  # defined in a function: pickle cannot find it
        pass

    client = Client(BASE, plugins=[Unpicklable()])
    with pytest.raises(TypeError, match="Unpicklable") as info:
        pickle.dumps(client)
    assert "entry point" in str(info.value)
    assert pickle.loads(pickle.dumps(Client(BASE, plugins=[LocalPlugin()])))


# The environment: read once, when the settings are resolved (issue 18)


def test_the_plugin_and_log_variables_are_read_with_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PREDICTIONS_PLUGINS", " alpha, ,beta ")
    monkeypatch.setenv("PREDICTIONS_STRICT_PLUGINS", "yes")
    monkeypatch.setenv("PREDICTIONS_LOG", " INFO ")
    settings = Settings.resolve(BASE, TOKEN)
    assert settings.plugin_names == ("alpha", "beta")
    assert settings.strict_plugins is True
    assert settings.log_level == "info"
    monkeypatch.setenv("PREDICTIONS_PLUGINS", "")
    monkeypatch.delenv("PREDICTIONS_STRICT_PLUGINS")
    monkeypatch.setenv("PREDICTIONS_LOG", "loud")  # not a level: no logging
    settings = Settings.resolve(BASE, TOKEN, strict_plugins=True)
    assert settings.plugin_names == ()
    assert settings.strict_plugins is True, "an argument wins over the environment"
    assert settings.log_level is None
    monkeypatch.delenv("PREDICTIONS_PLUGINS")
    assert Settings.resolve(BASE, TOKEN).plugin_names is None  # unset: all


def test_a_client_keeps_what_the_environment_said_when_it_was_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The plugins are chosen once: a later change of the variable changes
    neither the client nor its settings, which a pickled client carries."""
    monkeypatch.setenv("PREDICTIONS_PLUGINS", "")
    monkeypatch.setenv("PREDICTIONS_STRICT_PLUGINS", "1")
    with Client(BASE, TOKEN) as client:
        monkeypatch.setenv("PREDICTIONS_PLUGINS", "progress")
        monkeypatch.delenv("PREDICTIONS_STRICT_PLUGINS")
        copy = pickle.loads(pickle.dumps(client))
        assert copy.settings == client.settings
        assert copy.settings.plugin_names == ()
        assert copy.plugins.strict is True
        copy.close()


def test_only_the_settings_read_the_environment() -> None:
    """`_settings` is the one reader of the client's environment variables.

    The command line reads the variables its own options name (`--token-env`,
    `--webhook-secret-env`); the local server (`predictions.testing`) is a
    program of its own.
    """
    import ast
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2] / "predictions"
    readers = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if relative == "_settings.py" or relative.startswith(("cli/", "testing/")):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            name = getattr(node, "attr", None) or getattr(node, "id", None)
            if name in ("environ", "getenv", "environb"):
                readers.append(f"{relative}:{node.lineno}")
    assert readers == []


@pytest.mark.parametrize(
    "make",
    [
        lambda: WaitOptions(timeout=1e12),
        lambda: WaitOptions(prefer_wait=1e12),
        lambda: WaitOptions(poll_interval=1e12),
        lambda: AsyncWaitOptions(timeout=10**12),
        lambda: Client(BASE, timeout=1e12),
        lambda: Client(BASE, timeout=(1.0, 1e12)),
        lambda: Client(BASE, total_timeout=1e12),
        lambda: Client(BASE).predictions.stream("p1", wait=1e12),
        lambda: list(as_completed(["p1"], client=Client(BASE), timeout=1e12)),
    ],
    ids=[
        "wait-timeout",
        "prefer-wait",
        "poll-interval",
        "async-timeout",
        "client-timeout",
        "read-timeout",
        "total-timeout",
        "stream-wait",
        "as-completed",
    ],
)
def test_a_huge_number_of_seconds_is_a_clear_value_error_before_anything_is_sent(
    mocked: responses.RequestsMock, make: Callable[[], Any]
) -> None:
    """1e12 seconds escaped as a raw OverflowError from the socket (issue 19)."""
    with pytest.raises(
        ValueError, match=r"must be at most 2592000 seconds \(30 days\)"
    ):
        make()
    assert len(mocked.calls) == 0
