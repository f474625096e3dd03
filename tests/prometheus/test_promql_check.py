"""The shared PromQL checker: each check fed a broken expression names what is wrong."""

import pytest

from tools.prometheus.promql_check import (
    SCALAR,
    analyse,
    catalogue_series,
    prometheus_series,
    with_recording_rules,
)
from tools.prometheus.recording import recording_rules
from tools.prometheus.thresholds import load_thresholds


@pytest.fixture(scope="module")
def known():
    rules = [(rule.record, rule.expr) for rule in recording_rules(load_thresholds())]
    index, findings = with_recording_rules(catalogue_series(), rules)
    assert findings == []
    return index


def messages(expr, known):
    return [str(finding) for finding in analyse(expr, known).findings]


def test_a_correct_expression_has_no_findings_and_its_labels_are_known(known):
    result = analyse(
        "histogram_quantile(0.95, sum by (le, model) "
        "(rate(narra_forge_api_call_duration_seconds_bucket[5m]))) > 5",
        known,
    )
    assert result.findings == []
    assert result.labels == frozenset({"model"})


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (
            "rate(narra_forge_cost_usd[5m])",
            "metric narra_forge_cost_usd is neither in the catalogue",
        ),
        (
            'rate(narra_forge_cost_usd_total{agent="a01"}[5m])',
            'metric narra_forge_cost_usd_total has no label "agent"; labels: agent_id, model',
        ),
        (
            "sum by (agent) (rate(narra_forge_cost_usd_total[5m]))",
            'sum by: label "agent" is not on the expression beneath; labels: agent_id, model',
        ),
        (
            "sum(rate(narra_forge_api_calls_total[5m])) / on (model) "
            "sum(rate(narra_forge_api_errors_total[5m]))",
            'on (left side): label "model" is not on the expression beneath',
        ),
        ("sum(narra_forge_cost_usd_total)", "counter narra_forge_cost_usd_total is read raw"),
        (
            "narra_forge_quality_score_sum / narra_forge_quality_score_count",
            "counter narra_forge_quality_score_sum is read raw",
        ),
        (
            "histogram_quantile(0.9, sum by (model) "
            "(rate(narra_forge_api_call_duration_seconds_bucket[5m])))",
            'histogram_quantile: label "le" is not on the expression beneath',
        ),
        (
            "histogram_quantile(0.9, rate(narra_forge_api_call_duration_seconds_sum[5m]))",
            "histogram_quantile reads narra_forge_api_call_duration_seconds_sum",
        ),
        (
            # the guide's P95 pipeline duration: one quantile per instance and genre
            "histogram_quantile(0.95, rate(narra_forge_pipeline_duration_seconds_bucket[5m]))",
            "histogram_quantile over narra_forge_pipeline_duration_seconds_bucket is not "
            "aggregated",
        ),
        (
            "histogram_quantile(0.95, max by (le) "
            "(rate(narra_forge_pipeline_duration_seconds_bucket[5m])))",
            "histogram_quantile over narra_forge_pipeline_duration_seconds_bucket is not "
            "aggregated",
        ),
        ("rate(narra_forge_api_calls_total[30s])", "range [30s] on narra_forge_api_calls_total"),
        ("sum(rate(narra_forge_api_calls_total[5m])", "does not parse as PromQL"),
        (
            ':narra_forge_cost_usd:increase1h{model="gpt-4o"}',
            'metric :narra_forge_cost_usd:increase1h has no label "model"',
        ),
    ],
)
def test_each_check_names_the_metric_or_label(known, expr, expected):
    found = messages(expr, known)
    assert any(expected in message for message in found), found


def test_labels_follow_aggregation_and_matching(known):
    assert analyse("narra_forge_jobs_active > 0", known).labels == frozenset({"job", "instance"})
    assert analyse("sum without (instance) (narra_forge_jobs_active)", known).labels == frozenset(
        {"job"}
    )
    assert analyse("scalar(narra_forge_jobs_active)", known).labels == SCALAR
    grouped = analyse(
        "sum by (model, agent_id) (rate(narra_forge_cost_usd_total[5m])) "
        "/ on (model) group_left sum by (model) (rate(narra_forge_api_calls_total[5m]))",
        known,
    )
    assert grouped.findings == []
    assert grouped.labels == frozenset({"model", "agent_id"})


def test_recording_rule_outputs_carry_their_grouping_labels(known):
    assert known["metric_type:narra_forge_quality_score:avg1h"].labels == frozenset({"metric_type"})
    assert known[":narra_forge_pipeline_failures:ratio_rate5m"].labels == frozenset()


def test_quantiles_summed_by_le_or_without_le_are_accepted(known):
    for expr in (
        "histogram_quantile(0.5, sum by (le) (rate(narra_forge_quality_score_bucket[5m])))",
        "histogram_quantile(0.5, (sum without (instance, job) "
        "(rate(narra_forge_quality_score_bucket[5m]))))",
    ):
        assert messages(expr, known) == []


def test_absent_returns_the_labels_of_its_equality_matchers():
    index = {**catalogue_series(), **prometheus_series()}
    assert analyse('absent(up{job="narra_forge"})', index).labels == frozenset({"job"})
    assert analyse('absent(up{job=~"narra.*"})', index).labels == frozenset()
    # `or` keeps only the labels both sides carry: instance is gone when the target is absent
    either = analyse('up{job="narra_forge"} == 0 or absent(up{job="narra_forge"})', index)
    assert either.findings == []
    assert either.labels == frozenset({"job"})


def test_prometheus_own_series_are_known_with_their_labels_and_types():
    index = prometheus_series()
    assert index["up"].labels == frozenset({"job", "instance"})
    assert not index["up"].counter
    failures = index["prometheus_rule_evaluation_failures_total"]
    assert failures.counter
    assert "rule_group" in failures.labels
    found = [
        str(f)
        for f in analyse(
            'sum by (rule_group) (prometheus_rule_evaluation_failures_total{group="x"})', index
        ).findings
    ]
    assert any("counter prometheus_rule_evaluation_failures_total is read raw" in m for m in found)
    assert any('has no label "group"' in m for m in found)
