"""Spans leave the process over OTLP/HTTP: the SDK's exporter posts protobuf to a receiver on a
real socket here, which decodes each body with opentelemetry-proto."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from prometheus_client import CollectorRegistry

from narra_forge.monitoring import MetricsCollector

AGENT = "a02_world_architect"


class Receiver:
    """An OTLP/HTTP trace receiver: ``POST /v1/traces`` with a protobuf body."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.paths: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                receiver.paths.append(self.path)
                receiver.requests.append(request)
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def spans(self) -> list[tuple[dict[str, Any], Any]]:
        """Every received span, with its resource's attributes."""
        return [
            ({a.key: a.value.string_value for a in rs.resource.attributes}, span)
            for request in self.requests
            for rs in request.resource_spans
            for ss in rs.scope_spans
            for span in ss.spans
        ]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


def attributes(span: Any) -> dict[str, Any]:
    def value(v: Any) -> Any:
        return getattr(v, v.WhichOneof("value"))

    return {a.key: value(a.value) for a in span.attributes}


def test_spans_reach_an_otlp_http_receiver_as_protobuf(receiver):
    exporter = OTLPSpanExporter(endpoint=f"{receiver.url}/v1/traces", timeout=60)
    provider = TracerProvider(resource=Resource.create({"service.name": "narra-forge"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    metrics = MetricsCollector(CollectorRegistry(), tracer_provider=provider)
    with metrics.track_pipeline("short_story", "fantasy"), metrics.track_agent(AGENT, "gpt-4o"):
        pass
    assert provider.force_flush(timeout_millis=120_000)
    deadline = time.monotonic() + 120
    while len(receiver.spans()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    provider.shutdown()
    assert set(receiver.paths) == {"/v1/traces"}
    received = {span.name: (resource, span) for resource, span in receiver.spans()}
    assert set(received) == {"invoke_workflow short_story", f"invoke_agent {AGENT}"}
    resource, agent = received[f"invoke_agent {AGENT}"]
    _, pipeline = received["invoke_workflow short_story"]
    assert resource["service.name"] == "narra-forge"
    assert attributes(agent)["gen_ai.operation.name"] == "invoke_agent"
    assert attributes(agent)["gen_ai.agent.name"] == AGENT
    assert attributes(pipeline)["narra_forge.genre"] == "fantasy"
    assert agent.trace_id == pipeline.trace_id
    assert agent.parent_span_id == pipeline.span_id
    assert len(agent.trace_id) == 16  # bytes: the 32 hex digits of log lines and exemplars
