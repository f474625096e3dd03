"""The prometheus-client objects of the catalogue, created once per registry.

Why per registry and not per module: two ``MetricsCollector()`` in one process, or an
``importlib.reload`` of this package in a test, must not register the same names twice
("Duplicated timeseries"). The state lives on the registry object itself, so whoever asks for
the same registry gets the same metrics, the same label guard and the same caches.

Why one collector wrapping every family: prometheus-client exposes a ``_created`` sample beside
every counter and histogram child. Prometheus 2.x stores it as one more series that no rule or
dashboard reads (created timestamps are only ingested by newer servers behind a feature flag),
and it adds about a third to our series count. Switching it off with
``prometheus_client.disable_created_metrics()`` would change the application's own metrics too,
so instead our families are registered through one collector that leaves ``_created`` out.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric as MetricFamily
from prometheus_client.registry import Collector

from narra_forge.monitoring._version import __version__
from narra_forge.monitoring.catalogue import METRICS, Metric
from narra_forge.monitoring.guard import LabelGuard

#: Attribute of the registry object that holds its ``Instruments``.
_ATTRIBUTE = "_narra_forge_monitoring_instruments"
_CREATE_LOCK = threading.Lock()
#: Raw-argument caches stop growing here; later new keys take the (slower) validating path.
MAX_CACHED_KEYS = 4096


def _family(metric: Metric) -> MetricWrapperBase:
    """An unregistered prometheus-client object for one catalogue entry."""
    if metric.type == "counter":
        return Counter(metric.name, metric.help, metric.labels, registry=None)
    if metric.type == "histogram":
        return Histogram(
            metric.name, metric.help, metric.labels, buckets=metric.buckets, registry=None
        )
    return Gauge(
        metric.name,
        metric.help,
        metric.labels,
        registry=None,
        multiprocess_mode=metric.multiprocess_mode,  # type: ignore[arg-type]
    )


class CatalogueCollector(Collector):
    """Exposes every catalogue family, in catalogue order, without ``_created`` samples."""

    def __init__(self, families: dict[str, Any]) -> None:
        self._families = families

    def describe(self) -> Iterable[MetricFamily]:
        for family in self._families.values():
            yield from family.describe()

    def collect(self) -> Iterable[MetricFamily]:
        for family in self._families.values():
            for exposed in family.collect():
                exposed.samples = [s for s in exposed.samples if not s.name.endswith("_created")]
                yield exposed


class Instruments:
    """Everything the collectors of one registry share."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.families: dict[str, Any] = {m.name: _family(m) for m in METRICS}
        self.collector = CatalogueCollector(self.families)
        errors = self.families["narra_forge_instrumentation_errors_total"]
        error_children: dict[tuple[str, str], Any] = {}

        def count_error(metric: str, reason: str) -> None:
            child = error_children.get((metric, reason))
            if child is None:
                child = error_children[(metric, reason)] = errors.labels(metric, reason)
            child.inc()

        self.guard = LabelGuard(count_error, _log_warning)
        # Raw arguments -> resolved children. Only inputs accepted as given are cached, so a
        # refused value is counted (or raised, in strict mode) every time it is seen.
        self.pipelines: dict[Any, Any] = {}
        self.agents: dict[Any, Any] = {}
        self.api_calls: dict[Any, Any] = {}
        self.models: dict[Any, Any] = {}
        self.costs: dict[Any, Any] = {}
        self.quality: dict[Any, Any] = {}
        self.retries: dict[Any, Any] = {}
        self.agent_errors: dict[Any, Any] = {}
        # Resolved label values -> children; bounded by the label guard, so never capped.
        self.agent_errors_by_label: dict[str, dict[str, Any]] = {}
        self.models_by_label: dict[str, Any] = {}
        registry.register(self.collector)
        self.families["narra_forge_build_info"].labels(__version__).set(1)


def _log_warning(event: str, **fields: Any) -> None:
    # Imported here: the logging module is optional to the metrics and heavier to import.
    from narra_forge.monitoring.logs import get_logger

    # A broken log sink must not turn bad input into a crash.
    with contextlib.suppress(Exception):
        get_logger("narra_forge.monitoring").warning(event, **fields)


def instruments_for(registry: CollectorRegistry | None = None) -> Instruments:
    """The shared instruments of a registry (``None``: prometheus-client's default one)."""
    target = REGISTRY if registry is None else registry
    found: Instruments | None = getattr(target, _ATTRIBUTE, None)
    if found is not None:
        return found
    with _CREATE_LOCK:
        found = getattr(target, _ATTRIBUTE, None)
        if found is None:
            found = Instruments(target)
            setattr(target, _ATTRIBUTE, found)
    return found
