"""Each scenario of the simulator fires the alerts it is documented to fire
(tools/demo/workload.py)."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import RunningStack, wait_for
from tests.e2e.guide_queries import QUERIES_DOC, promql_queries
from tools.demo.workload import CANARY_MODEL, SCENARIOS

OTHER_SCENARIOS = [name for name in SCENARIOS if name not in ("healthy", "pipeline_failures")]


@pytest.mark.parametrize("scenario", OTHER_SCENARIOS)
def test_scenario_fires_its_alerts(stacks: dict[str, RunningStack], scenario: str):
    stack = stacks[scenario]
    expected = set(SCENARIOS[scenario].fires)
    assert expected, f"scenario {scenario} documents no alert"

    def firing() -> set[str] | None:
        names = {a["labels"]["alertname"] for a in stack.prometheus.alerts("firing")}
        return names if expected <= names else None

    names = wait_for(f"{sorted(expected)} firing in the {scenario} scenario", firing, timeout=120)
    # An unrelated page would make the scenario a poor demonstration of its own alert.
    assert "PipelineErrorRateHigh" not in names - expected
    assert "NarraForgeTargetDown" not in names


def test_cost_alert_reaches_the_budget_holder_by_email(stacks: dict[str, RunningStack]):
    stack = stacks["cost_spike"]
    mails = wait_for(
        "a CostBudgetWarning email at the receiver's mail server",
        lambda: [
            body
            for body in stack.receiver.messages("/smtp")
            if "CostBudgetWarning" in body["subject"] and "FIRING" in body["subject"]
        ],
        timeout=120,
    )
    mail = mails[0]
    assert mail["to"] == ["narra-forge-budget@example.com"]
    assert "Severity:  warning" in mail["text"]
    assert "docs/runbooks/CostBudgetWarning.md" in mail["text"]


def test_an_unpriced_model_is_counted_and_named_in_prometheus(stacks: dict[str, RunningStack]):
    stack = stacks["unpriced_model"]
    unpriced = wait_for(
        "unpriced tokens of the canary model",
        lambda: stack.prometheus.query(
            f'narra_forge_unpriced_tokens_total{{model="{CANARY_MODEL}"}} > 0'
        ),
        timeout=120,
    )
    assert unpriced[0]["metric"]["job"] == "narra_forge"
    # docs/queries.md's bad-input query, which a healthy platform leaves empty, names it.
    (bad_input,) = [
        q for q in promql_queries(QUERIES_DOC.read_text()) if "instrumentation_errors" in q.expr
    ]
    refused = stack.prometheus.query(bad_input.expr)
    reasons = {(r["metric"]["metric"], r["metric"]["reason"]) for r in refused}
    assert ("narra_forge_cost_usd_total", "unpriced_model") in reasons, reasons
