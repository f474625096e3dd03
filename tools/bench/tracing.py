"""What tracing adds to one agent step: spans, exemplars and trace ids in log lines.

The same step twice, in the same process and interleaved round by round: a collector with
``tracing=False`` and one with an SDK ``TracerProvider`` (AlwaysOn sampling, a
``BatchSpanProcessor``, as an application would configure it). A step is ``track_agent`` around
``track_api_call``, ``record_tokens``, ``record_cost`` and one JSON log line inside the agent;
traced, it also makes two spans, two exemplars, and the log line carries ``trace_id`` and
``span_id``. The exporter behind the batch processor drops the spans: exporting happens on the
processor's own thread, not in the step; what the step pays is creating, ending and queueing
them. Log lines go to /dev/null through the package's JSON pipeline.

    python -m tools.bench.tracing            # print the rows
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, Any

from tools.bench.common import Goal, Result, Timing, compare, measure_interleaved, summarise

TITLE = "Tracing: what spans, exemplars and trace ids in logs add to an agent step"
NOTES = (
    "A step = `track_agent` + `track_api_call` + `record_tokens` + `record_cost` + one JSON log "
    "line. Traced = the same step with an SDK TracerProvider (AlwaysOn, BatchSpanProcessor): "
    "two spans, two exemplars, `trace_id`/`span_id` in the line. Added = the median over rounds "
    "of (traced - untraced) within the round. Reference: two nested SDK spans alone (the "
    "OpenTelemetry SDK's own floor for what a step traces). Goal: under 30 µs added per step."
)

MODELS = ("gpt-4o", "gpt-4o-mini")
UNTRACED = "untraced (tracing=False)"
TRACED = "traced (spans, exemplars, ids in logs)"
BARE = "reference: two bare SDK spans, nothing else"
ADDED_GOAL = Goal("< 30 µs added", "<", 30e-6, "s")


@dataclass
class Cases:
    """The two steps, and what the traced one left behind (for the tests)."""

    steps: dict[str, Callable[[], None]]
    pairs: int
    registry: Any
    exported: list[Any]
    provider: Any


def cases(stream: IO[str], pairs: Sequence[tuple[str, str]] | None = None) -> Cases:
    """Both steps over ``pairs`` of (agent, model); log lines go to ``stream``."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    from prometheus_client import CollectorRegistry

    from narra_forge.monitoring import AGENT_IDS, MetricsCollector, configure_logging, get_logger

    exported: list[Any] = []

    class Dropping(SpanExporter):
        """Keeps a count, not the spans: memory stays flat over a long run."""

        def export(self, spans: Any) -> SpanExportResult:
            exported.extend(None for _ in spans)
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Dropping(), max_queue_size=1 << 16))
    configure_logging(level="INFO", json_output=True, stream=stream)
    log = get_logger("narra_forge.bench")
    chosen = list(pairs if pairs is not None else itertools.product(AGENT_IDS, MODELS))
    untraced = MetricsCollector(CollectorRegistry(), tracing=False)
    registry = CollectorRegistry()
    traced = MetricsCollector(registry, tracer_provider=provider)

    def step_with(metrics: MetricsCollector) -> Callable[[], None]:
        def steps() -> None:
            for agent_id, model in chosen:
                with metrics.track_agent(agent_id, model):
                    with metrics.track_api_call(model, agent_id):
                        pass  # the OpenAI call
                    metrics.record_tokens(model, prompt_tokens=1200, completion_tokens=800)
                    metrics.record_cost(model, agent_id, 0.011)
                    log.info("agent_step_done", agent_id=agent_id)

        return steps

    from opentelemetry import context as otel_context
    from opentelemetry import trace

    tracer = provider.get_tracer("bench")

    def bare_spans() -> None:
        """The SDK's own floor: two nested spans made current, no attributes, nothing else."""
        for _ in chosen:
            outer = tracer.start_span("outer")
            token = otel_context.attach(trace.set_span_in_context(outer))
            tracer.start_span("inner").end()
            otel_context.detach(token)
            outer.end()

    steps = {
        UNTRACED: step_with(untraced),
        TRACED: step_with(traced),
        BARE: bare_spans,
    }
    return Cases(steps, len(chosen), registry, exported, provider)


def added(timings: dict[str, Timing]) -> Result:
    """The median over rounds of (traced - untraced) within the round: the two ran back to
    back, so a round's drift (a busy machine) cancels out."""
    pairs = zip(timings[TRACED].rounds, timings[UNTRACED].rounds, strict=True)
    difference = summarise([traced - untraced for traced, untraced in pairs])
    quartiles = (
        abs(difference.spread_pct * difference.median_us) / 100 if difference.spread_pct else 0.0
    )
    return Result(
        benchmark="agent step",
        case="added by tracing",
        median_us=difference.median_us,
        spread_pct=None,
        runs=len(difference.rounds),
        measured=f"{difference.median_us:+.1f} µs per step (±{quartiles:.1f} µs between rounds)",
        **ADDED_GOAL.judge(difference.median_us / 1e6),  # type: ignore[arg-type]
    )


def measure(
    stream: IO[str], pairs: Sequence[tuple[str, str]] | None, number: int, rounds: int
) -> list[Result]:
    built = cases(stream, pairs)
    timings = measure_interleaved(built.steps, number=number, rounds=rounds)
    per_step = {
        name: Timing(
            t.median_us / built.pairs, t.spread_pct, tuple(r / built.pairs for r in t.rounds)
        )
        for name, t in timings.items()
    }
    rows = compare("agent step", per_step, baseline=UNTRACED)
    return [*rows, added(per_step)]


def run() -> list[Result]:
    with open(os.devnull, "w", encoding="utf-8") as null:
        return measure(null, None, number=20, rounds=15)


def main() -> int:
    from tools.bench.common import render_table

    print(render_table(run()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

__all__ = ["ADDED_GOAL", "NOTES", "TITLE", "added", "cases", "measure", "run"]
