"""Serve ``/metrics``: a standalone server, or an ASGI/WSGI app to mount in your own server.

Multi-process servers (gunicorn, uvicorn workers, Celery prefork) are handled by
prometheus-client's multiprocess mode: when ``PROMETHEUS_MULTIPROC_DIR`` is set before Python
starts, every process writes its samples to files in that directory, and what is served is a
registry that merges those files (``MultiProcessCollector``). Gauges are merged according to the
catalogue's ``multiprocess_mode`` (``livesum`` for ``narra_forge_jobs_active``: the sum over
live processes). Call ``mark_process_dead(pid)`` from gunicorn's ``child_exit`` hook so a dead
worker's live gauges disappear (docs/instrumentation.md shows the ``gunicorn.conf.py``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import prometheus_client
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    """The multiprocess directory when multiprocess mode is on, else ``None``."""
    return os.environ.get(MULTIPROC_ENV) or os.environ.get(MULTIPROC_ENV.lower()) or None


def metrics_registry(registry: Collector | None = None) -> Collector:
    """What ``/metrics`` serves: the given registry; in multiprocess mode a registry merging
    every process's files; otherwise prometheus-client's default registry."""
    if registry is not None:
        return registry
    path = multiprocess_dir()
    if path is None:
        return REGISTRY
    if not os.path.isdir(path):
        raise ValueError(f"{MULTIPROC_ENV}={path!r} is not a directory; create it before starting")
    merged = CollectorRegistry()
    multiprocess.MultiProcessCollector(merged, path=path)
    return merged


def mark_process_dead(pid: int) -> None:
    """Forget a dead worker's live gauges (gunicorn ``child_exit``). No-op outside multiprocess
    mode."""
    path = multiprocess_dir()
    if path is not None:
        multiprocess.mark_process_dead(pid, path)


@dataclass
class MetricsServer:
    """A running ``/metrics`` server (a daemon thread); ``close()`` stops it."""

    host: str
    port: int
    _server: Any
    _thread: threading.Thread

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_metrics_server(
    port: int = 8000, addr: str = "0.0.0.0", registry: Collector | None = None
) -> MetricsServer:
    """Serve ``/metrics`` on ``addr:port`` from a daemon thread (``port=0``: a free port).

    The default address is every interface, because Prometheus in a container reaches the app
    through ``host.docker.internal``; pass ``addr="127.0.0.1"`` when it scrapes from the host.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"start_metrics_server: port must be an integer 0-65535, got {port!r}")
    server, thread = prometheus_client.start_http_server(
        port, addr=addr, registry=metrics_registry(registry)
    )
    return MetricsServer(host=addr, port=server.server_address[1], _server=server, _thread=thread)


def make_wsgi_app(registry: Collector | None = None) -> Callable[..., Any]:
    """A WSGI app serving the metrics (mount it at ``/metrics``)."""
    return prometheus_client.make_wsgi_app(metrics_registry(registry))


def make_asgi_app(registry: Collector | None = None) -> Callable[..., Any]:
    """An ASGI app serving the metrics (e.g. ``app.mount("/metrics", make_asgi_app())``)."""
    return prometheus_client.make_asgi_app(metrics_registry(registry))


__all__ = [
    "MULTIPROC_ENV",
    "MetricsServer",
    "make_asgi_app",
    "make_wsgi_app",
    "mark_process_dead",
    "metrics_registry",
    "start_metrics_server",
]
