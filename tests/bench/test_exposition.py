"""The exposition benchmark counts what Prometheus would store, and sees a broken cap."""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from narra_forge.monitoring import AGENT_IDS, MetricsCollector
from narra_forge.monitoring.catalogue import LABELS
from narra_forge.monitoring.exposition import start_metrics_server
from tools.bench import exposition
from tools.bench.exposition import cap_check, count_series, scrape
from tools.demo.backfill import VirtualClock


def known_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    calls = Counter("calls_total", "Calls.", ["model"], registry=registry)
    calls.labels("a").inc()
    calls.labels("b").inc()
    latency = Histogram("latency_seconds", "Latency.", buckets=(1, 2), registry=registry)
    latency.observe(1.5)
    Gauge("jobs", "Jobs.", registry=registry).set(3)
    return registry


def test_series_are_the_sample_lines_of_one_scrape():
    # calls: 2 children x (_total + _created) = 4; latency: le=1, le=2, le=+Inf, _count, _sum,
    # _created = 6; jobs: 1.
    assert count_series(generate_latest(known_registry())).series == 11


def test_the_http_scrape_counts_the_same_series_as_generate_latest():
    registry = CollectorRegistry()
    metrics = MetricsCollector(registry)
    with metrics.track_pipeline("novel", "Fantasy"):
        pass
    local = count_series(generate_latest(registry))
    server = start_metrics_server(port=0, addr="127.0.0.1", registry=registry)
    try:
        body = scrape(server.url)
    finally:
        server.close()
    assert body.startswith(b"# HELP")
    assert body.rstrip().endswith(b"# EOF")  # OpenMetrics, as Prometheus negotiates it
    remote = count_series(body, openmetrics=True)
    assert remote.series == local.series > 0
    assert remote.values["genre"] == local.values["genre"] == frozenset({"fantasy"})


def test_a_label_past_its_cap_is_reported_by_name():
    cap = LABELS["genre"].cap
    lines = [
        f'narra_forge_pipeline_total{{production_type="novel",genre="g{n}",status="success"}} 1'
        for n in range(cap + 6)
    ]
    text = "# TYPE narra_forge_pipeline_total counter\n" + "\n".join(lines) + "\n"
    held, counts = cap_check(count_series(text))
    assert not held
    assert f"genre {cap + 6} (cap {cap} + other)" in counts


def test_flooding_open_labels_leaves_each_at_its_cap_plus_other():
    registry = CollectorRegistry()
    metrics = MetricsCollector(registry)
    with exposition.quiet_logging():
        exposition.flood(metrics, 40)
    scraped = count_series(generate_latest(registry))
    held, counts = cap_check(scraped)
    assert held, counts
    assert len(scraped.values["genre"]) == LABELS["genre"].cap + 1
    assert "other" in scraped.values["model"]
    overflow = sum(
        s.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for s in family.samples
        if s.name == "narra_forge_instrumentation_errors_total"
        and s.labels["reason"] == "label_overflow"
    )
    assert overflow > 0


def test_the_worst_case_has_every_agent_on_every_model_and_every_genre_failing():
    registry = CollectorRegistry()
    exposition.worst_case_workload(MetricsCollector(registry), genres=("fantasy", "horror"))
    samples = [
        s
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for s in family.samples
    ]
    pairs = {
        (s.labels["agent_id"], s.labels["model"])
        for s in samples
        if s.name == "narra_forge_agent_duration_seconds_count"
    }
    assert len(pairs) == len(AGENT_IDS) * len(exposition.MODELS)
    failed = {
        (s.labels["production_type"], s.labels["genre"])
        for s in samples
        if s.name == "narra_forge_pipeline_total" and s.labels["status"] == "failed" and s.value
    }
    assert len(failed) == 3 * 2
    errors = {
        s.labels["error_type"]
        for s in samples
        if s.name == "narra_forge_api_errors_total" and s.value
    }
    assert errors == {"rate_limit", "timeout", "server_error", "connection", "invalid_output"}


def test_the_workload_model_runs_on_simulated_time():
    registry = CollectorRegistry()
    clock = VirtualClock()
    metrics = MetricsCollector(registry, clock=lambda: clock.now)
    exposition.simulated_workload(metrics, clock, healthy_hours=1, fault_hours=0)
    assert clock.now >= 3600
    samples = [
        s
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for s in family.samples
    ]
    finished = sum(s.value for s in samples if s.name == "narra_forge_pipeline_total")
    assert 20 < finished < 120  # 60 an hour, Poisson
    seconds = sum(s.value for s in samples if s.name == "narra_forge_pipeline_duration_seconds_sum")
    assert seconds / finished > 60  # pipelines take simulated minutes


def test_the_benchmark_rows_name_series_bytes_and_the_cap(monkeypatch):
    monkeypatch.setattr(exposition, "FLOOD", 60)
    monkeypatch.setattr(exposition, "CONCURRENCY", (2,))  # 2 scrapers x 1 scrape: 2 runs
    monkeypatch.setattr(exposition, "SCRAPES_EACH", 1)
    rows = exposition.run(rounds=2, healthy_hours=0.5, fault_hours=0.25)
    benchmarks = {row.benchmark for row in rows}
    assert len(benchmarks) == 4
    for row in rows:
        assert row.median_us > 0
        assert row.runs == 2
    latency = [row for row in rows if row.benchmark.startswith("Scrape latency")]
    assert [row.case for row in latency] == [
        "2 scrapers",
        f"2 scrapers, CPU hog ({max(2, os.cpu_count() or 2)} spinning processes)",
    ]
    assert all("0 failed of 2" in (row.measured or "") for row in latency)
    series_rows = [row for row in rows if row.goal == "<= 1,500 series"]
    assert len(series_rows) == 4
    assert all("series" in (row.measured or "") for row in series_rows)
    capped = [row for row in rows if row.goal == "each open label <= its cap + other"]
    assert len(capped) == 2
    assert all(row.met for row in capped)
    assert all("genre 25 (cap 24 + other)" in (row.measured or "") for row in capped)
