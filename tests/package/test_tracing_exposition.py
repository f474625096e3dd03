"""Exemplars reach a scraper that asks for OpenMetrics, through every way ``/metrics`` is
served; multiprocess mode (no exemplars in prometheus-client) records everything else."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import urllib.request

import httpx2 as httpx  # the HTTP client the pinned openai SDK brings
import pytest
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from narra_forge.monitoring import MetricsCollector
from narra_forge.monitoring.exposition import (
    make_asgi_app,
    make_wsgi_app,
    start_metrics_server,
)

AGENT = "a03_character_architect"
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
METRIC = "narra_forge_agent_duration_seconds"


def traced_step(registry: CollectorRegistry) -> str:
    """One traced agent step; returns its trace id."""
    provider = TracerProvider()
    metrics = MetricsCollector(registry, tracer_provider=provider)
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("request") as span, metrics.track_agent(AGENT, "gpt-4o"):
        pass
    return f"{span.get_span_context().trace_id:032x}"


def exemplar_ids(text: str) -> list[str]:
    return [
        sample.exemplar.labels["trace_id"]
        for family in text_string_to_metric_families(text)
        if family.name == METRIC
        for sample in family.samples
        if sample.exemplar is not None
    ]


def test_the_standalone_server_serves_openmetrics_with_exemplars_when_asked(registry):
    trace_id = traced_step(registry)
    server = start_metrics_server(port=0, addr="127.0.0.1", registry=registry)
    try:
        request = urllib.request.Request(server.url, headers={"Accept": OPENMETRICS})
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.headers["Content-Type"].startswith("application/openmetrics-text")
            body = response.read().decode()
        assert exemplar_ids(body) == [trace_id]
        with urllib.request.urlopen(server.url, timeout=60) as response:  # no Accept: text
            assert response.headers["Content-Type"].startswith("text/plain")
            assert "trace_id" not in response.read().decode()
    finally:
        server.close()


def test_the_wsgi_app_serves_openmetrics_with_exemplars(registry):
    trace_id = traced_step(registry)
    transport = httpx.WSGITransport(app=make_wsgi_app(registry))
    with httpx.Client(transport=transport, base_url="http://app") as client:
        response = client.get("/metrics", headers={"Accept": OPENMETRICS})
    assert exemplar_ids(response.text) == [trace_id]


def test_the_asgi_app_serves_openmetrics_with_exemplars(registry):
    trace_id = traced_step(registry)

    async def scrape() -> httpx.Response:
        transport = httpx.ASGITransport(app=make_asgi_app(registry))
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            return await client.get("/metrics", headers={"Accept": OPENMETRICS})

    assert exemplar_ids(asyncio.run(scrape()).text) == [trace_id]


_MULTIPROCESS = """
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.openmetrics.exposition import generate_latest
from narra_forge.monitoring import MetricsCollector
from narra_forge.monitoring.exposition import metrics_registry
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
metrics = MetricsCollector(tracer_provider=provider)
with metrics.track_agent("a03_character_architect", "gpt-4o"):
    pass
print(len(exporter.get_finished_spans()))
print(generate_latest(metrics_registry()).decode(), end="")
"""


def test_multiprocess_mode_traces_and_counts_without_exemplars(tmp_path):
    directory = tmp_path / "multiproc"
    directory.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    result = subprocess.run(
        [sys.executable, "-c", _MULTIPROCESS], capture_output=True, text=True, env=env, timeout=240
    )
    assert result.returncode == 0, result.stderr
    spans, exposition = result.stdout.split("\n", 1)
    assert spans == "1"  # the span is exported all the same
    counts = [
        sample.value
        for family in text_string_to_metric_families(exposition)
        if family.name == METRIC
        for sample in family.samples
        if sample.name == f"{METRIC}_count"
    ]
    assert counts == [1.0]
    assert exemplar_ids(exposition) == []  # prometheus-client keeps none in multiprocess mode


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()
