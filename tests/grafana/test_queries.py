"""Panel queries as Grafana sends them, and recording rules spelled out.

The last tests run every panel query that reads a recording rule, and its expansion, through
promtool's PromQL engine on the same synthetic series, and require equal results (within 2% for
the time-range totals read from rollups, which count a span ending at their last record).
"""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

import promql_parser as pp
import pytest
import yaml

from narra_forge.monitoring.catalogue import METRICS
from tests.grafana.helpers import DASHBOARD_FILES, load
from tools._repo import BinaryNotFoundError, find_command
from tools.config import DASHBOARDS, JOB
from tools.grafana.dashboards import PanelQuery, expand_recording_rules, panel_queries
from tools.grafana.queries import prometheus_duration
from tools.prometheus.promql_check import analyse, catalogue_series, prometheus_series
from tools.prometheus.recording import ROLLUP_INTERVAL, reads_rollup, recording_rules, rollups
from tools.prometheus.slos import load_slos, slo_records
from tools.prometheus.thresholds import load_thresholds

RULES = recording_rules(load_thresholds())
RECORDS = {rule.record for rule in RULES}
ROLLUPS = rollups()
#: The SLOs dashboard reads Sloth's record names by contract (Sloth's own dashboards read the
#: same), and its windows are sums over 5-minute records: there is no raw query to expand into.
SLO_BOARD = DASHBOARDS["slo"].uid
SLO_RECORDS = slo_records(load_slos())


def all_queries(**kwargs) -> list[PanelQuery]:
    return [q for path in DASHBOARD_FILES for q in panel_queries(path, **kwargs)]


def test_every_target_becomes_one_query_without_grafana_syntax():
    # Every PromQL target; the Logs dashboard's LogQL is checked in tests/grafana/test_lint.py.
    queries = all_queries()
    prometheus = [
        (path, t)
        for path in DASHBOARD_FILES
        for p in load(path.stem)["panels"]
        for t in p.get("targets") or []
        if t["datasource"]["type"] == "prometheus"
    ]
    assert len(queries) == len(prometheus)
    for query in queries:
        assert "$" not in query.expr, query
        assert "[[" not in query.expr, query
        pp.parse(query.expr)
    assert {q.dashboard for q in queries} == {load(p.stem)["uid"] for p, _ in prometheus}


def test_defaults_select_all_values_and_the_macros_follow_the_arguments():
    queries = {(q.panel_title, q.ref_id): q for q in panel_queries(load("cost_tracking"))}
    by_model = queries[("Cost by model (time range)", "A")]
    assert by_model.instant
    assert by_model.format == "time_series"
    assert by_model.expr == (
        "sort_desc(sum by (model) (sum_over_time(model_agent_id:narra_forge_cost_usd:"
        'increase5m_rollup{model=~".*", agent_id=~".*"}[1h])))'
    )
    wide = {
        (q.panel_title, q.ref_id): q
        for q in panel_queries(load("cost_tracking"), rate_interval="2m", range_="7d")
    }
    assert wide[("Spend in the time range", "A")].expr == (
        "sum(sum_over_time(model_agent_id:narra_forge_cost_usd:increase5m_rollup[7d]))"
    )
    # The daily bars set a 1d minimum interval: $__interval is a day whatever the zoom.
    assert wide[("Daily spend", "A")].expr == (
        "sum(sum_over_time(model_agent_id:narra_forge_cost_usd:increase5m_rollup[1d]))"
    )
    unpriced = wide[("Tokens without a price", "A")].expr
    assert unpriced.endswith("[2m]))")


def test_a_panel_min_interval_widens_the_rate_interval_like_grafana():
    queries = {q.panel_title: q for q in panel_queries(load("quality_metrics"))}
    # 5m minimum step + one 15s scrape: Grafana's $__rate_interval rule.
    assert "[5m15s]" in queries["Average coherence by production type"].expr
    assert prometheus_duration(315) == "5m15s"
    assert prometheus_duration(0.5) == "500ms"


def test_chosen_values_are_escaped_and_joined_like_grafana():
    queries = panel_queries(
        load("pipeline_overview"),
        variables={"production_type": ["novel", "short_story"], "genre": "sci-fi.noir"},
    )
    by_genre = next(q for q in queries if q.panel_title == "Failed pipelines per minute by genre")
    assert 'production_type=~"(novel|short_story)"' in by_genre.expr
    assert 'genre=~"sci-fi\\\\.noir"' in by_genre.expr  # a regex metacharacter made literal
    pp.parse(by_genre.expr)


def test_a_bad_variable_is_a_clear_error():
    board = load("api_metrics")
    board["panels"][1]["targets"][0]["expr"] = 'sum(rate(x{team="$team"}[5m]))'
    with pytest.raises(ValueError, match=r"\$team is not a template variable"):
        panel_queries(board)
    board = load("api_metrics")
    board["panels"][1]["targets"][0]["expr"] = 'x{a="$datasource"}'
    with pytest.raises(ValueError, match='variable "datasource" has no "All" option'):
        panel_queries(board, variables={"datasource": "$__all"})


def test_expansion_spells_out_the_rule_and_pushes_matchers_down():
    assert expand_recording_rules(":narra_forge_cost_usd:increase1h * 24", RULES) == (
        "(sum(increase(narra_forge_cost_usd_total[1h]))) * 24"
    )
    assert expand_recording_rules(
        'model:narra_forge_api_call_duration_seconds:p95_5m{model=~"gpt.*"}', RULES
    ) == (
        "(histogram_quantile(0.95, sum by (le, model) "
        '(rate(narra_forge_api_call_duration_seconds_bucket{model=~"gpt.*"}[5m]))))'
    )
    assert expand_recording_rules("sum(rate(narra_forge_api_calls_total[5m]))", RULES) == (
        "sum(rate(narra_forge_api_calls_total[5m]))"
    )


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("max_over_time(:narra_forge_cost_usd:increase1h[1h])", "a range or offset"),
        (":narra_forge_cost_usd:increase1h offset 1h", "a range or offset"),
        (':narra_forge_cost_usd:increase1h{model="gpt-4o"}', 'label "model" is not on the rule'),
    ],
)
def test_what_cannot_be_expanded_exactly_is_refused(expr, message):
    with pytest.raises(ValueError, match=message):
        expand_recording_rules(expr, RULES)


def test_every_expanded_panel_query_reads_only_catalogue_metrics():
    # And `up`, which Prometheus writes for every target (By instance: scrape health).
    raw_only = {**catalogue_series(), **prometheus_series()}
    queries = [q for q in all_queries() if q.dashboard != SLO_BOARD]
    expanded = [expand_recording_rules(q.expr, RULES) for q in queries]
    assert sum(q.expr != e for q, e in zip(queries, expanded, strict=True)) >= 20
    for query, expr in zip(queries, expanded, strict=True):
        result = analyse(expr, raw_only)
        findings = [str(f) for f in result.findings]
        if query.exemplars_only:  # raw buckets on purpose, at the epoch: no line drawn
            findings = [f for f in findings if "is read raw" not in f]
        assert findings == [], (expr, findings)
        assert not result.selected & RECORDS


# The same numbers from the rule and from its expansion, computed by Prometheus's engine ------

SAMPLE_VALUES = {
    "genre": ("fantasy", "horror"),
    "model": ("gpt-4o", "gpt-4o-mini"),
    "reason": ("rate_limit", "timeout"),
    "metric": ("narra_forge_tokens_used_total",),
    "version": ("0.1.0",),
}
STEPS = 480  # 2 hours of 15-second samples


def _cumulative(increments: list[float]) -> str:
    """promtool's values: the running total of the increments, one sample per step."""
    return " ".join(f"{value:g}" for value in itertools.accumulate([0.0, *increments]))


def input_series() -> list[dict[str, str]]:
    """Every catalogue series for two values of each label.

    Rates change from step to step (and histograms shift between buckets), so a query that
    used the wrong window or dropped a matcher gives a different number than the rule.
    """
    series = []
    for metric in METRICS:
        choices = [
            SAMPLE_VALUES.get(label) or (metric.domains[label].values or ("x",))[:2]
            for label in metric.labels
        ]
        for speed, values in enumerate(itertools.product(*choices), start=1):
            labels = ",".join(f'{k}="{v}"' for k, v in zip(metric.labels, values, strict=True))
            name = f"{metric.name}{{{labels}}}"
            pace = [speed * (1 + t % 7) for t in range(STEPS)]
            if metric.type == "counter":
                series.append({"series": name, "values": _cumulative(pace)})
            elif metric.type == "gauge":
                series.append({"series": name, "values": f"{speed}+0x{STEPS}"})
            else:
                bounds = [*metric.buckets, float("inf")]
                for index, bound in enumerate(bounds):
                    le = "+Inf" if bound == float("inf") else f"{bound:g}"
                    shares = [
                        10 * p * min(len(bounds), index + 1 + t % 3) // len(bounds)
                        for t, p in enumerate(pace)
                    ]
                    sep = "," if labels else ""
                    series.append(
                        {
                            "series": f'{metric.name}_bucket{{{labels}{sep}le="{le}"}}',
                            "values": _cumulative(shares),
                        }
                    )
                middle = metric.buckets[len(metric.buckets) // 2]
                counts = [10.0 * p for p in pace]
                sums = [c * middle * (1 + t % 2) for t, c in enumerate(counts)]
                series.append(
                    {"series": f"{metric.name}_count{{{labels}}}", "values": _cumulative(counts)}
                )
                series.append(
                    {"series": f"{metric.name}_sum{{{labels}}}", "values": _cumulative(sums)}
                )
    # What Prometheus writes for the scraped app (the By instance row reads it).
    series.append(
        {"series": f'up{{job="{JOB}", instance="127.0.0.1:8000"}}', "values": f"1+0x{STEPS}"}
    )
    return series


def promtool() -> str:
    try:
        return find_command("promtool")[0]
    except BinaryNotFoundError as error:
        pytest.fail(str(error), pytrace=False)


ONE = [{"labels": "{}", "value": 1}]
ZERO = [{"labels": "{}", "value": 0}]
#: Default "All" selections, then one value each: a matcher lost somewhere shows.
CHOSEN = {
    "production_type": "short_story",
    "genre": "fantasy",
    "agent_id": "a01_brief_interpreter",
    "model": "gpt-4o",
    "metric_type": "coherence",
    "sloth_slo": "pipeline-success",
}


def run_in_promtool(
    tmp_path: Path, cases: list[dict[str, object]], evaluation_interval: str = "15s"
) -> None:
    """Evaluate expression tests on the synthetic series, with the recording rules loaded.

    promtool evaluates every group at every ``evaluation_interval``, whatever the group's own
    interval: the rollups add up to totals only in a run every 5 minutes.
    """
    binary = promtool()
    rules = [{"record": r.record, "expr": r.expr} for r in RULES]
    rollup = [{"record": r.record, "expr": r.expr} for r in ROLLUPS]
    # The SLO records with their sloth_* labels, as slo_rules.yml records them.
    slo = [{"record": r.record, "expr": r.expr, "labels": dict(r.labels)} for r in SLO_RECORDS]
    groups = {
        "groups": [
            {"name": "recording", "interval": "15s", "rules": rules},
            {"name": "rollups", "interval": ROLLUP_INTERVAL, "rules": rollup},
            {"name": "slo", "interval": "15s", "rules": slo},
        ]
    }
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(groups, sort_keys=False))
    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": evaluation_interval,
        "tests": [{"interval": "15s", "input_series": input_series(), "promql_expr_test": cases}],
    }
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test, sort_keys=False))
    result = subprocess.run(
        [binary, "test", "rules", "test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]


def test_every_panel_query_runs_in_prometheus_and_returns_data(tmp_path: Path):
    # Prometheus 2.42's engine accepts every query, and each one finds series shaped like the
    # app's: a label or metric name that drifted from the catalogue would return nothing.
    queries = [*all_queries(), *all_queries(variables=CHOSEN)]
    cases = [
        {"expr": f"count({query.expr}) > bool 0", "eval_time": "100m", "exp_samples": ONE}
        for query in queries
    ]
    run_in_promtool(tmp_path, cases)


def test_each_panel_query_and_its_expansion_give_the_same_numbers_in_prometheus(tmp_path: Path):
    cases = []
    for query in [*all_queries(), *all_queries(variables=CHOSEN)]:
        expanded = expand_recording_rules(query.expr, RULES)
        if expanded == query.expr or reads_rollup(query.expr):
            continue
        q, e = query.expr, expanded
        for expr, expected in (
            (f"count({q}) - count(({q}) - ({e}))", ZERO),  # every series has its twin
            (f"count(abs(({q}) - ({e})) > 1e-9) or vector(0)", ZERO),  # with the same value
            (f"(count(({q}) != ({q})) or vector(0)) - (count(({e}) != ({e})) or vector(0))", ZERO),
        ):
            cases.append({"expr": expr, "eval_time": "100m", "exp_samples": expected})
    assert len(cases) >= 120
    run_in_promtool(tmp_path, cases)


def test_each_time_range_total_from_rollups_matches_the_counters_increase(tmp_path: Path):
    # One second past a record: Prometheus 2.x ranges include both ends, so a range ending
    # exactly on a record would hold one record more than it spans (3.x leaves the start out).
    # Then both count the same hour, the rollups up to the last record 1 s before its end: 2%
    # is far under what a wrong window (records overlapping: x20), a dropped matcher or a lost
    # label set would change.
    cases = []
    for query in [*all_queries(), *all_queries(variables=CHOSEN)]:
        if not reads_rollup(query.expr):
            continue
        q, e = query.expr, expand_recording_rules(query.expr, RULES)
        for expr in (
            f"count({q}) - count(({q}) - ({e}))",
            f"count(abs(({q}) - ({e})) > 0.02 * abs({e})) or vector(0)",
        ):
            cases.append({"expr": expr, "eval_time": "100m1s", "exp_samples": ZERO})
    assert len(cases) >= 2 * 20
    run_in_promtool(tmp_path, cases, evaluation_interval=ROLLUP_INTERVAL)


def test_queries_that_may_be_empty_when_healthy_are_marked():
    queries = {(q.panel_title, q.ref_id): q for q in panel_queries(load("pipeline_overview"))}
    assert queries[("Failures by genre (time range)", "A")].may_be_empty
    assert not queries[("Pipelines per minute", "A")].may_be_empty
