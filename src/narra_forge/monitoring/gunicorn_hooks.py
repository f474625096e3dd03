"""gunicorn server hooks: ``/metrics`` served by the master, workers in multiprocess mode.

The whole ``gunicorn.conf.py``::

    from narra_forge.monitoring.gunicorn_hooks import child_exit, on_starting, when_ready

and gunicorn started with ``PROMETHEUS_MULTIPROC_DIR`` set (an empty directory of its own)::

    PROMETHEUS_MULTIPROC_DIR=/tmp/narra-forge-metrics gunicorn -c gunicorn.conf.py -w 4 \\
        -k uvicorn_worker.UvicornWorker narra_forge.api:app

* ``on_starting`` (master, once): creates the directory and removes the ``*.db`` files a
  previous run left there (they would be added to this run's counters).
* ``when_ready`` (master, once the workers can be started): serves ``/metrics`` from the master
  on ``NARRA_FORGE_METRICS_PORT`` (default 8000) and ``NARRA_FORGE_METRICS_ADDR`` (default
  ``0.0.0.0``). The master does not serve requests and is never replaced by a reload, so
  ``/metrics`` answers through worker restarts and ``kill -HUP`` deploys, with every worker's
  samples merged. The workers do not call ``start_metrics_server``.
* ``child_exit`` (master, for each worker that exits): ``mark_process_dead(worker.pid)``, so the
  live gauges (``narra_forge_jobs_active``, and the ``*_info`` metrics of the version a worker
  ran) of a dead or replaced worker disappear.

None of them raises into gunicorn: a problem is logged through gunicorn's error log, and
gunicorn goes on serving the application.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from narra_forge.monitoring.exposition import (
    MULTIPROC_ENV,
    MetricsServer,
    mark_process_dead,
    multiprocess_dir,
    start_metrics_server,
)

PORT_ENV = "NARRA_FORGE_METRICS_PORT"
ADDR_ENV = "NARRA_FORGE_METRICS_ADDR"

_server: MetricsServer | None = None


def _log(server: Any, level: str, message: str, *args: object) -> None:
    log = getattr(server, "log", None)
    method = getattr(log, level, None)
    if method is not None:
        method(message, *args)


def on_starting(server: Any) -> None:
    """Create the multiprocess directory; remove the sample files of a previous run."""
    path = multiprocess_dir()
    if path is None:
        _log(
            server,
            "warning",
            "narra_forge.monitoring: %s is not set: each worker keeps its own metrics and the "
            "master's /metrics shows none of them; set it to an empty directory before "
            "starting gunicorn (docs/instrumentation.md, 'Several processes')",
            MULTIPROC_ENV,
        )
        return
    try:
        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
    except OSError as error:
        _log(
            server,
            "error",
            "narra_forge.monitoring: cannot prepare %s=%s: %s",
            MULTIPROC_ENV,
            path,
            error,
        )


def when_ready(server: Any) -> None:
    """Serve ``/metrics`` from the master (once, also across ``kill -HUP`` reloads)."""
    global _server
    if _server is not None and _server.running:
        return
    if multiprocess_dir() is None:
        return  # on_starting said why; the master would only show its own, empty, registry
    try:
        port = int(os.environ.get(PORT_ENV, "8000"))
    except ValueError:
        _log(server, "error", "narra_forge.monitoring: %s must be a port number", PORT_ENV)
        return
    addr = os.environ.get(ADDR_ENV, "0.0.0.0")
    _server = start_metrics_server(port=port, addr=addr)
    if _server.running:
        _log(server, "info", "narra_forge.monitoring: /metrics at %s (master)", _server.url)


def child_exit(server: Any, worker: Any) -> None:
    """Forget the live gauges of a worker that exited."""
    try:
        mark_process_dead(worker.pid)
    except Exception as error:  # never let the hook disturb the master
        _log(
            server, "error", "narra_forge.monitoring: mark_process_dead(%s): %s", worker.pid, error
        )


__all__ = ["ADDR_ENV", "PORT_ENV", "child_exit", "on_starting", "when_ready"]
