"""Property: no input breaks the application; strict mode raises exactly what is refused."""

from __future__ import annotations

import io
import math
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from narra_forge.monitoring import InstrumentationError, MetricsCollector, configure_logging
from narra_forge.monitoring.catalogue import AGENT_IDS, BY_NAME, METRICS

from .conftest import Scrape

VALID = st.sampled_from(
    [*AGENT_IDS, "gpt-4o", "gpt-4o-mini", "novel", "short_story", "fantasy", "coherence", "x"]
)
JUNK = st.one_of(
    VALID,
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.text(max_size=120),
    st.binary(max_size=8),
    st.lists(st.integers(), max_size=2),
    st.builds(object),
    st.builds(RuntimeError, st.text(max_size=5)),
)


def _run(metrics: MetricsCollector, operation: str, args: tuple) -> None:
    """One public call, with context managers entered (and one failing block)."""
    if operation in ("track_pipeline", "track_agent", "track_api_call"):
        with getattr(metrics, operation)(*args[:2]):
            pass
        try:
            with getattr(metrics, operation)(*args[:2]):
                raise KeyError("inside the block")
        except KeyError:
            pass
        return
    arity = {
        "record_tokens": 3,
        "record_cost": 3,
        "record_usage": 5,
        "record_quality_score": 3,
        "record_retry": 2,
        "record_api_error": 2,
        "record_agent_error": 2,
        "set_jobs_active": 1,
    }[operation]
    getattr(metrics, operation)(*args[:arity])


OPERATIONS = st.sampled_from(
    [
        "track_pipeline",
        "track_agent",
        "track_api_call",
        "record_tokens",
        "record_cost",
        "record_usage",
        "record_quality_score",
        "record_retry",
        "record_api_error",
        "record_agent_error",
        "set_jobs_active",
    ]
)
CALLS = st.tuples(OPERATIONS, st.tuples(JUNK, JUNK, JUNK, JUNK, JUNK))


@pytest.fixture(autouse=True)
def quiet_logs():
    configure_logging(json_output=True, stream=io.StringIO())


def _refusals(registry: CollectorRegistry) -> float:
    """Refusals that strict mode raises (an unpriced model is reported, never raised)."""
    return sum(
        s.value
        for s in Scrape(registry).samples
        if s.name == "narra_forge_instrumentation_errors_total"
        and s.labels["reason"] != "unpriced_model"
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(CALLS, min_size=1, max_size=12))
def test_default_mode_never_raises_and_the_exposition_stays_valid(calls):
    registry = CollectorRegistry()
    metrics = MetricsCollector(registry, strict=False)
    for operation, args in calls:
        _run(metrics, operation, args)
    scrape = Scrape(registry)  # renders, and parses back with prometheus-client's parser
    for sample in scrape.samples:
        assert math.isfinite(sample.value), sample
        family = BY_NAME.get(
            sample.name.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count")
        )
        family = family or BY_NAME.get(sample.name)
        assert family is not None, sample.name
        for label, allowed in family.allowed_values.items():
            assert sample.labels[label] in (*allowed, "other"), sample
    assert scrape.value("narra_forge_jobs_active") >= 0


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CALLS)
def test_strict_mode_raises_exactly_what_default_mode_refuses(call):
    operation, args = call
    lenient_registry = CollectorRegistry()
    _run(MetricsCollector(lenient_registry, strict=False), operation, args)
    refused = _refusals(lenient_registry)

    error = _strict_error(operation, args)
    if error is None:
        assert refused == 0, "default mode refused input that strict mode let through"
        return
    assert refused > 0, f"strict mode raised for input the default mode accepts: {error}"
    assert isinstance(error, ValueError)
    assert str(error).startswith(f"{error.metric}: {error.what}=")
    assert error.metric in {metric.name for metric in METRICS}
    if error.what.startswith("usd computed from"):  # record_usage: the counts overflow
        assert error.value == tuple(args[2:5])
    else:
        assert error.what.startswith("label ") or error.what.isidentifier()
        assert error.value in args or error.what.startswith("label ")


def _strict_error(operation: str, args: tuple) -> InstrumentationError | None:
    try:
        _run(MetricsCollector(CollectorRegistry(), strict=True), operation, args)
    except InstrumentationError as error:
        return error
    return None


def test_decimals_and_fractions_are_numbers(registry):
    from fractions import Fraction

    metrics = MetricsCollector(registry, strict=True)
    metrics.record_cost("gpt-4o", "a01_brief_interpreter", Decimal("0.25"))
    metrics.record_quality_score("novel", "logic", Fraction(3, 4))
    scrape = Scrape(registry)
    assert (
        scrape.value("narra_forge_cost_usd_total", model="gpt-4o", agent_id="a01_brief_interpreter")
        == 0.25
    )
    assert (
        scrape.value("narra_forge_quality_score_sum", production_type="novel", metric_type="logic")
        == 0.75
    )
