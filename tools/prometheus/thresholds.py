"""Load and validate ``monitoring/thresholds.yml``, the one file of alert thresholds.

The rule renderer and the dashboard builder both read it through ``load_thresholds``, so a typo
fails both with the same message, naming the file and the key.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import yaml

from tools._repo import REPO

DEFAULT_PATH = REPO / "monitoring" / "thresholds.yml"

Kind = Literal["ratio", "score", "usd", "seconds", "duration", "per_second", "count"]

#: Every section and key the file must hold, and what kind of value each is.
SCHEMA: Mapping[str, Mapping[str, Kind]] = {
    "pipeline_duration_high": {"seconds": "seconds", "for": "duration"},
    "pipeline_error_rate_high": {"ratio": "ratio", "for": "duration"},
    "cost_budget_warning": {"usd_per_hour": "usd", "for": "duration"},
    "quality_score_low": {"floor": "score", "for": "duration"},
    "api_error_rate_high": {"ratio": "ratio", "for": "duration"},
    "cost_daily_budget": {"usd_per_day": "usd", "for": "duration"},
    "agent_error_rate_high": {"ratio": "ratio", "for": "duration"},
    "api_rate_limited": {"ratio": "ratio", "for": "duration"},
    "retry_storm": {"ratio": "ratio", "for": "duration"},
    "unpriced_tokens": {"for": "duration"},
    "jobs_stuck": {"window": "duration", "for": "duration"},
    "target_down": {"for": "duration"},
    "prometheus_health": {"for": "duration"},
    # Loki ruler rules on the application's log lines (tools/loki/rules.py).
    "agent_error_lines_high": {"per_second": "per_second", "for": "duration"},
    "pipeline_failed_burst": {"count": "count", "window": "duration", "for": "duration"},
}

_DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}

Thresholds = Mapping[str, Mapping[str, "float | str"]]


class ThresholdsError(ValueError):
    """The thresholds file is malformed; the message names the file and the key."""


def duration_seconds(duration: str) -> float:
    """Seconds in a Prometheus duration such as ``1h30m``."""
    if not _DURATION.match(duration):
        raise ValueError(f"not a Prometheus duration: {duration!r}")
    return sum(
        int(amount) * _UNIT_SECONDS[unit]
        for amount, unit in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", duration)
    )


def _check_value(where: str, kind: Kind, value: object) -> float | str:
    if kind == "duration":
        if not isinstance(value, str) or not _DURATION.match(value):
            raise ThresholdsError(f"{where}: expected a Prometheus duration like 5m, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ThresholdsError(f"{where}: expected a number, got {value!r}")
    if value <= 0:
        raise ThresholdsError(f"{where}: must be greater than 0, got {value!r}")
    if kind in ("ratio", "score") and value > 1:
        raise ThresholdsError(f"{where}: a {kind} is a fraction between 0 and 1, got {value!r}")
    return float(value)


def parse_thresholds(data: object, source: str) -> Thresholds:
    """Validate an already-parsed thresholds document against ``SCHEMA``."""
    if not isinstance(data, dict):
        raise ThresholdsError(
            f"{source}: expected a mapping of sections, got {type(data).__name__}"
        )
    unknown = sorted(set(data) - set(SCHEMA))
    if unknown:
        raise ThresholdsError(f"{source}: unknown sections {unknown}; known: {sorted(SCHEMA)}")
    result: dict[str, dict[str, float | str]] = {}
    for section, keys in SCHEMA.items():
        values = data.get(section)
        if not isinstance(values, dict):
            raise ThresholdsError(f"{source}: section {section!r} is missing or not a mapping")
        extra = sorted(set(values) - set(keys))
        if extra:
            raise ThresholdsError(f"{source}: {section}: unknown keys {extra}; known: {list(keys)}")
        result[section] = {}
        for key, kind in keys.items():
            if key not in values:
                raise ThresholdsError(f"{source}: {section}.{key} is missing")
            result[section][key] = _check_value(f"{source}: {section}.{key}", kind, values[key])
    return result


def load_thresholds(path: Path = DEFAULT_PATH) -> Thresholds:
    """Read and validate a thresholds file; ``ThresholdsError`` names what is wrong."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ThresholdsError(f"{path}: cannot read thresholds: {error}") from error
    return parse_thresholds(data, str(path))


# -- How a threshold reads ---------------------------------------------------------------------
# Alerts, panel descriptions and the docs all print thresholds through these four, so the same
# number reads the same everywhere: $10.00, 5%, 1h30m.


def as_number(value: float | str) -> str:
    """A threshold as PromQL and people read it: 0.1, 10, 1800."""
    return f"{float(value):.10g}"


def as_percent(ratio: float | str) -> str:
    """``0.05`` -> ``5%``."""
    return f"{float(ratio) * 100:.10g}%"


def as_usd(amount: float | str) -> str:
    """``10`` -> ``$10.00``: dollars always with cents, as on an invoice."""
    return f"${float(amount):,.2f}"


def as_duration(duration: float | str) -> str:
    """``1800`` -> ``30m``, ``'1h'`` -> ``1h``, ``5400`` -> ``1h30m``: how an operator says it."""
    seconds = int(duration_seconds(duration) if isinstance(duration, str) else duration)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"
