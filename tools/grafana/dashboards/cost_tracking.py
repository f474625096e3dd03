"""Cost Tracking: what NARRA_FORGE spends on OpenAI, against the hourly and daily budgets."""

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
    over_range,
    query_variable,
    stat,
    timeseries,
)
from tools.prometheus.recording import COST_ROLLUP, PIPELINE_ROLLUP
from tools.prometheus.thresholds import Thresholds, as_usd

BOARD = DASHBOARDS["cost"]

HOURLY = ":narra_forge_cost_usd:increase1h"
MODEL_AGENT = 'model=~"$model", agent_id=~"$agent_id"'
DELIVERED = 'status="success"'


def build(thresholds: Thresholds) -> JSON:
    per_hour = float(thresholds["cost_budget_warning"]["usd_per_hour"])
    per_day = float(thresholds["cost_daily_budget"]["usd_per_day"])
    hourly_budget = Threshold(per_hour)
    daily_budget = Threshold(per_day)

    grid = Grid()
    grid.row("Budget (every model and agent)")
    grid.add(
        stat(
            "Spend in the last hour",
            "US dollars spent on OpenAI over the last hour, every model and agent: the number "
            "CostBudgetWarning compares with the hourly budget "
            f"({as_usd(per_hour)}). When red, the breakdown below shows which model and agent; "
            "a runaway retry loop shows on Agent Performance as retries.",
            Unit.USD,
            Query(HOURLY),
            threshold=hourly_budget,
            decimals=2,
        ),
        6,
        5,
    )
    grid.add(
        stat(
            "Projected daily spend",
            "The last hour's spend times 24: what a day costs at the current pace, and the number "
            f"CostDailyBudgetAtRisk compares with {as_usd(per_day)}. It reacts within the hour, "
            "long before the day's bill is in.",
            Unit.USD,
            Query(f"{HOURLY} * 24"),
            threshold=daily_budget,
            decimals=2,
        ),
        6,
        5,
    )
    grid.add(
        stat(
            "Spend in the time range",
            "US dollars spent over the whole time range picked above, every model and agent."
            + FROM_ROLLUPS,
            Unit.USD,
            Query(f"sum({over_range(COST_ROLLUP)})", instant=True),
            decimals=2,
        ),
        6,
        5,
    )
    grid.add(
        stat(
            "Cost per narrative (average)",
            "Spend over the time range divided by the narratives delivered in it (successful "
            "pipeline runs): failed runs' spend is included, because it is part of what a "
            "delivered narrative costs. Rising while traffic is flat means longer prompts, more "
            "retries or more failures." + FROM_ROLLUPS,
            Unit.USD,
            Query(
                f"sum({over_range(COST_ROLLUP)}) / sum({over_range(PIPELINE_ROLLUP, DELIVERED)})",
                instant=True,
            ),
            decimals=3,
        ),
        6,
        5,
    )
    grid.add(
        timeseries(
            "Cost per hour",
            "Each point is the spend over the hour before it, every model and agent; the dashed "
            f"line is the hourly budget ({as_usd(per_hour)}, CostBudgetWarning).",
            Unit.USD,
            [Query(HOURLY, "spend over the last hour")],
            threshold=hourly_budget,
            decimals=2,
        ),
        12,
        8,
    )
    grid.add(
        timeseries(
            "Daily spend",
            "Spend per calendar day (UTC), every model and agent, one bar per day; the dashed "
            f"line is the daily budget ({as_usd(per_day)}). Pick a range of a week or more. "
            "Today's bar grows until midnight, and each bar counts the 5-minute records "
            "ending in its day.",
            Unit.USD,
            [Query(f"sum({over_range(COST_ROLLUP, window='$__interval')})", "spend per day")],
            threshold=daily_budget,
            bars=True,
            decimals=2,
            interval="1d",
        ),
        12,
        8,
    )

    grid.row("Breakdown")
    grid.add(
        timeseries(
            "Cost per hour by model",
            "Spend over the hour before each point, per selected model. A model's share jumping "
            "after a release usually means an agent was switched to a bigger model.",
            Unit.USD,
            [Query('model:narra_forge_cost_usd:increase1h{model=~"$model"}', "{{model}}")],
            stack=True,
            decimals=2,
        ),
        12,
        8,
    )
    grid.add(
        timeseries(
            "Cost per hour by agent",
            "Spend over the hour before each point, per selected agent (all models).",
            Unit.USD,
            [
                Query(
                    'agent_id:narra_forge_cost_usd:increase1h{agent_id=~"$agent_id"}',
                    "{{agent_id}}",
                )
            ],
            stack=True,
            decimals=2,
        ),
        12,
        8,
    )
    grid.add(
        bargauge(
            "Cost by model (time range)",
            "Spend per model over the whole time range picked above (selected models and "
            "agents), most expensive first." + FROM_ROLLUPS,
            Unit.USD,
            Query(
                f"sort_desc(sum by (model) ({over_range(COST_ROLLUP, MODEL_AGENT)}))",
                "{{model}}",
                instant=True,
            ),
            decimals=2,
        ),
        8,
        8,
    )
    grid.add(
        bargauge(
            "Cost by agent (time range)",
            "Spend per agent over the whole time range picked above (selected models and "
            "agents), most expensive first." + FROM_ROLLUPS,
            Unit.USD,
            Query(
                f"sort_desc(sum by (agent_id) ({over_range(COST_ROLLUP, MODEL_AGENT)}))",
                "{{agent_id}}",
                instant=True,
            ),
            decimals=2,
        ),
        8,
        8,
    )
    grid.add(
        timeseries(
            "Tokens without a price",
            "Tokens per second of models missing from the pricing table, per model: spend that "
            "every cost panel here leaves out. Anything above zero means the pricing table needs "
            "the model added (a pricing file, NARRA_FORGE_PRICING_FILE); UnpricedTokensSpent "
            "warns while it lasts.",
            Unit.COUNTS_PER_SECOND,
            [
                Query(
                    "sum by (model) (rate(narra_forge_unpriced_tokens_total"
                    '{model=~"$model"}[$__rate_interval]))',
                    "{{model}}",
                )
            ],
            no_value="none: every model is priced",
        ),
        8,
        8,
    )

    grid.row("Reasoning models")
    grid.add(
        timeseries(
            "Reasoning tokens per second by model",
            "Hidden reasoning tokens of reasoning models (o-series, gpt-5) per second, per "
            "selected model. They are part of the completion tokens and billed with them, "
            "never twice; a prompt change that makes a model think longer shows here first.",
            Unit.COUNTS_PER_SECOND,
            [Query('model:narra_forge_reasoning_tokens:rate5m{model=~"$model"}', "{{model}}")],
            no_value="no reasoning model in use",
        ),
        12,
        8,
    )
    grid.add(
        timeseries(
            "Reasoning share of completion tokens",
            "Reasoning tokens divided by all completion tokens, per selected model: how much of "
            "what a reasoning model bills is thinking rather than output.",
            Unit.RATIO,
            [
                Query(
                    'sum by (model) (model:narra_forge_reasoning_tokens:rate5m{model=~"$model"})'
                    " / sum by (model) (model_token_type:narra_forge_tokens_used:rate5m"
                    '{token_type="completion", model=~"$model"})',
                    "{{model}}",
                )
            ],
            max_value=1,
            no_value="no reasoning model in use",
        ),
        12,
        8,
    )

    return dashboard(
        board=BOARD,
        description="What NARRA_FORGE spends on OpenAI, against the hourly and daily budgets.",
        tags=["cost"],
        variables=[
            query_variable("model", "Model", "narra_forge_cost_usd_total"),
            query_variable("agent_id", "Agent", "narra_forge_cost_usd_total"),
        ],
        grid=grid,
    )
