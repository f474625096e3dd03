"""``/metrics`` keeps answering fifty concurrent scrapers while every core is busy.

The CPU hog runs inside the test (tests/cpu_hog.py): one spinning process per core, each
bounded in time and killed when the test ends. Scrapes are real HTTP against
``start_metrics_server`` with the headers Prometheus sends; each must be a whole exposition.
Nothing asserts a duration: a scrape fails only by erroring or by reaching the 30 s timeout a
Prometheus scrape could have.
"""

from __future__ import annotations

import gzip
import threading
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from narra_forge.monitoring import AGENT_IDS, METRICS, MetricsCollector, start_metrics_server
from tests.cpu_hog import cpu_hog

#: What Prometheus 2.42 asks for when it scrapes (scrape/scrape.go, acceptHeader).
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
SCRAPERS = 50
# Four rounds: each after the first meets the previous connections closing; more only repeat
# it, with every core spinning meanwhile (the rest of the suite waits behind the hog).
SCRAPES_EACH = 4


@pytest.fixture
def busy_cores() -> Iterator[int]:
    with cpu_hog() as count:
        yield count


def busy_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    metrics = MetricsCollector(registry)
    for agent in AGENT_IDS:
        for model in ("gpt-4o", "gpt-4o-mini"):
            with metrics.track_agent(agent, model), metrics.track_api_call(model, agent):
                pass
            metrics.record_usage(model, agent, 3000, 800, cached_tokens=1000)
    for genre in ("fantasy", "horror", "mystery"):
        with metrics.track_pipeline("novel", genre):
            pass
    return registry


def scrape(url: str) -> tuple[int, set[str]]:
    request = urllib.request.Request(
        url, headers={"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read()
        if response.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        families = text_string_to_metric_families(body.decode())  # type: ignore[no-untyped-call]
        names = {family.name for family in families}
        return response.status, names


@pytest.mark.heavy  # every core spins for as long as the 200 scrapes take
def test_fifty_concurrent_scrapers_all_get_whole_expositions_under_a_cpu_hog(
    busy_cores: int,
) -> None:
    assert busy_cores >= 2
    server = start_metrics_server(port=0, addr="127.0.0.1", registry=busy_registry())
    results: list[tuple[int, set[str]]] = []
    failures: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(SCRAPERS)

    def scraper() -> None:
        start.wait(timeout=120)  # all fifty arrive together, as at a scrape interval's start
        for _ in range(SCRAPES_EACH):
            try:
                result = scrape(server.url)
            except Exception as error:  # any failure is what this test reports
                with lock:
                    failures.append(repr(error))
                continue
            with lock:
                results.append(result)

    threads = [threading.Thread(target=scraper) for _ in range(SCRAPERS)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
    finally:
        server.close()
    assert not failures, f"{len(failures)} of {SCRAPERS * SCRAPES_EACH} failed: {failures[:5]}"
    assert len(results) == SCRAPERS * SCRAPES_EACH
    assert {status for status, _ in results} == {200}
    catalogue = {metric.name.removesuffix("_total") for metric in METRICS}
    for _, names in results:
        assert catalogue <= names


def test_a_scrape_after_a_finished_one_sees_new_values() -> None:
    registry = CollectorRegistry()
    metrics = MetricsCollector(registry)
    server = start_metrics_server(port=0, addr="127.0.0.1", registry=registry)
    try:
        url = server.url
        with metrics.track_pipeline("novel", "fantasy"):
            pass
        first = urllib.request.urlopen(url, timeout=30).read().decode()
        with metrics.track_pipeline("novel", "fantasy"):
            pass
        second = urllib.request.urlopen(url, timeout=30).read().decode()
    finally:
        server.close()
    line = 'narra_forge_pipeline_total{genre="fantasy",production_type="novel",status="success"}'
    assert f"{line} 1.0" in first
    assert f"{line} 2.0" in second
