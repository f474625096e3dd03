"""The alert rules of NARRA_FORGE, defined in Python and fed by ``monitoring/thresholds.yml``.

Every number an alert compares with and every ``for`` comes from the thresholds file; nothing
here is a threshold. ``tools/prometheus/render.py`` writes these groups, after the recording
rules of ``tools/prometheus/recording.py``, into ``monitoring/prometheus/alerts.yml``.

Rules of thumb every expression below follows (docs/alerting.md explains each alert):

- Ratios and quantiles are read from recording rules, so a page and a dashboard panel show the
  same number. A ratio of two aggregated rates is NaN when there is no traffic, and NaN compared
  with anything is false: no traffic fires nothing. Missing traffic is NarraForgeTargetDown's job.
- ``for`` is at least one rate window long, so a single spike that leaves the 5m window before
  ``for`` has elapsed never pages.
- A description templates only labels the expression returns (``tools/prometheus/lint.py``
  checks it) and shows ``$value`` humanized: percentages, dollars with two decimals.
"""

from __future__ import annotations

from dataclasses import dataclass

from tools.config import DASHBOARDS, GRAFANA_BASE_URL, JOB_SELECTOR, RUNBOOK_BASE_URL
from tools.prometheus.thresholds import (
    Thresholds,
    as_duration,
    as_number,
    as_percent,
    as_usd,
)

SEVERITIES: tuple[str, ...] = ("critical", "warning", "info")
CATEGORIES: tuple[str, ...] = (
    "availability",
    "pipeline",
    "agent",
    "api",
    "cost",
    "quality",
    "meta",
    "slo",
)

#: The pipeline-duration alert pages on this quantile; see PipelineDurationHigh.
PIPELINE_DURATION_QUANTILE = 0.95


@dataclass(frozen=True)
class Links:
    """Base URLs the annotations point into; no trailing slash."""

    runbook_base_url: str = RUNBOOK_BASE_URL
    grafana_base_url: str = GRAFANA_BASE_URL

    def __post_init__(self) -> None:
        for name in ("runbook_base_url", "grafana_base_url"):
            url = getattr(self, name)
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{name} must be an absolute http(s) URL, got {url!r}")
            object.__setattr__(self, name, url.rstrip("/"))

    def runbook(self, alert: str) -> str:
        return f"{self.runbook_base_url}/{alert}.md"

    def dashboard(self, dashboard: str) -> str:
        return f"{self.grafana_base_url}/d/{DASHBOARDS[dashboard].uid}"


@dataclass(frozen=True)
class AlertRule:
    alert: str
    expr: str
    for_: str | None
    severity: str
    category: str
    summary: str
    description: str
    #: Key of tools.config.DASHBOARDS: the dashboard that shows the problem.
    dashboard: str
    #: Labels beyond severity and category (the SLO alerts' ``slo`` and ``sloth_severity``).
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class AlertGroup:
    name: str
    rules: tuple[AlertRule, ...]


def _availability(t: Thresholds) -> AlertGroup:
    return AlertGroup(
        "narra_forge_availability",
        (
            AlertRule(
                alert="NarraForgeTargetDown",
                # `up == 0` catches an instance that stopped answering; absent() catches the job
                # having no target at all (empty or broken targets file), where `up` does not exist.
                expr=f"up{{{JOB_SELECTOR}}} == 0 or absent(up{{{JOB_SELECTOR}}})",
                for_=str(t["target_down"]["for"]),
                severity="critical",
                category="availability",
                summary="Prometheus cannot scrape the NARRA_FORGE application",
                description=(
                    "No successful scrape of job {{ $labels.job }} for "
                    f"{as_duration(t['target_down']['for'])}: the app is down, unreachable "
                    "or missing from targets/narra_forge.yml. Every other NARRA_FORGE alert is "
                    "blind until it is back."
                ),
                dashboard="pipeline",
            ),
        ),
    )


def _pipeline(t: Thresholds) -> AlertGroup:
    duration = t["pipeline_duration_high"]
    errors = t["pipeline_error_rate_high"]
    stuck = t["jobs_stuck"]
    limit = as_duration(float(duration["seconds"]))
    share_over = 1 - PIPELINE_DURATION_QUANTILE
    quantile = f"P{PIPELINE_DURATION_QUANTILE * 100:.10g}"
    return AlertGroup(
        "narra_forge_pipeline",
        (
            AlertRule(
                alert="PipelineDurationHigh",
                # The guide's `histogram_quantile(0.95, ...) > 1800` can never fire: 1800 is the
                # highest finite bucket, and histogram_quantile never returns more than that.
                # P95 > limit is exactly "more than 5% of runs slower than the limit".
                expr=(
                    "production_type:narra_forge_pipeline_duration_seconds:"
                    f"slower_than_limit_ratio_5m > {as_number(round(share_over, 10))}"
                ),
                for_=str(duration["for"]),
                severity="warning",
                category="pipeline",
                summary=f"{quantile} pipeline duration is above {limit}",
                description=(
                    "{{ $value | humanizePercentage }} of the {{ $labels.production_type }} "
                    f"pipelines that finished in the last 5 minutes took longer than {limit}, "
                    f"so their {quantile} duration is above the {limit} limit."
                ),
                dashboard="pipeline",
            ),
            AlertRule(
                alert="PipelineErrorRateHigh",
                expr=f":narra_forge_pipeline_failures:ratio_rate5m > {as_number(errors['ratio'])}",
                for_=str(errors["for"]),
                severity="critical",
                category="pipeline",
                summary=f"More than {as_percent(errors['ratio'])} of pipelines fail",
                description=(
                    "{{ $value | humanizePercentage }} of the pipelines that finished in the "
                    f"last 5 minutes failed (limit {as_percent(errors['ratio'])})."
                ),
                dashboard="pipeline",
            ),
            AlertRule(
                alert="JobsStuck",
                # Per instance, so one wedged worker among several is seen. `unless` rather than
                # `== 0`: an instance that never finished a pipeline has no pipeline_total series
                # at all, and that is stuck too.
                expr=(
                    "narra_forge_jobs_active > 0\n"
                    "unless on (job, instance)\n"
                    "  sum by (job, instance) "
                    f"(increase(narra_forge_pipeline_total[{stuck['window']}])) > 0"
                ),
                for_=str(stuck["for"]),
                severity="warning",
                category="pipeline",
                summary=(
                    f"Jobs are active but no pipeline finished in {as_duration(stuck['window'])}"
                ),
                description=(
                    "{{ $value }} pipeline jobs are active on {{ $labels.instance }} but no "
                    "pipeline has finished there (succeeded or failed) in the last "
                    f"{as_duration(stuck['window'])}."
                ),
                dashboard="pipeline",
            ),
        ),
    )


def _agents(t: Thresholds) -> AlertGroup:
    errors = t["agent_error_rate_high"]
    retries = t["retry_storm"]
    return AlertGroup(
        "narra_forge_agents",
        (
            AlertRule(
                alert="AgentErrorRateHigh",
                expr=(
                    f"agent_id:narra_forge_agent_errors:ratio_rate5m > {as_number(errors['ratio'])}"
                ),
                for_=str(errors["for"]),
                severity="warning",
                category="agent",
                summary=f"An agent fails more than {as_percent(errors['ratio'])} of its executions",
                description=(
                    "{{ $value | humanizePercentage }} of the executions of agent "
                    "{{ $labels.agent_id }} in the last 5 minutes raised an error "
                    f"(limit {as_percent(errors['ratio'])})."
                ),
                dashboard="agent",
            ),
            AlertRule(
                alert="RetryStorm",
                expr=f":narra_forge_retry_attempts:ratio_rate5m > {as_number(retries['ratio'])}",
                for_=str(retries["for"]),
                severity="warning",
                category="agent",
                summary=(
                    f"More than {as_number(retries['ratio'])} agent retries per OpenAI API call"
                ),
                description=(
                    '{{ $value | printf "%.2f" }} agent retries per OpenAI API call over the '
                    f"last 5 minutes (limit {as_number(retries['ratio'])}): every retry adds "
                    "latency and cost."
                ),
                dashboard="agent",
            ),
        ),
    )


def _api(t: Thresholds) -> AlertGroup:
    errors = t["api_error_rate_high"]
    limited = t["api_rate_limited"]
    return AlertGroup(
        "narra_forge_api",
        (
            AlertRule(
                alert="APIErrorRateHigh",
                expr=f":narra_forge_api_errors:ratio_rate5m > {as_number(errors['ratio'])}",
                for_=str(errors["for"]),
                severity="critical",
                category="api",
                summary=f"More than {as_percent(errors['ratio'])} of OpenAI API calls fail",
                description=(
                    "{{ $value | humanizePercentage }} of the OpenAI API calls in the last "
                    f"5 minutes failed (limit {as_percent(errors['ratio'])})."
                ),
                dashboard="api",
            ),
            AlertRule(
                alert="APIRateLimited",
                expr=f":narra_forge_api_rate_limited:ratio_rate5m > {as_number(limited['ratio'])}",
                for_=str(limited["for"]),
                severity="warning",
                category="api",
                summary=f"OpenAI rate limits more than {as_percent(limited['ratio'])} of API calls",
                description=(
                    "OpenAI answered {{ $value | humanizePercentage }} of the API calls in the "
                    "last 5 minutes with a rate limit error "
                    f"(limit {as_percent(limited['ratio'])})."
                ),
                dashboard="api",
            ),
        ),
    )


def _cost(t: Thresholds) -> AlertGroup:
    hourly = t["cost_budget_warning"]
    daily = t["cost_daily_budget"]
    unpriced = t["unpriced_tokens"]
    return AlertGroup(
        "narra_forge_cost",
        (
            AlertRule(
                alert="CostBudgetWarning",
                expr=f":narra_forge_cost_usd:increase1h > {as_number(hourly['usd_per_hour'])}",
                for_=str(hourly["for"]),
                severity="warning",
                category="cost",
                summary=f"Spend over the last hour is above {as_usd(hourly['usd_per_hour'])}",
                description=(
                    'NARRA_FORGE spent ${{ $value | printf "%.2f" }} on OpenAI in the last hour '
                    f"(budget {as_usd(hourly['usd_per_hour'])} per hour)."
                ),
                dashboard="cost",
            ),
            AlertRule(
                alert="CostDailyBudgetAtRisk",
                # The last hour's spend extrapolated to 24 hours; `for` makes it a pace held
                # for a while, not one expensive novel.
                expr=f":narra_forge_cost_usd:increase1h * 24 > {as_number(daily['usd_per_day'])}",
                for_=str(daily["for"]),
                severity="warning",
                category="cost",
                summary=(
                    f"Spend is on pace to exceed the daily budget of {as_usd(daily['usd_per_day'])}"
                ),
                description=(
                    "At the last hour's pace NARRA_FORGE would spend "
                    '${{ $value | printf "%.2f" }} in a day '
                    f"(daily budget {as_usd(daily['usd_per_day'])})."
                ),
                dashboard="cost",
            ),
            AlertRule(
                alert="UnpricedTokensSpent",
                # Spend the cost panels and both budget alerts cannot see: a model missing
                # from the pricing table costs $0 there. Any token at all is worth a ticket.
                expr="sum by (model) (increase(narra_forge_unpriced_tokens_total[5m])) > 0",
                for_=str(unpriced["for"]),
                severity="warning",
                category="cost",
                summary="Tokens are spent on a model missing from the pricing table",
                description=(
                    "{{ $labels.model }} used {{ $value | humanize }} tokens in the last 5 "
                    "minutes that have no price: cost dashboards and budget alerts count them "
                    "as $0. Add the model to the pricing file (NARRA_FORGE_PRICING_FILE)."
                ),
                dashboard="cost",
            ),
        ),
    )


def _quality(t: Thresholds) -> AlertGroup:
    quality = t["quality_score_low"]
    return AlertGroup(
        "narra_forge_quality",
        (
            AlertRule(
                alert="QualityScoreLow",
                expr=(
                    'metric_type:narra_forge_quality_score:avg1h{metric_type="coherence"} '
                    f"< {as_number(quality['floor'])}"
                ),
                for_=str(quality["for"]),
                severity="warning",
                category="quality",
                summary=f"Average coherence score is below {as_number(quality['floor'])}",
                description=(
                    "The average {{ $labels.metric_type }} score of the narratives scored in the "
                    'last hour is {{ $value | printf "%.3f" }} '
                    f"(floor {as_number(quality['floor'])})."
                ),
                dashboard="quality",
            ),
        ),
    )


def _meta(t: Thresholds) -> AlertGroup:
    health_for = str(t["prometheus_health"]["for"])
    return AlertGroup(
        "narra_forge_meta",
        (
            AlertRule(
                alert="Watchdog",
                expr="vector(1)",
                for_=None,
                severity="info",
                category="meta",
                summary="Always firing: proves that alerts reach Alertmanager and beyond",
                description=(
                    "This alert fires all the time on purpose. Alertmanager sends it to the "
                    "heartbeat receiver; when the heartbeats stop, the path from Prometheus "
                    "through Alertmanager is broken and no other alert would arrive either."
                ),
                dashboard="pipeline",
            ),
            AlertRule(
                alert="PrometheusRuleFailures",
                expr=(
                    "sum by (job, instance, rule_group) "
                    "(increase(prometheus_rule_evaluation_failures_total[5m])) > 0"
                ),
                for_=health_for,
                severity="warning",
                category="meta",
                summary="Prometheus fails to evaluate rules",
                description=(
                    "Prometheus {{ $labels.instance }} failed {{ $value | humanize }} rule "
                    "evaluations of group {{ $labels.rule_group }} in the last 5 minutes: its "
                    "recording rules have gaps and its alerts may not fire."
                ),
                dashboard="pipeline",
            ),
            AlertRule(
                alert="PrometheusErrorSendingAlerts",
                expr=(
                    "sum by (job, instance, alertmanager) "
                    "(increase(prometheus_notifications_errors_total[5m])) > 0"
                ),
                for_=health_for,
                severity="warning",
                category="meta",
                summary="Prometheus fails to send alerts to Alertmanager",
                description=(
                    "Prometheus {{ $labels.instance }} fails to send alerts to "
                    "{{ $labels.alertmanager }} ({{ $value | humanize }} failed sends in the last "
                    "5 minutes): alerts may reach nobody."
                ),
                dashboard="pipeline",
            ),
            AlertRule(
                alert="PrometheusNotConnectedToAlertmanagers",
                # Prometheus drops notifications while it knows no Alertmanager.
                expr="max_over_time(prometheus_notifications_alertmanagers_discovered[5m]) < 1",
                for_=health_for,
                severity="warning",
                category="meta",
                summary="Prometheus has no Alertmanager to send alerts to",
                description=(
                    "Prometheus {{ $labels.instance }} has discovered no Alertmanager during "
                    "the last 5 minutes; every alert it fires is dropped."
                ),
                dashboard="pipeline",
            ),
            AlertRule(
                alert="PrometheusBadConfig",
                expr="max_over_time(prometheus_config_last_reload_successful[5m]) == 0",
                for_=health_for,
                severity="warning",
                category="meta",
                summary="Prometheus failed to reload its configuration",
                description=(
                    "Prometheus {{ $labels.instance }} refused its last configuration reload and "
                    "keeps running the previous configuration: recent edits to prometheus.yml "
                    "or alerts.yml are not in effect."
                ),
                dashboard="pipeline",
            ),
        ),
    )


def alert_groups(thresholds: Thresholds) -> tuple[AlertGroup, ...]:
    """Alert groups in file order, one per concern (one promtool test file per group)."""
    return (
        _availability(thresholds),
        _pipeline(thresholds),
        _agents(thresholds),
        _api(thresholds),
        _cost(thresholds),
        _quality(thresholds),
        _meta(thresholds),
    )
