"""Two collectors, a re-import, the default registry: never "Duplicated timeseries"."""

from __future__ import annotations

import importlib

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Counter

import narra_forge.monitoring
import narra_forge.monitoring.collector
import narra_forge.monitoring.instruments
from narra_forge.monitoring import METRICS, MetricsCollector, PricingTable, __version__

from .conftest import Scrape


def test_two_collectors_on_one_registry_share_the_same_series(registry):
    first = MetricsCollector(registry)
    second = MetricsCollector(registry)
    first.record_tokens("gpt-4o", prompt_tokens=10)
    second.record_tokens("gpt-4o", prompt_tokens=5)
    scrape = Scrape(registry)
    assert scrape.value("narra_forge_tokens_used_total", model="gpt-4o", token_type="prompt") == 15


def test_collectors_on_the_default_registry_twice():
    MetricsCollector().record_retry("a02_world_architect", "timeout")
    MetricsCollector().record_retry("a02_world_architect", "timeout")
    names = [name for name in REGISTRY._names_to_collectors if name.startswith("narra_forge_")]
    assert len(names) == len(set(names))


def test_reloading_the_package_keeps_working_on_the_same_registry(registry):
    MetricsCollector(registry).record_cost("gpt-4o", "a01_brief_interpreter", 0.5)
    importlib.reload(narra_forge.monitoring.instruments)
    importlib.reload(narra_forge.monitoring.collector)
    importlib.reload(narra_forge.monitoring)
    reloaded = narra_forge.monitoring.MetricsCollector(registry)
    reloaded.record_cost("gpt-4o", "a01_brief_interpreter", 0.25)
    MetricsCollector().record_cost("gpt-4o", "a01_brief_interpreter", 0.25)  # default registry
    scrape = Scrape(registry)
    cost = {"model": "gpt-4o", "agent_id": "a01_brief_interpreter"}
    assert scrape.value("narra_forge_cost_usd_total", **cost) == 0.75


def test_every_catalogue_family_is_exposed_and_nothing_else(registry):
    MetricsCollector(registry)
    text = Scrape(registry).text
    declared = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}
    assert declared == {metric.name for metric in METRICS}


def test_no_created_series_are_exposed(registry):
    metrics = MetricsCollector(registry)
    with metrics.track_pipeline("novel", "fantasy"):
        pass
    metrics.record_tokens("gpt-4o", 1, 1)
    scrape = Scrape(registry)
    assert not [name for name in scrape.names() if name.endswith("_created")]
    assert "_created" not in scrape.text


def test_build_and_pricing_info(registry):
    MetricsCollector(registry, pricing=PricingTable(version="acme-2025-q3", prices={}))
    MetricsCollector(registry)
    scrape = Scrape(registry)
    assert scrape.value("narra_forge_build_info", version=__version__) == 1
    assert scrape.value("narra_forge_pricing_info", version="acme-2025-q3") == 1
    assert scrape.value("narra_forge_pricing_info", version="openai-2025-11") == 1


def test_a_clashing_metric_of_the_application_is_reported_by_name():
    registry = CollectorRegistry()
    Counter("narra_forge_pipeline_total", "the app's own", registry=registry)
    with pytest.raises(ValueError, match="narra_forge_pipeline"):
        MetricsCollector(registry)
