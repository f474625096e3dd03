"""``instrument_openai`` against the real ``openai`` SDK and a local OpenAI-compatible server.

Every number asserted is what a user reads on /metrics (the exposition parsed back), after the
SDK really sent its requests, retried, timed out or lost its connection over a socket.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator

import openai
import pytest
from prometheus_client import CollectorRegistry

from narra_forge.monitoring import UNATTRIBUTED, MetricsCollector, instrument_openai

from .conftest import Scrape
from .openai_server import (
    OpenAIServer,
    Reply,
    chat_completion,
    chat_stream,
    chat_usage,
    response,
    responses_stream,
    responses_usage,
)

AGENT = "a06_sequential_generator"
OTHER_AGENT = "a07_coherence_validator"
MESSAGES = [{"role": "user", "content": "Write the next scene."}]
CALLS = "narra_forge_api_calls_total"
ERRORS = "narra_forge_api_errors_total"
RETRIES = "narra_forge_retry_attempts_total"
DURATION = "narra_forge_api_call_duration_seconds_count"
TTFT = "narra_forge_api_time_to_first_token_seconds"
TOKENS = "narra_forge_tokens_used_total"
REFUSED = "narra_forge_instrumentation_errors_total"


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as running:
        yield running


@pytest.fixture
def metrics(registry: CollectorRegistry) -> MetricsCollector:
    return MetricsCollector(registry)


def sync_client(server: OpenAIServer, metrics: MetricsCollector, **options) -> openai.OpenAI:
    options = {"max_retries": 2, "timeout": 10.0, **options}
    return instrument_openai(openai.OpenAI(base_url=server.url, api_key="test", **options), metrics)


def async_client(server: OpenAIServer, metrics: MetricsCollector, **options) -> openai.AsyncOpenAI:
    options = {"max_retries": 2, "timeout": 10.0, **options}
    client = openai.AsyncOpenAI(base_url=server.url, api_key="test", **options)
    return instrument_openai(client, metrics)


def errors_of(scrape: Scrape, model: str = "gpt-4o") -> dict[str, float]:
    """The non-zero error counts of a model, by error type."""
    return {
        s.labels["error_type"]: s.value
        for s in scrape.samples
        if s.name == ERRORS and s.labels["model"] == model and s.value
    }


# -- the package without openai --------------------------------------------------------------


def test_the_package_imports_without_openai_installed():
    code = (
        "import sys; sys.modules['openai'] = None\n"  # `import openai` now raises ImportError
        "import narra_forge.monitoring as m\n"
        "m.MetricsCollector()\n"
        "try:\n"
        "    m.instrument_openai(object())\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "instrument_openai needs the openai package: pip install 'narra-forge-monitoring[openai]'"
    )


def test_only_openai_clients_are_accepted(metrics):
    with pytest.raises(TypeError, match=r"openai\.OpenAI"):
        instrument_openai(object(), metrics)


# -- one call, attributed ------------------------------------------------------------------------


def test_a_call_inside_an_agent_is_counted_once_with_its_usage_and_cost(server, metrics, registry):
    usage = chat_usage(prompt=10_000, completion=500, cached=9_000, reasoning=100)
    server.script(Reply.json(chat_completion(usage=usage)))
    with sync_client(server, metrics) as client, metrics.track_agent(AGENT, "gpt-4o"):
        completion = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert isinstance(completion, openai.types.chat.ChatCompletion)
    assert completion.choices[0].message.content == "Once upon a time"
    scrape = Scrape(registry)
    assert scrape.value(CALLS, model="gpt-4o", agent_id=AGENT) == 1
    assert scrape.value(DURATION, model="gpt-4o") == 1
    assert errors_of(scrape) == {}
    assert scrape.value(TOKENS, model="gpt-4o", token_type="prompt") == 10_000
    assert scrape.value(TOKENS, model="gpt-4o", token_type="completion") == 500
    assert scrape.value("narra_forge_cached_prompt_tokens_total", model="gpt-4o") == 9_000
    assert scrape.value("narra_forge_reasoning_tokens_total", model="gpt-4o") == 100
    # The worked example of docs/instrumentation.md: reasoning tokens are not billed twice.
    cost = scrape.value("narra_forge_cost_usd_total", model="gpt-4o", agent_id=AGENT)
    assert cost == pytest.approx(0.01875)
    assert scrape.total(RETRIES) == 0


def test_a_call_outside_any_agent_is_unattributed(server, metrics, registry):
    with sync_client(server, metrics) as client:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert Scrape(registry).value(CALLS, model="gpt-4o", agent_id=UNATTRIBUTED) == 1


def test_the_innermost_agent_wins(server, metrics, registry):
    with sync_client(server, metrics) as client, metrics.track_agent(AGENT, "gpt-4o"):
        with metrics.track_agent(OTHER_AGENT, "gpt-4o"):
            client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    scrape = Scrape(registry)
    assert scrape.value(CALLS, model="gpt-4o", agent_id=OTHER_AGENT) == 1
    assert scrape.value(CALLS, model="gpt-4o", agent_id=AGENT) == 1


def test_usage_without_details_counts_the_tokens_with_nothing_cached(server, metrics, registry):
    server.script(Reply.json(chat_completion(usage=chat_usage(1_000, 100, details=False))))
    with sync_client(server, metrics) as client:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    scrape = Scrape(registry)
    assert scrape.value(TOKENS, model="gpt-4o", token_type="prompt") == 1_000
    assert scrape.value("narra_forge_cached_prompt_tokens_total", model="gpt-4o") == 0
    cost = scrape.value("narra_forge_cost_usd_total", model="gpt-4o", agent_id=UNATTRIBUTED)
    assert cost == pytest.approx((1_000 * 2.50 + 100 * 10.00) / 1e6)
    assert scrape.total(REFUSED) == 0


def test_a_response_without_usage_is_counted_and_its_missing_tokens_are_visible(
    server, metrics, registry
):
    body = chat_completion()
    body["usage"] = None  # some OpenAI-compatible providers send none
    server.script(Reply.json(body))
    with sync_client(server, metrics) as client:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    scrape = Scrape(registry)
    assert scrape.value(CALLS, model="gpt-4o", agent_id=UNATTRIBUTED) == 1
    assert scrape.total(TOKENS) == 0
    assert (
        scrape.value(REFUSED, metric="narra_forge_tokens_used_total", reason="missing_usage") == 1
    )


def test_instrumenting_twice_changes_nothing_and_copies_stay_instrumented(
    server, metrics, registry
):
    with sync_client(server, metrics) as client:
        assert instrument_openai(client, metrics) is client
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        client.with_options(max_retries=0).chat.completions.create(
            model="gpt-4o", messages=MESSAGES
        )
    assert Scrape(registry).value(CALLS, model="gpt-4o", agent_id=UNATTRIBUTED) == 2
    assert len(server.received) == 2


# -- the SDK's own retries, and failures -------------------------------------------------------


def test_each_sdk_retry_is_a_call_an_error_and_a_retry(server, metrics, registry):
    server.script(
        Reply.error(429, retry_after="0.01"),
        Reply.error(500, retry_after="0.01"),
        Reply.json(chat_completion()),
    )
    with sync_client(server, metrics) as client, metrics.track_agent(AGENT, "gpt-4o"):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert len(server.received) == 3  # what the SDK really sent
    scrape = Scrape(registry)
    assert scrape.value(CALLS, model="gpt-4o", agent_id=AGENT) == 3
    assert scrape.value(DURATION, model="gpt-4o") == 3
    assert errors_of(scrape) == {"rate_limit": 1, "server_error": 1}
    assert scrape.value(RETRIES, agent_id=AGENT, reason="rate_limit") == 1
    assert scrape.value(RETRIES, agent_id=AGENT, reason="server_error") == 1
    assert scrape.value(TOKENS, model="gpt-4o", token_type="prompt") == 100  # once


def test_the_last_error_reaches_the_caller_unchanged(server, metrics, registry):
    server.script(*[Reply.error(429, retry_after="0.01")] * 3)
    with (
        sync_client(server, metrics) as client,
        metrics.track_agent(AGENT, "gpt-4o"),
        pytest.raises(openai.RateLimitError) as raised,
    ):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert raised.value.status_code == 429
    assert raised.value.body == {
        "message": "test error 429",
        "type": "rate_limit_exceeded",
        "code": "rate_limit_exceeded",
    }
    scrape = Scrape(registry)
    assert scrape.value(CALLS, model="gpt-4o", agent_id=AGENT) == 3
    assert errors_of(scrape) == {"rate_limit": 3}
    assert scrape.value(RETRIES, agent_id=AGENT, reason="rate_limit") == 2  # max_retries=2
    assert scrape.total(TOKENS) == 0


def test_timeouts_are_counted_per_attempt(server, metrics, registry):
    server.script(
        Reply.json(chat_completion(), delay=2.0), Reply.json(chat_completion(), delay=2.0)
    )
    with (
        sync_client(server, metrics, max_retries=1, timeout=0.3) as client,
        pytest.raises(openai.APITimeoutError),
    ):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    scrape = Scrape(registry)
    assert scrape.value(CALLS, model="gpt-4o", agent_id=UNATTRIBUTED) == 2
    assert errors_of(scrape) == {"timeout": 2}
    assert scrape.value(RETRIES, agent_id=UNATTRIBUTED, reason="timeout") == 1


def test_a_failure_in_the_instrumentation_never_reaches_the_caller(server, registry):
    def broken_clock() -> float:
        raise RuntimeError("clock broken")

    metrics = MetricsCollector(registry, clock=broken_clock)
    with sync_client(server, metrics) as client:
        completion = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert completion.usage.prompt_tokens == 100
    scrape = Scrape(registry)
    assert scrape.value(REFUSED, metric=CALLS, reason="internal_error") >= 1
    assert scrape.value(TOKENS, model="gpt-4o", token_type="prompt") == 100


# -- streams -----------------------------------------------------------------------------------


def test_a_stream_is_timed_to_its_last_chunk_with_time_to_first_token_and_usage(
    server, metrics, registry
):
    usage = chat_usage(prompt=300, completion=3, cached=100)
    server.script(Reply.stream(chat_stream(usage=usage), gap=0.05))
    with sync_client(server, metrics) as client, metrics.track_agent(AGENT, "gpt-4o"):
        stream = client.chat.completions.create(
            model="gpt-4o",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        assert isinstance(stream, openai.Stream)  # the SDK's own object, for the caller
        assert Scrape(registry).value(CALLS, model="gpt-4o", agent_id=AGENT) == 0  # still open
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "Once upon a time"
    scrape = Scrape(registry)
    assert scrape.value(CALLS, model="gpt-4o", agent_id=AGENT) == 1
    # The server paused 0.05 s between its 7 events: the call lasted at least 0.3 s, and the
    # first content came after the role chunk, at least 0.05 s in.
    assert scrape.value("narra_forge_api_call_duration_seconds_sum", model="gpt-4o") >= 0.3
    assert scrape.value(f"{TTFT}_count", model="gpt-4o") == 1
    assert scrape.value(f"{TTFT}_sum", model="gpt-4o") >= 0.05
    assert scrape.value(TOKENS, model="gpt-4o", token_type="prompt") == 300
    assert scrape.value("narra_forge_cached_prompt_tokens_total", model="gpt-4o") == 100
    assert scrape.total(REFUSED) == 0


def test_a_stream_without_usage_is_counted_and_its_missing_tokens_are_visible(
    server, metrics, registry
):
    server.script(Reply.stream(chat_stream()))
    with sync_client(server, metrics) as client:
        for _ in client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True):
            pass
    scrape = Scrape(registry)
    assert scrape.value(CALLS, model="gpt-4o", agent_id=UNATTRIBUTED) == 1
    assert scrape.total(TOKENS) == 0
    assert (
        scrape.value(REFUSED, metric="narra_forge_tokens_used_total", reason="missing_usage") == 1
    )


def test_a_stream_closed_early_is_one_successful_call(server, metrics, registry):
    server.script(Reply.stream(chat_stream(words=("a",) * 50, usage=chat_usage()), gap=0.01))
    with (
        sync_client(server, metrics) as client,
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True) as stream,
    ):
        next(iter(stream))
    scrape = Scrape(registry)
    assert scrape.value(CALLS, model="gpt-4o", agent_id=UNATTRIBUTED) == 1
    assert errors_of(scrape) == {}
    assert scrape.total(REFUSED) == 0  # the caller stopped reading: no usage is expected


def test_a_connection_dropped_mid_stream_is_a_connection_error(server, metrics, registry):
    server.script(Reply.stream(chat_stream(usage=chat_usage()), drop_after=2))
    received = []
    with sync_client(server, metrics) as client, metrics.track_agent(AGENT, "gpt-4o"):
        stream = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
        chunks = (chunk.choices[0].delta.content for chunk in stream)
        with pytest.raises(openai.APIConnectionError):
            received.extend(chunks)
    assert received == ["", "Once"]
    scrape = Scrape(registry)
    assert scrape.value(CALLS, model="gpt-4o", agent_id=AGENT) == 1
    assert errors_of(scrape) == {"connection": 1}
    assert scrape.value(f"{TTFT}_count", model="gpt-4o") == 1
    assert scrape.total(TOKENS) == 0


def test_the_sdk_stream_helper_is_covered(server, metrics, registry):
    server.script(Reply.stream(chat_stream(usage=chat_usage(prompt=42))))
    with (
        sync_client(server, metrics) as client,
        client.chat.completions.stream(
            model="gpt-4o", messages=MESSAGES, stream_options={"include_usage": True}
        ) as stream,
    ):
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "Once upon a time"
    scrape = Scrape(registry)
    assert scrape.value(CALLS, model="gpt-4o", agent_id=UNATTRIBUTED) == 1
    assert scrape.value(TOKENS, model="gpt-4o", token_type="prompt") == 42


# -- the Responses API -------------------------------------------------------------------------


def test_responses_usage_counts_cached_and_reasoning_tokens(server, metrics, registry):
    server.script(Reply.json(response("gpt-5", usage=responses_usage(200, 80, 50, 30))))
    with sync_client(server, metrics) as client, metrics.track_agent(AGENT, "gpt-5"):
        result = client.responses.create(model="gpt-5", input="Write the next scene.")
    assert result.output_text == "Once upon a time"
    scrape = Scrape(registry)
    assert scrape.value(CALLS, model="gpt-5", agent_id=AGENT) == 1
    assert scrape.value(TOKENS, model="gpt-5", token_type="prompt") == 200
    assert scrape.value(TOKENS, model="gpt-5", token_type="completion") == 80
    assert scrape.value("narra_forge_cached_prompt_tokens_total", model="gpt-5") == 50
    assert scrape.value("narra_forge_reasoning_tokens_total", model="gpt-5") == 30
    cost = scrape.value("narra_forge_cost_usd_total", model="gpt-5", agent_id=AGENT)
    assert cost == pytest.approx((150 * 1.25 + 50 * 0.125 + 80 * 10.00) / 1e6)


def test_a_responses_stream_takes_usage_from_its_completed_event(server, metrics, registry):
    usage = responses_usage(120, 40, cached=None, reasoning=None)
    server.script(Reply.stream(responses_stream("gpt-5", usage=usage)))
    with sync_client(server, metrics) as client:
        events = [e.type for e in client.responses.create(model="gpt-5", input="x", stream=True)]
    assert events[-1] == "response.completed"
    scrape = Scrape(registry)
    assert scrape.value(CALLS, model="gpt-5", agent_id=UNATTRIBUTED) == 1
    assert scrape.value(f"{TTFT}_count", model="gpt-5") == 1
    assert scrape.value(TOKENS, model="gpt-5", token_type="prompt") == 120
    assert scrape.value("narra_forge_cached_prompt_tokens_total", model="gpt-5") == 0
    assert scrape.total(REFUSED) == 0


# -- async, threads, Azure ---------------------------------------------------------------------


def test_async_calls_in_concurrent_tasks_are_attributed_to_their_own_agent(server, registry):
    metrics = MetricsCollector(registry)
    server.default = Reply.json(chat_completion(), delay=0.02)  # so the tasks really overlap

    async def agent_step(client: openai.AsyncOpenAI, agent: str, calls: int) -> None:
        with metrics.track_agent(agent, "gpt-4o"):
            for _ in range(calls):
                await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)

    async def main() -> None:
        async with async_client(server, metrics) as client:
            await asyncio.gather(
                agent_step(client, AGENT, 5),
                agent_step(client, OTHER_AGENT, 3),
                client.chat.completions.create(model="gpt-4o", messages=MESSAGES),
            )

    asyncio.run(main())
    scrape = Scrape(registry)
    assert scrape.value(CALLS, model="gpt-4o", agent_id=AGENT) == 5
    assert scrape.value(CALLS, model="gpt-4o", agent_id=OTHER_AGENT) == 3
    assert scrape.value(CALLS, model="gpt-4o", agent_id=UNATTRIBUTED) == 1
    assert scrape.value(TOKENS, model="gpt-4o", token_type="prompt") == 900


def test_async_streams_and_retries(server, metrics, registry):
    server.script(
        Reply.error(503, retry_after="0.01"),
        Reply.stream(responses_stream("gpt-5", usage=responses_usage(10, 5, 0, 2))),
    )

    async def main() -> list[str]:
        async with async_client(server, metrics) as client:
            with metrics.track_agent(AGENT, "gpt-5"):
                stream = await client.responses.create(model="gpt-5", input="x", stream=True)
                return [event.type async for event in stream]

    assert asyncio.run(main())[-1] == "response.completed"
    scrape = Scrape(registry)
    assert scrape.value(CALLS, model="gpt-5", agent_id=AGENT) == 2
    assert errors_of(scrape, "gpt-5") == {"server_error": 1}
    assert scrape.value(RETRIES, agent_id=AGENT, reason="server_error") == 1
    assert scrape.value("narra_forge_reasoning_tokens_total", model="gpt-5") == 2


def test_async_failures_reach_the_caller(server, metrics, registry):
    server.script(Reply.stream(chat_stream(), drop_after=1))

    async def main() -> None:
        async with async_client(server, metrics) as client:
            stream = await client.chat.completions.create(
                model="gpt-4o", messages=MESSAGES, stream=True
            )
            async for _ in stream:
                pass

    with pytest.raises(openai.APIConnectionError):
        asyncio.run(main())
    assert errors_of(Scrape(registry)) == {"connection": 1}


def test_an_async_stream_closed_early_is_one_successful_call(server, metrics, registry):
    server.script(Reply.stream(chat_stream(words=("a",) * 50), gap=0.01))

    async def main() -> None:
        async with async_client(server, metrics) as client:
            stream = await client.chat.completions.create(
                model="gpt-4o", messages=MESSAGES, stream=True
            )
            async with stream:
                await stream.__anext__()

    asyncio.run(main())
    scrape = Scrape(registry)
    assert scrape.value(CALLS, model="gpt-4o", agent_id=UNATTRIBUTED) == 1
    assert errors_of(scrape) == {}
    assert scrape.value(f"{TTFT}_count", model="gpt-4o") == 0  # the role chunk only was read


def test_threads_share_a_client_and_keep_their_own_agent(server, metrics, registry):
    with sync_client(server, metrics) as client:

        def work(agent: str) -> None:
            with metrics.track_agent(agent, "gpt-4o"):
                for _ in range(4):
                    client.chat.completions.create(model="gpt-4o", messages=MESSAGES)

        threads = [threading.Thread(target=work, args=(a,)) for a in (AGENT, OTHER_AGENT)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    scrape = Scrape(registry)
    assert scrape.value(CALLS, model="gpt-4o", agent_id=AGENT) == 4
    assert scrape.value(CALLS, model="gpt-4o", agent_id=OTHER_AGENT) == 4


def test_azure_clients_are_instrumented(server, metrics, registry):
    endpoint = server.url.removesuffix("/v1")
    azure = openai.AzureOpenAI(
        api_key="test", api_version="2024-10-21", azure_endpoint=endpoint, max_retries=1
    )
    server.script(Reply.error(429, retry_after="0.01"))
    with instrument_openai(azure, metrics) as client, metrics.track_agent(AGENT, "gpt-4o"):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert server.received[-1].path.startswith("/openai/deployments/gpt-4o/chat/completions")
    scrape = Scrape(registry)
    assert scrape.value(CALLS, model="gpt-4o", agent_id=AGENT) == 2
    assert scrape.value(RETRIES, agent_id=AGENT, reason="rate_limit") == 1


def test_async_azure_clients_are_instrumented(server, metrics, registry):
    endpoint = server.url.removesuffix("/v1")

    async def main() -> None:
        azure = openai.AsyncAzureOpenAI(
            api_key="test", api_version="2024-10-21", azure_endpoint=endpoint
        )
        async with instrument_openai(azure, metrics) as client:
            await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)

    asyncio.run(main())
    assert Scrape(registry).value(CALLS, model="gpt-4o", agent_id=UNATTRIBUTED) == 1
