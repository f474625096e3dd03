"""``record_openai_usage`` and ``record_usage(cached_tokens=None)``: the usage objects of the
real SDK (Chat Completions and Responses, objects and dicts), and the pricing file."""

from __future__ import annotations

import json

import pytest
from openai.types import CompletionUsage
from openai.types.responses import ResponseUsage

from narra_forge.monitoring import (
    DEFAULT_PRICING,
    PRICING_FILE_ENV,
    MetricsCollector,
    load_pricing_file,
)

from .conftest import Scrape

WRITER = "a06_sequential_generator"
COST = "narra_forge_cost_usd_total"
CACHED = "narra_forge_cached_prompt_tokens_total"
REASONING = "narra_forge_reasoning_tokens_total"
REFUSED = "narra_forge_instrumentation_errors_total"


def tokens(scrape: Scrape, model: str, token_type: str) -> float | None:
    return scrape.value("narra_forge_tokens_used_total", model=model, token_type=token_type)


CHAT = {
    "prompt_tokens": 10_000,
    "completion_tokens": 500,
    "total_tokens": 10_500,
    "prompt_tokens_details": {"cached_tokens": 9_000},
    "completion_tokens_details": {"reasoning_tokens": 200},
}
RESPONSES = {
    "input_tokens": 10_000,
    "output_tokens": 500,
    "total_tokens": 10_500,
    "input_tokens_details": {"cached_tokens": 9_000, "cache_write_tokens": 0},
    "output_tokens_details": {"reasoning_tokens": 200},
}


@pytest.mark.parametrize(
    "usage",
    [
        CHAT,
        CompletionUsage.model_validate(CHAT),
        RESPONSES,
        ResponseUsage.model_validate(RESPONSES),
    ],
    ids=["chat dict", "CompletionUsage", "responses dict", "ResponseUsage"],
)
def test_every_form_of_usage_is_read_alike(registry, usage):
    # gpt-5: 1,000 uncached x $1.25/M + 9,000 cached x $0.125/M + 500 x $10/M (reasoning
    # tokens are part of the 500 completion tokens, billed once).
    usd = MetricsCollector(registry).record_openai_usage("gpt-5", WRITER, usage)
    assert usd == pytest.approx(0.007375)
    scrape = Scrape(registry)
    assert tokens(scrape, "gpt-5", "prompt") == 10_000
    assert tokens(scrape, "gpt-5", "completion") == 500
    assert scrape.value(CACHED, model="gpt-5") == 9_000
    assert scrape.value(REASONING, model="gpt-5") == 200
    assert scrape.value(COST, model="gpt-5", agent_id=WRITER) == pytest.approx(0.007375)


@pytest.mark.parametrize(
    "usage",
    [
        {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500},
        {**CHAT, "prompt_tokens": 1000, "prompt_tokens_details": None},
        {**CHAT, "prompt_tokens": 1000, "prompt_tokens_details": {"cached_tokens": None}},
        CompletionUsage(prompt_tokens=1000, completion_tokens=500, total_tokens=1500),
        ResponseUsage.model_construct(
            input_tokens=1000, output_tokens=500, total_tokens=1500, input_tokens_details=None
        ),
    ],
    ids=["no details", "null details", "null cached_tokens", "object", "responses null"],
)
def test_missing_details_count_as_nothing_cached_and_never_drop_the_call(registry, usage):
    usd = MetricsCollector(registry).record_openai_usage("gpt-4o", WRITER, usage)
    assert usd == pytest.approx(0.0075)
    scrape = Scrape(registry)
    assert tokens(scrape, "gpt-4o", "prompt") == 1000
    assert scrape.value(CACHED, model="gpt-4o") == 0
    assert scrape.total(REFUSED) == 0


def test_record_usage_with_cached_tokens_none_counts_the_call(registry):
    usd = MetricsCollector(registry).record_usage("gpt-4o", WRITER, 1000, 500, cached_tokens=None)
    assert usd == 0.0075
    scrape = Scrape(registry)
    assert tokens(scrape, "gpt-4o", "prompt") == 1000
    assert scrape.total(REFUSED) == 0


def test_something_that_is_not_a_usage_is_refused(registry):
    assert MetricsCollector(registry).record_openai_usage("gpt-4o", WRITER, "100 tokens") is None
    scrape = Scrape(registry)
    assert scrape.value(REFUSED, metric="narra_forge_tokens_used_total", reason="wrong_type") == 1
    assert scrape.total("narra_forge_tokens_used_total") == 0


def test_the_default_table_prices_the_current_models():
    for model in ("gpt-5", "gpt-5-mini", "gpt-5-nano", "gpt-4.1", "o3", "o4-mini"):
        assert DEFAULT_PRICING.price_of(model) is not None, model


# -- the pricing file --------------------------------------------------------------------------


def test_a_pricing_file_named_by_the_environment_updates_prices(registry, tmp_path, monkeypatch):
    path = tmp_path / "prices.json"
    prices = {"gpt-4o": {"input": 2.0, "output": 8.0}, "gpt-6": {"input": 3.0, "output": 12.0}}
    path.write_text(json.dumps({"version": "ops-2026-12", "models": prices}))
    monkeypatch.setenv(PRICING_FILE_ENV, str(path))
    metrics = MetricsCollector(registry)
    assert metrics.record_usage("gpt-6", WRITER, 1000, 1000) == pytest.approx(0.015)
    assert metrics.record_usage("gpt-4o", WRITER, 1000, 0) == pytest.approx(0.002)
    assert metrics.record_usage("gpt-5", WRITER, 1000, 0) == pytest.approx(0.00125)  # default
    scrape = Scrape(registry)
    assert scrape.value("narra_forge_pricing_info", version="ops-2026-12") == 1


def test_a_yaml_pricing_file(tmp_path):
    path = tmp_path / "prices.yaml"
    path.write_text(
        "version: ops-2026-12\nmodels:\n  gpt-6: {input: 3, cached_input: 0.3, output: 12}\n"
    )
    table = load_pricing_file(path)
    assert table.version == "ops-2026-12"
    assert table.price_of("gpt-6").cached_input == 0.3


@pytest.mark.parametrize(
    ("models", "message"),
    [
        ({"gpt-6": {"input": 3}}, r"model 'gpt-6'.*missing \['output'\]"),
        ({"gpt-6": {"input": -3, "output": 1}}, r"model 'gpt-6': input must be finite and >= 0"),
        ({"gpt-6": {"input": "3", "output": 1}}, r"model 'gpt-6': input must be a number"),
        ({"gpt-6": {"input": 3, "output": 1, "cahced_input": 1}}, r"unknown \['cahced_input'\]"),
    ],
)
def test_a_wrong_pricing_file_stops_the_start_naming_the_model_and_field(
    registry, tmp_path, monkeypatch, models, message
):
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"version": "ops", "models": models}))
    monkeypatch.setenv(PRICING_FILE_ENV, str(path))
    with pytest.raises(ValueError, match=message) as raised:
        MetricsCollector(registry)
    assert str(path) in str(raised.value)


def test_a_missing_pricing_file_is_named(registry, tmp_path, monkeypatch):
    monkeypatch.setenv(PRICING_FILE_ENV, str(tmp_path / "nowhere.json"))
    with pytest.raises(ValueError, match=r"nowhere\.json"):
        MetricsCollector(registry)
