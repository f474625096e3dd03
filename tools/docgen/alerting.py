"""The alerts table of ``docs/alerting.md``, from the same rules as ``alerts.yml``."""

from __future__ import annotations

from pathlib import Path

from tools._repo import REPO
from tools.config import DASHBOARDS
from tools.docgen.markers import fill
from tools.prometheus.alerts import alert_groups
from tools.prometheus.thresholds import DEFAULT_PATH, Thresholds, load_thresholds

PATH = Path("docs/alerting.md")
BLOCK = "alerts-table"
SOURCE = "tools/prometheus/alerts.py"


def alerts_table(thresholds: Thresholds) -> str:
    """The Markdown table of every alert, in rule-file order."""
    rows = [
        "| Alert | Severity | Category | Summary | For | Dashboard |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for group in alert_groups(thresholds):
        for rule in group.rules:
            rows.append(
                f"| [{rule.alert}](runbooks/{rule.alert}.md) | {rule.severity} | {rule.category} "
                f"| {rule.summary} | {rule.for_ or 'always'} | {DASHBOARDS[rule.dashboard].title} |"
            )
    return "\n".join(rows) + "\n"


def outputs() -> dict[Path, str]:
    table = alerts_table(load_thresholds(DEFAULT_PATH))
    return {PATH: fill((REPO / PATH).read_text(), PATH, BLOCK, SOURCE, table)}
