"""The demo's tracing: the span file exporter, and the simulator run traced."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from prometheus_client import CollectorRegistry

from narra_forge.monitoring import MetricsCollector
from tools._repo import REPO
from tools.demo.tracing import OTLP_ENV, JsonLinesSpanExporter


def test_the_span_file_holds_one_json_span_per_line_with_hex_ids(tmp_path):
    path = tmp_path / "traces" / "spans.jsonl"
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(path)))
    metrics = MetricsCollector(CollectorRegistry(), tracer_provider=provider)
    agent = metrics.track_agent("a05_segment_planner", "gpt-4o")
    with agent, metrics.track_api_call("gpt-4o", "a05_segment_planner"):
        pass
    provider.shutdown()
    call, agent = (json.loads(line) for line in path.read_text().splitlines())
    assert (call["name"], agent["name"]) == ("chat gpt-4o", "invoke_agent a05_segment_planner")
    assert call["parent_span_id"] == agent["span_id"]
    assert agent["parent_span_id"] is None
    assert call["trace_id"] == agent["trace_id"]
    assert len(agent["trace_id"]) == 32
    assert len(agent["span_id"]) == 16
    assert call["kind"] == "CLIENT"
    assert agent["attributes"]["gen_ai.agent.name"] == "a05_segment_planner"
    assert agent["end_time_unix_nano"] >= agent["start_time_unix_nano"]


def test_the_simulator_traced_writes_spans_whose_ids_its_log_lines_carry(tmp_path):
    spans_file = tmp_path / "spans.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    assert OTLP_ENV not in env
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.demo.simulator",
            "--port=0",
            "--speed=600",
            "--pipelines-per-hour=7200",
            "--duration=6",
            f"--trace-file={spans_file}",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines[0]["traces"] == str(spans_file)  # simulator_started says where spans go
    spans = [json.loads(line) for line in spans_file.read_text().splitlines()]
    assert spans  # written before the process ended (the provider is shut down on exit)
    exported = {(span["trace_id"], span["span_id"]) for span in spans}
    traced_lines = [line for line in lines if "trace_id" in line]
    assert traced_lines
    assert all((line["trace_id"], line["span_id"]) in exported for line in traced_lines)
