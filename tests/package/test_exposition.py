"""``/metrics`` over real HTTP: the standalone server, a WSGI server, and the ASGI app."""

from __future__ import annotations

import asyncio
import threading
import urllib.request
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from prometheus_client.parser import text_string_to_metric_families

from narra_forge.monitoring import (
    MetricsCollector,
    make_asgi_app,
    make_wsgi_app,
    start_metrics_server,
)


def fetch(url: str) -> tuple[str, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.headers["Content-Type"], response.read().decode()


def value_of(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return None


def test_standalone_server_on_a_free_port(registry):
    MetricsCollector(registry).record_tokens("gpt-4o", prompt_tokens=321)
    server = start_metrics_server(port=0, addr="127.0.0.1", registry=registry)
    try:
        assert server.port > 0
        content_type, text = fetch(server.url)
    finally:
        server.close()
    assert server.url == f"http://127.0.0.1:{server.port}/metrics"
    assert content_type.startswith("text/plain")
    prompt = {"model": "gpt-4o", "token_type": "prompt"}
    assert value_of(text, "narra_forge_tokens_used_total", **prompt) == 321


def test_standalone_server_serves_the_default_registry():
    MetricsCollector().record_retry("a09_editorial_reviewer", "invalid_output")
    server = start_metrics_server(port=0, addr="127.0.0.1")
    try:
        _, text = fetch(server.url)
    finally:
        server.close()
    labels = {"agent_id": "a09_editorial_reviewer", "reason": "invalid_output"}
    assert value_of(text, "narra_forge_retry_attempts_total", **labels) >= 1
    assert value_of(text, "narra_forge_jobs_active") is not None


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def test_wsgi_app_in_a_real_wsgi_server(registry):
    MetricsCollector(registry).record_cost("gpt-4o-mini", "a10_output_processor", 0.125)
    httpd = make_server("127.0.0.1", 0, make_wsgi_app(registry), handler_class=QuietHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        _, text = fetch(f"http://127.0.0.1:{httpd.server_port}/metrics")
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
    cost = {"model": "gpt-4o-mini", "agent_id": "a10_output_processor"}
    assert value_of(text, "narra_forge_cost_usd_total", **cost) == 0.125


def test_asgi_app_speaks_asgi(registry):
    # No ASGI server is installed here, so the test plays the server's part of the protocol.
    MetricsCollector(registry).record_quality_score("novella", "temporal", 0.75)
    app = make_asgi_app(registry)
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/metrics",
        "query_string": b"",
        "headers": [(b"accept", b"text/plain")],
    }
    asyncio.run(app(scope, receive, send))
    start, body = sent[0], b"".join(m.get("body", b"") for m in sent[1:])
    assert start["status"] == 200
    text = body.decode()
    labels = {"production_type": "novella", "metric_type": "temporal"}
    assert value_of(text, "narra_forge_quality_score_sum", **labels) == 0.75


@pytest.mark.parametrize("port", [-1, 70000, "8000", True])
def test_a_bad_port_is_a_clear_error(port):
    with pytest.raises(ValueError, match="port must be an integer 0-65535"):
        start_metrics_server(port=port)


def test_a_missing_multiprocess_directory_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match=r"PROMETHEUS_MULTIPROC_DIR=.*is not a directory"):
        make_wsgi_app()
