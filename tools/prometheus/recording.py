"""Recording rules: every quantity that both an alert and a dashboard show, computed once.

Names follow ``level:metric:operations``: the level lists the labels kept (empty for a total
over everything, as kubernetes-mixin writes ``:node_memory_MemAvailable_bytes:sum``), the metric
drops ``_total`` once a rate is taken, the operations say what was done and over which window.
Alerts and dashboard panels select these names, so a number on a page and on a panel agree.

Some rules serve dashboards alone: the panels that would read the most raw series over 30 days
(heatmaps, score percentiles, errors by type, calls per model) read a rule summed down to the
labels they show. Each one reads several times fewer series than its inputs, or serves a graph
whose raw query at 30 days reads every sample of the month where the rule gives one recorded
point per step (time to first token, tokens: only the instance label is summed away);
otherwise it only adds an evaluation every 15 s (docs/benchmarks.md measures what they save).

Rollups (``Rollup``, group ``narra_forge_rollups``) serve the time-range totals: a counter's
increase per 5 minutes, recorded every 5 minutes, which ``sum_over_time`` adds up over the
picked range from one record per 5 minutes instead of every raw sample.
"""

from __future__ import annotations

from dataclasses import dataclass

from narra_forge.monitoring.catalogue import BY_NAME, Metric
from tools.prometheus.thresholds import Thresholds


@dataclass(frozen=True)
class RecordingRule:
    record: str
    expr: str


#: The rollups' group interval and window: each record is the increase over the 5 minutes
#: before it, recorded every 5 minutes, so consecutive records do not overlap.
ROLLUP_INTERVAL = "5m"


@dataclass(frozen=True)
class Rollup:
    """A counter's increase per 5 minutes, summed down to ``by``, for time-range totals.

    Recorded in its own group every ``ROLLUP_INTERVAL``, so ``sum_over_time(record[range])``
    adds up non-overlapping windows: the increase over a span as long as the range that ends
    at the last record, up to 5 minutes before the range's end (the span shifts back, it does
    not shrink). At 30 days that reads one record per 5 minutes per kept label set instead of
    every raw sample of every instance. Summing a rule evaluated every 15 s would count each
    moment 20 times: only a rollup may be read through ``sum_over_time``.
    """

    record: str
    counter: str
    by: tuple[str, ...]

    def over(self, window: str) -> str:
        """The same total straight from the counter: what ``sum_over_time`` of the record
        over ``window`` approximates (tests and the raw benchmark compare the two)."""
        return f"sum by ({', '.join(self.by)}) (increase({self.counter}[{window}]))"

    @property
    def expr(self) -> str:
        return self.over(ROLLUP_INTERVAL)


#: The rollups' names, for the panels that total them (``builders.over_range``).
COST_ROLLUP = "model_agent_id:narra_forge_cost_usd:increase5m_rollup"
PIPELINE_ROLLUP = "production_type_genre_status:narra_forge_pipeline:increase5m_rollup"
RETRY_ROLLUP = "agent_id:narra_forge_retry_attempts:increase5m_rollup"
SCORE_BUCKET_ROLLUP = (
    "metric_type_production_type_le:narra_forge_quality_score_bucket:increase5m_rollup"
)
SCORE_SUM_ROLLUP = "metric_type_production_type:narra_forge_quality_score_sum:increase5m_rollup"
SCORE_COUNT_ROLLUP = "metric_type_production_type:narra_forge_quality_score_count:increase5m_rollup"


def rollups() -> tuple[Rollup, ...]:
    """The rollups, one per counter that a dashboard totals over its time range. Each keeps
    the labels its panels filter and group by, and sums the instance away."""
    score = "narra_forge_quality_score"
    by_score = ("metric_type", "production_type")
    return (
        Rollup(COST_ROLLUP, "narra_forge_cost_usd_total", ("model", "agent_id")),
        Rollup(
            PIPELINE_ROLLUP, "narra_forge_pipeline_total", ("production_type", "genre", "status")
        ),
        Rollup(RETRY_ROLLUP, "narra_forge_retry_attempts_total", ("agent_id",)),
        Rollup(SCORE_BUCKET_ROLLUP, f"{score}_bucket", (*by_score, "le")),
        Rollup(SCORE_SUM_ROLLUP, f"{score}_sum", by_score),
        Rollup(SCORE_COUNT_ROLLUP, f"{score}_count", by_score),
    )


def reads_rollup(expr: str) -> bool:
    """Whether ``expr`` reads a rollup (its total is then one of the rollups' sums)."""
    return any(rollup.record in expr for rollup in rollups())


def bucket_matcher(metric: Metric, seconds: float) -> str:
    """PromQL regex for one bucket's ``le``: Prometheus 3 writes ``1800.0``, 2.x ``1800``.

    The limit must be a bucket boundary, or no exact answer exists and the rule would be wrong.
    """
    if seconds not in metric.buckets:
        raise ValueError(
            f"threshold {seconds:g}s is not a bucket boundary of {metric.name}; "
            f"choose one of {', '.join(f'{b:g}' for b in metric.buckets)}"
        )
    whole = f"{seconds:g}"
    # Backslashes are doubled once for the PromQL string literal the regex sits in.
    return whole.replace(".", "\\\\.") + ("" if "." in whole else "(\\\\.0)?")


def _quantile(q: float, metric: str, by: str) -> str:
    return f"histogram_quantile({q}, sum by (le, {by}) (rate({metric}_bucket[5m])))"


def recording_rules(thresholds: Thresholds) -> tuple[RecordingRule, ...]:
    """The recording rules, in evaluation order (a rule only reads rules above it)."""
    pipeline = "narra_forge_pipeline_duration_seconds"
    limit = float(thresholds["pipeline_duration_high"]["seconds"])
    slow_le = bucket_matcher(BY_NAME[pipeline], limit)
    return (
        *(
            RecordingRule(
                f"production_type:{pipeline}:p{int(q * 100)}_5m",
                _quantile(q, pipeline, "production_type"),
            )
            for q in (0.5, 0.95, 0.99)
        ),
        RecordingRule(
            # The share of runs slower than the alert's limit. Exact where a P95 from
            # histogram_quantile is not: P95 > limit exactly when this share > 5%, and
            # histogram_quantile can never return more than the highest finite bucket (1800).
            # (all - fast) / all rather than 1 - fast / all: at exactly 5% slow, 1 - 0.95 is
            # 0.05000000000000004 in floating point and would page; 1 / 20 is exactly 0.05.
            f"production_type:{pipeline}:slower_than_limit_ratio_5m",
            f"(sum by (production_type) (rate({pipeline}_count[5m]))"
            f' - sum by (production_type) (rate({pipeline}_bucket{{le=~"{slow_le}"}}[5m])))'
            f" / sum by (production_type) (rate({pipeline}_count[5m]))",
        ),
        RecordingRule(
            "production_type_status:narra_forge_pipeline:rate5m",
            "sum by (production_type, status) (rate(narra_forge_pipeline_total[5m]))",
        ),
        # Per app instance, for "which one is sick" (Pipeline Overview, By instance). Summed
        # down to instance and status only: a few series per instance, where the rules above
        # keep aggregating the instance away (an instance label there would multiply them).
        RecordingRule(
            # Failures per production type and genre, the instance summed away: the failures
            # by genre graph at 30 days reads one recorded point per step (1.3 s raw, measured).
            "production_type_genre:narra_forge_pipeline_failures:rate5m",
            "sum by (production_type, genre)"
            ' (rate(narra_forge_pipeline_total{status="failed"}[5m]))',
        ),
        RecordingRule(
            "instance_status:narra_forge_pipeline:rate5m",
            "sum by (instance, status) (rate(narra_forge_pipeline_total[5m]))",
        ),
        RecordingRule(
            "instance:narra_forge_api_errors:ratio_rate5m",
            "sum by (instance) (rate(narra_forge_api_errors_total[5m]))"
            " / sum by (instance) (rate(narra_forge_api_calls_total[5m]))",
        ),
        RecordingRule(
            "instance:narra_forge_agent_duration_seconds:p95_5m",
            _quantile(0.95, "narra_forge_agent_duration_seconds", "instance"),
        ),
        RecordingRule(
            ":narra_forge_pipeline_failures:ratio_rate5m",
            'sum(rate(narra_forge_pipeline_total{status="failed"}[5m]))'
            " / sum(rate(narra_forge_pipeline_total[5m]))",
        ),
        RecordingRule(
            ":narra_forge_api_errors:ratio_rate5m",
            "sum(rate(narra_forge_api_errors_total[5m]))"
            " / sum(rate(narra_forge_api_calls_total[5m]))",
        ),
        RecordingRule(
            ":narra_forge_api_rate_limited:ratio_rate5m",
            'sum(rate(narra_forge_api_errors_total{error_type="rate_limit"}[5m]))'
            " / sum(rate(narra_forge_api_calls_total[5m]))",
        ),
        RecordingRule(
            "model:narra_forge_api_calls:rate5m",
            "sum by (model) (rate(narra_forge_api_calls_total[5m]))",
        ),
        RecordingRule(
            "model:narra_forge_api_errors:ratio_rate5m",
            "sum by (model) (rate(narra_forge_api_errors_total[5m]))"
            " / sum by (model) (rate(narra_forge_api_calls_total[5m]))",
        ),
        RecordingRule(
            "error_type:narra_forge_api_errors:rate5m",
            "sum by (error_type) (rate(narra_forge_api_errors_total[5m]))",
        ),
        RecordingRule(
            "le:narra_forge_api_call_duration_seconds_bucket:increase5m",
            "sum by (le) (increase(narra_forge_api_call_duration_seconds_bucket[5m]))",
        ),
        RecordingRule(
            "model:narra_forge_api_call_duration_seconds:p95_5m",
            _quantile(0.95, "narra_forge_api_call_duration_seconds", "model"),
        ),
        *(
            # Time to first token keeps only the model label: the rules read as many series as
            # they write (one per model and instance summed to one per model). They are here
            # for the 30-day view, where a raw quantile reads every sample of the month (2.5 s
            # of the API Metrics load, measured) and the rule one point per step.
            RecordingRule(
                f"model:narra_forge_api_time_to_first_token_seconds:p{int(q * 100)}_5m",
                _quantile(q, "narra_forge_api_time_to_first_token_seconds", "model"),
            )
            for q in (0.5, 0.95)
        ),
        RecordingRule(
            "agent_id:narra_forge_agent_duration_seconds:p95_5m",
            _quantile(0.95, "narra_forge_agent_duration_seconds", "agent_id"),
        ),
        RecordingRule(
            # The execution-time heatmap's buckets with agents and models summed away: 9 series
            # instead of one set of buckets per agent and model. Counts over 5 minutes (a rate
            # times 300, as increase is) because a heatmap cell shows how many ended in it.
            "le:narra_forge_agent_duration_seconds_bucket:increase5m",
            "sum by (le) (increase(narra_forge_agent_duration_seconds_bucket[5m]))",
        ),
        RecordingRule(
            "error_type:narra_forge_agent_errors:rate5m",
            "sum by (error_type) (rate(narra_forge_agent_errors_total[5m]))",
        ),
        RecordingRule(
            "agent_id:narra_forge_agent_errors:ratio_rate5m",
            "sum by (agent_id) (rate(narra_forge_agent_errors_total[5m]))"
            " / sum by (agent_id) (rate(narra_forge_agent_duration_seconds_count[5m]))",
        ),
        RecordingRule(
            ":narra_forge_cost_usd:increase1h",
            "sum(increase(narra_forge_cost_usd_total[1h]))",
        ),
        RecordingRule(
            "model:narra_forge_cost_usd:increase1h",
            "sum by (model) (increase(narra_forge_cost_usd_total[1h]))",
        ),
        RecordingRule(
            "agent_id:narra_forge_cost_usd:increase1h",
            "sum by (agent_id) (increase(narra_forge_cost_usd_total[1h]))",
        ),
        RecordingRule(
            "token_type:narra_forge_tokens_used:rate5m",
            "sum by (token_type) (rate(narra_forge_tokens_used_total[5m]))",
        ),
        # The token panels (API Metrics, Cost Tracking) per model: the same series as their
        # inputs without the instance, for the 30-day view (one recorded point per step).
        RecordingRule(
            "model_token_type:narra_forge_tokens_used:rate5m",
            "sum by (model, token_type) (rate(narra_forge_tokens_used_total[5m]))",
        ),
        RecordingRule(
            "model:narra_forge_cached_prompt_tokens:rate5m",
            "sum by (model) (rate(narra_forge_cached_prompt_tokens_total[5m]))",
        ),
        RecordingRule(
            "model:narra_forge_reasoning_tokens:rate5m",
            "sum by (model) (rate(narra_forge_reasoning_tokens_total[5m]))",
        ),
        RecordingRule(
            "metric_type:narra_forge_quality_score:avg1h",
            "sum by (metric_type) (rate(narra_forge_quality_score_sum[1h]))"
            " / sum by (metric_type) (rate(narra_forge_quality_score_count[1h]))",
        ),
        RecordingRule(
            # Score buckets per metric type, production types summed away (a third of the
            # series): the score heatmap and the median / 10th percentile read it, keeping the
            # metric_type filter.
            "metric_type_le:narra_forge_quality_score_bucket:increase5m",
            "sum by (metric_type, le) (increase(narra_forge_quality_score_bucket[5m]))",
        ),
        RecordingRule(
            "reason:narra_forge_retry_attempts:rate5m",
            "sum by (reason) (rate(narra_forge_retry_attempts_total[5m]))",
        ),
        RecordingRule(
            ":narra_forge_retry_attempts:ratio_rate5m",
            "sum(rate(narra_forge_retry_attempts_total[5m]))"
            " / sum(rate(narra_forge_api_calls_total[5m]))",
        ),
    )
