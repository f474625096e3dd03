"""The metric catalogue: every NARRA_FORGE metric, declared once.

The runtime metrics, the alert and recording rules, the dashboards, ``docs/metrics.md`` and the
workload simulator are all derived from or checked against this module. Names, types, labels and
buckets of the first twelve entries are a contract with the monitoring guide's queries: change
them and the rule and dashboard lints name every query that breaks.

Label values are bounded. A label is either *fixed* (its values are a closed set declared here)
or *open* (any value, but at most ``cap`` distinct values per process; the rest are reported as
``other``). Run ids, job ids and user input never become label values: they go into logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

MetricType = Literal["counter", "gauge", "histogram"]

#: The value an open label reports once its cap of distinct values is reached.
OVERFLOW_VALUE = "other"

AGENT_IDS: tuple[str, ...] = (
    "a01_brief_interpreter",
    "a02_world_architect",
    "a03_character_architect",
    "a04_structure_designer",
    "a05_segment_planner",
    "a06_sequential_generator",
    "a07_coherence_validator",
    "a08_language_stylizer",
    "a09_editorial_reviewer",
    "a10_output_processor",
)

#: The ``agent_id`` of an OpenAI call made outside any ``track_agent`` block
#: (``instrument_openai``): an allowed value of the label, beside the ten agents.
UNATTRIBUTED = "unattributed"

PRODUCTION_TYPES: tuple[str, ...] = ("short_story", "novella", "novel")

PIPELINE_STATUSES: tuple[str, ...] = ("success", "failed")

TOKEN_TYPES: tuple[str, ...] = ("prompt", "completion")

QUALITY_METRIC_TYPES: tuple[str, ...] = ("coherence", "logic", "psychology", "temporal")

#: How an exception is classified for ``error_type``; see ``errors.classify_exception``.
ERROR_TYPES: tuple[str, ...] = (
    "rate_limit",
    "timeout",
    "connection",
    "server_error",
    "bad_request",
    "auth",
    "content_filter",
    "invalid_output",
    "cancelled",
    "other",
)

#: Why the instrumentation itself refused or corrected an observation.
INSTRUMENTATION_ERROR_REASONS: tuple[str, ...] = (
    "negative",
    "not_finite",
    "out_of_range",
    "wrong_type",
    "empty_label",
    "unknown_label_value",
    "label_overflow",
    "unpriced_model",
    "cached_exceeds_prompt",
    "missing_usage",
    "internal_error",
)


@dataclass(frozen=True)
class Label:
    """A label name and the values it may take.

    ``values`` closes the set (anything else is invalid input); ``cap`` bounds an open label
    (the first ``cap`` distinct values are kept, later ones become ``OVERFLOW_VALUE``).
    """

    name: str
    help: str
    values: tuple[str, ...] | None = None
    cap: int | None = None

    def __post_init__(self) -> None:
        if (self.values is None) == (self.cap is None):
            raise ValueError(f"label {self.name!r}: declare exactly one of values= or cap=")

    @property
    def fixed(self) -> bool:
        return self.values is not None


LABELS: Mapping[str, Label] = {
    label.name: label
    for label in (
        Label("production_type", "Kind of narrative produced.", values=PRODUCTION_TYPES),
        Label("genre", "Genre from the brief, lower-cased; user input, so capped.", cap=24),
        Label("status", "How the pipeline ended.", values=PIPELINE_STATUSES),
        Label(
            "agent_id",
            "One of the ten pipeline agents, or unattributed (an OpenAI call outside any agent).",
            values=(*AGENT_IDS, UNATTRIBUTED),
        ),
        Label("model", "OpenAI model name as sent to the API.", cap=16),
        Label("error_type", "Bounded classification of the exception.", values=ERROR_TYPES),
        Label("token_type", "Prompt (input) or completion (output) tokens.", values=TOKEN_TYPES),
        Label("metric_type", "Quality dimension scored.", values=QUALITY_METRIC_TYPES),
        Label("reason", "Why an agent step was retried, e.g. rate_limit.", cap=16),
        Label("metric", "Catalogue metric whose observation was refused or corrected.", cap=64),
        Label("version", "Version string of the package or of the pricing table.", cap=4),
    )
}


@dataclass(frozen=True)
class Metric:
    """One metric family as Prometheus exposes it (counter names include ``_total``)."""

    name: str
    type: MetricType
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()
    #: For a gauge in prometheus-client's multiprocess mode: how worker values are combined.
    multiprocess_mode: str = "livesum"
    #: Label domains that differ from the shared ones in ``LABELS`` for this metric only.
    overrides: tuple[Label, ...] = ()
    domains: Mapping[str, Label] = field(init=False, repr=False)
    allowed_values: Mapping[str, tuple[str, ...]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        domains = {**LABELS, **{label.name: label for label in self.overrides}}
        unknown = [label for label in self.labels if label not in domains]
        if unknown:
            raise ValueError(f"metric {self.name}: undeclared labels {unknown}")
        object.__setattr__(self, "domains", {name: domains[name] for name in self.labels})
        if self.type == "counter" and not self.name.endswith("_total"):
            raise ValueError(f"metric {self.name}: a counter's name ends in _total")
        if (self.type == "histogram") != bool(self.buckets):
            raise ValueError(f"metric {self.name}: buckets are for histograms, and required there")
        if list(self.buckets) != sorted(set(self.buckets)):
            raise ValueError(f"metric {self.name}: buckets must be strictly increasing")
        fixed = {n: d.values for n, d in self.domains.items() if d.values is not None}
        object.__setattr__(self, "allowed_values", fixed)

    @property
    def series_names(self) -> tuple[str, ...]:
        """The sample names this family exposes, as PromQL sees them."""
        if self.type == "histogram":
            return tuple(f"{self.name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
        return (self.name,)

    def labels_of(self, series_name: str) -> tuple[str, ...]:
        """Labels a sample of this family carries (``le`` on buckets), without target labels."""
        return (*self.labels, "le") if series_name.endswith("_bucket") else self.labels


METRICS: tuple[Metric, ...] = (
    # Pipeline: one run of the ten agents, from brief to narrative.
    Metric(
        "narra_forge_pipeline_duration_seconds",
        "histogram",
        "Wall time of one whole pipeline run, failed runs included.",
        labels=("production_type", "genre"),
        buckets=(10, 30, 60, 120, 300, 600, 1200, 1800),
    ),
    Metric(
        "narra_forge_pipeline_total",
        "counter",
        "Pipeline runs that ended, by outcome.",
        labels=("production_type", "genre", "status"),
    ),
    Metric(
        "narra_forge_jobs_active",
        "gauge",
        "Pipeline runs in progress right now.",
    ),
    # Agents: one step of a pipeline.
    Metric(
        "narra_forge_agent_duration_seconds",
        "histogram",
        "Wall time of one agent execution, failed executions included.",
        labels=("agent_id", "model"),
        buckets=(0.5, 1, 2, 5, 10, 30, 60, 120),
    ),
    Metric(
        "narra_forge_agent_errors_total",
        "counter",
        "Agent executions that raised, by classified error.",
        labels=("agent_id", "error_type"),
    ),
    # OpenAI API calls.
    Metric(
        "narra_forge_api_calls_total",
        "counter",
        "OpenAI API calls made, failed calls included.",
        labels=("model", "agent_id"),
    ),
    Metric(
        "narra_forge_api_call_duration_seconds",
        "histogram",
        "Duration of one OpenAI API call; each retry is a call of its own.",
        labels=("model",),
        buckets=(0.5, 1, 2, 5, 10, 20, 30),
    ),
    Metric(
        "narra_forge_api_errors_total",
        "counter",
        "OpenAI API calls that failed, by classified error.",
        labels=("model", "error_type"),
    ),
    # Tokens and cost.
    Metric(
        "narra_forge_tokens_used_total",
        "counter",
        "Tokens billed by OpenAI; prompt tokens include cached prompt tokens.",
        labels=("model", "token_type"),
    ),
    Metric(
        "narra_forge_cost_usd_total",
        "counter",
        "Spend in US dollars, from the pricing table or as reported by the caller.",
        labels=("model", "agent_id"),
    ),
    # Quality of the narrative produced.
    Metric(
        "narra_forge_quality_score",
        "histogram",
        "Quality score between 0 and 1 given by the validators, per dimension.",
        labels=("production_type", "metric_type"),
        buckets=(0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0),
    ),
    Metric(
        "narra_forge_retry_attempts_total",
        "counter",
        "Retries of an agent step, or of an OpenAI request by the SDK itself, by reason.",
        labels=("agent_id", "reason"),
    ),
    # Beyond the guide: each earns its place by answering a question the twelve cannot.
    Metric(
        "narra_forge_cached_prompt_tokens_total",
        "counter",
        "Prompt tokens served from OpenAI's prompt cache (a subset of prompt tokens, billed "
        "cheaper); shows whether caching is working.",
        labels=("model",),
    ),
    Metric(
        "narra_forge_reasoning_tokens_total",
        "counter",
        "Reasoning tokens of reasoning models (o-series, gpt-5): a subset of completion "
        "tokens, billed once as completion tokens; shows what thinking costs.",
        labels=("model",),
    ),
    Metric(
        "narra_forge_api_time_to_first_token_seconds",
        "histogram",
        "Time from sending a streamed OpenAI request to its first content chunk (buckets: the "
        "OpenTelemetry GenAI time-to-first-chunk boundaries).",
        labels=("model",),
        # OpenTelemetry GenAI semantic conventions, gen_ai.client.operation.time_to_first_chunk.
        buckets=(
            0.01,
            0.02,
            0.04,
            0.08,
            0.16,
            0.32,
            0.64,
            1.28,
            2.56,
            5.12,
            10.24,
            20.48,
            40.96,
            81.92,
        ),
    ),
    Metric(
        "narra_forge_unpriced_tokens_total",
        "counter",
        "Tokens of models missing from the pricing table: spend that the cost metric does not "
        "show. Non-zero means the pricing table needs an update.",
        labels=("model",),
    ),
    Metric(
        "narra_forge_instrumentation_errors_total",
        "counter",
        "Observations the monitoring package refused or corrected instead of raising into the "
        "application (bad numbers, unknown or overflowing label values).",
        labels=("metric", "reason"),
        overrides=(
            Label(
                "reason",
                "Why the instrumentation refused or corrected an observation.",
                values=INSTRUMENTATION_ERROR_REASONS,
            ),
        ),
    ),
    Metric(
        "narra_forge_build_info",
        "gauge",
        "Always 1; the version label says which narra-forge-monitoring release is running.",
        labels=("version",),
        # The maximum over *live* processes: after a reload, the versions of replaced workers
        # go away (mark_process_dead); "max" would keep every version ever run.
        multiprocess_mode="livemax",
    ),
    Metric(
        "narra_forge_pricing_info",
        "gauge",
        "Always 1; the version label says which pricing table costs are computed from.",
        labels=("version",),
        multiprocess_mode="livemax",
    ),
)

#: The twelve metrics of the monitoring guide: their shape is a contract.
GUIDE_METRICS: tuple[str, ...] = tuple(metric.name for metric in METRICS[:12])

BY_NAME: Mapping[str, Metric] = {metric.name: metric for metric in METRICS}


def series_index() -> dict[str, Metric]:
    """Every sample name PromQL can select (``_bucket``, ``_sum``, ``_count`` included)."""
    return {series: metric for metric in METRICS for series in metric.series_names}
