"""tools/loki/rules.py: the Loki alerts come from thresholds.yml and are what the ruler reads."""

from __future__ import annotations

import yaml

from tools._repo import REPO
from tools.loki.logql import Expression, parse
from tools.loki.rules import OUTPUT, TENANT, outputs, render
from tools.prometheus.alerts import Links
from tools.prometheus.thresholds import load_thresholds, parse_thresholds


def _alerts(text: str) -> dict[str, dict]:
    document = yaml.safe_load(text)
    return {rule["alert"]: rule for group in document["groups"] for rule in group["rules"]}


def test_the_committed_rule_file_is_current_and_under_the_tenant_folder():
    assert (REPO / OUTPUT).read_text() == outputs()[OUTPUT]
    assert OUTPUT.parent.name == TENANT == "fake"  # Loki's tenant without auth


def test_thresholds_feed_the_expressions_and_for():
    data = yaml.safe_load((REPO / "monitoring/thresholds.yml").read_text())
    data["agent_error_lines_high"] = {"per_second": 0.5, "for": "20m"}
    data["pipeline_failed_burst"] = {"count": 12, "window": "30m", "for": "2m"}
    alerts = _alerts(render(parse_thresholds(data, "t.yml"), Links()))
    lines, burst = alerts["AgentErrorLinesHigh"], alerts["PipelineFailedBurst"]
    assert lines["expr"].endswith("> 0.5")
    assert lines["for"] == "20m"
    assert "[30m]" in burst["expr"]
    assert burst["expr"].endswith(">= 12")
    assert burst["for"] == "2m"
    assert burst["annotations"]["summary"] == "12 or more pipelines failed within 30m"


def test_a_zero_for_is_left_out_and_every_alert_is_a_metric_query_with_bounded_labels():
    alerts = _alerts(render(load_thresholds(), Links()))
    assert "for" not in alerts["PipelineFailedBurst"]  # thresholds.yml: for: 0s
    parsed = parse([Expression(rule["expr"], name) for name, rule in alerts.items()])
    assert [p.kind for p in parsed] == ["MetricExpr"] * len(alerts)
    for p in parsed:
        assert p.ok
        assert p.stream_labels <= {"service", "level", "agent"}


def test_alerts_carry_the_labels_alertmanager_routes_on():
    for name, rule in _alerts((REPO / OUTPUT).read_text()).items():
        assert rule["labels"]["severity"] == "warning", name
        assert rule["labels"]["category"] in ("agent", "pipeline"), name
        assert rule["annotations"]["runbook_url"].endswith(f"docs/runbooks/{name}.md")
        assert rule["annotations"]["dashboard_url"].endswith("/d/narra-forge-logs")
