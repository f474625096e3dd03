"""Structured logging and Prometheus metrics for NARRA_FORGE.

    from narra_forge.monitoring import MetricsCollector, configure_logging, get_logger

    configure_logging(level="INFO", json_output=True)
    log = get_logger(__name__, component="orchestrator")
    metrics = MetricsCollector()
    client = instrument_openai(openai.AsyncOpenAI(), metrics)   # optional: pip install [openai]
    with metrics.track_pipeline("short_story", "fantasy"):
        ...

The user guide is docs/instrumentation.md; every metric is listed in docs/metrics.md.
"""

from narra_forge.monitoring._version import __version__
from narra_forge.monitoring.catalogue import (
    AGENT_IDS,
    ERROR_TYPES,
    METRICS,
    OVERFLOW_VALUE,
    PRODUCTION_TYPES,
    UNATTRIBUTED,
)
from narra_forge.monitoring.collector import STRICT_ENV, MetricsCollector
from narra_forge.monitoring.errors import classify_exception
from narra_forge.monitoring.exposition import (
    MetricsServer,
    make_asgi_app,
    make_wsgi_app,
    mark_process_dead,
    metrics_registry,
    start_metrics_server,
)
from narra_forge.monitoring.guard import InstrumentationError
from narra_forge.monitoring.logs import bind_context, clear_context, configure_logging, get_logger
from narra_forge.monitoring.openai_client import instrument_openai
from narra_forge.monitoring.pricing import (
    DEFAULT_PRICING,
    PRICING_FILE_ENV,
    ModelPrice,
    PricingTable,
    load_pricing_file,
)
from narra_forge.monitoring.sentry import capture_exception, init_sentry, set_context, set_tag

__all__ = [
    "AGENT_IDS",
    "DEFAULT_PRICING",
    "ERROR_TYPES",
    "METRICS",
    "OVERFLOW_VALUE",
    "PRICING_FILE_ENV",
    "PRODUCTION_TYPES",
    "STRICT_ENV",
    "UNATTRIBUTED",
    "InstrumentationError",
    "MetricsCollector",
    "MetricsServer",
    "ModelPrice",
    "PricingTable",
    "__version__",
    "bind_context",
    "capture_exception",
    "classify_exception",
    "clear_context",
    "configure_logging",
    "get_logger",
    "init_sentry",
    "instrument_openai",
    "load_pricing_file",
    "make_asgi_app",
    "make_wsgi_app",
    "mark_process_dead",
    "metrics_registry",
    "set_context",
    "set_tag",
    "start_metrics_server",
]
