"""The monitoring guide's code runs unmodified and lands where a scrape finds it."""

from __future__ import annotations

import asyncio
import io
import json

from prometheus_client import REGISTRY

from narra_forge.monitoring import MetricsCollector, configure_logging, get_logger

from .conftest import Scrape


class Orchestrator:
    async def produce_narrative(self, brief: str) -> str:
        await asyncio.sleep(0)
        return f"narrative for {brief}"


class Agent:
    async def execute(self, input_data: dict) -> dict:
        await asyncio.sleep(0)
        return {"brief": input_data}


async def guide_section_4(orchestrator: Orchestrator, agent: Agent, brief: str, input_data: dict):
    # Copied from MONITORING_GUIDE.md, "4. Collect Metrics", inside an async function.
    metrics = MetricsCollector()

    # Track pipeline execution
    with metrics.track_pipeline("short_story", "fantasy"):
        result = await orchestrator.produce_narrative(brief)

    # Track agent execution
    with metrics.track_agent("a01_brief_interpreter", "gpt-4o-mini"):
        result = await agent.execute(input_data)

    # Record custom metrics
    metrics.record_tokens("gpt-4o", prompt_tokens=1000, completion_tokens=500)
    metrics.record_cost("gpt-4o", "a06_sequential_generator", 0.05)
    metrics.record_quality_score("short_story", "coherence", 0.88)
    return result


def test_guide_metrics_snippet_lands_in_the_default_registry():
    before = Scrape(REGISTRY)
    result = asyncio.run(guide_section_4(Orchestrator(), Agent(), "a dragon", {"words": 2000}))
    after = Scrape(REGISTRY)

    def delta(name: str, **labels: str) -> float:
        return (after.value(name, **labels) or 0.0) - (before.value(name, **labels) or 0.0)

    assert result == {"brief": {"words": 2000}}
    pipeline = {"production_type": "short_story", "genre": "fantasy"}
    assert delta("narra_forge_pipeline_total", **pipeline, status="success") == 1
    assert after.value("narra_forge_pipeline_total", **pipeline, status="failed") is not None
    assert delta("narra_forge_pipeline_duration_seconds_count", **pipeline) == 1
    assert after.value("narra_forge_jobs_active") == 0
    agent = {"agent_id": "a01_brief_interpreter", "model": "gpt-4o-mini"}
    assert delta("narra_forge_agent_duration_seconds_count", **agent) == 1
    assert delta("narra_forge_tokens_used_total", model="gpt-4o", token_type="prompt") == 1000
    assert delta("narra_forge_tokens_used_total", model="gpt-4o", token_type="completion") == 500
    cost = {"model": "gpt-4o", "agent_id": "a06_sequential_generator"}
    assert round(delta("narra_forge_cost_usd_total", **cost), 12) == 0.05
    quality = {"production_type": "short_story", "metric_type": "coherence"}
    assert delta("narra_forge_quality_score_count", **quality) == 1
    assert round(delta("narra_forge_quality_score_sum", **quality), 12) == 0.88
    # 0.88 is above the 0.85 bucket and within 0.9.
    assert delta("narra_forge_quality_score_bucket", **quality, le="0.85") == 0
    assert delta("narra_forge_quality_score_bucket", **quality, le="0.9") == 1


def test_guide_logging_snippet_prints_readable_console_lines():
    out = io.StringIO()
    # Copied from MONITORING_GUIDE.md, "3. Configure Logging in Your Code" (plus a stream).
    configure_logging(
        level="INFO",
        json_output=False,  # Set True for production
        stream=out,
    )
    log = get_logger(__name__, component="orchestrator")
    log.info("pipeline_started", job_id="job_123", production_type="short_story", genre="fantasy")

    line = out.getvalue().strip()
    assert "\n" not in line
    assert "pipeline_started" in line
    for pair in ("job_id=job_123", "production_type=short_story", "genre=fantasy"):
        assert pair in line
    assert "component=orchestrator" in line
    assert "\x1b[" not in line  # not a terminal: no colour codes


def test_guide_best_practices_in_json():
    out = io.StringIO()
    configure_logging(level="INFO", json_output=True, stream=out)
    job_id = "job_42"
    # "4. Bind Context for Reuse"
    log = get_logger(__name__, job_id=job_id, production_type="short_story")
    log.info("stage_started", stage=1)
    log.info("stage_completed", stage=1, duration=5.2)
    # "3. Use Appropriate Log Levels" (the debug line is below INFO and must not appear)
    prompt = "Once upon a time"
    log.debug("api_request_prepared", prompt_length=len(prompt))
    log.warning("cost_threshold_approaching", current=8.5, max=10.0)
    # "2. Include Relevant Context"
    try:
        raise TimeoutError("upstream took too long")
    except TimeoutError:
        log.error(
            "agent_execution_failed",
            agent_id="a06_sequential_generator",
            error_type="RateLimitError",
            retry_attempt=2,
            exc_info=True,  # Include stack trace
        )

    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["event"] for line in lines] == [
        "stage_started",
        "stage_completed",
        "cost_threshold_approaching",
        "agent_execution_failed",
    ]
    assert all(line["job_id"] == "job_42" for line in lines)
    assert all(line["production_type"] == "short_story" for line in lines)
    assert lines[1]["duration"] == 5.2
    assert lines[2]["level"] == "warning"
    failure = lines[3]
    assert failure["level"] == "error"
    assert failure["retry_attempt"] == 2
    assert failure["exception"][0]["exc_type"] == "TimeoutError"
    assert failure["exception"][0]["exc_value"] == "upstream took too long"
