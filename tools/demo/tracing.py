"""Tracing for the simulator: an SDK TracerProvider, exported over OTLP/HTTP or to a file.

``OTEL_EXPORTER_OTLP_ENDPOINT`` set (Tempo, an OpenTelemetry Collector): spans go there, as the
exporter reads the standard OTEL_* variables itself. Otherwise they go to a JSON-lines file, one
span per line, so the demo's exemplars and log lines lead somewhere without a trace backend:
``grep <trace_id> .data/traces/spans.jsonl``.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

OTLP_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
SERVICE_NAME = "narra-forge-simulator"


def span_record(span: ReadableSpan) -> dict[str, Any]:
    """One span as a flat JSON object, ids in the lowercase hex of log lines and exemplars."""
    context = span.context
    assert context is not None
    return {
        "name": span.name,
        "trace_id": f"{context.trace_id:032x}",
        "span_id": f"{context.span_id:016x}",
        "parent_span_id": None if span.parent is None else f"{span.parent.span_id:016x}",
        "kind": span.kind.name,
        "start_time_unix_nano": span.start_time,
        "end_time_unix_nano": span.end_time,
        "status": span.status.status_code.name,
        "attributes": dict(span.attributes or {}),
        "service_name": span.resource.attributes.get("service.name"),
    }


class JsonLinesSpanExporter(SpanExporter):
    """Appends every exported span to ``path`` as one JSON line."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._file = path.open("a", encoding="utf-8")

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(json.dumps(span_record(span), default=str) + "\n" for span in spans)
        try:
            with self._lock:
                self._file.write(lines)
                self._file.flush()
        except (OSError, ValueError):
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            self._file.close()


def setup_tracing(span_file: Path | None) -> tuple[TracerProvider, str]:
    """Set the global tracer provider; returns it and where its spans go (for the log)."""
    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
    exporter: SpanExporter
    if os.environ.get(OTLP_ENV):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter, target = OTLPSpanExporter(), os.environ[OTLP_ENV]
    elif span_file is not None:
        exporter, target = JsonLinesSpanExporter(span_file), str(span_file)
    else:
        raise ValueError(f"setup_tracing: set {OTLP_ENV} or give a span file")
    # Batches leave every second: the e2e test and an operator find a trace soon after its end.
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=1000))
    trace.set_tracer_provider(provider)
    return provider, target
