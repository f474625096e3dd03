"""The dashboard lint: the committed dashboards are clean, and every check catches its defect.

Each broken case starts from a committed dashboard, breaks one thing the way a hand edit or a
rename would, and asserts the finding names the file, the panel and what is wrong.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from tests.grafana.helpers import DASHBOARD_FILES, committed, load, panel, relpath
from tools._repo import REPO
from tools.grafana.lint import (
    Context,
    default_context,
    lint_dashboard,
    lint_set,
    scrape_interval,
)
from tools.prometheus.promql_check import catalogue_series, with_recording_rules
from tools.prometheus.recording import recording_rules
from tools.prometheus.thresholds import load_thresholds

Board = dict[str, Any]


def findings_of(name: str, board: Board, context: Context | None = None) -> list[str]:
    return [str(f) for f in lint_dashboard(relpath(name), board, context)]


def test_the_seven_committed_dashboards_have_no_findings():
    assert len(DASHBOARD_FILES) == 7
    for file, board in committed().items():
        assert findings_of(file.rsplit("/", 1)[1].removesuffix(".json"), board) == [], file
    assert lint_set(committed()) == []


def target(board: Board, title: str, index: int = 0) -> dict[str, Any]:
    return panel(board, title)["targets"][index]


def set_expr(title: str, expr: str, index: int = 0) -> Callable[[Board], None]:
    def mutate(board: Board) -> None:
        target(board, title, index)["expr"] = expr

    return mutate


def replace_in_expr(title: str, old: str, new: str, index: int = 0) -> Callable[[Board], None]:
    def mutate(board: Board) -> None:
        query = target(board, title, index)
        assert old in query["expr"], query["expr"]
        query["expr"] = query["expr"].replace(old, new)

    return mutate


def set_key(title: str, path: str, value: object) -> Callable[[Board], None]:
    """Set ``a.b.c`` inside a panel (``value`` ``...`` deletes the key)."""

    def mutate(board: Board) -> None:
        node: Any = panel(board, title)
        *parents, last = path.split(".")
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if value is ...:
            del node[last]
        else:
            node[last] = value

    return mutate


def set_top(key: str, value: object) -> Callable[[Board], None]:
    def mutate(board: Board) -> None:
        board[key] = value

    return mutate


def variable(board: Board, name: str) -> dict[str, Any]:
    return next(v for v in board["templating"]["list"] if v["name"] == name)


def set_variable(name: str, key: str, value: object) -> Callable[[Board], None]:
    def mutate(board: Board) -> None:
        variable(board, name)[key] = value

    return mutate


def overlap(board: Board) -> None:
    panel(board, "Success rate")["gridPos"]["x"] = 3  # onto "Pipelines per minute" (x 0..5)


def duplicate_id(board: Board) -> None:
    panel(board, "Success rate")["id"] = panel(board, "Active jobs")["id"]


def drop_datasource_variable(board: Board) -> None:
    board["templating"]["list"] = [
        v for v in board["templating"]["list"] if v["name"] != "datasource"
    ]


COST, PIPELINE, AGENT, API, QUALITY = (
    "cost_tracking",
    "pipeline_overview",
    "agent_performance",
    "api_metrics",
    "quality_metrics",
)
# (dashboard, mutation, the finding expected, without the file name)
BROKEN = [
    # Metrics and labels, checked against the catalogue and the recording rules
    (
        COST,
        replace_in_expr("Cost by agent (time range)", "agent_id=~", "agent=~"),
        'panel "Cost by agent (time range)": metric '
        'model_agent_id:narra_forge_cost_usd:increase5m_rollup has no label "agent"; labels: '
        "agent_id, model",
    ),
    (
        COST,
        replace_in_expr("Cost by model (time range)", "cost_usd:increase5m_rollup", "cost_usd"),
        'panel "Cost by model (time range)": metric model_agent_id:narra_forge_cost_usd is '
        "neither in the catalogue nor a recording rule",
    ),
    (
        COST,
        set_expr("Spend in the last hour", ':narra_forge_cost_usd:increase1h{model="gpt-4o"}'),
        'panel "Spend in the last hour": metric :narra_forge_cost_usd:increase1h has no label '
        '"model"',
    ),
    (
        COST,
        set_expr("Spend in the time range", "sum(narra_forge_cost_usd_total)"),
        'panel "Spend in the time range": counter narra_forge_cost_usd_total is read raw',
    ),
    # Time-range totals: only rollups add up; a rule recorded every 15 s counts each moment
    # many times, and a rollup read as it is shows 5 minutes, not the range.
    (
        COST,
        set_expr(
            "Spend in the time range",
            "sum(sum_over_time(:narra_forge_cost_usd:increase1h[$__range]))",
        ),
        'panel "Spend in the time range": query A: sum_over_time over '
        ":narra_forge_cost_usd:increase1h adds up records whose windows overlap",
    ),
    (
        COST,
        set_expr(
            "Spend in the time range", "sum(model_agent_id:narra_forge_cost_usd:increase5m_rollup)"
        ),
        'panel "Spend in the time range": query A: model_agent_id:narra_forge_cost_usd:'
        "increase5m_rollup: a rollup is read only as sum_over_time(",
    ),
    (
        API,
        set_expr(
            "P95 API latency by model",
            "histogram_quantile(0.95, sum by (model) "
            "(rate(narra_forge_api_call_duration_seconds_bucket[$__rate_interval])))",
        ),
        'panel "P95 API latency by model": histogram_quantile: label "le" is not on the '
        "expression beneath",
    ),
    (
        API,
        set_expr("API calls per second", "sum(rate(narra_forge_api_calls_total[$__rate_interval])"),
        'panel "API calls per second": does not parse as PromQL',
    ),
    (
        AGENT,
        set_expr(
            "Agent errors per second by type",
            "sum by (error_type) (rate(narra_forge_agent_errors_total[$__rate_interval]))"
            " / on (model) sum(rate(narra_forge_agent_errors_total[$__rate_interval]))",
        ),
        'panel "Agent errors per second by type": on (left side): label "model" is not on the '
        "expression beneath",
    ),
    # Windows and macros
    (
        COST,
        replace_in_expr("Tokens without a price", "[$__rate_interval]", "[5m]"),
        'panel "Tokens without a price": query A: range [5m] is fixed; use [$__rate_interval]',
    ),
    (
        COST,
        replace_in_expr("Tokens without a price", "[$__rate_interval]", "[$__interval]"),
        'panel "Tokens without a price": query A: [$__interval] needs a panel min '
        "interval of at least 1m",
    ),
    (
        COST,
        replace_in_expr("Tokens without a price", "[$__rate_interval]", "[$__rate_intervals]"),
        'panel "Tokens without a price": unknown Grafana macro ${__rate_intervals}',
    ),
    # Template variables
    (
        API,
        replace_in_expr("API calls per second", '"$model"', '"$team"'),
        'panel "API calls per second": $team is not a template variable of this dashboard',
    ),
    (
        API,
        replace_in_expr("API calls per second", 'model=~"$model"', 'model="$model"'),
        'panel "API calls per second": query A: variable $model can hold several values '
        '(multi-value or All) but is used in model="..."; use model=~"$model"',
    ),
    (
        API,
        set_expr("API calls per second", "topk($model, rate(narra_forge_api_calls_total[5m]))"),
        'panel "API calls per second": query A: multi-value variable $model is used outside a '
        "label matcher",
    ),
    (
        PIPELINE,
        drop_datasource_variable,
        'template variable "datasource" of type datasource with query "prometheus" is missing',
    ),
    (
        COST,
        set_variable("model", "refresh", 1),
        'variable "model": refresh must be 2 (on time range change), got 1',
    ),
    (
        COST,
        set_variable("model", "query", "label_values(narra_forge_cost_usd_total, modell)"),
        'variable "model": metric narra_forge_cost_usd_total has no label "modell"',
    ),
    (
        COST,
        set_variable("model", "query", "label_values(narra_forge_spend_total, model)"),
        'variable "model": metric narra_forge_spend_total is neither in the catalogue',
    ),
    (
        COST,
        set_variable("model", "query", "label_values(model)"),
        'variable "model": query must be label_values(<metric>, <label>), got \'label_values',
    ),
    (
        COST,
        set_variable("model", "datasource", {"type": "prometheus", "uid": "P1809F7CD0C75ACF3"}),
        'variable "model": datasource must be {"type": "prometheus", "uid": "${datasource}"}',
    ),
    # Units fit the quantity
    (
        PIPELINE,
        set_key("Slowest P95 duration", "fieldConfig.defaults.unit", "ms"),
        'panel "Slowest P95 duration": unit "ms" does not fit a duration in seconds (query A); '
        'use "s"',
    ),
    (
        PIPELINE,
        set_key("Success rate", "fieldConfig.defaults.unit", "short"),
        'panel "Success rate": unit "short" does not fit a ratio between 0 and 1 (query A); use '
        '"percentunit"',
    ),
    (
        COST,
        set_key("Cost per narrative (average)", "fieldConfig.defaults.unit", "short"),
        'panel "Cost per narrative (average)": unit "short" does not fit an amount in US dollars',
    ),
    (
        API,
        set_key("API calls per second", "fieldConfig.defaults.unit", "short"),
        'panel "API calls per second": unit "short" does not fit a rate of events (query A)',
    ),
    (
        COST,
        set_key("Cost per hour", "fieldConfig.defaults.unit", ...),
        'panel "Cost per hour": no unit (fieldConfig.defaults.unit)',
    ),
    # Panels
    (
        COST,
        set_key("Cost per hour", "description", ""),
        'panel "Cost per hour": no description: say what the number means',
    ),
    (COST, set_key("Cost per hour", "title", " "), 'panel " ": the panel has no title'),
    (
        COST,
        set_key("Cost per hour", "type", "graph"),
        'panel "Cost per hour": type "graph" is not a modern panel',
    ),
    (
        PIPELINE,
        duplicate_id,
        'panel "Active jobs": id 4 is also the id of panel "Success rate"',
    ),
    (PIPELINE, overlap, 'panel "Success rate": overlaps panel "Pipelines per minute" on the grid'),
    (
        PIPELINE,
        set_key("Active jobs", "gridPos.x", 20),
        'panel "Active jobs": gridPos x=20 w=6 does not fit the 24 columns',
    ),
    (
        COST,
        set_key(
            "Cost per hour", "datasource", {"type": "prometheus", "uid": "narra-forge-prometheus"}
        ),
        'panel "Cost per hour": datasource must be {"type": "prometheus", "uid": "${datasource}"}',
    ),
    (
        COST,
        set_key("Cost per hour", "targets.0.datasource", {"uid": "${DS_PROMETHEUS}"}),
        'panel "Cost per hour": query A: datasource must be',
    ),
    (
        COST,
        set_key("Cost per hour", "targets.0.datasource", {"uid": "${DS_PROMETHEUS}"}),
        "a ${DS_...} datasource placeholder is left; use ${datasource}",
    ),
    (
        API,
        set_key("API error rate by model", "targets.1.refId", "A"),
        'panel "API error rate by model": refId A is used twice',
    ),
    (
        API,
        set_key("API error rate by model", "title", "API error rate"),
        'panel "API error rate": another panel of this dashboard has the same title',
    ),
    (
        COST,
        set_key("Cost per hour", "targets.0.expr", ""),
        'panel "Cost per hour": query A has no expr',
    ),
    # Heatmaps
    (
        AGENT,
        set_key("Agent execution time", "options.calculate", True),
        'panel "Agent execution time": heatmap must set options.calculate to false',
    ),
    (
        AGENT,
        set_key("Agent execution time", "targets.0.format", "time_series"),
        'panel "Agent execution time": query A: a heatmap query needs format "heatmap"',
    ),
    (
        AGENT,
        set_expr(
            "Agent execution time",
            "sum by (le) (increase(narra_forge_agent_duration_seconds_bucket[5m]))",
        ),
        'panel "Agent execution time": query A: a latency heatmap query has the shape sum by '
        "(le) (increase(<histogram>_bucket[$__rate_interval]))",
    ),
    (
        AGENT,
        # A recording rule is fine in a heatmap only when it records bucket counts or rates.
        set_expr(
            "Agent execution time", "sum by (le) (error_type:narra_forge_agent_errors:rate5m)"
        ),
        'panel "Agent execution time": query A: a latency heatmap query has the shape sum by '
        "(le) (increase(<histogram>_bucket[$__rate_interval])), or sum by (le) (<recording rule "
        "of bucket counts>)",
    ),
    (
        AGENT,
        set_key("Agent execution time", "options.yAxis.unit", "ms"),
        'panel "Agent execution time": options.yAxis.unit "ms" does not fit the buckets of '
        'le:narra_forge_agent_duration_seconds_bucket:increase5m, a duration in seconds; use "s"',
    ),
    (
        QUALITY,
        replace_in_expr("Score distribution (time range)", "sum by (le)", "sum"),
        'panel "Score distribution (time range)": query A: format "heatmap" needs the bucket '
        "label le in the result",
    ),
    # The exemplars-only target: raw buckets are allowed there, and only there
    (
        PIPELINE,
        set_key("Pipeline duration P50 / P95 / P99", "targets.3.exemplar", False),
        'panel "Pipeline duration P50 / P95 / P99": counter '
        "narra_forge_pipeline_duration_seconds_bucket is read raw",
    ),
    (
        API,
        replace_in_expr("P95 API latency by model", "_bucket{", "_buckets{", index=1),
        'panel "P95 API latency by model": metric narra_forge_api_call_duration_seconds_buckets '
        "is neither in the catalogue nor a recording rule",
    ),
    # Dashboard level
    (COST, set_top("id", 7), "id must be null so the file imports anywhere, got 7"),
    (
        COST,
        set_top("uid", "Narra-Forge-Cost"),
        "uid must be fixed, lowercase, at most 40 of [a-z0-9-]; got 'Narra-Forge-Cost'",
    ),
    (
        COST,
        set_top("uid", "narra-forge-costs"),
        'uid "narra-forge-costs" does not match the file name; expected '
        '"narra-forge-cost-tracking"',
    ),
    (COST, set_top("schemaVersion", 36), "schemaVersion is 36; every dashboard uses 39"),
    (COST, set_top("tags", ["cost"]), 'tag "narra-forge" is missing'),
    (COST, set_top("links", []), 'no dashboard link with tag "narra-forge"'),
    (COST, set_top("__inputs", []), "__inputs is an export for one datasource"),
]


@pytest.mark.parametrize(
    ("name", "mutate", "expected"),
    BROKEN,
    ids=[f"{name}:{expected[:60]}" for name, _, expected in BROKEN],
)
def test_each_check_names_the_file_panel_and_problem(name, mutate, expected):
    board = load(name)
    assert findings_of(name, board) == [], "the starting point must be clean"
    mutate(board)
    found = findings_of(name, board)
    assert any(f"{relpath(name)}: {expected}" in message for message in found), found


def test_duplicate_uids_and_titles_across_files_are_named():
    boards = committed()
    boards[relpath(API)]["uid"] = boards[relpath(COST)]["uid"]
    boards[relpath(API)]["title"] = boards[relpath(COST)]["title"]
    found = [str(f) for f in lint_set(boards)]
    assert (
        f'{relpath(COST)}: uid "narra-forge-cost-tracking" is also the uid of {relpath(API)}'
        in found
        or f'{relpath(API)}: uid "narra-forge-cost-tracking" is also the uid of {relpath(COST)}'
        in found
    ), found
    assert any('title "NARRA_FORGE Cost Tracking" is also the title of' in f for f in found), found


def test_a_metric_renamed_in_the_catalogue_fails_naming_file_panel_and_metric():
    # The catalogue as it would be after renaming a counter there and nowhere else.
    series = catalogue_series()
    series["narra_forge_unpriced_usd_total"] = series.pop("narra_forge_unpriced_tokens_total")
    rules = [(rule.record, rule.expr) for rule in recording_rules(load_thresholds())]
    renamed, _ = with_recording_rules(series, rules)
    context = Context(renamed, default_context().quantities, default_context().scrape_seconds)
    found = findings_of(COST, load(COST), context)
    assert (
        f'{relpath(COST)}: panel "Tokens without a price": metric '
        "narra_forge_unpriced_tokens_total is neither in the catalogue nor a recording rule"
    ) in found


def test_the_scrape_interval_comes_from_the_provisioned_datasource(tmp_path):
    assert scrape_interval() == 15
    other = tmp_path / "datasources.yml"
    other.write_text(
        "apiVersion: 1\ndatasources:\n  - name: P\n    type: prometheus\n"
        "    jsonData: {timeInterval: 30s}\n"
    )
    assert scrape_interval(other) == 30
    # With 30s scrapes a window must hold 2 minutes: the same dashboard's 1m windows would not.
    context = Context(default_context().series, default_context().quantities, 30)
    board = load(COST)
    set_key("Tokens without a price", "interval", "1m")(board)
    replace_in_expr("Tokens without a price", "[$__rate_interval]", "[$__interval]")(board)
    found = findings_of(COST, board, context)
    assert any("[$__interval] needs a panel min interval of at least 2m" in f for f in found)


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.grafana.lint", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_cli_exit_status_and_output(tmp_path):
    clean = run_cli("--no-schemas")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert f"{len(DASHBOARD_FILES)} dashboards" in clean.stderr
    assert "no findings" in clean.stderr

    board = load(COST)
    replace_in_expr("Cost by agent (time range)", "agent_id=~", "agent=~")(board)
    broken = tmp_path / "cost_tracking.json"
    broken.write_text(json.dumps(board))
    result = run_cli("--no-schemas", str(broken))
    assert result.returncode == 1
    assert (
        f'{broken}: panel "Cost by agent (time range)": metric '
        'model_agent_id:narra_forge_cost_usd:increase5m_rollup has no label "agent"'
    ) in result.stdout

    not_json = tmp_path / "pipeline_overview.json"
    not_json.write_text("{")
    result = run_cli("--no-schemas", str(not_json))
    assert result.returncode == 1
    assert f"{not_json}: cannot read the dashboard" in result.stdout


# The Logs dashboard: LogQL targets go to Grafana's LogQL grammar (tools/loki/logql.py) --------


def logs_findings(mutate: Callable[[Board], None]) -> list[str]:
    board = load("logs")
    mutate(board)
    return findings_of("logs", board)


def _variable(name: str, key: str, value: object) -> Callable[[Board], None]:
    def mutate(board: Board) -> None:
        variable = next(v for v in board["templating"]["list"] if v["name"] == name)
        variable[key] = value

    return mutate


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            replace_in_expr("Log lines by level", "[$__auto]))", "[$__auto])"),
            'panel "Log lines by level": query A: LogQL does not parse at 1:',
        ),
        (
            replace_in_expr("pipeline_failed events", "| json |", "| jsn |"),
            'panel "pipeline_failed events": query A: LogQL does not parse at 1:',
        ),
        (
            replace_in_expr("Error lines by agent", "[$__auto]", ""),
            'panel "Error lines by agent": query A: LogQL does not parse at 1:',
        ),
        (
            replace_in_expr("Error lines by agent", "[$__auto]", "[5m]"),
            'panel "Error lines by agent": query A: range [5m] is fixed; use [$__auto]',
        ),
        (
            replace_in_expr("Log lines (JSON)", 'level=~"$level"', 'job_id="job_1"'),
            'panel "Log lines (JSON)": query A: stream selector uses job_id, which are not Loki '
            "labels (only service, level, agent)",
        ),
        (
            set_expr("Log lines (JSON)", 'count_over_time({service="narra_forge"}[$__auto])'),
            'panel "Log lines (JSON)": query A: LogQL is a MetricExpr; this needs a log query',
        ),
        (
            replace_in_expr("Log lines by level", 'service="narra_forge", ', ""),
            'panel "Log lines by level": query A: no service="narra_forge" in the stream selector',
        ),
        (
            set_key("Log lines by level", "datasource", {"type": "loki", "uid": "loki-uid"}),
            'panel "Log lines by level": datasource must be {"type": "loki", "uid": "${loki}"}',
        ),
        (
            _variable("loki", "query", "prometheus"),
            'template variable "loki" of type datasource with query "loki" is missing',
        ),
        (
            _variable("agent", "query", 'label_values({service="narra_forge"}, job_id)'),
            'variable "agent": "job_id" is not a Loki label here',
        ),
        (
            _variable("agent", "query", 'label_values({service="narra_forge", agent}, agent)'),
            'variable "agent": LogQL does not parse at 1:',
        ),
    ],
)
def test_each_logql_defect_is_named_with_the_panel(mutate, expected):
    findings = logs_findings(mutate)
    assert any(expected in f for f in findings), findings
    assert all(f.startswith("monitoring/grafana/dashboards/logs.json: ") for f in findings)


def test_the_logs_dashboard_needs_no_prometheus_datasource_variable():
    board = load("logs")
    names = [v["name"] for v in board["templating"]["list"]]
    assert "datasource" not in names
    assert findings_of("logs", board) == []


def test_without_the_logql_grammar_the_lint_says_how_to_install_it(monkeypatch, tmp_path, capsys):
    from tools.grafana import lint
    from tools.loki import logql

    monkeypatch.setattr(logql, "PACKAGE", tmp_path / "node_modules" / "lezer-logql" / "x.json")
    assert lint.main([]) == 2
    error = capsys.readouterr().err
    assert "is missing: run `make setup` (npm ci in tools/loki" in error
    assert "Traceback" not in error
