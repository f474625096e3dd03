"""Pipeline Overview: is NARRA_FORGE producing narratives, how fast, and how many fail."""

from __future__ import annotations

from tools.config import DASHBOARDS, JOB
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
    over_range,
    query_variable,
    stat,
    timeseries,
)
from tools.prometheus.recording import PIPELINE_ROLLUP
from tools.prometheus.thresholds import Thresholds, as_duration, as_percent

BOARD = DASHBOARDS["pipeline"]

PIPELINES = "production_type_status:narra_forge_pipeline:rate5m"
FAILURE_RATIO = ":narra_forge_pipeline_failures:ratio_rate5m"
DURATION = "production_type:narra_forge_pipeline_duration_seconds"
TYPE = 'production_type=~"$production_type"'
TYPE_GENRE = 'production_type=~"$production_type", genre=~"$genre"'
FAILED_TYPE_GENRE = f'status="failed", {TYPE_GENRE}'
BY_INSTANCE = "instance_status:narra_forge_pipeline:rate5m"
INSTANCE = 'instance=~"$instance"'


def build(thresholds: Thresholds) -> JSON:
    max_failures = float(thresholds["pipeline_error_rate_high"]["ratio"])
    slow = float(thresholds["pipeline_duration_high"]["seconds"])
    min_success = Threshold(round(1 - max_failures, 6), bad="below")
    too_slow = Threshold(slow)

    grid = Grid()
    grid.row("Right now")
    grid.add(
        stat(
            "Pipelines per minute",
            "Pipeline runs finishing per minute (success and failure), over the last 5 minutes, "
            "for the selected production types. Zero while briefs are coming in means the "
            "pipeline is stuck or the app is down: check Active jobs and the NarraForgeTargetDown "
            "alert.",
            Unit.PER_MINUTE,
            Query(f"sum({PIPELINES}{{{TYPE}}}) * 60"),
        ),
        6,
        5,
    )
    grid.add(
        stat(
            "Success rate",
            "Share of pipeline runs that ended successfully over the last 5 minutes. "
            f"PipelineErrorRateHigh pages when failures exceed {as_percent(max_failures)} "
            f"(success below {as_percent(1 - max_failures)}). When it is red, open Agent "
            "Performance to see which agent fails and API Metrics for OpenAI errors.",
            Unit.RATIO,
            Query(
                f'sum({PIPELINES}{{status="success", {TYPE}}}) / sum({PIPELINES}{{{TYPE}}})',
            ),
            threshold=min_success,
            decimals=1,
        ),
        6,
        5,
    )
    grid.add(
        stat(
            "Active jobs",
            "Pipeline runs in progress right now, across every app process. Rising while "
            "Pipelines per minute stays at zero means runs are stuck (JobsStuck alert): look "
            "at the agent execution times and the OpenAI latency.",
            Unit.COUNT,
            Query("sum(narra_forge_jobs_active)"),
        ),
        6,
        5,
    )
    grid.add(
        stat(
            "Slowest P95 duration",
            "P95 wall time of a whole pipeline run over the last 5 minutes, for the slowest of the "
            f"selected production types. PipelineDurationHigh warns above {as_duration(slow)}. "
            f"The histogram's top bucket is {as_duration(slow)}, so a P95 shown at that value "
            f"means at least that slow: see Runs slower than {as_duration(slow)}.",
            Unit.SECONDS,
            Query(f"max({DURATION}:p95_5m{{{TYPE}}})"),
            threshold=too_slow,
        ),
        6,
        5,
    )

    grid.row("Throughput and outcome")
    grid.add(
        timeseries(
            "Pipelines per minute by production type",
            "Pipeline runs finishing per minute, per production type, over 5-minute windows. A "
            "drop to zero for one type while others keep running points at that type's agents "
            "or prompts.",
            Unit.PER_MINUTE,
            [
                Query(
                    f"sum by (production_type) ({PIPELINES}{{{TYPE}}}) * 60",
                    "{{production_type}}",
                )
            ],
            stack=True,
        ),
        12,
        8,
    )
    grid.add(
        timeseries(
            "Success rate by production type",
            "Share of runs that ended successfully, per production type, over 5-minute windows. "
            f"Below the dashed line ({as_percent(min_success.value)}) failures are above the "
            "PipelineErrorRateHigh limit. A gap means no run finished in the window.",
            Unit.RATIO,
            [
                Query(
                    f'sum by (production_type) ({PIPELINES}{{status="success", {TYPE}}})'
                    f" / sum by (production_type) ({PIPELINES}{{{TYPE}}})",
                    "{{production_type}}",
                )
            ],
            threshold=min_success,
            max_value=1,
        ),
        12,
        8,
    )

    grid.row("Duration")
    grid.add(
        timeseries(
            "Pipeline duration P50 / P95 / P99",
            "Wall time of a whole pipeline run (brief to narrative) by production type, over "
            "5-minute windows. The dashed line is the PipelineDurationHigh limit "
            f"({as_duration(slow)}) for the P95. Novels take longer than short stories; a "
            "jump for every type at once usually means OpenAI is slow (API Metrics). The dots "
            "are exemplars: single runs with their trace id (click one to open its trace and "
            "its log lines).",
            Unit.SECONDS,
            [
                *(
                    Query(f"{DURATION}:p{q}_5m{{{TYPE}}}", f"P{q} {{{{production_type}}}}")
                    for q in (50, 95, 99)
                ),
                exemplars_of("narra_forge_pipeline_duration_seconds", TYPE_GENRE),
            ],
            threshold=too_slow,
        ),
        16,
        8,
    )
    grid.add(
        timeseries(
            f"Runs slower than {as_duration(slow)}",
            f"Share of runs that took longer than {as_duration(slow)}, per production type, "
            "over 5-minute windows. Exact where a P95 read from buckets is not: the P95 is above "
            "the limit exactly when this share is above 5% (the dashed line).",
            Unit.RATIO,
            [Query(f"{DURATION}:slower_than_limit_ratio_5m{{{TYPE}}}", "{{production_type}}")],
            threshold=Threshold(0.05),
            max_value=1,
        ),
        8,
        8,
    )

    grid.row("Failures")
    grid.add(
        timeseries(
            "Failure ratio (what PipelineErrorRateHigh sees)",
            "Failed runs divided by all finished runs, every production type and genre, over 5 "
            "minutes: exactly the number the alert compares with its limit (dashed line, "
            f"{as_percent(max_failures)}). No traffic shows no line, never a false 0%.",
            Unit.RATIO,
            [Query(FAILURE_RATIO, "failure ratio")],
            threshold=Threshold(max_failures),
            max_value=1,
            no_value="no failures",
        ),
        8,
        8,
    )
    grid.add(
        timeseries(
            "Failed pipelines per minute by genre",
            "Failed runs per minute for each genre, averaged over 5 minutes (selected production "
            "types and genres). One "
            "genre failing while others succeed points at a prompt or validator problem for that "
            "genre rather than at OpenAI. Genres beyond the label cap are grouped as 'other'.",
            Unit.PER_MINUTE,
            [
                Query(
                    "sum by (genre) (production_type_genre:narra_forge_pipeline_failures:rate5m"
                    f"{{{TYPE_GENRE}}}) * 60",
                    "{{genre}}",
                )
            ],
            stack=True,
            no_value="no failures",
        ),
        8,
        8,
    )
    grid.add(
        bargauge(
            "Failures by genre (time range)",
            "Failed runs per genre over the whole time range picked above, most first. Use it to "
            "see which genre to investigate; Failed pipelines per minute by genre shows when."
            + FROM_ROLLUPS,
            Unit.COUNT,
            Query(
                f"sort_desc(sum by (genre) ({over_range(PIPELINE_ROLLUP, FAILED_TYPE_GENRE)}))",
                "{{genre}}",
                instant=True,
            ),
            decimals=0,
            no_value="no failures",
        ),
        8,
        8,
    )

    _by_instance(grid, max_failures)
    return dashboard(
        board=BOARD,
        description="Is NARRA_FORGE producing narratives, how fast, and how many fail.",
        tags=["pipeline"],
        variables=[
            query_variable("production_type", "Production type", "narra_forge_pipeline_total"),
            query_variable(
                "genre",
                "Genre",
                'narra_forge_pipeline_total{production_type=~"$production_type"}',
            ),
            # Only the By instance row reads it: the other panels are fleet-wide, from rules
            # that sum the instance away (docs/dashboards.md, "Which instance is sick").
            query_variable("instance", "Instance", f'up{{job="{JOB}"}}'),
        ],
        grid=grid,
    )


def _by_instance(grid: Grid, max_failures: float) -> None:
    """One row per app instance's health, from small per-instance rules (and ``up``)."""
    grid.row("By instance: which one is sick")
    grid.add(
        timeseries(
            "Scrape up by instance",
            "1 while Prometheus scrapes the instance's /metrics, 0 when a scrape fails. An "
            "instance at 0 is down or unreachable (NarraForgeTargetDown); its other panels "
            "below go blank rather than to zero.",
            Unit.COUNT,
            [Query(f'up{{job="{JOB}", {INSTANCE}}}', "{{instance}}")],
            max_value=1,
        ),
        8,
        8,
    )
    grid.add(
        timeseries(
            "Pipelines per minute by instance",
            "Pipeline runs finishing per minute on each instance, over 5-minute windows. One "
            "instance far below the others while up is 1 means it takes no work or is stuck.",
            Unit.PER_MINUTE,
            [Query(f"sum by (instance) ({BY_INSTANCE}{{{INSTANCE}}}) * 60", "{{instance}}")],
        ),
        8,
        8,
    )
    grid.add(
        timeseries(
            "Failure ratio by instance",
            "Failed runs divided by finished runs on each instance, over 5 minutes. One "
            "instance above the dashed line while the others are below points at that host "
            "(its configuration, its network to OpenAI), not at the prompts.",
            Unit.RATIO,
            [
                Query(
                    f'sum by (instance) ({BY_INSTANCE}{{status="failed", {INSTANCE}}})'
                    f" / sum by (instance) ({BY_INSTANCE}{{{INSTANCE}}})",
                    "{{instance}}",
                )
            ],
            threshold=Threshold(max_failures),
            max_value=1,
            no_value="no failures",
        ),
        8,
        8,
    )
    grid.add(
        timeseries(
            "OpenAI error ratio by instance",
            "Share of OpenAI calls that failed on each instance, over 5 minutes. Errors on one "
            "instance only point at its API key, proxy or network rather than at OpenAI.",
            Unit.RATIO,
            [Query(f"instance:narra_forge_api_errors:ratio_rate5m{{{INSTANCE}}}", "{{instance}}")],
            max_value=1,
            no_value="no calls",
        ),
        12,
        8,
    )
    grid.add(
        timeseries(
            "Agent P95 execution time by instance",
            "P95 time of one agent step on each instance, every agent and model together, over "
            "5 minutes. Slow on one instance only: CPU starvation or a noisy neighbour there.",
            Unit.SECONDS,
            [
                Query(
                    f"instance:narra_forge_agent_duration_seconds:p95_5m{{{INSTANCE}}}",
                    "{{instance}}",
                )
            ],
            no_value="no agent steps",
        ),
        12,
        8,
    )
