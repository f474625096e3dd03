"""Agent Performance: which of the ten agents is slow, failing, retrying or expensive."""

from __future__ import annotations

from tools.config import DASHBOARDS
from tools.grafana.builders import (
    FROM_ROLLUPS,
    JSON,
    Grid,
    Query,
    Threshold,
    Unit,
    bargauge,
    dashboard,
    exemplars_of,
    heatmap,
    over_range,
    query_variable,
    timeseries,
)
from tools.prometheus.recording import COST_ROLLUP, RETRY_ROLLUP
from tools.prometheus.thresholds import Thresholds, as_percent

BOARD = DASHBOARDS["agent"]

AGENT = 'agent_id=~"$agent_id"'
AGENT_MODEL = 'agent_id=~"$agent_id", model=~"$model"'


def build(thresholds: Thresholds) -> JSON:
    agent_errors = float(thresholds["agent_error_rate_high"]["ratio"])
    retry_storm = float(thresholds["retry_storm"]["ratio"])

    grid = Grid()
    grid.row("Execution time")
    grid.add(
        heatmap(
            "Agent execution time",
            "How long agent executions take: each column is a point in time, each cell a "
            "duration bucket, the colour how many executions ended in it during the 5 minutes "
            "before that point. Every agent and model: the agent and model filters do not apply, "
            "because the recording rule that keeps this panel fast over 30 days sums them away "
            "(P95 execution time per agent splits by agent). A band moving up means agents got "
            "slower; a second band high up means some executions hit timeouts or retries. "
            "Compare with P95 API latency on API Metrics.",
            Query(
                "sum by (le) (le:narra_forge_agent_duration_seconds_bucket:increase5m)",
                "{{le}}",
                format="heatmap",
            ),
            y_unit=Unit.SECONDS,
        ),
        24,
        9,
    )
    grid.add(
        timeseries(
            "P95 execution time per agent",
            "95th percentile of one agent execution, per agent, over 5-minute windows (all "
            "models: the model filter does not apply). The sequential generator (a06) is "
            "expected to be the slowest; any other agent climbing usually means longer prompts "
            "or a slower model. The dots are exemplars: single executions with their trace id "
            "(click one to open its trace and its log lines).",
            Unit.SECONDS,
            [
                Query(
                    f"agent_id:narra_forge_agent_duration_seconds:p95_5m{{{AGENT}}}", "{{agent_id}}"
                ),
                exemplars_of("narra_forge_agent_duration_seconds", AGENT),
            ],
        ),
        16,
        8,
    )
    grid.add(
        bargauge(
            "Slowest agents now (P95)",
            "The same P95 as a ranking at the end of the time range, slowest first: where a "
            "pipeline spends its time.",
            Unit.SECONDS,
            Query(
                f"sort_desc(agent_id:narra_forge_agent_duration_seconds:p95_5m{{{AGENT}}})",
                "{{agent_id}}",
                instant=True,
            ),
        ),
        8,
        8,
    )

    grid.row("Errors and retries")
    grid.add(
        timeseries(
            "Error rate by agent",
            "Failed executions divided by all executions of each agent, over 5 minutes (all "
            f"models). The dashed line ({as_percent(agent_errors)}) is the AgentErrorRateHigh "
            "limit. Agent errors per second by type tells OpenAI trouble (rate_limit, timeout) "
            "from the agent's own output being rejected (invalid_output).",
            Unit.RATIO,
            [Query(f"agent_id:narra_forge_agent_errors:ratio_rate5m{{{AGENT}}}", "{{agent_id}}")],
            threshold=Threshold(agent_errors),
            max_value=1,
            no_value="no errors",
        ),
        12,
        8,
    )
    grid.add(
        timeseries(
            "Agent errors per second by type",
            "Agent failures per second, by classified error type, over 5 minutes, every agent "
            "(the agent filter does not apply: the recording rule behind this panel sums agents "
            "away; Error rate by agent tells which agent fails). rate_limit and timeout point at "
            "OpenAI (API Metrics); invalid_output and content_filter at prompts; other at code: "
            "read the agent's error logs by job_id.",
            Unit.PER_SECOND,
            [Query("error_type:narra_forge_agent_errors:rate5m", "{{error_type}}")],
            stack=True,
            no_value="no errors",
        ),
        12,
        8,
    )
    grid.add(
        timeseries(
            "Retries per second by reason",
            "Retries of agent steps per second by reason, all agents, over 5 minutes. A few "
            "rate_limit retries are normal under load; a steady climb means the OpenAI quota is "
            "too small for the traffic.",
            Unit.PER_SECOND,
            [Query("reason:narra_forge_retry_attempts:rate5m", "{{reason}}")],
            stack=True,
            no_value="no retries",
        ),
        8,
        8,
    )
    grid.add(
        timeseries(
            "Retries per API call",
            "Retries divided by OpenAI API calls, all agents, over 5 minutes. Above the dashed "
            f"line ({as_percent(retry_storm)}) RetryStorm warns: retries are adding load "
            "to an API that is already refusing it; lower concurrency or raise the quota.",
            Unit.RATIO,
            [Query(":narra_forge_retry_attempts:ratio_rate5m", "retries per call")],
            threshold=Threshold(retry_storm),
            no_value="no retries",
        ),
        8,
        8,
    )
    grid.add(
        bargauge(
            "Retries by agent (time range)",
            "Retries per agent over the whole time range picked above, most first: which agent's "
            "calls keep being retried." + FROM_ROLLUPS,
            Unit.COUNT,
            Query(
                f"sort_desc(sum by (agent_id) ({over_range(RETRY_ROLLUP, AGENT)}))",
                "{{agent_id}}",
                instant=True,
            ),
            decimals=0,
            no_value="no retries",
        ),
        8,
        8,
    )

    grid.row("Cost")
    grid.add(
        bargauge(
            "Most expensive agents (time range)",
            "Spend per agent over the whole time range picked above, most expensive first "
            "(selected agents and models). The generator (a06) writes most of the text and "
            "usually leads; an agent that climbs the ranking after a release may have a prompt "
            "that grew or a model that changed. Details on Cost Tracking." + FROM_ROLLUPS,
            Unit.USD,
            Query(
                f"sort_desc(sum by (agent_id) ({over_range(COST_ROLLUP, AGENT_MODEL)}))",
                "{{agent_id}}",
                instant=True,
            ),
            decimals=2,
        ),
        12,
        8,
    )
    grid.add(
        timeseries(
            "Spend in the last hour by agent",
            "Each point is what the agent spent over the hour before it (all models), the same "
            "numbers CostBudgetWarning adds up. A step up is a change in an agent's prompt, "
            "model or traffic.",
            Unit.USD,
            [Query(f"agent_id:narra_forge_cost_usd:increase1h{{{AGENT}}}", "{{agent_id}}")],
            decimals=2,
        ),
        12,
        8,
    )

    return dashboard(
        board=BOARD,
        description="Which of the ten agents is slow, failing, retrying or expensive.",
        tags=["agents"],
        variables=[
            query_variable("agent_id", "Agent", "narra_forge_agent_duration_seconds_count"),
            query_variable("model", "Model", "narra_forge_agent_duration_seconds_count"),
        ],
        grid=grid,
    )
