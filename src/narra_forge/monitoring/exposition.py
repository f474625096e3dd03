"""Serve ``/metrics``: a standalone server, or an ASGI/WSGI app to mount in your own server.

Multi-process servers (gunicorn, uvicorn workers, Celery prefork) are handled by
prometheus-client's multiprocess mode: when ``PROMETHEUS_MULTIPROC_DIR`` is set before Python
starts, every process writes its samples to files in that directory, and what is served is a
registry that merges those files (``MultiProcessCollector``). Gauges are merged according to the
catalogue's ``multiprocess_mode`` (``livesum`` for ``narra_forge_jobs_active``: the sum over
live processes; ``livemax`` for the ``*_info`` gauges). Call ``mark_process_dead(pid)`` from
gunicorn's ``child_exit`` hook so a dead worker's live gauges disappear; the hooks are ready in
``narra_forge.monitoring.gunicorn_hooks``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import os
import socket
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import REGISTRY, CollectorRegistry, multiprocess
from prometheus_client.exposition import choose_encoder, gzip_accepted
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
    multiprocess.MultiProcessCollector(merged, path=path)  # type: ignore[no-untyped-call]
    return merged


def mark_process_dead(pid: int) -> None:
    """Forget a dead worker's live gauges (gunicorn ``child_exit``). No-op outside multiprocess
    mode."""
    path = multiprocess_dir()
    if path is not None:
        multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]


#: Connections the kernel queues while the server's threads are busy. socketserver's default
#: is 5: fifty scrapers arriving together overflowed it, and a dropped SYN is retried by the
#: client after 1, 3, 7, 15 s ... (the kernel caps it at net.core.somaxconn).
LISTEN_BACKLOG = 1024

_log = logging.getLogger("narra_forge.monitoring")


class _Flight:
    __slots__ = ("done", "error", "result")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: tuple[str, list[tuple[str, str]], bytes] | None = None
        self.error: BaseException | None = None


class _Renderer:
    """Renders the exposition; concurrent requests for the same form share one render.

    A scrape that arrives while a render of the same form (format, compression, ``name[]``
    filter) is under way waits for it and gets its bytes, instead of starting another: with 50
    concurrent scrapers on a busy machine, one render is done instead of 50 competing for the
    CPU. A render is never reused once it has finished: each later scrape gets fresh values.
    """

    def __init__(self, registry: Collector, disable_compression: bool = False) -> None:
        self._registry = registry
        self._disable_compression = disable_compression
        self._lock = threading.Lock()
        self._flights: dict[tuple[object, ...], _Flight] = {}

    def _render(
        self,
        openmetrics_type: str,
        encoder: Callable[[Any], bytes],
        gzipped: bool,
        names: tuple[str, ...],
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        registry: Any = self._registry
        if names and hasattr(registry, "restricted_registry"):
            registry = registry.restricted_registry(list(names))
        output = encoder(registry)
        headers = [("Content-Type", openmetrics_type)]
        if gzipped:
            output = gzip.compress(output)
            headers.append(("Content-Encoding", "gzip"))
        return "200 OK", headers, output

    def __call__(
        self, accept: str | None, accept_encoding: str | None, query: str
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        encoder, content_type = choose_encoder(accept or "")
        gzipped = not self._disable_compression and gzip_accepted(accept_encoding or "")
        names = tuple(sorted(parse_qs(query or "").get("name[]", ())))
        key = (content_type, gzipped, names)
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
        if leader:
            try:
                flight.result = self._render(content_type, encoder, gzipped, names)
            except BaseException as error:
                flight.error = error
            finally:
                with self._lock:
                    del self._flights[key]
                flight.done.set()
        else:
            flight.done.wait()
        if flight.error is not None:
            raise flight.error
        assert flight.result is not None
        return flight.result


def _not_get(method: str) -> tuple[str, list[tuple[str, str]], bytes] | None:
    if method == "GET" or method == "HEAD":
        return None
    if method == "OPTIONS":
        return "200 OK", [("Allow", "OPTIONS,GET,HEAD")], b""
    status = "405 Method Not Allowed"
    return status, [("Allow", "OPTIONS,GET,HEAD")], f"# HTTP {status}: {method}\n".encode()


class _WsgiApp:
    """The ``/metrics`` WSGI app (any path answers, as prometheus-client's does)."""

    def __init__(self, registry: Collector, disable_compression: bool = False) -> None:
        self._render = _Renderer(registry, disable_compression)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        answer = _not_get(method)
        if answer is None:
            if environ.get("PATH_INFO") == "/favicon.ico":
                answer = "200 OK", [], b""
            else:
                answer = self._render(
                    environ.get("HTTP_ACCEPT"),
                    environ.get("HTTP_ACCEPT_ENCODING"),
                    environ.get("QUERY_STRING", ""),
                )
        status, headers, body = answer
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [b""] if method == "HEAD" else [body]


class _AsgiApp:
    """The ``/metrics`` ASGI app; the render runs in a worker thread, off the event loop.

    An instance, not a function: Starlette's ``app.add_route("/metrics", make_asgi_app())``
    then serves it as an ASGI app at exactly ``/metrics`` (a ``Mount`` would redirect
    ``/metrics`` to ``/metrics/`` with a 307).
    """

    def __init__(self, registry: Collector, disable_compression: bool = False) -> None:
        self._render = _Renderer(registry, disable_compression)

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[dict[str, Any]]],
        send: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        if scope.get("type") != "http":
            return  # lifespan and websocket: nothing to do
        method = scope.get("method", "GET")
        answer = _not_get(method)
        if answer is None:
            headers = {
                key.decode("latin-1").lower(): value.decode("latin-1")
                for key, value in scope.get("headers", ())
            }
            query = scope.get("query_string", b"").decode("latin-1")
            loop = asyncio.get_running_loop()
            answer = await loop.run_in_executor(
                None,
                self._render,
                headers.get("accept"),
                headers.get("accept-encoding"),
                query,
            )
        status, response_headers, body = answer
        await send(
            {
                "type": "http.response.start",
                "status": int(status.split(" ", 1)[0]),
                "headers": [
                    (k.lower().encode("latin-1"), v.encode("latin-1"))
                    for k, v in [*response_headers, ("Content-Length", str(len(body)))]
                ],
            }
        )
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per scrape on stderr is noise


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG


@dataclass
class MetricsServer:
    """A ``/metrics`` server (a daemon thread); ``close()`` stops it.

    ``running`` is ``False`` when it could not start (the port was taken, ...): ``error`` says
    why, and the application went on without it.
    """

    host: str
    port: int
    _server: Any
    _thread: threading.Thread | None
    error: OSError | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def _bind(addr: str, port: int, app: Callable[..., Any]) -> _ThreadingServer:
    family, host = socket.AF_INET, addr
    with contextlib.suppress(OSError, IndexError):
        infos = socket.getaddrinfo(addr, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, host = infos[0][0], str(infos[0][4][0])

    class Server(_ThreadingServer):
        address_family = family

    return make_server(host, port, app, Server, handler_class=_QuietHandler)


def start_metrics_server(
    port: int = 8000, addr: str = "0.0.0.0", registry: Collector | None = None
) -> MetricsServer:
    """Serve ``/metrics`` on ``addr:port`` from a daemon thread (``port=0``: a free port).

    The default address is every interface, because Prometheus in a container reaches the app
    through ``host.docker.internal``; pass ``addr="127.0.0.1"`` when it scrapes from the host.

    Threads per request, a listen backlog of ``LISTEN_BACKLOG``, and concurrent scrapes sharing
    one render: it keeps answering many scrapers on a busy machine. If the port cannot be bound
    (``Address already in use``: another process, or a second gunicorn worker running the same
    start-up code), it logs a warning and returns a ``MetricsServer`` with ``running=False``:
    it never raises into the application. Under gunicorn, serve ``/metrics`` from the master
    (``narra_forge.monitoring.gunicorn_hooks``).
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"start_metrics_server: port must be an integer 0-65535, got {port!r}")
    try:
        server = _bind(addr, port, _WsgiApp(metrics_registry(registry)))
    except OSError as error:
        _log.warning(
            "narra_forge.monitoring: /metrics not served on %s:%s by process %s: %s. The "
            "application goes on. If another process of this application serves it (gunicorn "
            "workers running the same start-up code), serve /metrics from the gunicorn master "
            "instead: docs/instrumentation.md, 'Several processes'.",
            addr,
            port,
            os.getpid(),
            error.strerror or error,
        )
        return MetricsServer(host=addr, port=port, _server=None, _thread=None, error=error)
    thread = threading.Thread(target=server.serve_forever, name="narra-forge-metrics", daemon=True)
    thread.start()
    return MetricsServer(host=addr, port=server.server_address[1], _server=server, _thread=thread)


def make_wsgi_app(registry: Collector | None = None) -> Callable[..., Any]:
    """A WSGI app serving the metrics (mount it at ``/metrics``); concurrent scrapes share one
    render."""
    return _WsgiApp(metrics_registry(registry))


def make_asgi_app(registry: Collector | None = None) -> Callable[..., Any]:
    """An ASGI app serving the metrics. With FastAPI/Starlette:
    ``app.add_route("/metrics", make_asgi_app())`` answers 200 at ``/metrics`` (``app.mount``
    would answer 307 there, redirecting to ``/metrics/``)."""
    return _AsgiApp(metrics_registry(registry))


__all__ = [
    "LISTEN_BACKLOG",
    "MULTIPROC_ENV",
    "MetricsServer",
    "make_asgi_app",
    "make_wsgi_app",
    "mark_process_dead",
    "metrics_registry",
    "start_metrics_server",
]
