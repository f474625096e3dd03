"""tools/loki/logql.py against the real parser (Grafana's lezer-logql under node)."""

from __future__ import annotations

import pytest

from tools.loki.logql import Expression, check, parse

VALID = [
    '{service="narra_forge"}',
    '{service="narra_forge", level="error"} | json | event="pipeline_failed"',
    '{service="narra_forge", agent=~"a0.*"} |= "timeout" | json | line_format "{{.event}}"',
    'sum by (agent) (rate({service="narra_forge", level="error"}[5m])) > 0.1',
    'sum(count_over_time({service="narra_forge"} | json | event="pipeline_failed" [10m])) >= 5',
]

#: name -> (expression, what the finding must say: the position and the text before it)
BROKEN = {
    "unbalanced braces": ('{service="narra_forge"', 'at 1:23: ...narra_forge"⟨⟩'),
    "bad pipeline stage": ('{service="narra_forge"} | jsn', 'at 1:30: ...orge"} | jsn⟨⟩'),
    "missing range in rate": ('sum(rate({service="narra_forge"}))', 'at 1:33: ...arra_forge"}⟨⟩))'),
    "a metric on two lines": ('sum(\n  rate({a="b"} | json [5m]', "at 2:27: ... | json [5m]⟨⟩"),
    "empty": ("", "does not parse at 1:1"),
}


def test_valid_expressions_parse_in_one_batch():
    parsed = parse([Expression(text, f"valid {i}") for i, text in enumerate(VALID)])
    assert [p.errors for p in parsed] == [()] * len(VALID)
    assert [p.kind for p in parsed] == ["LogExpr"] * 3 + ["MetricExpr"] * 2


@pytest.mark.parametrize("name", BROKEN)
def test_broken_expressions_are_named_with_position_and_snippet(name):
    text, expected = BROKEN[name]
    findings = check([Expression(VALID[0], "fine"), Expression(text, f"rules.yml: alert {name}")])
    assert len(findings) == 1
    finding = str(findings[0])
    assert finding.startswith(f"rules.yml: alert {name}: ")
    assert expected in finding


def test_the_position_points_at_the_missing_range():
    text = 'sum(rate({service="narra_forge"}))'
    (parsed,) = parse([Expression(text, "x")])
    start, _ = parsed.errors[0]
    assert text[:start] == 'sum(rate({service="narra_forge"}'


def test_positions_count_characters_beyond_the_basic_plane():
    # JavaScript counts an emoji as two code units; the finding must still point at the break.
    text = '{service="🦊"} | jsn'
    (parsed,) = parse([Expression(text, "x")])
    assert text[: parsed.errors[0][0]] == text


def test_a_log_query_where_a_metric_query_is_needed_is_named():
    findings = check([Expression(VALID[0], "rules.yml: alert A")], kind="MetricExpr")
    assert [str(f) for f in findings] == [
        "rules.yml: alert A: LogQL is a LogExpr, expected a metric query (a number per series)"
    ]
