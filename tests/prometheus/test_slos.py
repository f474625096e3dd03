"""monitoring/slos.yml -> slo_rules.yml: validation that names the file and the key, the Sloth
contract of the rendered rules, and the bucket matcher in a real promtool."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tools._repo import REPO
from tools.prometheus.lint import Promtool
from tools.prometheus.slos import (
    ALERT_NAMES,
    DEFAULT_PATH,
    OUTPUT,
    WINDOWS,
    SLOError,
    load_slos,
    parse_slos,
)

SHIPPED = yaml.safe_load(DEFAULT_PATH.read_text())


def with_change(path: list[str], value: object) -> dict:
    """The shipped document with one key set (or removed, for value None)."""
    document = yaml.safe_load(DEFAULT_PATH.read_text())
    node = document
    for key in path[:-1]:
        node = node[key]
    if value is None:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return document


def test_the_shipped_file_holds_the_four_slos_of_the_issue():
    slos = {slo.name: slo for slo in load_slos()}
    assert set(slos) == {"pipeline-success", "api-success", "pipeline-latency", "quality"}
    assert slos["pipeline-success"].objective == 0.99
    assert slos["api-success"].objective == 0.995
    assert slos["pipeline-latency"].objective == 0.95
    assert slos["pipeline-success"].min_events == 20  # the default
    assert slos["api-success"].min_events == 100
    # Prometheus 3 writes le="1800.0", 2.x le="1800": the matcher takes both.
    assert 'le=~"1800(\\\\.0)?"' in slos["pipeline-latency"].bad_rate5m
    assert 'metric_type="coherence"' in slos["quality"].bad_rate5m


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (["slos", "api-success", "objective"], 1.5, "slos.api-success.objective: a fraction"),
        (["slos", "api-success", "objective"], "high", "slos.api-success.objective"),
        (["slos", "quality", "events", "le"], 0.82, "slos.quality.events.le: threshold 0.82"),
        (["slos", "quality", "events", "bad"], "under", "slos.quality.events.bad: expected"),
        (
            ["slos", "pipeline-success", "events", "bad"],
            "narra_forge_pipeline_failures_total",
            "slos.pipeline-success.events.bad: narra_forge_pipeline_failures_total is not a "
            "counter of the catalogue",
        ),
        (["slos", "pipeline-success", "period"], "7d", "slos.pipeline-success.period: only 30d"),
        (["slos", "pipeline-success", "colour"], "red", "unknown keys ['colour']"),
        (["slos", "pipeline-success", "description"], None, "missing keys ['description']"),
        (["defaults", "min_events"], 0, "min_events: a whole number of events >= 1, got 0"),
    ],
)
def test_a_bad_value_is_reported_with_the_file_and_the_key(path, value, message):
    with pytest.raises(SLOError) as error:
        parse_slos(with_change(path, value), "monitoring/slos.yml")
    assert str(error.value).startswith("monitoring/slos.yml: ")
    assert message in str(error.value)


def test_min_events_that_lets_one_bad_event_page_is_refused_with_the_least_safe_value():
    # api-success: a 0.5% budget pages from 6 x 0.5% = 3% over 6 hours; one failed call among
    # 20 is 5%, so 20 would page on a single failure. 1/34 = 2.9% is the first under 3%.
    with pytest.raises(SLOError, match=r"api-success.min_events: 20 lets one bad event page"):
        parse_slos(with_change(["slos", "api-success", "min_events"], 20), "slos.yml")
    with pytest.raises(SLOError, match="use at least 34"):
        parse_slos(with_change(["slos", "api-success", "min_events"], 20), "slos.yml")
    assert parse_slos(with_change(["slos", "api-success", "min_events"], 34), "slos.yml")


def test_an_slo_without_an_alert_name_is_refused():
    document = with_change(["slos", "checkout"], SHIPPED["slos"]["pipeline-success"])
    with pytest.raises(SLOError, match=r"slos\.checkout: no alert name"):
        parse_slos(document, "slos.yml")


def test_the_rendered_rules_carry_sloths_names_and_labels_for_every_slo():
    groups = yaml.safe_load((REPO / OUTPUT).read_text())["groups"]
    records: dict[str, set[str]] = {}
    for group in groups:
        for rule in group["rules"]:
            if "record" in rule:
                labels = rule["labels"]
                assert labels["sloth_service"] == "narra_forge"
                assert labels["sloth_id"] == f"narra_forge-{labels['sloth_slo']}"
                records.setdefault(rule["record"], set()).add(labels["sloth_slo"])
    every = set(ALERT_NAMES)
    for name in [
        *(f"slo:sli_error:ratio_rate{w}" for w in WINDOWS),
        "slo:objective:ratio",
        "slo:error_budget:ratio",
        "slo:time_period:days",
        "slo:current_burn_rate:ratio",
        "slo:period_burn_rate:ratio",
        "slo:period_error_budget_remaining:ratio",
        "sloth_slo_info",
    ]:
        assert records.get(name) == every, name
    # No group labels or query_offset: Prometheus 2.42 refuses them.
    assert all(set(group) <= {"name", "interval", "rules"} for group in groups)


def test_each_slo_alert_pages_and_tickets_with_the_workbooks_windows():
    groups = yaml.safe_load((REPO / OUTPUT).read_text())["groups"]
    alerts = [rule for group in groups for rule in group["rules"] if "alert" in rule]
    assert sorted({a["alert"] for a in alerts}) == sorted(ALERT_NAMES.values())
    for alert in alerts:
        labels = alert["labels"]
        assert labels["category"] == "slo"
        assert labels["slo"] in ALERT_NAMES
        page = labels["sloth_severity"] == "page"
        assert labels["severity"] == ("critical" if page else "warning")
        pairs = (
            (("1h", "5m", "14.4"), ("6h", "30m", "6"))
            if page
            else (
                ("1d", "2h", "3"),
                ("3d", "6h", "1"),
            )
        )
        for long, short, factor in pairs:
            assert f"ratio_rate{long}{{" in alert["expr"]
            assert f"ratio_rate{short}{{" in alert["expr"]
            assert f"> {factor}\n" in alert["expr"]
            assert f"[{long}])) * 60 >= " in alert["expr"]  # the min_events guard


def test_the_latency_slo_counts_prometheus_3s_float_le_as_the_same_bucket(tmp_path: Path):
    # A Prometheus 3 scrape: le="1800.0". 10 pipelines a minute, 8 within 30 minutes: 20% slow.
    test = {
        "rule_files": [str(REPO / OUTPUT)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {
                        "series": 'narra_forge_pipeline_duration_seconds_count{job="narra_forge"}',
                        "values": "0+10x10",
                    },
                    {
                        "series": "narra_forge_pipeline_duration_seconds_bucket"
                        '{job="narra_forge",le="1800.0"}',
                        "values": "0+8x10",
                    },
                ],
                "promql_expr_test": [
                    {
                        # 0.2 up to rounding (2/60 over 10/60 per second).
                        "expr": "count(abs(slo:sli_error:ratio_rate5m"
                        '{sloth_slo="pipeline-latency"} - 0.2) < 1e-9)',
                        "eval_time": "10m",
                        "exp_samples": [{"labels": "{}", "value": 1}],
                    }
                ],
            }
        ],
    }
    path = tmp_path / "le.test.yml"
    path.write_text(yaml.safe_dump(test, sort_keys=False))
    ok, output = Promtool.find().run(["test", "rules", str(path)], [path])
    assert ok, output


def test_cli_reports_a_bad_file_and_writes_nothing(tmp_path: Path):
    bad = tmp_path / "slos.yml"
    bad.write_text(yaml.safe_dump(with_change(["slos", "quality", "objective"], 95)))
    out = tmp_path / "slo_rules.yml"
    result = subprocess.run(
        [sys.executable, "-m", "tools.prometheus.slos", "--slos", str(bad), "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "slos.quality.objective: a fraction between 0 and 1" in result.stderr
    assert not out.exists()
