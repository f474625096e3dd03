"""Names the generated rules, dashboards and docs share, each declared once.

An alert links to its dashboard by uid, a dashboard's file and title are listed in the docs,
and the scrape job's name appears in alerts and the backfill: changing one of them here changes
it everywhere generated (tests/test_config.py checks prometheus.yml and the dashboard files
against these names).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

#: The scrape job of the NARRA_FORGE application in monitoring/prometheus/prometheus.yml.
JOB = "narra_forge"
JOB_SELECTOR = f'job="{JOB}"'

#: The ``service`` label Grafana Alloy gives the application's log lines in Loki
#: (monitoring/alloy/config.alloy); the Loki rules and the Logs dashboard select on it.
LOG_SERVICE = "narra_forge"
LOG_SELECTOR = f'service="{LOG_SERVICE}"'
#: The only labels a log stream carries in Loki: bounded values. job_id, trace_id and span_id
#: stay in the JSON line (design.md, "Traces, logs, exemplars").
LOG_LABELS: tuple[str, ...] = ("service", "level", "agent")

#: Where runbooks and dashboards are linked from. Override with ``--runbook-base-url`` /
#: ``--grafana-url`` on ``python -m tools.prometheus.render``.
RUNBOOK_BASE_URL = "https://github.com/narra-forge/narra-forge-monitoring/blob/main/docs/runbooks"
GRAFANA_BASE_URL = "http://localhost:3000"

#: Every dashboard carries this tag; the link drop-down of each finds the others by it.
DASHBOARD_TAG = "narra-forge"


@dataclass(frozen=True)
class Dashboard:
    """A dashboard's fixed identity: alerts link to ``uid``, Grafana loads ``file``."""

    uid: str
    title: str
    file: str

    @property
    def full_title(self) -> str:
        """The title Grafana shows, prefixed so the six stand together in a shared Grafana."""
        return f"NARRA_FORGE {self.title}"


#: Keyed by the alert category whose problems each dashboard shows.
DASHBOARDS: Mapping[str, Dashboard] = {
    "pipeline": Dashboard(
        "narra-forge-pipeline-overview", "Pipeline Overview", "pipeline_overview.json"
    ),
    "agent": Dashboard(
        "narra-forge-agent-performance", "Agent Performance", "agent_performance.json"
    ),
    "api": Dashboard("narra-forge-api-metrics", "API Metrics", "api_metrics.json"),
    "cost": Dashboard("narra-forge-cost-tracking", "Cost Tracking", "cost_tracking.json"),
    "quality": Dashboard("narra-forge-quality-metrics", "Quality Metrics", "quality_metrics.json"),
    # The application's log lines in Loki; the Loki rules (tools/loki/rules.py) link here.
    "logs": Dashboard("narra-forge-logs", "Logs", "logs.json"),
    "slo": Dashboard("narra-forge-slos", "SLOs", "slos.json"),
}
