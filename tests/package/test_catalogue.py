"""The catalogue's first twelve metrics are a contract with the monitoring guide's queries."""

import pytest

from narra_forge.monitoring.catalogue import (
    AGENT_IDS,
    BY_NAME,
    GUIDE_METRICS,
    METRICS,
    Label,
    Metric,
    series_index,
)

# Transcribed from the monitoring guide (../shared/MONITORING_GUIDE.md), not from the code.
GUIDE = {
    "narra_forge_pipeline_duration_seconds": (
        "histogram",
        ("production_type", "genre"),
        (10, 30, 60, 120, 300, 600, 1200, 1800),
    ),
    "narra_forge_pipeline_total": ("counter", ("production_type", "genre", "status"), ()),
    "narra_forge_jobs_active": ("gauge", (), ()),
    "narra_forge_agent_duration_seconds": (
        "histogram",
        ("agent_id", "model"),
        (0.5, 1, 2, 5, 10, 30, 60, 120),
    ),
    "narra_forge_agent_errors_total": ("counter", ("agent_id", "error_type"), ()),
    "narra_forge_api_calls_total": ("counter", ("model", "agent_id"), ()),
    "narra_forge_api_call_duration_seconds": (
        "histogram",
        ("model",),
        (0.5, 1, 2, 5, 10, 20, 30),
    ),
    "narra_forge_api_errors_total": ("counter", ("model", "error_type"), ()),
    "narra_forge_tokens_used_total": ("counter", ("model", "token_type"), ()),
    "narra_forge_cost_usd_total": ("counter", ("model", "agent_id"), ()),
    "narra_forge_quality_score": (
        "histogram",
        ("production_type", "metric_type"),
        (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0),
    ),
    "narra_forge_retry_attempts_total": ("counter", ("agent_id", "reason"), ()),
}


@pytest.mark.parametrize("name", sorted(GUIDE))
def test_guide_metric_has_the_guides_shape(name):
    kind, labels, buckets = GUIDE[name]
    metric = BY_NAME[name]
    assert (metric.type, metric.labels, metric.buckets) == (kind, labels, buckets)


def test_guide_metrics_come_first_and_all_names_are_unique():
    assert set(GUIDE_METRICS) == set(GUIDE)
    assert len({metric.name for metric in METRICS}) == len(METRICS)


def test_fixed_label_domains_match_the_guide():
    assert BY_NAME["narra_forge_pipeline_total"].allowed_values["status"] == ("success", "failed")
    assert BY_NAME["narra_forge_tokens_used_total"].allowed_values["token_type"] == (
        "prompt",
        "completion",
    )
    assert BY_NAME["narra_forge_quality_score"].allowed_values["metric_type"] == (
        "coherence",
        "logic",
        "psychology",
        "temporal",
    )
    assert len(AGENT_IDS) == 10
    assert AGENT_IDS[0] == "a01_brief_interpreter"
    assert AGENT_IDS[-1] == "a10_output_processor"


def test_every_label_is_bounded_by_a_fixed_set_or_a_cap():
    for metric in METRICS:
        for label, domain in metric.domains.items():
            assert domain.values or domain.cap, f"{metric.name}: label {label} is unbounded"


def test_histograms_expose_bucket_sum_and_count():
    index = series_index()
    assert index["narra_forge_quality_score_bucket"].name == "narra_forge_quality_score"
    assert BY_NAME["narra_forge_quality_score"].labels_of("narra_forge_quality_score_bucket")[
        -1
    ] == ("le")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "x_count", "type": "counter", "help": "h"}, "ends in _total"),
        ({"name": "x", "type": "histogram", "help": "h"}, "buckets are for histograms"),
        ({"name": "x", "type": "gauge", "help": "h", "labels": ("nope",)}, "undeclared labels"),
        (
            {"name": "x", "type": "histogram", "help": "h", "buckets": (2, 1)},
            "strictly increasing",
        ),
    ],
)
def test_a_malformed_entry_is_refused_with_its_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Metric(**kwargs)


def test_a_label_is_either_fixed_or_capped():
    with pytest.raises(ValueError, match="exactly one of"):
        Label("genre", "h")
