"""The Grafana dashboards, generated from Python: six on the metrics, one on the logs.

    python -m tools.grafana.dashboards                      # same as `make dashboards`
    python -m tools.grafana.dashboards --thresholds T --out DIR

Each module builds one dashboard from ``monitoring/thresholds.yml`` with the shared builders of
``builders.py``; ``outputs()`` feeds ``tools/generate.py`` (`make generate`, `make
check-generated`). ``panel_queries`` and ``expand_recording_rules`` are for the tests and
benchmarks that run the panels' queries against a real Prometheus.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

from tools.grafana.dashboards import (
    agent_performance,
    api_metrics,
    cost_tracking,
    logs,
    pipeline_overview,
    quality_metrics,
    slos,
)
from tools.grafana.queries import PanelQuery, expand_recording_rules, panel_queries
from tools.prometheus.thresholds import DEFAULT_PATH, Thresholds, load_thresholds

__all__ = [
    "DASHBOARDS",
    "DIRECTORY",
    "PanelQuery",
    "build_all",
    "expand_recording_rules",
    "outputs",
    "panel_queries",
    "render",
]

#: Where Grafana's dashboard provider reads the files (repository-relative).
DIRECTORY = Path("monitoring/grafana/dashboards")

#: One module per dashboard, each with ``BOARD`` (its uid, title and file, from tools/config.py)
#: and ``build(thresholds)``.
DASHBOARDS: tuple[ModuleType, ...] = (
    pipeline_overview,
    agent_performance,
    api_metrics,
    cost_tracking,
    quality_metrics,
    slos,
    logs,
)


def build_all(thresholds: Thresholds) -> dict[Path, dict[str, Any]]:
    """Every dashboard as a dict, by repository-relative path."""
    return {DIRECTORY / module.BOARD.file: module.build(thresholds) for module in DASHBOARDS}


def render(dashboard: dict[str, Any]) -> str:
    """The committed form: sorted keys (stable diffs), 2-space indent, trailing newline."""
    return json.dumps(dashboard, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def outputs(thresholds_path: Path = DEFAULT_PATH) -> dict[Path, str]:
    """The dashboard JSON files, by repository-relative path."""
    boards = build_all(load_thresholds(thresholds_path))
    return {path: render(board) for path, board in boards.items()}
