"""predictions-otel's values: url.full redacted, servers, a prediction's times."""

from __future__ import annotations

import pytest
from predictions_otel._predictions import model_of, times_of
from predictions_otel._urls import REDACTED, redact_url, server_of


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "https://api.example/v1/predictions/abc",
            "https://api.example/v1/predictions/abc",
        ),
        (
            "http://127.0.0.1:5/parts/u1/0?sig=abcdef",
            f"http://127.0.0.1:5/parts/u1/0?sig={REDACTED}",
        ),
        (
            "https://bucket.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=AKIA%2F20250101&X-Amz-Date=20250101T000000Z"
            "&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=f00d",
            "https://bucket.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            f"&X-Amz-Credential={REDACTED}&X-Amz-Date=20250101T000000Z"
            f"&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature={REDACTED}",
        ),
        (
            "https://storage.googleapis.com/b/o?X-Goog-Signature=aa&x-goog-credential=bb",
            "https://storage.googleapis.com/b/o"
            f"?X-Goog-Signature={REDACTED}&x-goog-credential={REDACTED}",
        ),
        (
            "https://h/o?AWSAccessKeyId=AKIA&Signature=s%2B&Expires=1700000000",
            f"https://h/o?AWSAccessKeyId={REDACTED}&Signature={REDACTED}"
            "&Expires=1700000000",
        ),
        (
            "https://h/o?token=t0k&page_size=5",
            f"https://h/o?token={REDACTED}&page_size=5",
        ),
        ("https://user:pw@h:8443/x", f"https://{REDACTED}:{REDACTED}@h:8443/x"),
        ("https://h/p?statuses=a&statuses=b", "https://h/p?statuses=a&statuses=b"),
        ("https://h/p?flag&sig", "https://h/p?flag&sig"),  # no values to hide
    ],
)
def test_url_full_hides_signatures_and_credentials_and_keeps_the_rest(
    url: str, shown: str
) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize(
    ("url", "server"),
    [
        ("https://api.example/v1/x?y=1", ("api.example", 443)),
        ("http://api.example/v1", ("api.example", 80)),
        ("http://127.0.0.1:8123/v1", ("127.0.0.1", 8123)),
        ("http://[::1]:9/v1", ("::1", 9)),
        ("https://u:p@Host.Example:444", ("host.example", 444)),
    ],
)
def test_the_server_of_a_url(url: str, server: tuple) -> None:  # type: ignore[type-arg]
    assert server_of(url) == server


def test_times_of_a_terminal_prediction_come_from_its_fields() -> None:
    prediction = {
        "status": "succeeded",
        "created_at": "2025-01-01T00:00:00Z",
        "updated_at": "2025-01-01T00:00:10.5+00:00",
        "setup_time": "2.5",
        "execution_time": "7.000",
    }
    assert times_of(prediction) == {
        "predictions.prediction.setup_time": 2.5,
        "predictions.prediction.execution_time": 7.0,
        "predictions.prediction.queue_time": 1.0,
    }


def test_times_of_a_running_prediction_have_no_queue_time_yet() -> None:
    prediction = {
        "status": "started",
        "created_at": "2025-01-01T00:00:00.123456789Z",
        "updated_at": "2025-01-01T00:00:01Z",
        "setup_time": "0.2",
        "execution_time": None,
    }
    assert times_of(prediction) == {"predictions.prediction.setup_time": 0.2}


def test_garbled_times_are_left_out() -> None:
    prediction = {
        "status": "failed",
        "created_at": "yesterday",
        "updated_at": "2025-01-01T00:00:01Z",
        "setup_time": "-1",
        "execution_time": "fast",
    }
    assert times_of(prediction) == {}


def test_the_model_of_a_prediction() -> None:
    model = {"owner": "demo", "name": "echo", "version_number": 3}
    assert model_of({"model": model}) == "demo/echo:3"
    assert model_of({}) is None
