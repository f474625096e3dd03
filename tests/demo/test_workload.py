"""The workload model, its scenarios and the simulator's command line."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from narra_forge.monitoring import MetricsCollector
from tools.demo.backfill import VirtualClock, VirtualTimeLoop, generate
from tools.demo.workload import (
    AGENT_MODELS,
    CANARY_MODEL,
    GENRES,
    PRODUCTIONS,
    SCENARIOS,
    Env,
    NullLog,
    arrival_gap,
    arrivals,
    expose_series,
)

ALERT_NAMES = {
    rule["alert"]
    for rules in ("alerts.yml", "slo_rules.yml")
    for group in yaml.safe_load(Path(f"monitoring/prometheus/{rules}").read_text())["groups"]
    for rule in group["rules"]
    if "alert" in rule
}


def run_virtual(scenario: str, hours: float, seed: int = 3) -> CollectorRegistry:
    """Run the workload for ``hours`` of virtual time; return the registry it recorded into."""
    registry = CollectorRegistry()
    clock = VirtualClock()
    collector = MetricsCollector(registry=registry, clock=lambda: clock.now)
    env = Env(collector, asyncio.sleep, NullLog(), SCENARIOS[scenario], seed=seed)
    loop = VirtualTimeLoop(clock)

    async def main() -> None:
        await arrivals(env, 60, 8, until=lambda: clock.now > hours * 3600)

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    return registry


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    total = 0.0
    for family in registry.collect():
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def test_slow_burn_fails_one_pipeline_in_40_and_stays_under_the_threshold_alert():
    registry = run_virtual("slow_burn", hours=10)
    failed = value(registry, "narra_forge_pipeline_total", status="failed")
    total = value(registry, "narra_forge_pipeline_total")
    # A cadence: exactly every 40th pipeline that finished (the ones still running at the end
    # may hold one more failure or one fewer).
    assert total > 400
    assert abs(failed - total / 40) <= 2
    assert failed / total < 0.10  # PipelineErrorRateHigh's 10%: the threshold alert stays quiet


def test_every_alert_a_scenario_promises_exists_in_alerts_yml():
    for scenario in SCENARIOS.values():
        assert set(scenario.fires) <= ALERT_NAMES, scenario.name
    assert SCENARIOS["healthy"].fires == ()


def test_docs_demo_md_lists_every_scenario_with_its_alerts():
    rows = {
        line.split("|")[1].strip(" `"): line
        for line in Path("docs/demo.md").read_text().splitlines()
        if line.startswith("| `")
    }
    for scenario in SCENARIOS.values():
        assert scenario.name in rows, f"docs/demo.md has no row for {scenario.name}"
        for alert in scenario.fires:
            assert alert in rows[scenario.name], f"{scenario.name}: {alert} not in docs/demo.md"


class FinishLog(NullLog):
    """The model's log, keeping the virtual time of each ``pipeline_completed`` line."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.finished: list[float] = []

    def bind(self, **_: object) -> FinishLog:
        return self

    def info(self, event: str, *_: object, **__: object) -> None:
        if event == "pipeline_completed":
            self.finished.append(self.clock.now)


def finish_times(hours: float, seed: int) -> list[float]:
    """Virtual seconds at which healthy pipelines finished, over ``hours``."""
    clock = VirtualClock()
    collector = MetricsCollector(registry=CollectorRegistry(), clock=lambda: clock.now)
    log = FinishLog(clock)
    env = Env(collector, asyncio.sleep, log, SCENARIOS["healthy"], seed=seed)
    loop = VirtualTimeLoop(clock)
    try:
        loop.run_until_complete(arrivals(env, 60, 8, until=lambda: clock.now > hours * 3600))
    finally:
        loop.close()
    return log.finished


@pytest.mark.parametrize("seed", [1, 2])
def test_every_five_minutes_a_pipeline_finishes(seed: int):
    # Every ratio and quantile over [5m] (the guide's success rate and P95, the recording rules
    # the dashboards read) needs a finished pipeline in the window, or it reads 0/0 and the
    # panel goes blank. Poisson arrivals at 60 an hour left six minutes and more without one.
    finished = finish_times(hours=24, seed=seed)
    assert 1300 < len(finished) < 1600  # 60 an hour
    longest = max(b - a for a, b in itertools.pairwise(finished))
    assert longest < 300, f"{longest:.0f}s without a finished pipeline"


def test_briefs_arrive_between_half_and_one_and_a_half_mean_gaps():
    rng = random.Random(0)
    gaps = [arrival_gap(rng, 60) for _ in range(10_000)]
    assert min(gaps) >= 30
    assert max(gaps) <= 90
    assert 59 < sum(gaps) / len(gaps) < 61  # 60 an hour on average


def exposed(registry: CollectorRegistry) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the registry's real exposition, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for sample in family.samples
    }


@pytest.mark.parametrize("scenario", ["healthy", "unpriced_model"])
def test_the_simulator_exposes_every_series_at_zero_before_the_first_pipeline(scenario: str):
    # Its pipelines end between two scrapes: a series born at 1 would hide the first outcome.
    registry = CollectorRegistry()
    expose_series(MetricsCollector(registry=registry), SCENARIOS[scenario])
    samples = exposed(registry)
    for production in PRODUCTIONS:
        for genre in GENRES:
            for status in ("success", "failed"):
                labels = {"production_type": production.name, "genre": genre, "status": status}
                assert samples[("narra_forge_pipeline_total", frozenset(labels.items()))] == 0
    agents = set(AGENT_MODELS.items())
    if scenario == "unpriced_model":
        agents.add(("a10_output_processor", CANARY_MODEL))
    for agent, model in agents:
        labels = frozenset({"agent_id": agent, "model": model}.items())
        assert samples[("narra_forge_agent_duration_seconds_count", labels)] == 0
        assert samples[("narra_forge_api_calls_total", labels)] == 0
    # Nothing recorded: no pipeline running, no time, no cost, no refusal.
    moved = {
        name: value
        for (name, _), value in samples.items()
        if value and not name.endswith("_info") and "_bucket" not in name
    }
    assert moved == {}


def test_healthy_hours_are_realistic_and_within_the_budgets():
    registry = run_virtual("healthy", hours=3)
    finished = value(registry, "narra_forge_pipeline_total")
    assert 120 < finished < 240  # 60 an hour, steady
    assert value(registry, "narra_forge_pipeline_total", status="failed") == 0
    spend_per_hour = value(registry, "narra_forge_cost_usd_total") / 3
    assert 2 < spend_per_hour < 6.25  # under $10/h and under $150/day (6.25/h)
    for production, low, high in (("short_story", 60, 300), ("novel", 300, 1800)):
        count = value(
            registry, "narra_forge_pipeline_duration_seconds_count", production_type=production
        )
        mean = (
            value(registry, "narra_forge_pipeline_duration_seconds_sum", production_type=production)
            / count
        )
        assert low < mean < high, (production, mean)
    # Every catalogue family the dashboards read is fed: retries, streams (time to first
    # token), reasoning tokens; every model is priced, so nothing is unpriced.
    assert value(registry, "narra_forge_retry_attempts_total") > 0
    assert value(registry, "narra_forge_api_time_to_first_token_seconds_count") > 0
    reasoning = value(registry, "narra_forge_reasoning_tokens_total", model="o4-mini")
    completion = value(
        registry, "narra_forge_tokens_used_total", model="o4-mini", token_type="completion"
    )
    assert 0 < reasoning < completion  # part of the completion tokens, billed with them
    assert value(registry, "narra_forge_unpriced_tokens_total") == 0
    api_calls = value(registry, "narra_forge_api_calls_total")
    assert value(registry, "narra_forge_api_errors_total") / api_calls < 0.01


@pytest.mark.parametrize(
    ("scenario", "check"),
    [
        (
            "pipeline_failures",
            lambda r: (
                value(r, "narra_forge_pipeline_total", status="failed")
                / value(r, "narra_forge_pipeline_total")
                > 0.3
            ),
        ),
        (
            "api_errors",
            lambda r: (
                value(r, "narra_forge_api_errors_total") / value(r, "narra_forge_api_calls_total")
                > 0.10
            ),
        ),
        ("cost_spike", lambda r: value(r, "narra_forge_cost_usd_total") > 20),
        (
            "quality_drop",
            lambda r: (
                value(r, "narra_forge_quality_score_sum", metric_type="coherence")
                / value(r, "narra_forge_quality_score_count", metric_type="coherence")
                < 0.8
            ),
        ),
        (
            "slow_pipelines",
            lambda r: (
                value(r, "narra_forge_pipeline_duration_seconds_sum")
                / value(r, "narra_forge_pipeline_duration_seconds_count")
                > 1800
            ),
        ),
        ("unpriced_model", lambda r: value(r, "narra_forge_unpriced_tokens_total") > 0),
    ],
)
def test_each_scenario_crosses_its_threshold_over_an_hour(scenario: str, check):
    assert check(run_virtual(scenario, hours=1))


def test_same_seed_same_history_other_seed_other_history(tmp_path: Path):
    def history(seed: int) -> str:
        texts: list[str] = []
        generate(
            start=1_767_225_600,
            end=1_767_225_600 + 3600,
            step=60,
            scenario="healthy",
            seed=seed,
            pipelines_per_hour=60,
            instance="x:1",
            chunk_dir=tmp_path,
            on_chunk=lambda path, _samples: texts.append(path.read_text()),
        )
        return "".join(texts)

    first = history(11)
    assert first == history(11)
    assert first != history(12)
    assert first.rstrip().endswith("# EOF")
    assert 'narra_forge_pipeline_total{job="narra_forge",instance="x:1",' in first


def test_simulator_logs_json_lines_with_the_job_id_of_each_pipeline(tmp_path: Path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.demo.simulator",
            "--port",
            "0",
            "--speed",
            "600",
            "--pipelines-per-hour",
            "3600",
            "--duration",
            "4",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    events = {line["event"] for line in lines}
    assert {"simulator_started", "pipeline_started", "pipeline_completed"} <= events
    for line in lines:
        assert line["level"] in ("info", "warning", "error")
        assert line["timestamp"].endswith("Z")
        if line["event"].startswith(("pipeline_", "agent_")):
            assert line["job_id"].startswith("job_1_")


def test_simulator_refuses_nonsense_options():
    result = subprocess.run(
        [sys.executable, "-m", "tools.demo.simulator", "--speed", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "--speed" in result.stderr
