"""A plugin's mistakes are refused by name; a failing hook never breaks the caller."""

from __future__ import annotations

import warnings
from typing import Any, List

import pytest
import responses

from predictions import (
    Client,
    PluginError,
    PluginValidationError,
    PluginWarning,
    hookimpl,
)
from tests.conftest import BASE, FakeClock, prediction

URL = f"{BASE}/predictions/p1"


class ExtraArgument:
    @hookimpl
    def predictions_on_poll(self, prediction: Any, colour: str) -> None:
        pass


class Misspelled:
    @hookimpl
    def predictions_on_pol(self, prediction: Any) -> None:
        pass


class Wrapper:
    @hookimpl(hookwrapper=True)
    def predictions_on_poll(self, prediction: Any) -> Any:
        yield


@pytest.mark.parametrize(
    ("plugin", "hook", "words"),
    [
        (ExtraArgument(), "predictions_on_poll", "colour"),
        (Misspelled(), "predictions_on_pol", "unknown hook"),
        (Wrapper(), "predictions_on_poll", "wrapper"),
    ],
)
def test_bad_plugins_are_refused_at_registration_by_name(
    mocked: responses.RequestsMock, plugin: Any, hook: str, words: str
) -> None:
    with pytest.raises(PluginValidationError) as info:
        Client(BASE, plugins=[plugin])
    message = str(info.value)
    assert hook in message
    assert words in message
    assert f"plugin 'tests.plugins.test_validation.{type(plugin).__name__}'" in message
    assert len(mocked.calls) == 0


def test_the_refused_plugin_names_itself(mocked: responses.RequestsMock) -> None:
    client = Client(BASE)
    with pytest.raises(PluginValidationError, match="my-plugin"):
        client.plugins.register(Misspelled(), name="my-plugin")
    assert client.plugins.active is False


class Boom:
    def __init__(self) -> None:
        self.calls = 0

    @hookimpl
    def predictions_on_response(self, response: Any) -> None:
        self.calls += 1
        raise RuntimeError("kaboom")


class Counter:
    def __init__(self) -> None:
        self.calls = 0

    @hookimpl
    def predictions_on_response(self) -> None:
        self.calls += 1


def test_a_hook_that_raises_warns_by_name_and_the_call_goes_on(
    mocked: responses.RequestsMock,
) -> None:
    mocked.add("GET", URL, json=prediction())
    boom, counter = Boom(), Counter()
    with Client(BASE, plugins=[boom, counter]) as client, pytest.warns(
        PluginWarning, match="kaboom"
    ) as caught:
        assert client.predictions.get("p1") == prediction()
    assert boom.calls == 1
    assert counter.calls == 1, "the other plugins still run"
    assert "predictions_on_response" in str(caught[0].message)
    assert "plugin" in str(caught[0].message)
    assert len(mocked.calls) == 1, "nothing was sent twice"


def test_a_hook_that_raises_is_named_by_its_class_not_a_number(
    mocked: responses.RequestsMock,
) -> None:
    mocked.add("GET", URL, json=prediction())
    with Client(BASE, plugins=[Boom()]) as client:
        client.plugins.register(Boom(), name="my-plugin")
        with pytest.warns(PluginWarning) as caught:
            client.predictions.get("p1")
    assert sorted(str(w.message) for w in caught) == [
        "plugin 'my-plugin' failed in predictions_on_response: RuntimeError: kaboom",
        "plugin 'tests.plugins.test_validation.Boom' failed in "
        "predictions_on_response: RuntimeError: kaboom",
    ]


def test_strict_mode_raises(mocked: responses.RequestsMock) -> None:
    mocked.add("GET", URL, json=prediction())
    client = Client(BASE, plugins=[Boom()], strict_plugins=True)
    with client, pytest.raises(PluginError, match="kaboom"):
        client.predictions.get("p1")


def test_strict_mode_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, mocked: responses.RequestsMock
) -> None:
    monkeypatch.setenv("PREDICTIONS_STRICT_PLUGINS", "1")
    mocked.add("GET", URL, json=prediction())
    with Client(BASE, plugins=[Boom()]) as client:
        assert client.plugins.strict
        with pytest.raises(PluginError):
            client.predictions.get("p1")


def test_a_failing_wait_hook_does_not_stop_the_wait(
    mocked: responses.RequestsMock,
) -> None:
    class BadPoll:
        @hookimpl
        def predictions_on_poll(self) -> None:
            raise ValueError("bad poll hook")

        @hookimpl
        def predictions_on_terminal(self) -> None:
            raise ValueError("bad terminal hook")

    mocked.add("GET", URL, json=prediction(status="started"))
    mocked.add("GET", URL, json=prediction(status="succeeded"))
    seen: List[str] = []
    with Client(
        BASE, plugins=[BadPoll()], clock=FakeClock()
    ) as client, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from predictions import WaitOptions

        result = client.predictions.wait(
            "p1", WaitOptions(0, lambda p: seen.append(p["status"]))
        )
    assert result["status"] == "succeeded"
    assert seen == ["started", "succeeded"]
    messages = [str(w.message) for w in caught if issubclass(w.category, PluginWarning)]
    assert sum("bad poll hook" in m for m in messages) == 2
    assert sum("bad terminal hook" in m for m in messages) == 1
