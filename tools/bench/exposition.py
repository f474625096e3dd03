"""What one app instance's ``/metrics`` costs: series, bytes, render time, and the cap at work.

Three registries, each laid out like prometheus-client's default one (our families plus the
process, platform and garbage-collector metrics every app exposes):

* the workload of ``tools/demo/workload.py`` (ten agents, their models and a fine-tuned canary,
  three production types, eight genres, four quality metrics), run on a virtual clock through
  the real ``MetricsCollector``: a simulated day of healthy traffic, then two hours each of the
  API-error and pipeline-failure scenarios (rate limits, timeouts, server errors, invalid output);
* the worst case of the same dimensions: every agent on each of three models, every production
  type with every genre both succeeding and failing, five error types on every agent and model;
* that worst case after 10,000 distinct genres, models and retry reasons were fed to it: the
  cardinality guard must keep every open label at its cap (plus ``other``).

Series are counted from the exposition as Prometheus reads it: ``generate_latest`` parsed by
``prometheus_client.parser``, and a real scrape over HTTP from ``start_metrics_server`` (on a
free port, with the ``Accept`` and ``Accept-Encoding`` headers Prometheus 2.42 sends), parsed by
prometheus-client's OpenMetrics parser. Both counts must agree.

Scrape latency of ``start_metrics_server`` serving the realistic registry: 1, 10 and 50
concurrent scrapers (each scraping 5 times), on an idle machine and with a CPU hog (one
spinning process per core) running meanwhile.

    python -m tools.bench exposition
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import itertools
import logging
import multiprocessing
import os
import statistics
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import structlog
from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    generate_latest,
)
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

from narra_forge.monitoring import AGENT_IDS, PRODUCTION_TYPES, MetricsCollector
from narra_forge.monitoring.catalogue import (
    LABELS,
    OVERFLOW_VALUE,
    QUALITY_METRIC_TYPES,
    series_index,
)
from narra_forge.monitoring.exposition import start_metrics_server
from tools.bench.common import Goal, Result, Timing, measure_interleaved

if TYPE_CHECKING:  # imported where used: the backfill pulls in the workload model
    from tools.demo.backfill import VirtualClock

TITLE = "Exposition: /metrics of one app instance"
NOTES = (
    "Series = sample lines of one scrape (what Prometheus stores per scrape), counted from the "
    "parsed exposition, process/platform/GC metrics included. `generate_latest` renders the "
    "registry in-process; `HTTP GET /metrics` is a scrape of `start_metrics_server` on a free "
    "port with Prometheus 2.42's Accept headers (OpenMetrics, gzip): its bytes are what crosses "
    "the wire. Goal: at most 1,500 series per app instance for the realistic workload; the cap "
    "of every open label holds when fed 10,000 distinct values."
)

#: Three priced models for the worst case (the workload model brings its own, see AGENT_MODELS).
MODELS: tuple[str, ...] = ("gpt-4o", "gpt-4o-mini", "gpt-4.1")
#: What Prometheus 2.42 asks for when it scrapes (scrape/scrape.go, acceptHeader).
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
SERIES_GOAL = Goal("<= 1,500 series", "<=", 1500, " series")
#: Distinct values fed to each open label in the cap experiment.
FLOOD = 10_000
#: The open labels the application's arguments reach, and how each is fed.
OPEN_LABELS: tuple[str, ...] = ("genre", "model", "reason")
#: Concurrent scrapers in the latency benchmark, and the scrapes each makes.
CONCURRENCY: tuple[int, ...] = (1, 10, 50)
SCRAPES_EACH = 5


class RateLimitError(Exception):
    status_code = 429


class InternalServerError(Exception):
    status_code = 500


class APIConnectionError(Exception):
    pass


class InvalidOutputError(ValueError):
    pass


#: A handful of error types, as the openai client raises them (see errors.classify_exception).
FAILURES: tuple[Exception, ...] = (
    RateLimitError("429"),
    TimeoutError(),
    InternalServerError("500"),
    APIConnectionError("reset"),
    InvalidOutputError("rejected"),
)


@dataclass(frozen=True)
class Exposition:
    """One rendering of a registry, parsed back."""

    text: bytes
    series: int
    #: Distinct values of each open (capped) label of the catalogue, over every metric that
    #: carries it: one cap is shared by all of them.
    values: dict[str, frozenset[str]]


def _past(clock: VirtualClock, end: float) -> Callable[[], bool]:
    """Whether the virtual clock has passed ``end``; asked again at every arrival."""
    return lambda: clock.now > end


def count_series(text: str | bytes, *, openmetrics: bool = False) -> Exposition:
    """Series (sample lines) and the distinct values of each open label in an exposition."""
    raw = text.encode() if isinstance(text, str) else text
    parse = parse_openmetrics if openmetrics else parse_text
    catalogue = series_index()
    series = 0
    values: dict[str, set[str]] = {}
    for family in parse(raw.decode()):
        for sample in family.samples:
            series += 1
            metric = catalogue.get(sample.name)
            if metric is None:
                continue
            for label in metric.labels:
                if metric.domains[label].cap is not None:
                    values.setdefault(label, set()).add(sample.labels[label])
    return Exposition(raw, series, {k: frozenset(v) for k, v in values.items()})


def app_registry() -> CollectorRegistry:
    """A fresh registry holding what prometheus-client's default registry holds."""
    registry = CollectorRegistry()
    for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(collector)
    return registry


# -- workloads --------------------------------------------------------------------------------


def simulated_workload(
    collector: MetricsCollector,
    clock: Any,
    *,
    healthy_hours: float = 24.0,
    fault_hours: float = 2.0,
    seed: int = 1,
) -> None:
    """``tools/demo/workload.py`` on a virtual clock: healthy traffic, then two failure
    scenarios."""
    from tools.demo.backfill import VirtualTimeLoop
    from tools.demo.workload import SCENARIOS, Env, NullLog, arrivals

    plan = (
        ("healthy", healthy_hours),
        ("api_errors", fault_hours),
        ("pipeline_failures", fault_hours),
    )
    for scenario, hours in plan:
        if hours <= 0:
            continue
        until = clock.now + hours * 3600
        env = Env(
            collector=collector,
            sleep=asyncio.sleep,
            log=NullLog(),  # the workload's log lines are not what is measured
            scenario=SCENARIOS[scenario],
            seed=seed,
        )
        loop = VirtualTimeLoop(clock)
        try:
            loop.run_until_complete(
                arrivals(env, 60.0, max_concurrent=8, until=_past(clock, until))
            )
        finally:
            loop.close()


def worst_case_workload(
    collector: MetricsCollector,
    *,
    models: tuple[str, ...] = MODELS,
    genres: tuple[str, ...] | None = None,
) -> None:
    """Every combination of the realistic dimensions, each success and failure path taken."""
    from tools.demo.workload import GENRES

    failures = itertools.cycle(FAILURES)
    for production_type, genre in itertools.product(PRODUCTION_TYPES, genres or GENRES):
        for fails in (False, True):
            with (
                contextlib.suppress(InvalidOutputError),
                collector.track_pipeline(production_type, genre),
            ):
                for metric_type in QUALITY_METRIC_TYPES:
                    collector.record_quality_score(production_type, metric_type, 0.9)
                if fails:
                    raise InvalidOutputError("a07 rejected the draft")
    for agent_id, model in itertools.product(AGENT_IDS, models):
        failure = next(failures)
        with contextlib.suppress(Exception), collector.track_agent(agent_id, model):
            collector.record_usage(model, agent_id, 3000, 800, cached_tokens=1000)
            with collector.track_api_call(model, agent_id):
                raise failure
        collector.record_retry(agent_id, failure)


def flood(collector: MetricsCollector, distinct: int = FLOOD) -> None:
    """``distinct`` new genres, models and retry reasons, each through the usual calls."""
    agent = AGENT_IDS[0]
    for number in range(distinct):
        with collector.track_pipeline(PRODUCTION_TYPES[0], f"genre_{number}"):
            pass
        model = f"model-{number}"
        with collector.track_agent(agent, model), collector.track_api_call(model, agent):
            pass
        collector.record_usage(model, agent, 10, 10)
        collector.record_retry(agent, f"reason_{number}")


# -- measuring --------------------------------------------------------------------------------


@contextlib.contextmanager
def quiet_logging() -> Iterator[None]:
    """Refused values are logged as warnings; thousands of them would bury the tables."""
    from narra_forge.monitoring import logs

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    with open(os.devnull, "w") as sink:
        logs.configure_logging(level="ERROR", json_output=True, stream=sink)
        try:
            yield
        finally:
            structlog.reset_defaults()
            root.handlers[:] = handlers
            root.setLevel(level)
            logging.captureWarnings(False)
            logs._configured = False


def scrape(url: str) -> bytes:
    """One scrape as Prometheus makes it; the body decompressed."""
    request = urllib.request.Request(
        url, headers={"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read()
        if response.headers.get("Content-Encoding") == "gzip":
            return gzip.decompress(body)
        return body


def _wire_bytes(url: str) -> int:
    request = urllib.request.Request(
        url, headers={"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return len(response.read())


def _measure(
    label: str, registry: CollectorRegistry, *, goal: Goal | None, rounds: int
) -> tuple[list[Result], Exposition]:
    """Rows for rendering one registry in-process and over HTTP."""
    local = count_series(generate_latest(registry))
    server = start_metrics_server(port=0, addr="127.0.0.1", registry=registry)
    try:
        remote = count_series(scrape(server.url), openmetrics=True)
        wire = _wire_bytes(server.url)
        if remote.series != local.series:
            raise RuntimeError(
                f"{label}: the HTTP scrape has {remote.series} series, generate_latest "
                f"{local.series}"
            )
        timings = measure_interleaved(
            {
                "generate_latest": lambda: generate_latest(registry),
                "HTTP GET /metrics": lambda: scrape(server.url),
            },
            number=5,
            rounds=rounds,
        )
    finally:
        server.close()
    measured = {
        "generate_latest": f"{local.series:,} series, {len(local.text):,} bytes (text format)",
        "HTTP GET /metrics": (
            f"{remote.series:,} series, {len(remote.text):,} bytes OpenMetrics, "
            f"{wire:,} bytes gzipped on the wire"
        ),
    }
    rows = [
        _row(label, case, timing, measured[case], goal, local.series)
        for case, timing in timings.items()
    ]
    return rows, local


def _row(
    benchmark: str, case: str, timing: Timing, measured: str, goal: Goal | None, series: int
) -> Result:
    return Result(
        benchmark=benchmark,
        case=case,
        median_us=timing.median_us,
        spread_pct=timing.spread_pct,
        measured=measured,
        runs=len(timing.rounds),
        **(goal.judge(series) if goal else {}),  # type: ignore[arg-type]
    )


def _spin(until: float) -> None:
    while time.time() < until:
        pass


@contextlib.contextmanager
def cpu_hog(max_seconds: float = 600.0) -> Iterator[int]:
    """One spinning process per core (at least two), bounded in time, killed on exit."""
    context = multiprocessing.get_context("spawn")
    count = max(2, os.cpu_count() or 2)
    hogs = [
        context.Process(target=_spin, args=(time.time() + max_seconds,), daemon=True)
        for _ in range(count)
    ]
    for hog in hogs:
        hog.start()
    try:
        yield count
    finally:
        for hog in hogs:
            hog.kill()
            hog.join(timeout=30)


def scrape_latencies(url: str, scrapers: int, scrapes_each: int | None = None) -> list[float]:
    """Seconds per scrape, ``scrapers`` threads scraping together (a failure counts as inf)."""
    scrapes_each = SCRAPES_EACH if scrapes_each is None else scrapes_each
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(scrapers)

    def scraper() -> None:
        barrier.wait(timeout=120)
        for _ in range(scrapes_each):
            start = time.perf_counter()
            try:
                scrape(url)
                took = time.perf_counter() - start
            except Exception:
                took = float("inf")
            with lock:
                latencies.append(took)

    threads = [threading.Thread(target=scraper) for _ in range(scrapers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies


def scrape_latency_rows(registry: CollectorRegistry) -> list[Result]:
    """Rows: scrape latency at each concurrency, without and with a CPU hog."""
    rows = []
    server = start_metrics_server(port=0, addr="127.0.0.1", registry=registry)
    try:
        for hogged in (False, True):
            with cpu_hog() if hogged else contextlib.nullcontext(0) as spinning:
                for scrapers in CONCURRENCY:
                    took = sorted(scrape_latencies(server.url, scrapers))
                    p95 = took[min(len(took) - 1, int(len(took) * 0.95))]
                    failed = sum(1 for t in took if t == float("inf"))
                    rows.append(
                        Result(
                            benchmark="Scrape latency: concurrent scrapers of start_metrics_server",
                            case=f"{scrapers} scrapers"
                            + (f", CPU hog ({spinning} spinning processes)" if hogged else ""),
                            median_us=statistics.median(took) * 1e6,
                            spread_pct=None,
                            measured=f"p95 {p95 * 1e3:,.1f} ms, max {took[-1] * 1e3:,.1f} ms, "
                            f"{failed} failed of {len(took)}",
                            runs=len(took),
                        )
                    )
    finally:
        server.close()
    return rows


def cap_check(exposition: Exposition) -> tuple[bool, str]:
    """Whether every open label stayed within its cap (plus ``other``), and the counts."""
    parts, held = [], True
    for label in OPEN_LABELS:
        cap = LABELS[label].cap or 0
        seen = exposition.values.get(label, frozenset())
        within = len(seen - {OVERFLOW_VALUE}) <= cap
        held &= within
        parts.append(f"{label} {len(seen)} (cap {cap} + {OVERFLOW_VALUE})")
    return held, ", ".join(parts)


def run(rounds: int = 15, healthy_hours: float = 24.0, fault_hours: float = 2.0) -> list[Result]:
    from tools.demo.backfill import VirtualClock

    rows: list[Result] = []
    with quiet_logging():
        clock = VirtualClock()
        realistic = app_registry()
        simulated_workload(
            MetricsCollector(realistic, clock=lambda: clock.now),
            clock,
            healthy_hours=healthy_hours,
            fault_hours=fault_hours,
        )
        label = f"workload model ({healthy_hours:g} h healthy + {fault_hours:g} h x 2 faults)"
        rows += _measure(label, realistic, goal=SERIES_GOAL, rounds=rounds)[0]
        rows += scrape_latency_rows(realistic)

        worst = app_registry()
        collector = MetricsCollector(worst)
        worst_case_workload(collector)
        worst_rows, before = _measure(
            "worst case: 10 agents x 3 models, 3 types x 8 genres",
            worst,
            goal=SERIES_GOAL,
            rounds=rounds,
        )
        rows += worst_rows

        # The cost of one refused new value, once every cap is full.
        flood(collector, FLOOD)
        fresh = itertools.count()
        refused = measure_interleaved(
            {
                "track_pipeline with a new genre past the cap": lambda: collector.track_pipeline(
                    "novel", f"late_genre_{next(fresh)}"
                )
            },
            number=200,
            rounds=rounds,
        )
        capped_rows, after = _measure(
            f"after {FLOOD:,} distinct genres, models, reasons", worst, goal=None, rounds=rounds
        )
    held, counts = cap_check(after)
    cap_goal = "each open label <= its cap + other"
    for row in capped_rows:
        rows.append(
            replace(
                row,
                # "1,838 series, 177,662 bytes ..." -> "1,067 -> 1,838 series, 177,662 bytes ..."
                measured=f"{before.series:,} -> {row.measured}; {counts}",
                goal=cap_goal,
                met=held,
                missed_by=None if held else counts,
            )
        )
    rows.append(
        _row(
            f"after {FLOOD:,} distinct genres, models, reasons",
            "track_pipeline with a new genre past the cap",
            refused["track_pipeline with a new genre past the cap"],
            "refused: reported as other, counted in narra_forge_instrumentation_errors_total",
            None,
            0,
        )
    )
    return rows


if __name__ == "__main__":
    from tools.bench.common import print_results

    sys.exit(print_results(run))
