"""Every alert has a runbook with the sections an operator needs, and its queries are valid."""

from __future__ import annotations

import re

import pytest
import yaml

from tools.loki.lint import RULES as LOKI_RULES
from tools.loki.logql import Expression, check
from tools.prometheus.lint import RULE_FILES, RUNBOOKS_DIR, iter_rules
from tools.prometheus.promql_check import (
    analyse,
    catalogue_series,
    prometheus_series,
    with_recording_rules,
)

SECTIONS = ("## What it means", "## Likely causes", "## First queries", "## Fix", "## Silence")
RULE_LIST = [rule for path in RULE_FILES for rule in iter_rules(yaml.safe_load(path.read_text()))]
PROMETHEUS_ALERTS = {rule.name: rule for rule in RULE_LIST if rule.kind == "alert"}
#: Loki's ruler alerts (tools/loki/rules.py) have runbooks of the same shape, with LogQL.
LOKI_RULE_LIST = list(iter_rules(yaml.safe_load(LOKI_RULES.read_text())))
LOKI_ALERTS = {rule.name: rule for rule in LOKI_RULE_LIST if rule.kind == "alert"}
ALERTS = {**PROMETHEUS_ALERTS, **LOKI_ALERTS}
#: An SLO alert exists in two severities (page and ticket); its runbook lists both.
SEVERITIES = {
    name: [r.body["labels"]["severity"] for r in [*RULE_LIST, *LOKI_RULE_LIST] if r.name == name]
    for name in ALERTS
}


@pytest.fixture(scope="module")
def known():
    records = [
        (r.name, r.expr, tuple(r.body.get("labels") or {}))
        for r in RULE_LIST
        if r.kind == "recording rule"
    ]
    index, findings = with_recording_rules({**catalogue_series(), **prometheus_series()}, records)
    assert findings == []
    return index


def runbook(name: str) -> str:
    path = RUNBOOKS_DIR / f"{name}.md"
    assert path.is_file(), f"{path} is missing: every alert needs its runbook"
    return path.read_text()


@pytest.mark.parametrize("name", sorted(ALERTS))
def test_each_alert_has_a_runbook_with_every_section_in_order(name):
    text = runbook(name)
    assert text.startswith(f"# {name}\n")
    positions = [text.find(section) for section in SECTIONS]
    missing = [s for s, p in zip(SECTIONS, positions, strict=True) if p < 0]
    assert not missing, f"docs/runbooks/{name}.md lacks {missing}"
    assert positions == sorted(positions), f"docs/runbooks/{name}.md: sections out of order"


@pytest.mark.parametrize("name", sorted(ALERTS))
def test_the_runbook_header_matches_the_rule(name):
    labels = ALERTS[name].body["labels"]
    severities = " or ".join(SEVERITIES[name])
    header = f"**Severity:** {severities} · **Category:** {labels['category']}"
    assert header in runbook(name)


@pytest.mark.parametrize("name", sorted(ALERTS))
def test_the_runbook_says_how_to_silence_with_amtool_and_the_ui(name):
    silence = runbook(name).split("## Silence", 1)[1]
    assert f"amtool silence add alertname={name}" in silence
    assert "--alertmanager.url=" in silence


@pytest.mark.parametrize("name", sorted(ALERTS))
def test_the_runbooks_first_queries_are_valid_promql_on_real_metrics(name, known):
    queries = re.findall(r"```promql\n(.*?)\n```", runbook(name), flags=re.S)
    if name in PROMETHEUS_ALERTS:
        assert queries, f"docs/runbooks/{name}.md has no ```promql block to start from"
    for query in queries:
        findings = [str(f) for f in analyse(query, known).findings]
        assert findings == [], f"docs/runbooks/{name}.md: {query}: {findings}"


def test_no_runbook_without_an_alert():
    orphans = sorted(p.stem for p in RUNBOOKS_DIR.glob("*.md"))
    assert [o for o in orphans if o not in ALERTS] == []


def test_the_loki_alerts_runbooks_first_queries_parse_as_logql():
    # One batch for every runbook: the real parser (Grafana's grammar under node).
    blocks = {
        name: re.findall(r"```logql\n(.*?)\n```", runbook(name), flags=re.S)
        for name in sorted(LOKI_ALERTS)
    }
    assert LOKI_ALERTS
    assert all(blocks.values()), f"a Loki runbook has no ```logql block: {blocks}"
    expressions = [
        Expression(query, f"docs/runbooks/{name}.md") for name, qs in blocks.items() for query in qs
    ]
    assert [str(f) for f in check(expressions)] == []
