"""Lint the Loki ruler rules: the LogQL step of `make lint-rules`.

    python -m tools.loki.lint          # also run by python -m tools.prometheus.lint

1. ``monitoring/loki/rules/fake/narra_forge.yml`` equals a fresh render of
   ``monitoring/thresholds.yml`` (``tools/loki/rules.py``).
2. Every ``expr`` parses with Grafana's LogQL grammar (``tools/loki/logql.py``) as a metric
   query; its stream selectors use only the bounded labels Alloy sets (``service``, ``level``,
   ``agent``: a ``job_id`` or ``trace_id`` selector would find nothing, they are not labels)
   and select the application's ``service``.
3. Names, severity, category, annotations, runbook and dashboard links follow the same
   conventions as the Prometheus alerts (``tools/prometheus/lint.py``), and a description
   templates only labels the expression returns (its ``by (...)``).

Each finding names the file and the rule. Exit codes: 0 clean, 1 findings, 2 the parser cannot
run (``make setup`` installs it).
"""

from __future__ import annotations

import sys
from pathlib import Path

from tools._repo import REPO, shown
from tools.config import LOG_LABELS, LOG_SERVICE
from tools.generate import stale_files
from tools.loki import rules
from tools.loki.logql import Expression, LogQLParserError, check, parse
from tools.prometheus.lint import (
    LintContext,
    Rule,
    _alert_problems,
    _dashboard_uids,
    _template_labels,
    iter_rules,
    load_rules,
)
from tools.prometheus.thresholds import duration_seconds

RULES = REPO / rules.OUTPUT


def lint_rules(path: Path = RULES, context: LintContext | None = None) -> list[str]:
    """Findings for one Loki rule file (not the drift check: see ``lint``)."""
    ctx = context or LintContext(rules_path=path, tests_dir=None)
    where = shown(path)
    document, findings = load_rules(path)
    if findings:
        return findings
    all_rules = list(iter_rules(document))
    if not all_rules:
        return [f"{where}: no rules"]
    uids = _dashboard_uids(ctx.dashboards_dir)
    expressions = [Expression(rule.expr, f"{where}: {rule.kind} {rule.name}") for rule in all_rules]
    # One node process for the file: parse errors first, then what the trees say.
    findings += [str(finding) for finding in check(expressions, kind="MetricExpr")]
    for rule, parsed in zip(all_rules, parse(expressions), strict=True):
        named = f"{where}: {rule.kind} {rule.name}"
        if rule.kind != "alert":
            # The ruler would need remote_write to store a recording rule: none is configured.
            findings.append(f"{named}: recording rules are not used here (no remote_write)")
            continue
        findings += [f"{named}: {p}" for p in _alert_problems(rule, ctx, uids)]
        findings += [f"{named}: {p}" for p in _for_problems(rule)]
        if not parsed.ok:
            continue
        unbounded = sorted(parsed.stream_labels - set(LOG_LABELS))
        if unbounded:
            findings.append(
                f"{named}: stream selector uses {', '.join(unbounded)}, which are not Loki labels "
                f"(only {', '.join(LOG_LABELS)}); filter fields after `| json` instead"
            )
        if "service" not in parsed.stream_labels:
            findings.append(
                f'{named}: no service="{LOG_SERVICE}" in the stream selector: it would read '
                "every service's logs"
            )
        findings += [f"{named}: {p}" for p in _template_problems(rule, parsed.grouping_labels)]
    return findings


def _for_problems(rule: Rule) -> list[str]:
    value = rule.body.get("for")
    if value is None:
        return []
    try:
        duration_seconds(str(value))
    except ValueError:
        return [f"for {value!r} is not a duration like 5m"]
    return []


def _template_problems(rule: Rule, grouping: frozenset[str]) -> list[str]:
    """``$labels.x`` in an annotation where the expression's ``by (...)`` has no ``x``."""
    problems = []
    for key, text in (rule.body.get("annotations") or {}).items():
        for label in sorted(_template_labels(str(text)) - grouping):
            problems.append(
                f'annotation {key} uses label "{label}", which the expression does not return '
                f"(by: {', '.join(sorted(grouping)) or 'none'}); it would render empty"
            )
    return problems


def lint() -> list[str]:
    """Drift check, then every rule: what `make lint-rules` prints under the Loki step."""
    return stale_files(rules.outputs()) + lint_rules()


def main(argv: list[str] | None = None) -> int:
    del argv
    try:
        findings = lint()
    except LogQLParserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for finding in findings:
        print(finding, file=sys.stderr)
    if not findings:
        print(f"{shown(RULES)}: current; every LogQL expression parses; labels bounded")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
