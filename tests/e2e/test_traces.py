"""The demo traced: an exemplar Prometheus stored leads to the simulator's log lines and spans."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.e2e.conftest import RunningStack, wait_for

#: The duration histograms that carry exemplars (the simulator does not stream: no TTFT here).
HISTOGRAMS = (
    "narra_forge_pipeline_duration_seconds_bucket",
    "narra_forge_agent_duration_seconds_bucket",
    "narra_forge_api_call_duration_seconds_bucket",
)


def exemplar_trace_ids(stack: RunningStack, metric: str) -> set[str]:
    now = time.time()
    data: list[dict[str, Any]] = stack.prometheus.api(
        "query_exemplars", query=metric, start=now - 3600, end=now + 60
    )
    return {
        exemplar["labels"]["trace_id"]
        for series in data or ()
        for exemplar in series.get("exemplars", ())
        if "trace_id" in exemplar.get("labels", {})
    }


def lines(path) -> list[dict[str, Any]]:
    found = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        try:
            found.append(json.loads(raw))
        except ValueError:
            continue  # a line cut by the reading: the next poll sees it whole
    return found


def test_an_exemplars_trace_id_is_in_the_logs_and_in_the_exported_spans(healthy: RunningStack):
    stack = healthy.stack
    log_file = stack.log_dir / "simulator.log"
    span_file = stack.trace_file

    def linked() -> tuple[str, str] | None:
        if not span_file.exists():
            return None
        logged = {line.get("trace_id") for line in lines(log_file)}
        exported = {span["trace_id"] for span in lines(span_file)}
        for metric in HISTOGRAMS:
            for trace_id in exemplar_trace_ids(healthy, metric):
                if trace_id in logged and trace_id in exported:
                    return metric, trace_id
        return None

    # Generous: a busy machine delays scrapes, span batches and the pipelines themselves.
    metric, trace_id = wait_for("an exemplar found in the logs and the spans", linked, 240, 2)
    assert len(trace_id) == 32, metric
    int(trace_id, 16)  # lowercase hex, as the log lines carry it
    logged = {line["span_id"] for line in lines(log_file) if line.get("trace_id") == trace_id}

    def exported() -> set[str]:
        return {span["span_id"] for span in lines(span_file) if span["trace_id"] == trace_id}

    # Every line of that trace names a span of it that was exported (once its batch is out).
    wait_for("the spans of every logged line", lambda: logged <= exported(), 120, 2)
    names = {span["name"] for span in lines(span_file) if span["trace_id"] == trace_id}
    assert any(name.startswith("invoke_agent ") for name in names), names
