"""The alerts table of docs/alerting.md, generated from the alert rules."""

from __future__ import annotations

from tools.docgen.alerting import alerts_table
from tools.prometheus.thresholds import load_thresholds


def test_each_alert_is_a_row_with_its_runbook_severity_and_dashboard():
    table = alerts_table(load_thresholds())
    assert "| [RetryStorm](runbooks/RetryStorm.md) | warning | agent |" in table
    assert table.splitlines()[0] == "| Alert | Severity | Category | Summary | For | Dashboard |"
    budget = next(row for row in table.splitlines() if row.startswith("| [CostBudgetWarning]"))
    assert budget.endswith("| Spend over the last hour is above $10.00 | 5m | Cost Tracking |")
