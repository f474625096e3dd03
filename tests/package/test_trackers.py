"""Context managers: timing with the injected clock, failures, async, cancellation, decorators."""

from __future__ import annotations

import asyncio

import pytest

from narra_forge.monitoring import ERROR_TYPES, MetricsCollector

from .conftest import Scrape

PIPELINE = {"production_type": "novel", "genre": "fantasy"}
AGENT = {"agent_id": "a06_sequential_generator", "model": "gpt-4o"}


class RateLimitError(Exception):
    """Named like openai's: classified by name, openai is not a dependency."""


def test_pipeline_duration_falls_in_the_exact_bucket(registry, clock):
    metrics = MetricsCollector(registry, clock=clock)
    with metrics.track_pipeline("novel", "fantasy"):
        clock.advance(45.0)  # between the 30 s and 60 s buckets
    scrape = Scrape(registry)
    buckets = {
        s.labels["le"]: s.value
        for s in scrape.samples
        if s.name == "narra_forge_pipeline_duration_seconds_bucket"
    }
    assert buckets == {
        "10.0": 0,
        "30.0": 0,
        "60.0": 1,
        "120.0": 1,
        "300.0": 1,
        "600.0": 1,
        "1200.0": 1,
        "1800.0": 1,
        "+Inf": 1,
    }
    assert scrape.value("narra_forge_pipeline_duration_seconds_sum", **PIPELINE) == 45.0
    assert scrape.value("narra_forge_pipeline_total", **PIPELINE, status="success") == 1
    assert scrape.value("narra_forge_pipeline_total", **PIPELINE, status="failed") == 0


def test_failed_pipeline_is_counted_timed_and_reraised(registry, clock):
    metrics = MetricsCollector(registry, clock=clock)

    def failing_pipeline() -> None:
        with metrics.track_pipeline("novel", "fantasy"):
            clock.advance(2400.0)  # beyond the last bucket
            raise RuntimeError("coherence lost")

    with pytest.raises(RuntimeError, match="coherence lost"):
        failing_pipeline()
    scrape = Scrape(registry)
    assert scrape.value("narra_forge_pipeline_total", **PIPELINE, status="failed") == 1
    assert scrape.value("narra_forge_pipeline_total", **PIPELINE, status="success") == 0
    assert (
        scrape.value("narra_forge_pipeline_duration_seconds_bucket", **PIPELINE, le="1800.0") == 0
    )
    assert scrape.value("narra_forge_pipeline_duration_seconds_bucket", **PIPELINE, le="+Inf") == 1
    assert scrape.value("narra_forge_jobs_active") == 0


def test_agent_failure_counts_the_classified_error_and_every_sibling_exists(registry, clock):
    metrics = MetricsCollector(registry, clock=clock)

    def failing_agent() -> None:
        with metrics.track_agent("a06_sequential_generator", "gpt-4o"):
            clock.advance(3.0)
            raise RateLimitError("429")

    with pytest.raises(RateLimitError):
        failing_agent()
    scrape = Scrape(registry)
    errors = {
        s.labels["error_type"]: s.value
        for s in scrape.samples
        if s.name == "narra_forge_agent_errors_total"
        and s.labels["agent_id"] == "a06_sequential_generator"
    }
    assert errors == {kind: (1.0 if kind == "rate_limit" else 0.0) for kind in ERROR_TYPES}
    assert scrape.value("narra_forge_agent_duration_seconds_bucket", **AGENT, le="2.0") == 0
    assert scrape.value("narra_forge_agent_duration_seconds_bucket", **AGENT, le="5.0") == 1


def test_api_call_counts_calls_and_errors_together(registry, clock):
    metrics = MetricsCollector(registry, clock=clock)
    with metrics.track_api_call("gpt-4o", "a06_sequential_generator"):
        clock.advance(0.75)

    def failing_call() -> None:
        with metrics.track_api_call("gpt-4o", "a06_sequential_generator"):
            clock.advance(31.0)
            raise TimeoutError

    with pytest.raises(TimeoutError):
        failing_call()
    scrape = Scrape(registry)
    calls = {"model": "gpt-4o", "agent_id": "a06_sequential_generator"}
    assert scrape.value("narra_forge_api_calls_total", **calls) == 2
    assert scrape.value("narra_forge_api_errors_total", model="gpt-4o", error_type="timeout") == 1
    assert scrape.value("narra_forge_api_errors_total", model="gpt-4o", error_type="auth") == 0
    assert (
        scrape.value("narra_forge_api_call_duration_seconds_bucket", model="gpt-4o", le="1.0") == 1
    )
    assert (
        scrape.value("narra_forge_api_call_duration_seconds_bucket", model="gpt-4o", le="30.0") == 1
    )
    assert scrape.value("narra_forge_api_call_duration_seconds_sum", model="gpt-4o") == 31.75


def test_async_with_and_jobs_active_while_running(registry):
    metrics = MetricsCollector(registry)
    seen_while_running: list[float | None] = []
    release = asyncio.Event()

    async def pipeline() -> None:
        async with metrics.track_pipeline("novella", "horror"):
            await release.wait()

    async def main() -> None:
        tasks = [asyncio.create_task(pipeline()) for _ in range(3)]
        await asyncio.sleep(0)
        seen_while_running.append(Scrape(registry).value("narra_forge_jobs_active"))
        release.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())
    scrape = Scrape(registry)
    assert seen_while_running == [3.0]
    assert scrape.value("narra_forge_jobs_active") == 0
    labels = {"production_type": "novella", "genre": "horror", "status": "success"}
    assert scrape.value("narra_forge_pipeline_total", **labels) == 3


def test_cancelled_pipeline_is_failed_cancelled_and_jobs_active_returns_to_zero(registry):
    metrics = MetricsCollector(registry)
    started = asyncio.Event()

    async def agent_step() -> None:
        with (
            metrics.track_pipeline("novel", "fantasy"),
            metrics.track_agent("a06_sequential_generator", "gpt-4o"),
        ):
            started.set()
            await asyncio.sleep(3600)

    async def main() -> None:
        task = asyncio.create_task(agent_step())
        await started.wait()
        assert Scrape(registry).value("narra_forge_jobs_active") == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    scrape = Scrape(registry)
    assert scrape.value("narra_forge_jobs_active") == 0
    assert scrape.value("narra_forge_pipeline_total", **PIPELINE, status="failed") == 1
    cancelled = {"agent_id": "a06_sequential_generator", "error_type": "cancelled"}
    assert scrape.value("narra_forge_agent_errors_total", **cancelled) == 1


def test_decorators_sync_and_async(registry, clock):
    metrics = MetricsCollector(registry, clock=clock)

    @metrics.track_agent("a01_brief_interpreter", "gpt-4o-mini")
    def interpret(brief: str) -> str:
        clock.advance(0.25)
        return brief.upper()

    @metrics.track_api_call("gpt-4o-mini", "a01_brief_interpreter")
    async def call_model(prompt: str) -> str:
        clock.advance(1.5)
        return prompt[::-1]

    @metrics.track_pipeline("short_story", "fantasy")
    async def produce(brief: str) -> str:
        return await call_model(interpret(brief))

    assert interpret.__name__ == "interpret"
    assert asyncio.run(produce("abc")) == "CBA"
    assert asyncio.run(produce("xyz")) == "ZYX"
    scrape = Scrape(registry)
    agent = {"agent_id": "a01_brief_interpreter", "model": "gpt-4o-mini"}
    assert scrape.value("narra_forge_agent_duration_seconds_count", **agent) == 2
    assert scrape.value("narra_forge_agent_duration_seconds_sum", **agent) == 0.5
    assert scrape.value("narra_forge_api_call_duration_seconds_sum", model="gpt-4o-mini") == 3.0
    story = {"production_type": "short_story", "genre": "fantasy", "status": "success"}
    assert scrape.value("narra_forge_pipeline_total", **story) == 2
    # Each decorated call ran its own tracker: 1.75 s each, not one accumulated start time.
    pipeline_sum = {"production_type": "short_story", "genre": "fantasy"}
    assert scrape.value("narra_forge_pipeline_duration_seconds_sum", **pipeline_sum) == 3.5
    assert scrape.value("narra_forge_jobs_active") == 0


def test_a_broken_clock_never_breaks_the_block(registry):
    def broken_clock() -> float:
        raise OSError("clock unavailable")

    metrics = MetricsCollector(registry, clock=broken_clock)
    with metrics.track_pipeline("novel", "fantasy"):
        result = "the block ran"
    assert result == "the block ran"
    assert Scrape(registry).value("narra_forge_jobs_active") == 0


def test_a_clock_going_backwards_records_zero_not_a_negative_duration(registry, clock):
    metrics = MetricsCollector(registry, clock=clock)
    with metrics.track_agent("a01_brief_interpreter", "gpt-4o"):
        clock.advance(-5.0)
    agent = {"agent_id": "a01_brief_interpreter", "model": "gpt-4o"}
    assert Scrape(registry).value("narra_forge_agent_duration_seconds_sum", **agent) == 0.0


def test_retries_and_errors_caught_by_the_caller(registry):
    metrics = MetricsCollector(registry)
    metrics.record_retry("a06_sequential_generator", "rate_limit")
    metrics.record_retry("a06_sequential_generator", RateLimitError("429"))
    metrics.record_retry("a06_sequential_generator", "Invalid Output")
    metrics.record_api_error("gpt-4o", RateLimitError("429"))
    metrics.record_api_error("gpt-4o", "APIConnectionError")
    metrics.record_agent_error("a07_coherence_validator", "invalid_output")
    metrics.set_jobs_active(4)
    scrape = Scrape(registry)
    retries = {"agent_id": "a06_sequential_generator"}
    assert scrape.value("narra_forge_retry_attempts_total", **retries, reason="rate_limit") == 2
    assert scrape.value("narra_forge_retry_attempts_total", **retries, reason="invalid_output") == 1
    assert (
        scrape.value("narra_forge_api_errors_total", model="gpt-4o", error_type="rate_limit") == 1
    )
    assert (
        scrape.value("narra_forge_api_errors_total", model="gpt-4o", error_type="connection") == 1
    )
    validator = {"agent_id": "a07_coherence_validator", "error_type": "invalid_output"}
    assert scrape.value("narra_forge_agent_errors_total", **validator) == 1
    assert scrape.value("narra_forge_jobs_active") == 4
