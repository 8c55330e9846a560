"""predictions-otel's metrics, and how failures show on spans."""

from __future__ import annotations

from typing import Any, Dict, Iterator, List

import pytest
import responses
from opentelemetry.trace import StatusCode
from predictions_otel import Tracing

from predictions import Client, WaitOptions, WaitTimeoutError
from predictions.testing import LocalServer
from predictions.testing._http.faults import Fault
from tests.conftest import BASE, TOKEN, FakeClock
from tests.plugins.otel_sdk import Telemetry, attributes
from tests.plugins.test_pacer_wait import spent_bucket

POLLED = WaitOptions(0.02, prefer_wait=0)


@pytest.fixture
def client(predictions_server: LocalServer) -> Iterator[Client]:
    with Client(
        predictions_server.base_url,
        plugins=[Tracing()],
        strict_plugins=True,
        clock=FakeClock(),  # retries' backoff: no real sleep
    ) as made:
        yield made


def by_attributes(points: List[Any]) -> Dict[frozenset, Any]:  # type: ignore[type-arg]
    return {frozenset(dict(p.attributes).items()): p for p in points}


def test_http_durations_by_method_status_and_server(
    predictions_server: LocalServer, telemetry: Telemetry
) -> None:
    with Client(
        predictions_server.base_url, plugins=[Tracing()], strict_plugins=True
    ) as client:
        client.predictions.create(
            {"input": {"seconds": 0.2}}, "demo/sleep", wait=True, wait_options=POLLED
        )
    host, port = predictions_server.base_url.split("//")[1].split("/")[0].split(":")
    server = {("server.address", host), ("server.port", int(port))}
    points = by_attributes(telemetry.points("http.client.request.duration"))
    (create,) = telemetry.named("POST ")
    created = attributes(create)["http.response.status_code"]  # 201 or 202
    post = points[
        frozenset(
            server
            | {("http.request.method", "POST"), ("http.response.status_code", created)}
        )
    ]
    get = points[
        frozenset(
            server
            | {("http.request.method", "GET"), ("http.response.status_code", 200)}
        )
    ]
    assert len(points) == 2
    assert post.count == 1
    assert get.count == len(telemetry.named("GET "))
    assert 0 < post.sum < 10
    (prediction,) = telemetry.points("predictions.prediction.duration")
    assert dict(prediction.attributes) == {
        "predictions.operation.name": "create",
        "gen_ai.request.model": "demo/sleep:1",
        "predictions.prediction.status": "succeeded",
    }
    assert prediction.count == 1
    assert prediction.sum >= 0.2


def test_a_failed_prediction_is_an_error_span_and_counted_so(
    client: Client, telemetry: Telemetry
) -> None:
    done = client.predictions.create(
        {"input": {"message": "no"}}, "demo/fail", wait=True
    )
    assert done["status"] == "failed"
    (span,) = telemetry.named("create ")
    assert span.status.status_code == StatusCode.ERROR
    assert attributes(span)["error.type"] == "failed"
    assert attributes(span)["predictions.prediction.status"] == "failed"
    (prediction,) = telemetry.points("predictions.prediction.duration")
    assert dict(prediction.attributes)["error.type"] == "failed"


def test_a_wait_past_its_deadline_is_an_error_span_with_the_exception(
    predictions_server: LocalServer, telemetry: Telemetry
) -> None:
    with Client(
        predictions_server.base_url, plugins=[Tracing()], strict_plugins=True
    ) as client:
        created = client.predictions.create({"input": {"seconds": 5}}, "demo/sleep")
        with pytest.raises(WaitTimeoutError):
            client.predictions.wait(
                created["id"], WaitOptions(0.02, timeout=0.1, cancel_on_timeout=True)
            )
    (wait,) = telemetry.named("wait ")
    assert wait.name == "wait demo/sleep:1"
    assert wait.status.status_code == StatusCode.ERROR
    assert attributes(wait)["error.type"] == "predictions.errors.WaitTimeoutError"
    assert [e.name for e in wait.events][-1] == "exception"
    (prediction,) = telemetry.points("predictions.prediction.duration")
    assert dict(prediction.attributes)["predictions.operation.name"] == "wait"
    assert (
        dict(prediction.attributes)["error.type"]
        == "predictions.errors.WaitTimeoutError"
    )


@pytest.mark.predictions_server(
    faults=[Fault("status", route="get", status=429, sequence=[1], retry_after="0")]
)
def test_429s_and_retries_are_counted(client: Client, telemetry: Telemetry) -> None:
    created = client.predictions.create({"input": {"text": "a"}}, "demo/echo")
    client.predictions.get(created["id"])
    (limited,) = telemetry.points("predictions.client.rate_limited")
    assert limited.value == 1
    assert dict(limited.attributes)["http.request.method"] == "GET"
    (retries,) = telemetry.points("predictions.client.retries")
    assert retries.value == 1
    assert dict(retries.attributes)["error.type"] == "429"
    first, second = telemetry.named("GET ")
    assert attributes(first)["error.type"] == "429"
    assert attributes(second)["http.request.resend_count"] == 1


@pytest.mark.predictions_server(
    faults=[Fault("drop_before", route="get", sequence=[1])]
)
def test_an_attempt_with_no_answer_ends_its_span_with_the_error_class(
    client: Client, telemetry: Telemetry
) -> None:
    created = client.predictions.create({"input": {"text": "a"}}, "demo/echo")
    client.predictions.get(created["id"])
    first, second = telemetry.named("GET ")
    assert first.status.status_code == StatusCode.ERROR
    assert "http.response.status_code" not in attributes(first)
    assert attributes(first)["error.type"].startswith("predictions.errors.API")
    assert attributes(second)["http.response.status_code"] == 200
    durations = telemetry.points("http.client.request.duration")
    failed = [p for p in durations if "error.type" in dict(p.attributes)]
    assert len(failed) == 1
    assert "http.response.status_code" not in dict(failed[0].attributes)


def test_metrics_without_traces(predictions_server: LocalServer) -> None:
    """A meter provider and no tracer provider: points, and no span anywhere."""
    from opentelemetry.metrics import _internal as metrics_globals

    only = Telemetry()
    saved = metrics_globals._METER_PROVIDER
    metrics_globals._METER_PROVIDER = only.meter_provider
    try:
        with Client(
            predictions_server.base_url, plugins=[Tracing()], strict_plugins=True
        ) as client:
            client.predictions.create({"input": {"text": "a"}}, "demo/echo", wait=True)
    finally:
        metrics_globals._METER_PROVIDER = saved
    (post,) = only.points("http.client.request.duration")
    assert dict(post.attributes)["http.request.method"] == "POST"
    assert post.count == 1
    assert len(only.points("predictions.prediction.duration")) == 1
    assert only.spans() == []


def test_waits_for_the_pacer_are_recorded_and_on_the_attempts_span(
    telemetry: Telemetry, mocked: responses.RequestsMock
) -> None:
    clock = FakeClock()
    spent_bucket(mocked, clock)  # the second get waits for the reset
    with Client(
        BASE, TOKEN, plugins=[Tracing()], strict_plugins=True, clock=clock
    ) as client:
        client.predictions.get("p1")
        client.predictions.get("p1")
    waited = sum(clock.sleeps)
    assert waited > 0
    (point,) = telemetry.points("predictions.client.pacer.wait")
    assert dict(point.attributes) == {
        "server.address": "api.test",
        "server.port": 443,
    }
    assert point.count == 1, "an attempt that did not wait is not recorded"
    assert point.sum == pytest.approx(waited)
    first, second = telemetry.named("GET ")
    assert "predictions.pacer.wait" not in attributes(first)
    assert attributes(second)["predictions.pacer.wait"] == pytest.approx(waited)
