"""API Metrics: how the OpenAI API is answering NARRA_FORGE: volume, errors, latency, tokens."""

from __future__ import annotations

from tools.config import DASHBOARDS
from tools.grafana.builders import (
    JSON,
    Grid,
    Query,
    Threshold,
    Unit,
    dashboard,
    exemplars_of,
    heatmap,
    query_variable,
    stat,
    timeseries,
)
from tools.prometheus.thresholds import Thresholds, as_percent

BOARD = DASHBOARDS["api"]

MODEL = 'model=~"$model"'


def build(thresholds: Thresholds) -> JSON:
    max_errors = float(thresholds["api_error_rate_high"]["ratio"])
    max_rate_limited = float(thresholds["api_rate_limited"]["ratio"])

    grid = Grid()
    grid.row("Right now")
    grid.add(
        stat(
            "API calls per second",
            "OpenAI API calls per second for the selected models over 5 minutes, retries "
            "included. Zero while pipelines are running means calls are stuck before reaching "
            "OpenAI.",
            Unit.REQUESTS_PER_SECOND,
            Query(f"sum(model:narra_forge_api_calls:rate5m{{{MODEL}}})"),
        ),
        6,
        5,
    )
    grid.add(
        stat(
            "API error rate",
            "Failed OpenAI calls divided by all calls, every model, over 5 minutes: the number "
            f"APIErrorRateHigh pages on above {as_percent(max_errors)}. When red, check API errors "
            "per second by type and status.openai.com.",
            Unit.RATIO,
            Query(":narra_forge_api_errors:ratio_rate5m"),
            threshold=Threshold(max_errors),
            decimals=2,
            no_value="no errors",
        ),
        6,
        5,
    )
    grid.add(
        stat(
            "Rate-limited share",
            "Calls answered with a rate limit divided by all calls, every model, over 5 minutes. "
            f"APIRateLimited warns above {as_percent(max_rate_limited)}: the quota is too "
            "small for the traffic; lower concurrency or ask OpenAI for a higher tier.",
            Unit.RATIO,
            Query(":narra_forge_api_rate_limited:ratio_rate5m"),
            threshold=Threshold(max_rate_limited),
            decimals=2,
            no_value="none",
        ),
        6,
        5,
    )
    grid.add(
        stat(
            "Slowest model P95 latency",
            "95th percentile of one OpenAI call over 5 minutes, for the slowest selected model. "
            "Long completions are slow by nature; a jump for every model at once is OpenAI's "
            "side.",
            Unit.SECONDS,
            Query(f"max(model:narra_forge_api_call_duration_seconds:p95_5m{{{MODEL}}})"),
        ),
        6,
        5,
    )

    grid.row("Traffic and errors")
    grid.add(
        timeseries(
            "API calls per second by model",
            "OpenAI API calls per second per selected model over 5-minute windows, retries "
            "counted as calls of their own.",
            Unit.REQUESTS_PER_SECOND,
            [Query(f"model:narra_forge_api_calls:rate5m{{{MODEL}}}", "{{model}}")],
            stack=True,
        ),
        8,
        8,
    )
    grid.add(
        timeseries(
            "API error rate by model",
            "Failed calls divided by all calls over 5-minute windows: per selected model, and "
            "for every model together (what APIErrorRateHigh compares with the dashed line, "
            f"{as_percent(max_errors)}). One model alone failing points at that model's deployment "
            "or quota.",
            Unit.RATIO,
            [
                Query(f"model:narra_forge_api_errors:ratio_rate5m{{{MODEL}}}", "{{model}}"),
                Query(":narra_forge_api_errors:ratio_rate5m", "all models (alert)"),
            ],
            threshold=Threshold(max_errors),
            max_value=1,
            no_value="no errors",
        ),
        8,
        8,
    )
    grid.add(
        timeseries(
            "API errors per second by type",
            "Failed OpenAI calls per second by classified error over 5 minutes, every model (the "
            "model filter does not apply: the recording rule behind this panel sums models away; "
            "API error rate by model splits by model). rate_limit: quota; timeout and connection: "
            "network or OpenAI load; server_error: OpenAI incident; bad_request and auth: our side "
            "(a prompt too long, a rotated key).",
            Unit.PER_SECOND,
            [Query("error_type:narra_forge_api_errors:rate5m", "{{error_type}}")],
            stack=True,
            bars=True,
            no_value="no errors",
        ),
        8,
        8,
    )

    grid.row("Latency")
    grid.add(
        timeseries(
            "P95 API latency by model",
            "95th percentile of one OpenAI call per model over 5-minute windows. Calls that "
            "write long completions (the generator's) are the slowest; compare a model with "
            "itself over time rather than models with each other. The dots are exemplars: single "
            "HTTP attempts with their trace id (click one to open its trace and log lines).",
            Unit.SECONDS,
            [
                Query(
                    f"model:narra_forge_api_call_duration_seconds:p95_5m{{{MODEL}}}",
                    "{{model}}",
                ),
                exemplars_of("narra_forge_api_call_duration_seconds", MODEL),
            ],
        ),
        8,
        8,
    )
    grid.add(
        timeseries(
            "Time to first token by model (P50, P95)",
            "How long a streamed call waits for its first content chunk, per selected model: "
            "what a reader of a streamed narrative waits before text appears. A rise for every "
            "model at once is OpenAI queueing requests (a saturated tier) even when total call "
            "time hides it. Only streamed calls have it.",
            Unit.SECONDS,
            [
                *(
                    Query(
                        f"model:narra_forge_api_time_to_first_token_seconds:p{q}_5m{{{MODEL}}}",
                        f"{{{{model}}}} P{q}",
                    )
                    for q in (50, 95)
                ),
                exemplars_of("narra_forge_api_time_to_first_token_seconds", MODEL),
            ],
            no_value="no streamed calls",
        ),
        8,
        8,
    )
    grid.add(
        heatmap(
            "API call duration",
            "How long OpenAI calls take, as a heatmap of the duration buckets over time: each "
            "cell counts the calls that ended in one bucket during the 5 minutes before that "
            "point. Every model: the model filter does not apply, because the recording rule "
            "that keeps this panel fast over 30 days sums models away (P95 API latency by model "
            "splits by model). A band at the top (30s and above) is calls hitting the client "
            "timeout.",
            Query(
                "sum by (le) (le:narra_forge_api_call_duration_seconds_bucket:increase5m)",
                "{{le}}",
                format="heatmap",
            ),
            y_unit=Unit.SECONDS,
        ),
        8,
        8,
    )

    grid.row("Tokens")
    grid.add(
        timeseries(
            "Tokens per second (prompt and completion)",
            "Tokens billed per second, prompt and completion, every model, over 5 minutes. "
            "Prompt tokens growing faster than completions means prompts (context, world "
            "notes) are getting longer: cost grows with them.",
            Unit.COUNTS_PER_SECOND,
            [Query("token_type:narra_forge_tokens_used:rate5m", "{{token_type}}")],
            stack=True,
        ),
        8,
        8,
    )
    grid.add(
        timeseries(
            "Tokens per second by model",
            "Tokens billed per second per selected model and token type.",
            Unit.COUNTS_PER_SECOND,
            [
                Query(
                    f"model_token_type:narra_forge_tokens_used:rate5m{{{MODEL}}}",
                    "{{model}} {{token_type}}",
                )
            ],
            stack=True,
        ),
        8,
        8,
    )
    grid.add(
        timeseries(
            "Prompt cache hit share",
            "Prompt tokens served from OpenAI's prompt cache divided by all prompt tokens, for "
            "the selected models. Cached tokens are billed cheaper; a drop to zero after a "
            "release means the prompt prefix changed on every call and caching stopped working.",
            Unit.RATIO,
            [
                Query(
                    f"sum(model:narra_forge_cached_prompt_tokens:rate5m{{{MODEL}}})"
                    " / sum(model_token_type:narra_forge_tokens_used:rate5m"
                    f'{{token_type="prompt", {MODEL}}})',
                    "cached share",
                )
            ],
            max_value=1,
        ),
        8,
        8,
    )

    return dashboard(
        board=BOARD,
        description="How the OpenAI API is answering NARRA_FORGE: volume, errors, latency, tokens.",
        tags=["api"],
        variables=[query_variable("model", "Model", "narra_forge_api_calls_total")],
        grid=grid,
    )
