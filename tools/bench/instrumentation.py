"""One agent step through ``MetricsCollector`` against the same updates written by hand.

A step is what an agent does per OpenAI call: ``track_agent`` around ``track_api_call``, then
``record_tokens`` and ``record_cost``. The hand-written step makes the same updates with
prometheus-client directly, calling ``.labels(...)`` on each update as code without a helper
does, and counts errors the same way. Steps cycle through every (agent, model) pair so neither
side benefits from one hot label set. Measured in-process, and again in a subprocess with
``PROMETHEUS_MULTIPROC_DIR`` set (every update then writes to an mmap'ed file).

    python -m tools.bench.instrumentation            # print the rows
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from tools.bench.common import Goal, Result, Timing, compare, measure_interleaved

TITLE = "Instrumentation: one agent step"
NOTES = (
    "A step = `track_agent` + `track_api_call` + `record_tokens` + `record_cost` (six metric "
    "updates). Hand-written = the same updates with prometheus-client, `.labels(...)` on each. "
    "Goal: the helper at most 1.0x the hand-written step, validation and cardinality guard "
    "included."
)

MODELS = ("gpt-4o", "gpt-4o-mini", "gpt-4.1")
HELPER = "helper (MetricsCollector)"
HAND = "hand-written prometheus-client"
GOAL = Goal("<= 1.0x hand-written", "<=", 1.0, "x")


def _steps() -> dict[str, object]:
    from prometheus_client import CollectorRegistry, Counter, Histogram

    from narra_forge.monitoring import AGENT_IDS, MetricsCollector
    from narra_forge.monitoring.catalogue import BY_NAME

    pairs = list(itertools.product(AGENT_IDS, MODELS))
    metrics = MetricsCollector(CollectorRegistry())

    def helper_steps() -> None:
        for agent_id, model in pairs:
            with metrics.track_agent(agent_id, model):
                with metrics.track_api_call(model, agent_id):
                    pass  # the OpenAI call
                metrics.record_tokens(model, prompt_tokens=1200, completion_tokens=800)
                metrics.record_cost(model, agent_id, 0.011)

    hand_registry = CollectorRegistry()

    def declare(name: str):  # returns a prometheus-client metric
        metric = BY_NAME[name]
        # Prefixed so that, in multiprocess mode, these never share mmap keys with the helper's.
        bench_name = "bench_" + name
        if metric.type == "counter":
            return Counter(bench_name, metric.help, metric.labels, registry=hand_registry)
        return Histogram(
            bench_name, metric.help, metric.labels, buckets=metric.buckets, registry=hand_registry
        )

    agent_duration = declare("narra_forge_agent_duration_seconds")
    agent_errors = declare("narra_forge_agent_errors_total")
    api_calls = declare("narra_forge_api_calls_total")
    api_duration = declare("narra_forge_api_call_duration_seconds")
    api_errors = declare("narra_forge_api_errors_total")
    tokens = declare("narra_forge_tokens_used_total")
    cost = declare("narra_forge_cost_usd_total")
    monotonic = time.monotonic

    def hand_steps() -> None:
        for agent_id, model in pairs:
            agent_start = monotonic()
            try:
                call_start = monotonic()
                try:
                    pass  # the OpenAI call
                except Exception as error:
                    api_errors.labels(model, type(error).__name__).inc()
                    raise
                finally:
                    api_calls.labels(model, agent_id).inc()
                    api_duration.labels(model).observe(monotonic() - call_start)
                tokens.labels(model, "prompt").inc(1200)
                tokens.labels(model, "completion").inc(800)
                cost.labels(model, agent_id).inc(0.011)
            except Exception as error:
                agent_errors.labels(agent_id, type(error).__name__).inc()
                raise
            finally:
                agent_duration.labels(agent_id, model).observe(monotonic() - agent_start)

    return {"pairs": len(pairs), HELPER: helper_steps, HAND: hand_steps}


def _measure(mode: str) -> list[Result]:
    steps = _steps()
    pairs = steps.pop("pairs")
    timings = measure_interleaved(steps, number=200, rounds=15)  # type: ignore[arg-type]
    per_step = {
        name: Timing(t.median_us / pairs, t.spread_pct, tuple(r / pairs for r in t.rounds))  # type: ignore[operator]
        for name, t in timings.items()
    }
    return compare(f"agent step, {mode}", per_step, baseline=HAND, goals={HELPER: GOAL})


def _multiprocess() -> list[Result]:
    """The same comparison in a subprocess whose prometheus-client is in multiprocess mode."""
    repo = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory(prefix="narra-forge-bench-") as directory:
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": directory}
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(repo), str(repo / "src"), env.get("PYTHONPATH")])
        )
        done = subprocess.run(
            [sys.executable, "-m", "tools.bench.instrumentation", "--inner-multiprocess"],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"multiprocess benchmark failed:\n{done.stderr}")
    return [Result(**row) for row in json.loads(done.stdout)]


def run_quick() -> list[Result]:
    """``make bench-quick``: the same measurement (it takes seconds)."""
    return run()


def run() -> list[Result]:
    return _measure("single process") + _multiprocess()


def main(argv: list[str]) -> int:
    if argv == ["--inner-multiprocess"]:
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            print("PROMETHEUS_MULTIPROC_DIR is not set", file=sys.stderr)
            return 2
        print(json.dumps([asdict(row) for row in _measure("multiprocess mode")]))
        return 0
    from tools.bench.common import render_table

    print(render_table(run()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
