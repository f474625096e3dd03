"""Generating the dashboards: the contract's uids and files, thresholds drawn from the one file,
stable output, the panels the issue asks for."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.grafana.helpers import committed, load, panel, panels_with_targets, relpath
from tools._repo import REPO
from tools.docgen import dashboards as dashboard_docs
from tools.grafana.builders import DATASOURCE, LOKI_DATASOURCE, SCHEMA_VERSION
from tools.grafana.dashboards import DIRECTORY, build_all, outputs
from tools.prometheus.recording import recording_rules
from tools.prometheus.thresholds import DEFAULT_PATH, load_thresholds

CONTRACT = {
    "pipeline_overview.json": ("narra-forge-pipeline-overview", "Pipeline Overview"),
    "agent_performance.json": ("narra-forge-agent-performance", "Agent Performance"),
    "api_metrics.json": ("narra-forge-api-metrics", "API Metrics"),
    "cost_tracking.json": ("narra-forge-cost-tracking", "Cost Tracking"),
    "quality_metrics.json": ("narra-forge-quality-metrics", "Quality Metrics"),
    "logs.json": ("narra-forge-logs", "Logs"),
    "slos.json": ("narra-forge-slos", "SLOs"),
}


def test_the_six_files_carry_the_contracts_uids_and_titles():
    boards = build_all(load_thresholds())
    assert sorted(path.name for path in boards) == sorted(CONTRACT)
    for path, board in boards.items():
        uid, title = CONTRACT[path.name]
        assert path.parent == DIRECTORY
        assert board["uid"] == uid
        assert board["title"].endswith(title)
        assert board["id"] is None
        assert board["schemaVersion"] == SCHEMA_VERSION


def test_rendering_is_stable_sorted_and_indented():
    first, second = outputs(), outputs()
    assert first == second
    for path, text in first.items():
        if path.suffix != ".json":
            continue
        assert text.endswith("}\n"), path
        assert not text.endswith("\n\n"), path
        assert text.splitlines()[1].startswith('  "'), path  # 2-space indent
        assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n", path


def test_every_panel_and_target_uses_the_datasource_variable_and_no_uid_is_hard_coded():
    # The five metric dashboards read Prometheus through `datasource`; the Logs dashboard reads
    # Loki through `loki`. A panel reads one of them, never a fixed uid.
    for file, board in committed().items():
        text = json.dumps(board)
        assert "narra-forge-prometheus" not in text, file
        assert "narra-forge-loki" not in text, file
        assert "${DS_" not in text, file
        used = set()
        for p in panels_with_targets(board):
            assert p["datasource"] in (DATASOURCE, LOKI_DATASOURCE), (file, p["title"])
            assert all(t["datasource"] == p["datasource"] for t in p["targets"]), p["title"]
            used.add(p["datasource"]["type"])
        assert used == ({"loki"} if file.endswith("logs.json") else {"prometheus"}), file
        for kind in used:
            name = {"prometheus": "datasource", "loki": "loki"}[kind]
            source = next(v for v in board["templating"]["list"] if v["name"] == name)
            assert (source["type"], source["query"]) == ("datasource", kind)


def test_the_six_link_to_each_other_by_tag():
    boards = committed()
    for file, board in boards.items():
        [link] = board["links"]
        assert link["type"] == "dashboards"
        assert link["keepTime"]
        assert link["includeVars"]
        linked = [b["uid"] for b in boards.values() if set(link["tags"]) <= set(b["tags"])]
        assert len(linked) == len(boards) == 7, file


@pytest.mark.parametrize(
    ("name", "titles"),
    [
        (
            "pipeline_overview",
            [
                "Pipelines per minute by production type",
                "Success rate",
                "Pipeline duration P50 / P95 / P99",
                "Active jobs",
                "Failed pipelines per minute by genre",
            ],
        ),
        (
            "agent_performance",
            [
                "Agent execution time",
                "P95 execution time per agent",
                "Error rate by agent",
                "Most expensive agents (time range)",
                "Retries per second by reason",
            ],
        ),
        (
            "api_metrics",
            [
                "API calls per second",
                "API error rate by model",
                "API errors per second by type",
                "P95 API latency by model",
                "Tokens per second (prompt and completion)",
            ],
        ),
        (
            "cost_tracking",
            [
                "Cost per hour",
                "Cost per narrative (average)",
                "Cost by model (time range)",
                "Cost by agent (time range)",
                "Daily spend",
            ],
        ),
        (
            "quality_metrics",
            [
                "Average coherence score (last hour)",
                "Score distribution (time range)",
                "Average score per metric type",
            ],
        ),
    ],
)
def test_the_panels_the_issue_asks_for_exist(name, titles):
    board = load(name)
    for title in titles:
        panel(board, title)


def test_the_agent_heatmap_is_a_histogram_of_increases_in_heatmap_format():
    heat = panel(load("agent_performance"), "Agent execution time")
    assert heat["type"] == "heatmap"
    [query] = heat["targets"]
    assert query["format"] == "heatmap"
    assert query["legendFormat"] == "{{le}}"
    # The increases come from a recording rule (30 days of them load fast); the rule is the
    # histogram's buckets summed by le, counted over 5 minutes.
    rule = "le:narra_forge_agent_duration_seconds_bucket:increase5m"
    assert query["expr"] == f"sum by (le) ({rule})"
    [expr] = [r.expr for r in recording_rules(load_thresholds()) if r.record == rule]
    assert expr == "sum by (le) (increase(narra_forge_agent_duration_seconds_bucket[5m]))"
    assert heat["options"]["calculate"] is False
    assert heat["options"]["yAxis"]["unit"] == "s"


def test_panels_read_recording_rules_where_one_exists():
    expressions = " ".join(
        t["expr"]
        for board in committed().values()
        for p in panels_with_targets(board)
        for t in p["targets"]
    )
    used = set(re.findall(r"[a-z_]*:narra_forge_[a-z_]+:[a-z0-9_]+", expressions))
    # The P95s, ratios, hourly costs and averages of the alerts come from the rules.
    assert {
        "production_type:narra_forge_pipeline_duration_seconds:p95_5m",
        ":narra_forge_pipeline_failures:ratio_rate5m",
        ":narra_forge_api_errors:ratio_rate5m",
        "model:narra_forge_api_call_duration_seconds:p95_5m",
        "agent_id:narra_forge_agent_duration_seconds:p95_5m",
        "agent_id:narra_forge_agent_errors:ratio_rate5m",
        ":narra_forge_cost_usd:increase1h",
        "token_type:narra_forge_tokens_used:rate5m",
        "metric_type:narra_forge_quality_score:avg1h",
    } <= used


def steps(board: dict, title: str) -> list:
    return [
        s["value"] for s in panel(board, title)["fieldConfig"]["defaults"]["thresholds"]["steps"]
    ]


def threshold_mode(board: dict, title: str) -> str:
    return panel(board, title)["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"]


def test_threshold_lines_come_from_the_thresholds_file(tmp_path):
    defaults = build_all(load_thresholds())
    cost = defaults[DIRECTORY / "cost_tracking.json"]
    assert steps(cost, "Cost per hour") == [None, 10]
    assert steps(cost, "Daily spend") == [None, 150]
    assert threshold_mode(cost, "Cost per hour") != "off"

    changed = yaml.safe_load(DEFAULT_PATH.read_text())
    changed["cost_budget_warning"]["usd_per_hour"] = 25
    changed["cost_daily_budget"]["usd_per_day"] = 400
    changed["quality_score_low"]["floor"] = 0.9
    changed["pipeline_error_rate_high"]["ratio"] = 0.2
    changed["api_error_rate_high"]["ratio"] = 0.07
    changed["agent_error_rate_high"]["ratio"] = 0.15
    changed["pipeline_duration_high"]["seconds"] = 1200
    path = tmp_path / "thresholds.yml"
    path.write_text(yaml.safe_dump(changed))
    boards = {p.name: json.loads(t) for p, t in outputs(path).items() if p.suffix == ".json"}

    cost = boards["cost_tracking.json"]
    assert steps(cost, "Cost per hour") == [None, 25]
    assert steps(cost, "Spend in the last hour") == [None, 25]
    assert steps(cost, "Daily spend") == [None, 400]
    assert steps(cost, "Projected daily spend") == [None, 400]
    quality = boards["quality_metrics.json"]
    assert steps(quality, "Average coherence score (last hour)") == [None, 0.9]
    assert steps(quality, "Average score per metric type") == [None, 0.9]
    assert "0.9" in panel(quality, "Average coherence score (last hour)")["description"]
    pipeline = boards["pipeline_overview.json"]
    assert steps(pipeline, "Success rate") == [None, 0.8]
    assert steps(pipeline, "Failure ratio (what PipelineErrorRateHigh sees)") == [None, 0.2]
    assert steps(pipeline, "Pipeline duration P50 / P95 / P99") == [None, 1200]
    panel(pipeline, "Runs slower than 20m")
    api = boards["api_metrics.json"]
    assert steps(api, "API error rate") == [None, 0.07]
    agent = boards["agent_performance.json"]
    assert steps(agent, "Error rate by agent") == [None, 0.15]


def test_a_quality_floor_between_buckets_uses_the_bucket_under_it_and_says_so(tmp_path):
    changed = yaml.safe_load(DEFAULT_PATH.read_text())
    changed["quality_score_low"]["floor"] = 0.87
    path = tmp_path / "thresholds.yml"
    path.write_text(yaml.safe_dump(changed))
    quality = json.loads(outputs(path)[DIRECTORY / "quality_metrics.json"])
    share = panel(quality, "Scores at or under 0.85 (time range)")
    assert "nearest under 0.87" in share["description"]
    assert 'le=~"0\\\\.85"' in share["targets"][0]["expr"]


def test_cli_renders_into_another_folder_and_reports_a_bad_thresholds_file(tmp_path):
    out = tmp_path / "dashboards"
    result = subprocess.run(
        [sys.executable, "-m", "tools.grafana.dashboards", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(CONTRACT)
    assert (out / "cost_tracking.json").read_text() == (REPO / relpath("cost_tracking")).read_text()

    bad = tmp_path / "thresholds.yml"
    bad.write_text(DEFAULT_PATH.read_text().replace("usd_per_hour: 10", "usd_per_hour: ten"))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.grafana.dashboards",
            "--thresholds",
            str(bad),
            "--out",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "cost_budget_warning.usd_per_hour: expected a number" in result.stderr


def test_alert_names_in_panel_descriptions_exist_in_the_rendered_rules():
    alerts_file = REPO / "monitoring/prometheus/alerts.yml"
    if not alerts_file.exists():
        pytest.skip("monitoring/prometheus/alerts.yml is not rendered yet")
    rules = yaml.safe_load(alerts_file.read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    loki = yaml.safe_load((REPO / "monitoring/loki/rules/fake/narra_forge.yml").read_text())
    alerts |= {r["alert"] for g in loki["groups"] for r in g["rules"]}  # Loki's ruler
    cited = set()
    for board in committed().values():
        for p in panels_with_targets(board):
            cited |= set(
                re.findall(
                    r"\b[A-Z][A-Za-z]+(?:High|Low|Warning|Down|Stuck|Storm|"
                    r"Limited|Risk)\b",
                    p["description"] + p["title"],
                )
            )
    assert cited, "descriptions name the alerts that watch the same numbers"
    assert cited <= alerts, f"panels cite alerts that do not exist: {sorted(cited - alerts)}"


def test_alert_dashboard_links_point_at_these_dashboards():
    alerts_file = REPO / "monitoring/prometheus/alerts.yml"
    if not alerts_file.exists():
        pytest.skip("monitoring/prometheus/alerts.yml is not rendered yet")
    uids = {board["uid"] for board in committed().values()}
    rules = yaml.safe_load(alerts_file.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            url = rule.get("annotations", {}).get("dashboard_url")
            if url:
                assert url.rsplit("/d/", 1)[1].split("?")[0] in uids, (rule["alert"], url)


def test_dashboard_files_are_what_the_provider_loads():
    provider = yaml.safe_load(
        (REPO / "monitoring/grafana/provisioning/dashboards/dashboards.yml").read_text()
    )
    assert Path(provider["providers"][0]["options"]["path"]) == Path("/var/lib/grafana/dashboards")
    assert sorted(p.name for p in (REPO / DIRECTORY).glob("*.json")) == sorted(CONTRACT)


def test_panels_of_events_that_may_never_happen_say_what_no_data_means():
    # Labelled counters appear with their first event: in a healthy system there is no
    # failed-pipeline, error, retry or unpriced-token series, and "No data" would read as broken.
    rare = re.compile(
        r'errors|retry_attempts|unpriced_tokens|status="failed"|rate_limited|failures'
    )
    for file, board in committed().items():
        for p in panels_with_targets(board):
            if any(rare.search(t["expr"]) for t in p["targets"]):
                assert p["fieldConfig"]["defaults"].get("noValue"), (file, p["title"])


def test_the_documentation_lists_every_panel_with_its_description_and_threshold():
    page = dashboard_docs.outputs()[dashboard_docs.PATH]
    for board in committed().values():
        assert f"### {board['title']}" in page
        for p in panels_with_targets(board):
            assert f"- **{p['title']}** (" in page, p["title"]
            assert p["description"] in page, p["title"]
    assert "- **Cost per hour** (timeseries, US dollars; red over $10.00)." in page
    assert "- **Success rate** (stat, percent; red under 90%)." in page
