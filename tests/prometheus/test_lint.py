"""The rule lint: each check fed a broken rule names the file, the rule and what is wrong."""

from __future__ import annotations

import copy
import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools.prometheus.lint import (
    REPO,
    TESTS_DIR,
    LintContext,
    Promtool,
    PromtoolNotFoundError,
    lint_rules,
    promtool_test_rules,
    rules_are_current,
    scrape_interval_seconds,
)

RECORD = {
    "record": ":narra_forge_api_errors:ratio_rate5m",
    "expr": "sum(rate(narra_forge_api_errors_total[5m]))"
    " / sum(rate(narra_forge_api_calls_total[5m]))",
}
ALERT = {
    "alert": "ApiErrorsHigh",
    "expr": ":narra_forge_api_errors:ratio_rate5m > 0.05",
    "for": "5m",
    "labels": {"severity": "critical", "category": "api"},
    "annotations": {
        "summary": "More than 5% of OpenAI API calls fail",
        "description": "{{ $value | humanizePercentage }} of the calls failed.",
        "runbook_url": "https://example.com/ops/docs/runbooks/ApiErrorsHigh.md",
        "dashboard_url": "http://grafana.example.com/d/narra-forge-api-metrics",
    },
}


def write_rules(tmp_path: Path, groups: list[dict[str, Any]]) -> LintContext:
    rules = tmp_path / "alerts.yml"
    rules.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    runbooks = tmp_path / "runbooks"
    runbooks.mkdir(exist_ok=True)
    (runbooks / "ApiErrorsHigh.md").write_text("# ApiErrorsHigh\n")
    dashboards = tmp_path / "dashboards"
    dashboards.mkdir(exist_ok=True)
    return LintContext(rules, runbooks, dashboards, tests_dir=None, min_range_seconds=60)


def lint_with(
    tmp_path: Path,
    alert: Callable[[dict[str, Any]], None] = lambda a: None,
    extra_records: tuple[dict[str, str], ...] = (),
) -> list[str]:
    changed = copy.deepcopy(ALERT)
    alert(changed)
    ctx = write_rules(
        tmp_path,
        [
            {"name": "rec", "rules": [RECORD, *extra_records]},
            {"name": "narra_forge_api", "rules": [changed]},
        ],
    )
    return lint_rules(ctx)


def set_expr(expr: str) -> Callable[[dict[str, Any]], None]:
    return lambda a: a.update(expr=expr)


def annotate(key: str, value: str | None) -> Callable[[dict[str, Any]], None]:
    def change(a: dict[str, Any]) -> None:
        if value is None:
            del a["annotations"][key]
        else:
            a["annotations"][key] = value

    return change


def label(key: str, value: str | None) -> Callable[[dict[str, Any]], None]:
    def change(a: dict[str, Any]) -> None:
        if value is None:
            del a["labels"][key]
        else:
            a["labels"][key] = value

    return change


def test_a_correct_rule_file_has_no_findings(tmp_path):
    assert lint_with(tmp_path) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            set_expr("sum(rate(narra_forge_api_error_total[5m])) > 0"),
            "alert ApiErrorsHigh: metric narra_forge_api_error_total is neither in the "
            "catalogue nor a recording rule",
        ),
        (
            set_expr('sum(rate(narra_forge_api_calls_total{agent="a01"}[5m])) > 1'),
            'alert ApiErrorsHigh: metric narra_forge_api_calls_total has no label "agent"; '
            "labels: agent_id, model",
        ),
        (
            set_expr("sum by (agent) (rate(narra_forge_cost_usd_total[5m])) > 1"),
            'alert ApiErrorsHigh: sum by: label "agent" is not on the expression beneath',
        ),
        (
            set_expr("sum(narra_forge_api_errors_total) > 100"),
            "alert ApiErrorsHigh: counter narra_forge_api_errors_total is read raw",
        ),
        (
            set_expr(
                "histogram_quantile(0.95, sum by (model) "
                "(rate(narra_forge_api_call_duration_seconds_bucket[5m]))) > 5"
            ),
            'alert ApiErrorsHigh: histogram_quantile: label "le" is not on the expression',
        ),
        (
            set_expr(
                "histogram_quantile(0.95, rate(narra_forge_pipeline_duration_seconds_bucket[5m]))"
                " > 1800"
            ),
            "alert ApiErrorsHigh: histogram_quantile over "
            "narra_forge_pipeline_duration_seconds_bucket is not aggregated",
        ),
        (
            set_expr("sum(rate(narra_forge_api_calls_total[30s])) > 1"),
            "alert ApiErrorsHigh: range [30s] on narra_forge_api_calls_total is shorter than "
            "four scrape intervals (60s)",
        ),
        (
            set_expr("sum(rate(narra_forge_api_calls_total[5m])"),
            "alert ApiErrorsHigh: does not parse as PromQL",
        ),
        (
            annotate("description", "{{ $value }} errors for {{ $labels.model }}"),
            'alert ApiErrorsHigh: annotation description uses label "model", which the '
            "expression does not return (it returns: (none)); it would render empty",
        ),
        (
            lambda a: a.update(
                expr="sum by (agent_id) (rate(narra_forge_agent_errors_total[5m])) > 1",
                annotations={**a["annotations"], "description": "{{ .Labels.model }}"},
            ),
            'annotation description uses label "model", which the expression does not return '
            "(it returns: agent_id)",
        ),
        (
            label("team", "{{ $labels.team }}"),
            'alert ApiErrorsHigh: label team uses label "team", which the expression does not',
        ),
        (
            lambda a: a.update(alert="api_errors_high"),
            "alert api_errors_high: alert names are CamelCase",
        ),
        (label("severity", "page"), "alert ApiErrorsHigh: label severity is 'page'; use one of"),
        (label("category", None), "alert ApiErrorsHigh: label category is None; use one of"),
        (annotate("runbook_url", None), "alert ApiErrorsHigh: annotation runbook_url is missing"),
        (
            annotate("dashboard_url", None),
            "alert ApiErrorsHigh: annotation dashboard_url is missing",
        ),
        (
            annotate("summary", "Error rate is {{ $value }}"),
            "alert ApiErrorsHigh: annotation summary is templated",
        ),
        (
            annotate("runbook_url", "https://example.com/wiki/api-errors"),
            "does not end in docs/runbooks/ApiErrorsHigh.md",
        ),
        (
            annotate("runbook_url", "docs/runbooks/ApiErrorsHigh.md"),
            "runbook_url 'docs/runbooks/ApiErrorsHigh.md' is not an absolute URL",
        ),
        (
            lambda a: a.update(
                alert="ApiErrorsVeryHigh",
                annotations={
                    **a["annotations"],
                    "runbook_url": "https://example.com/docs/runbooks/ApiErrorsVeryHigh.md",
                },
            ),
            "runbooks/ApiErrorsVeryHigh.md does not exist",
        ),
        (
            annotate("dashboard_url", "http://grafana.example.com/d/api-overview"),
            "dashboard_url points to uid 'api-overview', not a NARRA_FORGE dashboard",
        ),
    ],
)
def test_each_alert_check_names_the_rule_and_the_problem(tmp_path, change, expected):
    findings = lint_with(tmp_path, change)
    assert any(expected in finding for finding in findings), findings
    assert all(finding.startswith(str(tmp_path / "alerts.yml") + ": ") for finding in findings)


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (
            {
                "record": "narra_forge_api_calls_rate",
                "expr": "sum(rate(narra_forge_api_calls_total[5m]))",
            },
            "recording rule narra_forge_api_calls_rate: name is not level:metric:operations",
        ),
        (
            {
                "record": "model:narra_forge_api_calls:rate5m",
                "expr": "sum(rate(narra_forge_api_calls_total[5m]))",
            },
            "recording rule model:narra_forge_api_calls:rate5m: level 'model' does not list "
            "the labels the expression keeps: (none)",
        ),
        (
            {
                "record": ":narra_forge_api_calls:rate5m",
                "expr": "sum by (model) (rate(narra_forge_api_calls_total[5m]))",
            },
            "level '' does not list the labels the expression keeps: model",
        ),
        (
            {
                "record": ":narra_forge_api_calls:rate5m",
                "expr": "sum(rate(narra_forge_api_calls_total[5m]))",
            },
            "recording rule :narra_forge_api_calls:rate5m: unused: no alert, no other rule and "
            "no dashboard (none present) reads it",
        ),
        (
            {
                "record": "model:narra_forge_api_calls:rate5m",
                "expr": "sum by (model) (narra_forge_api_calls_total)",
            },
            "recording rule model:narra_forge_api_calls:rate5m: counter "
            "narra_forge_api_calls_total is read raw",
        ),
    ],
)
def test_each_recording_rule_check_names_the_rule(tmp_path, record, expected):
    findings = lint_with(tmp_path, extra_records=(record,))
    assert any(expected in finding for finding in findings), findings


def test_labels_kept_may_be_listed_in_any_order(tmp_path):
    record = {
        "record": "status_production_type:narra_forge_pipeline:rate5m",
        "expr": "sum by (production_type, status) (rate(narra_forge_pipeline_total[5m]))",
    }
    findings = lint_with(tmp_path, extra_records=(record,))
    assert not [f for f in findings if "level" in f], findings


def test_a_recording_rule_read_only_by_a_dashboard_is_used(tmp_path):
    record = {
        "record": "model:narra_forge_api_calls:rate5m",
        "expr": "sum by (model) (rate(narra_forge_api_calls_total[5m]))",
    }
    unused = "recording rule model:narra_forge_api_calls:rate5m: unused"
    assert any(unused in f for f in lint_with(tmp_path, extra_records=(record,)))
    panel = {
        "panels": [{"targets": [{"expr": 'model:narra_forge_api_calls:rate5m{model=~"$model"}'}]}]
    }
    (tmp_path / "dashboards" / "api_metrics.json").write_text(
        json.dumps({"uid": "narra-forge-api-metrics", **panel})
    )
    assert lint_with(tmp_path, extra_records=(record,)) == []


def test_a_dashboard_url_must_name_an_existing_dashboard_when_dashboards_are_present(tmp_path):
    (tmp_path / "dashboards").mkdir()
    (tmp_path / "dashboards" / "pipeline_overview.json").write_text(
        json.dumps({"uid": "narra-forge-pipeline-overview", "panels": []})
    )
    findings = lint_with(tmp_path)
    assert any(
        "dashboard_url points to uid 'narra-forge-api-metrics', but no dashboard under" in f
        for f in findings
    ), findings


def test_group_keys_only_one_prometheus_version_accepts_are_refused(tmp_path):
    ctx = write_rules(
        tmp_path,
        [
            {"name": "rec", "rules": [RECORD]},
            {
                "name": "narra_forge_api",
                "labels": {"team": "ai"},
                "query_offset": "1m",
                "rules": [ALERT],
            },
        ],
    )
    findings = lint_rules(ctx)
    assert any(
        "group narra_forge_api: keys ['labels', 'query_offset'] are not accepted by "
        "Prometheus 2.42" in f
        for f in findings
    ), findings


def test_a_file_that_is_not_a_rule_file_is_named(tmp_path):
    path = tmp_path / "alerts.yml"
    path.write_text("rules: []\n")
    ctx = LintContext(path, tmp_path, tmp_path, None)
    assert lint_rules(ctx) == [f"{path}: expected a mapping with a `groups` list"]


def test_alerts_and_recording_rules_without_promtool_tests_are_named(tmp_path):
    ctx = write_rules(
        tmp_path,
        [{"name": "rec", "rules": [RECORD]}, {"name": "narra_forge_api", "rules": [ALERT]}],
    )
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "other.test.yml").write_text(
        yaml.safe_dump(
            {
                "rule_files": ["../alerts.yml"],
                "tests": [
                    {
                        "input_series": [],
                        "alert_rule_test": [
                            {"eval_time": "5m", "alertname": "ApiErrorsHigh", "exp_alerts": []}
                        ],
                    }
                ],
            }
        )
    )
    ctx.tests_dir = tests
    findings = lint_rules(ctx)
    where = f"{tmp_path / 'alerts.yml'}: "
    expected = [
        f"{tests / 'other.test.yml'}: group_eval_order does not start with the recording rules",
        where + f"group narra_forge_api: no promtool test file {tests / 'api.test.yml'}",
        where + "alert ApiErrorsHigh: no promtool test where it fires",
        where + "recording rule :narra_forge_api_errors:ratio_rate5m: no promql_expr_test",
    ]
    for message in expected:
        assert any(f.startswith(message) for f in findings), (message, findings)
    assert not any("no promtool test where it stays silent" in f for f in findings)


def test_the_repository_rules_pass_the_catalogue_lint():
    assert lint_rules(LintContext(min_range_seconds=4 * scrape_interval_seconds())) == []


GUIDE_RULES = """
groups:
  - name: narra_forge_alerts
    interval: 30s
    rules:
      - alert: PipelineDurationHigh
        expr: >-
          histogram_quantile(0.95, rate(narra_forge_pipeline_duration_seconds_bucket[5m]))
          > 1800
        for: 5m
        labels:
          severity: warning
        annotations:
          summary: "Pipeline duration is very high (P95 > 30min)"
          description: "P95 pipeline duration is {{ $value }}s"
      - alert: CostBudgetWarning
        expr: sum(increase(narra_forge_cost_usd_total[1h])) > 10
        for: 5m
        labels:
          severity: warning
        annotations:
          summary: "Hourly cost exceeded $10"
          description: "Current hourly cost: ${{ $value }}"
"""


def test_the_monitoring_guides_rules_fail_the_lint_for_the_reasons_docs_give(tmp_path):
    path = tmp_path / "alerts.yml"
    path.write_text(GUIDE_RULES)
    findings = lint_rules(LintContext(path, tmp_path / "runbooks", tmp_path, None))
    where = f"{path}: alert PipelineDurationHigh: "
    for message in (
        "histogram_quantile over narra_forge_pipeline_duration_seconds_bucket is not aggregated",
        "label category is None",
        "annotation runbook_url is missing",
        "annotation dashboard_url is missing",
    ):
        assert where + message in [f[: len(where + message)] for f in findings], findings


def test_lint_rules_runs_the_drift_check_on_alerts_yml():
    assert rules_are_current() == []


def test_range_windows_are_checked_against_the_longest_scrape_interval(tmp_path):
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 15s}\n"
        "scrape_configs:\n"
        "  - {job_name: a, static_configs: [{targets: ['x:1']}]}\n"
        "  - {job_name: b, scrape_interval: 30s, static_configs: [{targets: ['y:1']}]}\n"
    )
    assert scrape_interval_seconds(config) == 30
    assert scrape_interval_seconds() == 15


def test_a_failing_promtool_test_is_reported_with_promtools_explanation(tmp_path):
    (tmp_path / "alerts.yml").write_text((REPO / "monitoring/prometheus/alerts.yml").read_text())
    broken = tmp_path / "broken.test.yml"
    broken.write_text(
        yaml.safe_dump(
            {
                "rule_files": ["alerts.yml"],
                "evaluation_interval": "1m",
                "tests": [
                    {
                        "interval": "1m",
                        "input_series": [],
                        "alert_rule_test": [
                            {"eval_time": "1m", "alertname": "Watchdog", "exp_alerts": []}
                        ],
                    }
                ],
            }
        )
    )
    findings = promtool_test_rules(Promtool.find(), [broken])
    assert len(findings) == 1
    assert findings[0].startswith(f"{broken}: promtool test rules failed:")
    assert "alertname: Watchdog" in findings[0]


# ------------------------------------------------------------------------ finding promtool


def test_promtool_from_the_environment_must_exist():
    with pytest.raises(
        PromtoolNotFoundError, match="PROMTOOL='/nonexistent/promtool': /nonexistent"
    ):
        Promtool.find({"PROMTOOL": "/nonexistent/promtool", "PATH": os.environ["PATH"]})


def test_without_promtool_or_container_engine_the_error_says_how_to_get_one(tmp_path):
    # The Makefile exports PROMTOOL=promtool when none is on PATH: treated as unset.
    with pytest.raises(PromtoolNotFoundError, match=r"Install it with `make setup`.*PROMTOOL"):
        Promtool.find({"PROMTOOL": "promtool", "PATH": str(tmp_path)})


def test_promtool_on_path_is_used():
    found = Promtool.find({"PATH": os.environ["PATH"]})
    assert found.argv[0].endswith("promtool")
    assert not found.container


def test_a_container_engine_runs_the_prometheus_image_with_the_repository_mounted(tmp_path):
    # No container engine can run here: this stand-in `docker` answers `info` and runs the
    # real promtool with the arguments that follow the image name, so the command the lint
    # builds is executed end to end.
    real = Promtool.find().argv[0]
    docker = tmp_path / "docker"
    docker.write_text(
        "#!/bin/sh\n"
        '[ "$1" = info ] && exit 0\n'
        'while [ "$#" -gt 0 ]; do\n'
        '  case "$1" in prom/prometheus:*) shift; break;; esac; shift\n'
        "done\n"
        f'exec {real} "$@"\n'
    )
    docker.chmod(docker.stat().st_mode | stat.S_IEXEC)
    promtool = Promtool.find({"PATH": str(tmp_path)})
    assert promtool.container
    rules = REPO / "monitoring/prometheus/alerts.yml"
    command = promtool.command(["check", "rules", str(rules)], [rules])
    assert command[:4] == [str(docker), "run", "--rm", "--network=none"]
    assert f"--volume={REPO}:{REPO}:ro" in command
    assert "--entrypoint=promtool" in command
    assert any(part.startswith("prom/prometheus:v") for part in command)
    ok, output = promtool.run(["check", "rules", str(rules)], [rules])
    assert ok, output
    assert "SUCCESS" in output


# ------------------------------------------------------------------------ make lint-rules


#: The whole lint runs every promtool test file; the SLO files evaluate day-long windows over
#: days of one-minute steps (about 80 s of CPU together), which on a shared 2-core machine can
#: take several minutes of wall time. The subprocess gets all but a minute of the test's time.
LINT_TIMEOUT = 1200


def run_lint(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`make lint-rules`, in a process group of its own: past its time, its promtool runs are
    stopped with it rather than left running on the machine."""
    command = [sys.executable, "-m", "tools.prometheus.lint"]
    with subprocess.Popen(
        command,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=LINT_TIMEOUT - 60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            pytest.fail(f"make lint-rules still running after {LINT_TIMEOUT - 60} s:\n{stdout}")
        return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


# This is also the test that every monitoring/prometheus/tests/*.test.yml passes (step 4).
@pytest.mark.heavy
@pytest.mark.timeout(LINT_TIMEOUT)
def test_lint_rules_passes_on_the_repository_and_reports_each_step():
    result = run_lint({**os.environ})
    assert result.returncode == 0, result.stdout + result.stderr
    for step in (
        "rule files are current: ok",
        "promtool check config: ok",
        "promtool check rules: ok",
        f"promtool test rules ({len(list(TESTS_DIR.glob('*.test.yml')))} files): ok",
        "catalogue lint: ok",
    ):
        assert step in result.stdout, result.stdout


def test_lint_rules_exits_2_naming_a_missing_promtool():
    result = run_lint({**os.environ, "PROMTOOL": "/nonexistent/promtool"})
    assert result.returncode == 2
    assert "PROMTOOL='/nonexistent/promtool'" in result.stderr


def test_an_alert_tested_only_while_firing_is_named(tmp_path):
    ctx = write_rules(
        tmp_path,
        [{"name": "rec", "rules": [RECORD]}, {"name": "narra_forge_api", "rules": [ALERT]}],
    )
    tests = tmp_path / "tests"
    tests.mkdir()
    firing = {"exp_labels": {"severity": "critical", "category": "api"}}
    (tests / "api.test.yml").write_text(
        yaml.safe_dump(
            {
                "rule_files": ["../alerts.yml"],
                "group_eval_order": ["rec", "narra_forge_api"],
                "tests": [
                    {
                        "input_series": [],
                        "alert_rule_test": [
                            {
                                "eval_time": "5m",
                                "alertname": "ApiErrorsHigh",
                                "exp_alerts": [firing],
                            }
                        ],
                        "promql_expr_test": [
                            {"expr": ":narra_forge_api_errors:ratio_rate5m", "eval_time": "5m"}
                        ],
                    }
                ],
            }
        )
    )
    ctx.tests_dir = tests
    assert lint_rules(ctx) == [
        f"{tmp_path / 'alerts.yml'}: alert ApiErrorsHigh: no promtool test where it stays "
        f"silent (exp_alerts: []) under {tests}"
    ]
