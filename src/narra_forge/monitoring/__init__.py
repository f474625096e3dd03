"""Structured logging and Prometheus metrics for NARRA_FORGE."""

from narra_forge.monitoring.catalogue import METRICS

__all__ = ["METRICS"]
__version__ = "0.1.0"
