"""The panel reference of ``docs/dashboards.md``, read from the dashboards themselves.

Rendered from the same dicts as the JSON files, so the page cannot drift from what Grafana
shows; the prose around it is written in the Markdown file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tools._repo import REPO
from tools.docgen.markers import fill
from tools.grafana.dashboards import build_all
from tools.prometheus.thresholds import (
    DEFAULT_PATH,
    as_duration,
    as_number,
    as_percent,
    as_usd,
    load_thresholds,
)

PATH = Path("docs/dashboards.md")
BLOCK = "dashboard-panels"
SOURCE = "tools/grafana/dashboards/"

UNIT_NAMES: dict[str | None, str] = {
    "s": "seconds",
    "currencyUSD": "US dollars",
    "percentunit": "percent",
    "none": "score 0-1",
    "short": "count",
    "ops": "per second",
    "reqps": "requests per second",
    "opm": "per minute",
    "cps": "per second",
}

#: How a threshold step reads in a given panel unit: the same formatter as the alerts.
THRESHOLD_FORMATS: dict[str | None, Callable[[float | str], str]] = {
    "percentunit": as_percent,
    "currencyUSD": as_usd,
    "s": as_duration,
}


def _threshold_text(defaults: Mapping[str, Any]) -> str:
    steps = (defaults.get("thresholds") or {}).get("steps") or []
    limits = [step for step in steps if step.get("value") is not None]
    if not limits:
        return ""
    side = "under" if steps[0].get("color") == "red" else "over"
    shown = THRESHOLD_FORMATS.get(defaults.get("unit"), as_number)(limits[0]["value"])
    return f"; red {side} {shown}"


def _panel_section(panel: Mapping[str, Any]) -> list[str]:
    defaults = (panel.get("fieldConfig") or {}).get("defaults") or {}
    unit = defaults.get("unit")
    if panel.get("type") == "heatmap":
        unit = (panel.get("options") or {}).get("yAxis", {}).get("unit")
    # A logs panel shows lines: no unit to name.
    shown = "" if unit is None else f", {UNIT_NAMES.get(unit, unit)}"
    kind = f"{panel['type']}{shown}{_threshold_text(defaults)}"
    lines = [f"- **{panel['title']}** ({kind}). {panel['description']}"]
    for target in panel.get("targets") or []:
        lines.append(f"  `{target['expr']}`")
    return lines


def _dashboard_section(board: Mapping[str, Any], file: Path) -> str:
    variables = [v for v in board["templating"]["list"] if v["type"] != "datasource"]
    sources = [v["label"] for v in board["templating"]["list"] if v["type"] == "datasource"]
    names = ", ".join([*sources, *(f"{v['label']} (`{v['name']}`)" for v in variables)])
    lines = [
        f"### {board['title']}",
        "",
        f"{board['description']} File `{file}`, uid `{board['uid']}` "
        f"(`/d/{board['uid']}`). Variables: {names}.",
        "",
    ]
    for panel in board["panels"]:
        if panel["type"] == "row":
            lines += [*([""] if lines[-1] else []), f"*{panel['title']}*", ""]
        else:
            lines += _panel_section(panel)
    return "\n".join(lines) + "\n"


def panel_reference(boards: Mapping[Path, Mapping[str, Any]]) -> str:
    return "\n".join(_dashboard_section(board, path) for path, board in boards.items())


def outputs() -> dict[Path, str]:
    reference = panel_reference(build_all(load_thresholds(DEFAULT_PATH)))
    return {PATH: fill((REPO / PATH).read_text(), PATH, BLOCK, SOURCE, reference)}
