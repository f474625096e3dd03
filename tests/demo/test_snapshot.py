"""The fast snapshot writes what a scrape through ``registry.collect()`` would, line for line."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from narra_forge.monitoring import MetricsCollector
from tools.demo.backfill import simulate
from tools.demo.snapshot import (
    FastSnapshotError,
    FastSnapshotWriter,
    SnapshotWriter,
    format_timestamp,
)

TARGET = {"job": "narra_forge", "instance": "app:8000"}


def test_fast_and_public_snapshots_agree_at_every_scrape_of_a_simulated_afternoon():
    registry = CollectorRegistry()
    writers: list[tuple[SnapshotWriter, FastSnapshotWriter]] = []
    compared: list[int] = []

    def scrape(now: float) -> None:
        if not writers:
            writers.append((SnapshotWriter(registry, TARGET), FastSnapshotWriter(registry, TARGET)))
        public, fast = writers[0]
        expected = sorted("".join(public.lines(now)).splitlines())
        assert sorted(fast.lines(now).splitlines()) == expected, f"differ at {now:g} s"
        compared.append(len(expected))

    # The "api_errors" scenario adds error and retry series as it goes: the layout is rebuilt.
    simulate(
        span=2 * 3600,
        step=15,
        scenario="api_errors",
        seed=3,
        pipelines_per_hour=120,
        registry=registry,
        on_snapshot=scrape,
    )
    assert len(compared) == 2 * 240 + 1
    assert compared[0] < 10
    assert compared[-1] > 500


def test_the_lines_parse_as_openmetrics_with_timestamps_in_seconds():
    # What promtool's `create-blocks-from openmetrics` reads: OpenMetrics counts in seconds.
    registry = CollectorRegistry()
    collector = MetricsCollector(registry=registry)
    collector.record_tokens("gpt-4o", prompt_tokens=10, completion_tokens=5)
    text = FastSnapshotWriter(registry, TARGET).lines(1_767_225_600)
    samples = [s for f in text_string_to_metric_families(text + "# EOF\n") for s in f.samples]
    assert {float(s.timestamp) for s in samples} == {1_767_225_600.0}
    assert all(s.labels["instance"] == "app:8000" for s in samples)
    assert any(s.name == "narra_forge_tokens_used_total" and s.value == 10 for s in samples)


def test_a_registry_with_other_collectors_is_refused_not_half_written():
    registry = CollectorRegistry()
    MetricsCollector(registry=registry)
    Counter("app_own_total", "Not in the catalogue.", registry=registry)
    with pytest.raises(FastSnapshotError, match="other collectors"):
        FastSnapshotWriter(registry, TARGET)


def test_whole_second_timestamps_have_no_fraction():
    assert format_timestamp(1_767_225_600.0) == "1767225600"
    assert format_timestamp(1_767_225_600.25) == "1767225600.250"
