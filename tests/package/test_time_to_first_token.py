"""``record_time_to_first_token``: time to first token for code that streams without
``instrument_openai``, read back from the real exposition."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from narra_forge.monitoring import MetricsCollector
from tests.package.conftest import Scrape

TTFT = "narra_forge_api_time_to_first_token_seconds"


def test_each_observation_lands_in_its_bucket(registry: CollectorRegistry):
    metrics = MetricsCollector(registry)
    metrics.record_time_to_first_token("gpt-4o", 0.3)
    metrics.record_time_to_first_token("gpt-4o", 1)  # an int is a number of seconds too
    scrape = Scrape(registry)
    assert scrape.value(f"{TTFT}_count", model="gpt-4o") == 2
    assert scrape.value(f"{TTFT}_sum", model="gpt-4o") == pytest.approx(1.3)
    assert scrape.value(f"{TTFT}_bucket", model="gpt-4o", le="0.32") == 1
    assert scrape.value(f"{TTFT}_bucket", model="gpt-4o", le="1.28") == 2


@pytest.mark.parametrize(("bad", "reason"), [(-0.1, "negative"), ("fast", "wrong_type")])
def test_a_bad_value_is_counted_not_observed(registry: CollectorRegistry, bad, reason):
    metrics = MetricsCollector(registry, strict=False)
    metrics.record_time_to_first_token("gpt-4o", bad)
    scrape = Scrape(registry)
    assert scrape.value(f"{TTFT}_count", model="gpt-4o") in (None, 0)
    assert scrape.value("narra_forge_instrumentation_errors_total", metric=TTFT, reason=reason) == 1
