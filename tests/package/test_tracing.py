"""Spans, trace ids in log lines and exemplars, with the real OpenTelemetry SDK.

Each test gives its collector its own SDK ``TracerProvider`` (``tracer_provider=``) with an
in-memory exporter: the global provider can be set only once per process, and other tests must
not start tracing because one of these ran.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator

import openai
import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from narra_forge.monitoring import (
    MetricsCollector,
    configure_logging,
    get_logger,
    instrument_openai,
)

from .conftest import FakeClock, Scrape
from .openai_server import (
    OpenAIServer,
    Reply,
    chat_completion,
    chat_stream,
    chat_usage,
    response,
)

AGENT = "a06_sequential_generator"
MESSAGES = [{"role": "user", "content": "Write a story"}]


class AgentFailed(Exception):
    pass


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


@pytest.fixture
def metrics(registry: CollectorRegistry, clock: FakeClock, provider) -> MetricsCollector:
    return MetricsCollector(registry, clock=clock, tracer_provider=provider)


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as running:
        yield running


def by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    spans = exporter.get_finished_spans()
    named = {span.name: span for span in spans}
    assert len(named) == len(spans), [span.name for span in spans]
    return named


def exemplars(registry: CollectorRegistry, metric: str) -> list[dict[str, str]]:
    """The exemplars of ``metric``'s buckets in the OpenMetrics exposition, parsed."""
    text = openmetrics_latest(registry).decode()
    return [
        sample.exemplar.labels
        for family in text_string_to_metric_families(text)
        if family.name == metric
        for sample in family.samples
        if sample.exemplar is not None
    ]


def hex_trace(span: ReadableSpan) -> str:
    return f"{span.context.trace_id:032x}"


# -- spans of the trackers -------------------------------------------------------------------


def test_pipeline_agent_and_api_call_spans_nest_with_genai_names_and_attributes(metrics, exporter):
    with metrics.track_pipeline("short_story", "fantasy"):  # noqa: SIM117 - the nesting is the point
        with metrics.track_agent(AGENT, "gpt-4o"):
            with metrics.track_api_call("gpt-4o", AGENT):
                pass
    spans = by_name(exporter)
    pipeline = spans["invoke_workflow short_story"]
    agent = spans[f"invoke_agent {AGENT}"]
    call = spans["chat gpt-4o"]
    assert dict(pipeline.attributes) == {
        "gen_ai.operation.name": "invoke_workflow",
        "gen_ai.workflow.name": "short_story",
        "narra_forge.production_type": "short_story",
        "narra_forge.genre": "fantasy",
    }
    assert dict(agent.attributes) == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.provider.name": "openai",
        "gen_ai.agent.name": AGENT,
        "gen_ai.agent.id": AGENT,
        "gen_ai.request.model": "gpt-4o",
    }
    assert call.attributes["gen_ai.operation.name"] == "chat"
    assert call.attributes["gen_ai.request.model"] == "gpt-4o"
    assert (pipeline.kind, agent.kind, call.kind) == (
        SpanKind.INTERNAL,
        SpanKind.INTERNAL,
        SpanKind.CLIENT,
    )
    assert pipeline.parent is None
    assert agent.parent.span_id == pipeline.context.span_id
    assert call.parent.span_id == agent.context.span_id
    assert {span.context.trace_id for span in spans.values()} == {pipeline.context.trace_id}
    assert all(span.status.status_code is StatusCode.UNSET for span in spans.values())


def test_the_applications_current_span_is_the_parent(metrics, exporter, provider):
    app = provider.get_tracer("narra_forge.app")
    with app.start_as_current_span("POST /narratives") as request:  # noqa: SIM117
        with metrics.track_pipeline("short_story", "fantasy"):
            pass
    pipeline = by_name(exporter)["invoke_workflow short_story"]
    assert pipeline.parent.span_id == request.get_span_context().span_id
    assert pipeline.context.trace_id == request.get_span_context().trace_id


def test_w3c_trace_context_from_an_incoming_request_is_honoured(metrics, exporter):
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    incoming = TraceContextTextMapPropagator().extract({"traceparent": traceparent})
    token = otel_context.attach(incoming)
    try:
        with metrics.track_agent(AGENT, "gpt-4o"):
            pass
    finally:
        otel_context.detach(token)
    agent = by_name(exporter)[f"invoke_agent {AGENT}"]
    assert hex_trace(agent) == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert f"{agent.parent.span_id:016x}" == "00f067aa0ba902b7"
    assert agent.parent.is_remote


def test_a_failure_is_recorded_on_the_span_and_reaches_the_caller_unchanged(metrics, exporter):
    error = AgentFailed("the model refused")
    with pytest.raises(AgentFailed) as raised, metrics.track_agent(AGENT, "gpt-4o"):
        raise error
    assert raised.value is error
    agent = by_name(exporter)[f"invoke_agent {AGENT}"]
    assert agent.status.status_code is StatusCode.ERROR
    assert agent.attributes["error.type"] == f"{__name__}.AgentFailed"
    # Outside the block, nothing is current any more.
    assert not trace.get_current_span().get_span_context().is_valid


def test_decorated_async_functions_in_concurrent_tasks_get_their_own_spans(metrics, exporter):
    @metrics.track_agent(AGENT, "gpt-4o")
    async def step(n: int) -> int:
        await asyncio.sleep(0.01 * (3 - n))  # finish in the reverse order of start
        with metrics.track_api_call("gpt-4o", AGENT):
            await asyncio.sleep(0)
        return n

    async def main() -> list[int]:
        with metrics.track_pipeline("short_story", "fantasy"):
            return list(await asyncio.gather(*(step(n) for n in range(3))))

    assert asyncio.run(main()) == [0, 1, 2]
    spans = exporter.get_finished_spans()
    agents = [span for span in spans if span.name.startswith("invoke_agent")]
    calls = [span for span in spans if span.name.startswith("chat")]
    (pipeline,) = [span for span in spans if span.name.startswith("invoke_workflow")]
    assert len(agents) == 3
    assert len(calls) == 3
    assert {agent.parent.span_id for agent in agents} == {pipeline.context.span_id}
    # Each call is the child of the agent of its own task, never of a sibling's.
    assert sorted(call.parent.span_id for call in calls) == sorted(
        agent.context.span_id for agent in agents
    )


def test_threads_trace_separately(metrics, exporter):
    barrier = threading.Barrier(4)

    def work() -> None:
        with metrics.track_agent(AGENT, "gpt-4o"):
            barrier.wait(timeout=60)  # all four agents open at once
            with metrics.track_api_call("gpt-4o", AGENT):
                pass

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    spans = exporter.get_finished_spans()
    agents = {s.context.span_id: s for s in spans if s.name.startswith("invoke_agent")}
    calls = [s for s in spans if s.name.startswith("chat")]
    assert len(agents) == 4
    assert len(calls) == 4
    assert sorted(call.parent.span_id for call in calls) == sorted(agents)
    # Four threads without a parent: four traces.
    assert len({agent.context.trace_id for agent in agents.values()}) == 4


def test_a_collector_with_tracing_off_creates_no_span(registry, provider, exporter):
    quiet = MetricsCollector(registry, tracing=False, tracer_provider=provider)
    with quiet.track_agent(AGENT, "gpt-4o"):
        pass
    assert exporter.get_finished_spans() == ()
    assert exemplars(registry, "narra_forge_agent_duration_seconds") == []


def test_a_broken_tracer_provider_is_counted_and_the_step_still_recorded(registry, clock):
    class BrokenProvider(TracerProvider):
        def get_tracer(self, *args, **kwargs):
            raise RuntimeError("exporter misconfigured")

    metrics = MetricsCollector(registry, clock=clock, tracer_provider=BrokenProvider())
    with metrics.track_agent(AGENT, "gpt-4o"):
        clock.advance(1.5)
    scrape = Scrape(registry)
    assert (
        scrape.value("narra_forge_agent_duration_seconds_sum", agent_id=AGENT, model="gpt-4o")
        == 1.5
    )
    assert (
        scrape.value(
            "narra_forge_instrumentation_errors_total", metric="tracing", reason="internal_error"
        )
        == 1
    )


# -- exemplars ------------------------------------------------------------------------------


def test_duration_histograms_carry_the_trace_id_as_exemplar(metrics, exporter, registry, clock):
    with metrics.track_pipeline("short_story", "fantasy"):
        with metrics.track_agent(AGENT, "gpt-4o"):
            with metrics.track_api_call("gpt-4o", AGENT):
                clock.advance(0.7)
            clock.advance(0.3)
        clock.advance(1.0)
    trace_id = hex_trace(by_name(exporter)["invoke_workflow short_story"])
    for metric in (
        "narra_forge_pipeline_duration_seconds",
        "narra_forge_agent_duration_seconds",
        "narra_forge_api_call_duration_seconds",
    ):
        assert exemplars(registry, metric) == [{"trace_id": trace_id}], metric
    # The classic text format (what Prometheus gets when it does not ask for OpenMetrics) is
    # unchanged: no exemplar syntax a plain parser could trip on.
    assert "trace_id" not in Scrape(registry).text


def test_an_unsampled_trace_leaves_no_exemplar_and_no_log_ids(registry, exporter):
    provider = TracerProvider(sampler=ALWAYS_OFF)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    metrics = MetricsCollector(registry, tracer_provider=provider)
    out = io.StringIO()
    configure_logging(json_output=True, stream=out)
    with metrics.track_agent(AGENT, "gpt-4o"):
        get_logger("narra_forge.test").info("step")
    assert exporter.get_finished_spans() == ()
    assert exemplars(registry, "narra_forge_agent_duration_seconds") == []
    assert "trace_id" not in json.loads(out.getvalue())


# -- trace ids in log lines -----------------------------------------------------------------


def test_log_lines_inside_a_span_carry_its_ids_and_lines_outside_none(metrics, exporter):
    out = io.StringIO()
    configure_logging(json_output=True, stream=out)
    log = get_logger("narra_forge.orchestrator")
    log.info("before")
    with metrics.track_pipeline("short_story", "fantasy"):
        log.info("pipeline_started")
        with metrics.track_agent(AGENT, "gpt-4o"):
            log.info("agent_step")
            logging.getLogger("httpx").warning("a third-party line")
    log.info("after")
    lines = {line["event"]: line for line in map(json.loads, out.getvalue().splitlines())}
    spans = by_name(exporter)
    pipeline, agent = spans["invoke_workflow short_story"], spans[f"invoke_agent {AGENT}"]
    assert lines["pipeline_started"]["trace_id"] == hex_trace(pipeline)
    assert lines["pipeline_started"]["span_id"] == f"{pipeline.context.span_id:016x}"
    for event in ("agent_step", "a third-party line"):
        assert lines[event]["trace_id"] == hex_trace(agent)
        assert lines[event]["span_id"] == f"{agent.context.span_id:016x}"
        assert len(lines[event]["trace_id"]) == 32
        assert len(lines[event]["span_id"]) == 16
    for event in ("before", "after"):
        assert "trace_id" not in lines[event]
        assert "span_id" not in lines[event]


# -- OpenAI calls: one span per HTTP attempt ------------------------------------------------


def test_each_sdk_attempt_is_a_chat_span_with_usage_on_the_one_that_answered(
    server, metrics, exporter, registry
):
    usage = chat_usage(prompt=120, completion=30, cached=100, reasoning=10)
    server.script(
        Reply.error(429, retry_after="0.01"),
        Reply.json(chat_completion(model="gpt-4o-2024-08-06", usage=usage)),
    )
    client = instrument_openai(
        openai.OpenAI(base_url=server.url, api_key="test", max_retries=2, timeout=30.0), metrics
    )
    with client, metrics.track_agent(AGENT, "gpt-4o"):
        completion = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert completion.usage.prompt_tokens == 120
    spans = exporter.get_finished_spans()
    agent = next(span for span in spans if span.name.startswith("invoke_agent"))
    failed, answered = (span for span in spans if span.name == "chat gpt-4o")
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes["error.type"] == "429"
    assert "http.request.resend_count" not in failed.attributes
    assert answered.attributes["http.request.resend_count"] == 1
    assert answered.status.status_code is StatusCode.UNSET
    for span in (failed, answered):
        assert span.kind is SpanKind.CLIENT
        assert span.parent.span_id == agent.context.span_id
        assert span.attributes["gen_ai.provider.name"] == "openai"
        assert span.attributes["gen_ai.operation.name"] == "chat"
        assert span.attributes["openai.api.type"] == "chat_completions"
        assert span.attributes["server.address"] == "127.0.0.1"
    assert answered.attributes["gen_ai.response.model"] == "gpt-4o-2024-08-06"
    assert answered.attributes["gen_ai.usage.input_tokens"] == 120
    assert answered.attributes["gen_ai.usage.output_tokens"] == 30
    assert answered.attributes["gen_ai.usage.cache_read.input_tokens"] == 100
    assert answered.attributes["gen_ai.usage.reasoning.output_tokens"] == 10
    # Two attempts, two observations, each bucket's exemplar from this trace.
    assert (
        Scrape(registry).value("narra_forge_api_call_duration_seconds_count", model="gpt-4o") == 2
    )
    found = exemplars(registry, "narra_forge_api_call_duration_seconds")
    assert found
    assert all(labels == {"trace_id": hex_trace(agent)} for labels in found)


def test_the_last_failed_attempt_raises_unchanged_and_its_span_says_why(server, metrics, exporter):
    server.script(Reply.error(500), Reply.error(500))
    client = instrument_openai(
        openai.OpenAI(base_url=server.url, api_key="test", max_retries=1, timeout=30.0), metrics
    )
    with client, pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    spans = exporter.get_finished_spans()
    assert [span.attributes["error.type"] for span in spans] == ["500", "500"]
    assert all(span.status.status_code is StatusCode.ERROR for span in spans)


def test_a_timeout_is_the_exception_class_on_the_span(server, metrics, exporter):
    server.script(Reply.json(chat_completion(), delay=5.0))
    client = instrument_openai(
        openai.OpenAI(base_url=server.url, api_key="test", max_retries=0, timeout=0.5), metrics
    )
    with client, pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    (span,) = exporter.get_finished_spans()
    assert span.attributes["error.type"].endswith(".ReadTimeout")  # the transport's own class
    assert span.status.status_code is StatusCode.ERROR


def test_an_async_stream_span_ends_with_the_stream_and_ttft_has_its_exemplar(
    server, registry, provider, exporter
):
    metrics = MetricsCollector(registry, tracer_provider=provider)
    server.script(Reply.stream(chat_stream(usage=chat_usage(prompt=50, completion=7))))

    async def main() -> str:
        client = instrument_openai(
            openai.AsyncOpenAI(base_url=server.url, api_key="test", timeout=30.0), metrics
        )
        async with client:
            with metrics.track_agent(AGENT, "gpt-4o"):
                stream = await client.chat.completions.create(
                    model="gpt-4o",
                    messages=MESSAGES,
                    stream=True,
                    stream_options={"include_usage": True},
                )
                return "".join(
                    [
                        chunk.choices[0].delta.content or ""
                        async for chunk in stream
                        if chunk.choices
                    ]
                )

    assert asyncio.run(main()) == "Once upon a time"
    spans = by_name(exporter)
    call = spans["chat gpt-4o"]
    assert call.attributes["gen_ai.usage.input_tokens"] == 50
    assert call.attributes["gen_ai.usage.output_tokens"] == 7
    assert call.attributes["gen_ai.response.model"] == "gpt-4o"
    assert call.parent.span_id == spans[f"invoke_agent {AGENT}"].context.span_id
    ttft = exemplars(registry, "narra_forge_api_time_to_first_token_seconds")
    assert ttft == [{"trace_id": hex_trace(call)}]


def test_responses_calls_are_chat_spans_of_the_responses_api(server, metrics, exporter):
    server.script(Reply.json(response(model="gpt-4o")))
    client = instrument_openai(
        openai.OpenAI(base_url=server.url, api_key="test", timeout=30.0), metrics
    )
    with client:
        client.responses.create(model="gpt-4o", input="Write a story")
    (span,) = exporter.get_finished_spans()
    assert span.name == "chat gpt-4o"
    assert span.attributes["openai.api.type"] == "responses"
    assert span.attributes["gen_ai.usage.input_tokens"] > 0


# -- without OpenTelemetry ------------------------------------------------------------------

_WITHOUT = """
import sys
{block}
from narra_forge.monitoring import MetricsCollector, configure_logging, get_logger
from narra_forge.monitoring.exposition import make_wsgi_app
configure_logging(json_output=True)
metrics = MetricsCollector()
with metrics.track_pipeline("short_story", "fantasy"):
    with metrics.track_agent("a01_brief_interpreter", "gpt-4o"):
        with metrics.track_api_call("gpt-4o", "a01_brief_interpreter"):
            get_logger("app").info("step")
loaded = sorted(n for n, m in sys.modules.items() if n.startswith("opentelemetry") and m)
assert not loaded, loaded
print("untraced")
"""


@pytest.mark.parametrize(
    "block",
    [
        "sys.modules['opentelemetry'] = None  # as if the [otel] extra were not installed",
        "",  # installed, but the application never imported it
    ],
)
def test_without_opentelemetry_nothing_is_imported_and_everything_works(block):
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT.format(block=block)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    assert "untraced" in result.stdout
    line = json.loads(result.stdout.splitlines()[0])
    assert line["event"] == "step"
    assert "trace_id" not in line
