"""The OpenAI benchmark measures what it says: a really instrumented client against a plain one."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from narra_forge.monitoring import MetricsCollector
from tools.bench import openai_calls
from tools.bench.common import Timing


def calls(registry: CollectorRegistry) -> float:
    text = generate_latest(registry).decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "narra_forge_api_calls_total"
    )


def test_the_instrumented_case_is_counted_and_the_plain_one_is_not():
    registry = CollectorRegistry()
    cases = openai_calls._cases(None, "gpt-4o", False, MetricsCollector(registry))
    cases[openai_calls.PLAIN]()
    assert calls(registry) == 0
    cases[openai_calls.INSTRUMENTED]()
    assert calls(registry) == 1


def test_a_stream_case_reads_the_whole_stream():
    cases = openai_calls._cases(None, "gpt-4o", stream=True)
    chunks = cases[openai_calls.PLAIN]()
    assert len(chunks) == openai_calls.STREAM_CHUNKS + 2  # role chunk + content + usage chunk


def test_added_time_is_the_median_of_per_round_differences():
    timings = {
        openai_calls.PLAIN: Timing(100.0, 1.0, (100.0, 110.0, 90.0)),
        openai_calls.INSTRUMENTED: Timing(105.0, 1.0, (104.0, 115.0, 96.0)),
    }
    row = openai_calls._added("call", timings, openai_calls.ADDED_GOAL)
    assert row.median_us == 5.0  # differences 4, 5, 6
    assert row.met is True
