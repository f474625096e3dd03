"""Sentry helpers with sentry-sdk's real client and a transport that records envelopes."""

from __future__ import annotations

import secrets
import sys
import warnings

import pytest
import sentry_sdk
from sentry_sdk.transport import Transport

import narra_forge.monitoring.sentry as sentry_helpers
from narra_forge.monitoring import capture_exception, init_sentry, set_context, set_tag


class RecordingTransport(Transport):
    """Keeps every envelope instead of sending it: no network."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict] = []

    def capture_envelope(self, envelope) -> None:
        for item in envelope.items:
            if item.type == "event":
                self.events.append(item.payload.json)


@pytest.fixture
def transport():
    recorder = RecordingTransport()
    yield recorder
    sentry_sdk.init(dsn=None)  # leave a disabled client behind for the next test


def test_an_exception_is_sent_with_environment_tags_context_and_no_locals(transport):
    assert init_sentry(
        "https://public@sentry.example.invalid/1",
        environment="staging",
        traces_sample_rate=0.1,
        transport=transport,
    )
    set_tag("production_type", "novel")
    set_context("pipeline", {"job_id": "job_77", "genre": "fantasy"})

    def call_openai(api_key: str) -> None:
        headers = {"Authorization": f"Bearer {api_key}"}
        assert headers
        raise ConnectionError("api.openai.com unreachable")

    secret = "sk-" + secrets.token_hex(16)  # made at run time: not in the source context
    try:
        call_openai(secret)
    except ConnectionError as error:
        event_id = capture_exception(error)
    sentry_sdk.flush()

    assert event_id is not None
    (event,) = transport.events
    assert event["event_id"] == event_id
    assert event["environment"] == "staging"
    assert event["tags"]["production_type"] == "novel"
    assert event["contexts"]["pipeline"] == {"job_id": "job_77", "genre": "fantasy"}
    (exception,) = event["exception"]["values"]
    assert (exception["type"], exception["value"]) == (
        "ConnectionError",
        "api.openai.com unreachable",
    )
    frames = exception["stacktrace"]["frames"]
    assert frames[-1]["function"] == "call_openai"
    assert all("vars" not in frame for frame in frames)
    assert secret[3:] not in repr(event)


def test_without_a_dsn_nothing_is_sent(transport):
    assert init_sentry(None, environment="development")
    assert capture_exception(RuntimeError("not sent")) is None


@pytest.mark.parametrize("rate", [1.5, -0.1, "0.1", True])
def test_a_bad_sample_rate_is_a_clear_error(rate):
    with pytest.raises(ValueError, match="traces_sample_rate"):
        init_sentry("https://public@sentry.example.invalid/1", traces_sample_rate=rate)


def test_without_sentry_sdk_every_helper_warns_once_and_does_nothing(monkeypatch):
    monkeypatch.setitem(sys.modules, "sentry_sdk", None)  # what `import sentry_sdk` fails on
    monkeypatch.setattr(sentry_helpers, "_warned", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert init_sentry("https://public@sentry.example.invalid/1") is False
        set_tag("a", "b")
        set_context("c", {})
        assert capture_exception(RuntimeError("x")) is None
    assert len(caught) == 1
    assert caught[0].category is RuntimeWarning
    assert "pip install 'narra-forge-monitoring[sentry]'" in str(caught[0].message)
