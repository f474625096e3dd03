"""What a query measures, inferred from its syntax: the basis of the unit check."""

from __future__ import annotations

import promql_parser as pp
import pytest

from tools.grafana.lint import default_context
from tools.grafana.units import quantity


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (
            "histogram_quantile(0.95, sum by (le) "
            "(rate(narra_forge_api_call_duration_seconds_bucket[1m])))",
            "duration",
        ),
        (
            "rate(narra_forge_pipeline_duration_seconds_sum[1m])"
            " / rate(narra_forge_pipeline_duration_seconds_count[1m])",
            "duration",
        ),
        (
            "sum(rate(narra_forge_api_errors_total[1m]))"
            " / sum(rate(narra_forge_api_calls_total[1m]))",
            "ratio",
        ),
        ("1 - :narra_forge_pipeline_failures:ratio_rate5m", "ratio"),
        ("sum(rate(narra_forge_cost_usd_total[1h])) * 3600", "usd"),
        (
            "sum(increase(narra_forge_cost_usd_total[1h]))"
            ' / sum(increase(narra_forge_pipeline_total{status="success"}[1h]))',
            "usd",
        ),
        ("metric_type:narra_forge_quality_score:avg1h", "score"),
        ("sum(rate(narra_forge_api_calls_total[1m])) * 60", "rate"),
        ("sum(increase(narra_forge_api_calls_total[1h]))", "count"),
        ("sum(narra_forge_jobs_active)", "count"),
        (
            "sum by (le) (increase(narra_forge_agent_duration_seconds_bucket[1m]))",
            "bucket:duration",
        ),
        (
            "production_type:narra_forge_pipeline_duration_seconds:slower_than_limit_ratio_5m",
            "ratio",
        ),
        # Nothing sensible to check: dollars times dollars, a time stamp.
        ("narra_forge_jobs_active * narra_forge_jobs_active", "unknown"),
        ("time()", "unknown"),
    ],
)
def test_quantity_of(expr, expected):
    assert quantity(pp.parse(expr), default_context().quantities) == expected
