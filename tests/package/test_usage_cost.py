"""Cost from usage, on worked examples computed by hand from OpenAI's list prices."""

from __future__ import annotations

import pytest

from narra_forge.monitoring import DEFAULT_PRICING, MetricsCollector, ModelPrice, PricingTable

from .conftest import Scrape

WRITER = "a06_sequential_generator"


def tokens(scrape: Scrape, model: str, token_type: str) -> float | None:
    return scrape.value("narra_forge_tokens_used_total", model=model, token_type=token_type)


def test_gpt_4o_without_cache(registry):
    # 1,000 prompt tokens at $2.50/M + 500 completion tokens at $10/M = $0.0025 + $0.005.
    usd = MetricsCollector(registry).record_usage("gpt-4o", WRITER, 1000, 500)
    assert usd == 0.0075
    scrape = Scrape(registry)
    assert scrape.value("narra_forge_cost_usd_total", model="gpt-4o", agent_id=WRITER) == 0.0075
    assert tokens(scrape, "gpt-4o", "prompt") == 1000
    assert tokens(scrape, "gpt-4o", "completion") == 500
    assert scrape.value("narra_forge_cached_prompt_tokens_total", model="gpt-4o") == 0


def test_gpt_4o_with_a_90_percent_cache_hit(registry):
    # 10,000 prompt tokens of which 9,000 cached:
    #   1,000 uncached x $2.50/M = $0.0025
    #   9,000 cached   x $1.25/M = $0.01125
    #   500 completion x $10/M   = $0.005
    #   total                      $0.01875 (without the cache: $0.03)
    usd = MetricsCollector(registry).record_usage(
        "gpt-4o", WRITER, 10_000, 500, cached_tokens=9_000
    )
    assert usd == 0.01875
    scrape = Scrape(registry)
    assert scrape.value("narra_forge_cost_usd_total", model="gpt-4o", agent_id=WRITER) == 0.01875
    # Cached tokens are part of the prompt tokens: counted once there, and shown on their own.
    assert tokens(scrape, "gpt-4o", "prompt") == 10_000
    assert scrape.value("narra_forge_cached_prompt_tokens_total", model="gpt-4o") == 9_000


def test_gpt_4o_mini_and_a_dated_snapshot(registry):
    metrics = MetricsCollector(registry)
    # 2,000 x $0.15/M + 1,000 x $0.60/M = $0.0003 + $0.0006
    assert metrics.record_usage("gpt-4o-mini", WRITER, 2000, 1000) == pytest.approx(0.0009)
    # A snapshot is priced as its base model unless the table lists it.
    snapshot = metrics.record_usage("gpt-4o-mini-2024-07-18", WRITER, 2000, 1000)
    assert snapshot == pytest.approx(0.0009)
    # gpt-4o-2024-05-13 had its own price: $5/M in, $15/M out, no cache discount.
    assert metrics.record_usage("gpt-4o-2024-05-13", WRITER, 1000, 1000, 1000) == 0.02


def test_an_unpriced_model_is_counted_and_reported_never_costed_at_zero(registry):
    metrics = MetricsCollector(registry, strict=True)  # unpriced is not the caller's bug
    assert metrics.record_usage("llama-3-70b", WRITER, 1200, 300) is None
    scrape = Scrape(registry)
    assert scrape.value("narra_forge_cost_usd_total", model="llama-3-70b", agent_id=WRITER) == 0
    assert scrape.value("narra_forge_unpriced_tokens_total", model="llama-3-70b") == 1500
    assert tokens(scrape, "llama-3-70b", "prompt") == 1200
    errors = {"metric": "narra_forge_cost_usd_total", "reason": "unpriced_model"}
    assert scrape.value("narra_forge_instrumentation_errors_total", **errors) == 1


def test_cached_tokens_beyond_prompt_tokens_are_clamped(registry):
    usd = MetricsCollector(registry).record_usage("gpt-4o", WRITER, 1000, 0, cached_tokens=4000)
    assert usd == 0.00125  # all 1,000 prompt tokens at the cached rate, $1.25/M
    scrape = Scrape(registry)
    assert scrape.value("narra_forge_cached_prompt_tokens_total", model="gpt-4o") == 1000
    errors = {"metric": "narra_forge_cached_prompt_tokens_total", "reason": "cached_exceeds_prompt"}
    assert scrape.value("narra_forge_instrumentation_errors_total", **errors) == 1
    with pytest.raises(ValueError, match="cached_tokens=4000 exceeds prompt_tokens"):
        MetricsCollector(registry, strict=True).record_usage("gpt-4o", WRITER, 1000, 0, 4000)


def test_a_refused_count_drops_the_whole_usage(registry):
    assert MetricsCollector(registry).record_usage("gpt-4o", WRITER, -5, 100) is None
    scrape = Scrape(registry)
    assert tokens(scrape, "gpt-4o", "completion") == 0
    assert scrape.value("narra_forge_cost_usd_total", model="gpt-4o", agent_id=WRITER) == 0


def test_a_custom_pricing_table(registry):
    table = PricingTable.from_mapping(
        "acme-contract-2025", {"gpt-4o": {"input": 2.0, "cached_input": 0.5, "output": 8.0}}
    )
    usd = MetricsCollector(registry, pricing=table).record_usage("GPT-4o", WRITER, 4000, 1000, 2000)
    assert usd == 0.0130  # 2,000 x $2 + 2,000 x $0.5 + 1,000 x $8, per million
    assert Scrape(registry).value("narra_forge_pricing_info", version="acme-contract-2025") == 1


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: PricingTable(version="", prices={}), "version must be a non-empty string"),
        (
            lambda: PricingTable(version="v", prices={"m": ModelPrice(input=-1, output=1)}),
            "model 'm': input must be finite and >= 0, got -1",
        ),
        (
            lambda: PricingTable.from_mapping("v", {"m": {"input": 1, "outptu": 2}}),
            r"missing \['output'\], unknown \['outptu'\]",
        ),
        (
            lambda: PricingTable(version="v", prices={"m": ModelPrice(1, float("nan"))}),
            "model 'm': output must be finite",
        ),
    ],
)
def test_a_bad_pricing_table_is_refused_with_a_clear_message(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_default_table_lists_the_models_the_pipeline_uses():
    for model in ("gpt-4o", "gpt-4o-mini"):
        price = DEFAULT_PRICING.price_of(model)
        assert price is not None
        assert price.cached_rate() < price.input < price.output


def test_an_absurd_usage_never_turns_the_cost_counter_infinite(registry):
    metrics = MetricsCollector(registry)
    assert metrics.record_usage("gpt-4o", WRITER, 1e308, 1e308) is None
    metrics.record_usage("gpt-4o", WRITER, 1000, 500)
    scrape = Scrape(registry)
    assert scrape.value("narra_forge_cost_usd_total", model="gpt-4o", agent_id=WRITER) == 0.0075
    assert tokens(scrape, "gpt-4o", "prompt") == 1000  # the absurd usage was dropped whole
    errors = {"metric": "narra_forge_cost_usd_total", "reason": "not_finite"}
    assert scrape.value("narra_forge_instrumentation_errors_total", **errors) == 1


def test_strict_mode_refuses_an_absurd_usage_before_recording_anything(registry):
    metrics = MetricsCollector(registry, strict=True)
    with pytest.raises(ValueError, match=r"usd computed from .*=\(1e\+308, 1e\+308, 0\)"):
        metrics.record_usage("gpt-4o", WRITER, 1e308, 1e308)
    assert tokens(Scrape(registry), "gpt-4o", "prompt") == 0


def test_two_costs_near_the_float_limit_never_make_the_counter_infinite(registry):
    """Found by the property test: finite amounts that sum past the float limit."""
    metrics = MetricsCollector(registry, strict=False)
    metrics.record_cost("gpt-4o", "a06_sequential_generator", 8.98e307)
    metrics.record_cost("gpt-4o", "a06_sequential_generator", 8.98e307)
    metrics.record_cost("gpt-4o", "a06_sequential_generator", 2.5)
    scrape = Scrape(registry)
    cost = scrape.value(
        "narra_forge_cost_usd_total", model="gpt-4o", agent_id="a06_sequential_generator"
    )
    assert cost == 2.5
    refused = scrape.value(
        "narra_forge_instrumentation_errors_total",
        metric="narra_forge_cost_usd_total",
        reason="out_of_range",
    )
    assert refused == 2
