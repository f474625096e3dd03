"""A realistic workload: ``promtool check metrics`` is clean, and the series count is bounded."""

from __future__ import annotations

import itertools
import subprocess

from narra_forge.monitoring import AGENT_IDS, PRODUCTION_TYPES, MetricsCollector
from narra_forge.monitoring.catalogue import QUALITY_METRIC_TYPES
from tools._repo import find_command

from .conftest import FakeClock, Scrape

MODELS = ("gpt-4o", "gpt-4o-mini", "gpt-4.1")
GENRES = ("fantasy", "horror", "romance", "sci_fi", "mystery", "thriller", "literary", "humor")


class RateLimitError(Exception):
    pass


def run_workload(metrics: MetricsCollector, clock: FakeClock) -> None:
    """Every production type x genre; every agent runs on every model somewhere (worst case);
    some calls fail, some steps retry."""
    models = itertools.cycle(MODELS)
    failures = itertools.cycle([None, None, None, RateLimitError("429"), TimeoutError()])
    for production_type, genre in itertools.product(PRODUCTION_TYPES, GENRES):
        with metrics.track_pipeline(production_type, genre):
            clock.advance(300)
            for agent_id in AGENT_IDS:
                model = next(models)
                with metrics.track_agent(agent_id, model):
                    failure = next(failures)
                    try:
                        with metrics.track_api_call(model, agent_id):
                            clock.advance(4)
                            if failure is not None:
                                raise failure
                    except Exception as error:
                        metrics.record_retry(agent_id, error)
                    metrics.record_usage(model, agent_id, 3000, 800, cached_tokens=1000)
            for metric_type in QUALITY_METRIC_TYPES:
                metrics.record_quality_score(production_type, metric_type, 0.87)


def test_promtool_check_metrics_is_clean_on_a_realistic_exposition(registry, tmp_path):
    promtool = find_command("promtool")[0]
    run_workload(MetricsCollector(registry), FakeClock())
    exposition = Scrape(registry).text
    checked = subprocess.run(
        [promtool, "check", "metrics"],
        input=exposition,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == ""
    assert checked.stderr.strip() == ""


def test_the_realistic_workload_stays_under_1500_series(registry):
    run_workload(MetricsCollector(registry), FakeClock())
    scrape = Scrape(registry)
    assert len(scrape.samples) < 1500
    # Every agent met every model, so this is the worst case for the agent x model histogram.
    pairs = {
        (s["agent_id"], s["model"])
        for s in scrape.series("narra_forge_agent_duration_seconds_count")
    }
    assert len(pairs) == len(AGENT_IDS) * len(MODELS)
    genres = {s["genre"] for s in scrape.series("narra_forge_pipeline_total")}
    assert genres == set(GENRES)
