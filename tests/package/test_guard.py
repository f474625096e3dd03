"""The cardinality guard and the bad-input policy: refuse, count, log once, never raise."""

from __future__ import annotations

import io
import json

import pytest

from narra_forge.monitoring import InstrumentationError, MetricsCollector, configure_logging
from narra_forge.monitoring.catalogue import LABELS

from .conftest import Scrape

GENRE_CAP = LABELS["genre"].cap  # 24 in the catalogue


def errors(scrape: Scrape, metric: str, reason: str) -> float | None:
    return scrape.value("narra_forge_instrumentation_errors_total", metric=metric, reason=reason)


def test_ten_thousand_genres_stay_bounded(registry):
    log = io.StringIO()
    configure_logging(json_output=True, stream=log)
    metrics = MetricsCollector(registry)
    for i in range(10_000):
        with metrics.track_pipeline("novel", f"user typed genre {i}"):
            pass
    scrape = Scrape(registry)
    genres = {labels["genre"] for labels in scrape.series("narra_forge_pipeline_total")}
    assert len(genres) == GENRE_CAP + 1
    assert "other" in genres
    assert "user_typed_genre_0" in genres  # normalised: lower case, spaces to underscores
    assert scrape.total("narra_forge_pipeline_total") == 10_000
    overflow = {"production_type": "novel", "genre": "other", "status": "success"}
    assert scrape.value("narra_forge_pipeline_total", **overflow) == 10_000 - GENRE_CAP
    assert errors(scrape, "narra_forge_pipeline_total", "label_overflow") == 10_000 - GENRE_CAP
    # Every distinct refused value is logged once, up to 1000, then one notice and silence.
    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    assert len(lines) == 1001
    assert lines[0]["event"] == "monitoring_input_refused"
    assert lines[0]["argument"] == "label genre"
    assert lines[0]["reason"] == "label_overflow"
    assert lines[0]["value"] == f"'user typed genre {GENRE_CAP}'"
    assert lines[-1]["event"] == "monitoring_input_refusals_no_longer_logged"


def test_a_refused_value_is_logged_once_but_counted_every_time(registry):
    log = io.StringIO()
    configure_logging(json_output=True, stream=log)
    metrics = MetricsCollector(registry)
    for _ in range(3):
        metrics.record_quality_score("novel", "style", 0.9)
    scrape = Scrape(registry)
    assert errors(scrape, "narra_forge_quality_score", "unknown_label_value") == 3
    assert (
        scrape.value(
            "narra_forge_quality_score_count", production_type="novel", metric_type="other"
        )
        == 3
    )
    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    assert len(lines) == 1
    assert lines[0]["metric"] == "narra_forge_quality_score"
    assert lines[0]["argument"] == "label metric_type"
    assert lines[0]["value"] == "'style'"
    assert lines[0]["action"] == "reported as 'other'"
    assert lines[0]["level"] == "warning"


def test_normalisation_merges_spellings_of_one_value(registry):
    metrics = MetricsCollector(registry)
    for genre in ("Fantasy", " fantasy ", "FANTASY"):
        with metrics.track_pipeline("Short Story", genre):
            pass
    with metrics.track_pipeline("novel", "Dark-Fantasy"):
        pass
    metrics.record_tokens(" GPT-4o ", prompt_tokens=1)
    scrape = Scrape(registry)
    story = {"production_type": "short_story", "genre": "fantasy", "status": "success"}
    assert scrape.value("narra_forge_pipeline_total", **story) == 3
    dark = {"production_type": "novel", "genre": "dark_fantasy", "status": "success"}
    assert scrape.value("narra_forge_pipeline_total", **dark) == 1
    assert scrape.value("narra_forge_tokens_used_total", model="gpt-4o", token_type="prompt") == 1
    assert scrape.value("narra_forge_instrumentation_errors_total") is None
    assert not scrape.series("narra_forge_instrumentation_errors_total")


@pytest.mark.parametrize(
    ("agent_id", "reason"),
    [
        ("a11_translator", "unknown_label_value"),
        ("", "empty_label"),
        ("   ", "empty_label"),
        (None, "empty_label"),
        (11, "wrong_type"),
        ("a01\x00", "wrong_type"),
        ("\ud800", "wrong_type"),  # a lone surrogate cannot be encoded into the exposition
        ("a" * 101, "out_of_range"),
    ],
)
def test_bad_agent_ids_become_other_and_are_counted(registry, agent_id, reason):
    metrics = MetricsCollector(registry)
    metrics.record_cost("gpt-4o", agent_id, 0.5)
    scrape = Scrape(registry)  # the exposition still renders and parses
    assert scrape.value("narra_forge_cost_usd_total", model="gpt-4o", agent_id="other") == 0.5
    assert errors(scrape, "narra_forge_cost_usd_total", reason) == 1


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda m: m.track_pipeline("novel", ""),
            "narra_forge_pipeline_total: label genre='' is empty",
        ),
        (
            lambda m: m.track_agent("a11_translator", "gpt-4o"),
            "narra_forge_agent_duration_seconds: label agent_id='a11_translator' is not one of",
        ),
        (
            lambda m: m.record_tokens("gpt-4o", prompt_tokens=-3),
            "narra_forge_tokens_used_total: prompt_tokens=-3 is negative",
        ),
        (
            lambda m: m.record_cost("gpt-4o", "a01_brief_interpreter", float("nan")),
            "narra_forge_cost_usd_total: usd=nan is not finite",
        ),
        (
            lambda m: m.record_quality_score("novel", "logic", 1.5),
            "narra_forge_quality_score: score=1.5 is out of range",
        ),
        (
            lambda m: m.record_tokens("gpt-4o", completion_tokens="12"),
            "narra_forge_tokens_used_total: completion_tokens='12' has the wrong type",
        ),
    ],
)
def test_strict_mode_raises_a_value_error_naming_metric_label_and_value(registry, call, message):
    metrics = MetricsCollector(registry, strict=True)
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace("[", r"\[")):
        call(metrics)
    assert not Scrape(registry).series("narra_forge_instrumentation_errors_total")


def test_strict_mode_error_carries_its_parts(registry):
    metrics = MetricsCollector(registry, strict=True)
    with pytest.raises(InstrumentationError) as caught:
        metrics.record_retry("a01_brief_interpreter", None)
    assert (caught.value.metric, caught.value.what, caught.value.value, caught.value.reason) == (
        "narra_forge_retry_attempts_total",
        "label reason",
        None,
        "empty_label",
    )


def test_strict_mode_from_the_environment(registry, monkeypatch):
    monkeypatch.setenv("NARRA_FORGE_MONITORING_STRICT", "true")
    assert MetricsCollector(registry).strict is True
    monkeypatch.setenv("NARRA_FORGE_MONITORING_STRICT", "0")
    assert MetricsCollector(registry).strict is False
    monkeypatch.delenv("NARRA_FORGE_MONITORING_STRICT")
    assert MetricsCollector(registry).strict is False
    monkeypatch.setenv("NARRA_FORGE_MONITORING_STRICT", "1")
    assert MetricsCollector(registry, strict=False).strict is False


def test_strict_mode_is_not_fooled_by_the_cache_of_a_lenient_collector(registry):
    lenient = MetricsCollector(registry)
    strict = MetricsCollector(registry, strict=True)
    lenient.record_cost("gpt-4o", "a99_unknown", 1.0)
    with pytest.raises(ValueError, match="a99_unknown"):
        strict.record_cost("gpt-4o", "a99_unknown", 1.0)


def test_the_cap_is_shared_by_every_collector_of_a_registry(registry):
    first = MetricsCollector(registry)
    second = MetricsCollector(registry)
    for i in range(GENRE_CAP):
        with first.track_pipeline("novel", f"genre{i}"):
            pass
    with second.track_pipeline("novel", "one too many"):
        pass
    scrape = Scrape(registry)
    assert errors(scrape, "narra_forge_pipeline_total", "label_overflow") == 1
    assert first.admitted_values("genre") == {f"genre{i}" for i in range(GENRE_CAP)}


@pytest.mark.parametrize(
    ("score", "observed", "reason"),
    [
        (1.5, 1.0, "out_of_range"),
        (-0.2, 0.0, "out_of_range"),
        (float("nan"), None, "not_finite"),
        ("0.9", None, "wrong_type"),
        (True, None, "wrong_type"),
    ],
)
def test_quality_scores_are_clamped_or_dropped(registry, score, observed, reason):
    metrics = MetricsCollector(registry)
    metrics.record_quality_score("novel", "coherence", score)
    scrape = Scrape(registry)
    labels = {"production_type": "novel", "metric_type": "coherence"}
    assert scrape.value("narra_forge_quality_score_count", **labels) == (observed is not None)
    if observed is not None:
        assert scrape.value("narra_forge_quality_score_sum", **labels) == observed
    assert errors(scrape, "narra_forge_quality_score", reason) == 1


def test_bad_counts_are_dropped_one_by_one(registry):
    metrics = MetricsCollector(registry)
    metrics.record_tokens("gpt-4o", prompt_tokens=float("inf"), completion_tokens=40)
    metrics.record_tokens("gpt-4o", prompt_tokens=100, completion_tokens=-1)
    metrics.record_tokens("gpt-4o", prompt_tokens=2**80, completion_tokens=None)
    scrape = Scrape(registry)
    prompt = {"model": "gpt-4o", "token_type": "prompt"}
    completion = {"model": "gpt-4o", "token_type": "completion"}
    assert scrape.value("narra_forge_tokens_used_total", **prompt) == pytest.approx(2**80)
    assert scrape.value("narra_forge_tokens_used_total", **completion) == 40
    assert errors(scrape, "narra_forge_tokens_used_total", "not_finite") == 1
    assert errors(scrape, "narra_forge_tokens_used_total", "negative") == 1
    assert errors(scrape, "narra_forge_tokens_used_total", "wrong_type") == 1


class Awkward(str):
    """A str whose comparison raises: a dictionary lookup that collides with it would raise."""

    def __hash__(self) -> int:
        return hash("gpt-4o")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("cannot compare")


def test_arguments_that_cannot_be_dictionary_keys_never_raise(registry):
    metrics = MetricsCollector(registry)
    metrics.record_tokens("gpt-4o", prompt_tokens=1)  # caches "gpt-4o"; Awkward collides with it
    metrics.record_tokens(Awkward("gpt-4o"), prompt_tokens=2)
    metrics.record_cost(["gpt-4o"], "a01_brief_interpreter", 0.5)
    scrape = Scrape(registry)
    assert scrape.value("narra_forge_tokens_used_total", model="gpt-4o", token_type="prompt") == 3
    assert (
        scrape.value("narra_forge_cost_usd_total", model="other", agent_id="a01_brief_interpreter")
        == 0.5
    )


def test_a_strict_mode_error_is_not_chained_to_a_cache_miss(registry):
    metrics = MetricsCollector(registry, strict=True)
    with pytest.raises(InstrumentationError) as caught:
        metrics.record_cost(["gpt-4o"], "a01_brief_interpreter", 0.5)
    assert caught.value.__context__ is None
    assert caught.value.reason == "wrong_type"
