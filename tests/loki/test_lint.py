"""tools/loki/lint.py: the shipped Loki rules pass; each broken copy is named, by rule."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tools.loki.lint import RULES, lint, lint_rules


def test_the_shipped_rules_pass():
    assert lint() == []


def _broken(tmp_path: Path, edit) -> Path:
    document = yaml.safe_load(RULES.read_text())
    edit(document["groups"][0]["rules"][0])
    path = tmp_path / "narra_forge.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def _set(key: str, value: str):
    def edit(rule: dict) -> None:
        rule[key] = value

    return edit


def _annotate(key: str, value: str):
    def edit(rule: dict) -> None:
        rule["annotations"][key] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            _set("expr", 'sum by (agent) (rate({service="narra_forge", level="error"}))'),
            "alert AgentErrorLinesHigh: LogQL does not parse at 1:",
        ),
        (
            _set("expr", '{service="narra_forge", level="error"} | json'),
            "alert AgentErrorLinesHigh: LogQL is a LogExpr, expected a metric query",
        ),
        (
            _set("expr", 'sum by (agent) (rate({service="narra_forge", job_id="j1"}[5m])) > 1'),
            "alert AgentErrorLinesHigh: stream selector uses job_id, which are not Loki labels",
        ),
        (
            _set("expr", 'sum by (agent) (rate({level="error"}[5m])) > 1'),
            'alert AgentErrorLinesHigh: no service="narra_forge" in the stream selector',
        ),
        (
            _annotate("description", "{{ $labels.job_id }} failed"),
            'alert AgentErrorLinesHigh: annotation description uses label "job_id", which the '
            "expression does not return (by: agent)",
        ),
        (
            _set("for", "ten minutes"),
            "alert AgentErrorLinesHigh: for 'ten minutes' is not a duration",
        ),
        (
            _annotate("runbook_url", "https://example.com/docs/runbooks/Other.md"),
            "alert AgentErrorLinesHigh: runbook_url 'https://example.com/docs/runbooks/Other.md' "
            "does not end in docs/runbooks/AgentErrorLinesHigh.md",
        ),
    ],
)
def test_each_problem_is_named_with_the_file_and_rule(tmp_path, edit, expected):
    findings = lint_rules(_broken(tmp_path, edit))
    assert any(expected in f for f in findings), findings
    assert all(f.startswith(f"{tmp_path / 'narra_forge.yml'}: ") for f in findings), findings
