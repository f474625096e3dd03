"""Shared builders for the six Grafana dashboards: one place for everything they have in common.

The datasource reference, units, grid placement, threshold lines, links and template variables
are decided here once, so every dashboard looks and behaves the same and the lint
(``tools/grafana/lint.py``) has a single shape to check. Builders return plain dicts in the
shape of Grafana's dashboard model at ``SCHEMA_VERSION``; panel options follow the panel schemas
of grafana-foundation-sdk (Grafana 11/12), which older releases from 10.4 on ignore key by key.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from tools.config import DASHBOARD_TAG, Dashboard

#: schemaVersion 39 is the dashboard model of Grafana 10.4 and 11.0. Newer Grafana migrates a
#: dashboard up when it loads it; an older one would not understand a newer model, so the lowest
#: version that has every feature used here keeps the files importable in the most places.
SCHEMA_VERSION = 39

#: Every panel, target and query variable reads the datasource chosen in the ``datasource``
#: variable: the same file works provisioned and imported, whatever the datasource is called.
DATASOURCE: dict[str, str] = {"type": "prometheus", "uid": "${datasource}"}
#: The same for log panels: the Loki datasource chosen in the ``loki`` variable.
LOKI_DATASOURCE: dict[str, str] = {"type": "loki", "uid": "${loki}"}
#: Datasource type -> the reference its panels use; the variable's name is in the uid.
DATASOURCES: dict[str, dict[str, str]] = {"prometheus": DATASOURCE, "loki": LOKI_DATASOURCE}

#: The tag all six dashboards carry; the dashboard links find each other through it.
TAG = DASHBOARD_TAG

GRID_COLUMNS = 24

#: Panel types the dashboards may use (the design's list of modern panels).
PANEL_TYPES = frozenset(
    {"timeseries", "stat", "gauge", "bargauge", "table", "heatmap", "text", "logs"}
)

JSON = dict[str, Any]


class Unit:
    """Grafana unit ids, named by the quantity they display."""

    SECONDS = "s"
    USD = "currencyUSD"
    RATIO = "percentunit"  # a fraction 0..1 shown as a percentage
    SCORE = "none"  # a quality score 0..1, shown as the number the validators give
    COUNT = "short"
    PER_SECOND = "ops"  # events (errors, retries) per second
    REQUESTS_PER_SECOND = "reqps"
    PER_MINUTE = "opm"
    COUNTS_PER_SECOND = "cps"  # tokens per second


@dataclass(frozen=True)
class Threshold:
    """A limit drawn on a panel; ``bad`` says on which side of it a value is a problem."""

    value: float
    bad: Literal["above", "below"] = "above"

    def steps(self) -> list[JSON]:
        ok, problem = {"color": "green"}, {"color": "red"}
        below, above = (ok, problem) if self.bad == "above" else (problem, ok)
        return [{**below, "value": None}, {**above, "value": self.value}]


@dataclass(frozen=True)
class Query:
    """One PromQL target of a panel."""

    expr: str
    legend: str = ""
    #: Instant queries for panels that show one number per series (stat, bar gauge).
    instant: bool = False
    format: Literal["time_series", "table", "heatmap"] = "time_series"
    #: Ask Prometheus for the exemplars (trace ids) of the histogram buckets this query selects.
    exemplar: bool = False


def exemplars_of(histogram: str, selector: str) -> Query:
    """The exemplars of ``histogram``'s selected buckets, and nothing else.

    Exemplars live on the scraped ``_bucket`` series; a recorded series (``...:p95_5m``, what
    the latency panels draw to stay fast over 30 days) has none. Grafana fetches a target's
    exemplars from ``/api/v1/query_exemplars`` with the target's expression, and Prometheus
    answers with the exemplars of every series its selectors match (functions, ``offset`` and
    ``@`` play no part there). So the target selects the buckets ``@ 0``: its range query reads
    only the Unix epoch, where nothing is stored, and draws no line; the exemplar points come as
    before. (A raw P95 here cost 8 s of the Pipeline Overview's 30-day load, measured.)
    """
    return Query(f"{histogram}_bucket{{{selector}}} @ 0", "exemplars", exemplar=True)


#: Said by every panel that totals a rollup: the span it counts, and why it may lag.
FROM_ROLLUPS = (
    " Counted from 5-minute records: the span counted is as long as the range and ends at "
    "the last record, up to 5 minutes before the range does."
)


def over_range(rollup: str, selector: str = "", window: str = "$__range") -> str:
    """The total of a rollup (``...:increase5m_rollup``) over ``window``, by its labels.

    Its records are non-overlapping 5-minute increases, so their sum is the counter's
    increase over the window, read from one record per 5 minutes instead of every raw sample
    (``tools/prometheus/recording.py``, ``Rollup``).
    """
    matchers = f"{{{selector}}}" if selector else ""
    return f"sum_over_time({rollup}{matchers}[{window}])"


def _target(index: int, query: Query) -> JSON:
    target: JSON = {
        "datasource": dict(DATASOURCE),
        "editorMode": "code",
        "expr": query.expr,
        "format": query.format,
        "instant": query.instant,
        "legendFormat": query.legend or "__auto",
        "range": not query.instant,
        "refId": chr(ord("A") + index),
    }
    if query.exemplar:
        target["exemplar"] = True
    return target


@dataclass(frozen=True)
class LokiQuery:
    """One LogQL target: a metric query (graphs) or a log query (the logs panel)."""

    expr: str
    legend: str = ""
    #: Lines a log query returns at most (Grafana's default is 1000).
    max_lines: int | None = None


def _source(queries: Sequence[Query | LokiQuery]) -> str:
    kinds = {"loki" if isinstance(q, LokiQuery) else "prometheus" for q in queries}
    if len(kinds) != 1:
        raise ValueError("a panel reads one datasource: PromQL and LogQL queries do not mix")
    return kinds.pop()


def _loki_targets(queries: Sequence[LokiQuery]) -> list[JSON]:
    targets = []
    for index, query in enumerate(queries):
        target: JSON = {
            "datasource": dict(LOKI_DATASOURCE),
            "editorMode": "code",
            "expr": query.expr,
            "legendFormat": query.legend or "__auto",
            "queryType": "range",
            "refId": chr(ord("A") + index),
        }
        if query.max_lines is not None:
            target["maxLines"] = query.max_lines
        targets.append(target)
    return targets


def _targets(queries: Sequence[Query | LokiQuery]) -> list[JSON]:
    if not queries:
        raise ValueError("a panel needs at least one query")
    if _source(queries) == "loki":
        return _loki_targets([q for q in queries if isinstance(q, LokiQuery)])
    return [
        _target(index, query) for index, query in enumerate(queries) if isinstance(query, Query)
    ]


def _thresholds(threshold: Threshold | None) -> JSON:
    steps = threshold.steps() if threshold else [{"color": "green", "value": None}]
    return {"mode": "absolute", "steps": steps}


def _panel(
    kind: str,
    title: str,
    description: str,
    queries: Sequence[Query | LokiQuery],
    defaults: JSON,
    options: JSON,
    interval: str | None,
) -> JSON:
    if not title.strip() or not description.strip():
        raise ValueError(f"panel {title!r}: a title and a description are required")
    panel: JSON = {
        "datasource": dict(DATASOURCES[_source(queries)]),
        "description": description,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options,
        "targets": _targets(queries),
        "title": title,
        "type": kind,
    }
    if interval:
        # A minimum step: sparse events (one score per narrative) or daily bars need wide steps.
        panel["interval"] = interval
    return panel


def _field_defaults(
    unit: str,
    threshold: Threshold | None,
    *,
    decimals: int | None = None,
    min_value: float | None = None,
    max_value: float | None = None,
    color: str = "palette-classic",
    custom: JSON | None = None,
    no_value: str | None = None,
) -> JSON:
    defaults: JSON = {
        "color": {"mode": color},
        "mappings": [],
        "thresholds": _thresholds(threshold),
        "unit": unit,
    }
    if no_value is not None:
        # Shown instead of "No data" where no series is the healthy state (no failures yet):
        # counters with labels only exist after their first event.
        defaults["noValue"] = no_value
    if custom is not None:
        defaults["custom"] = custom
    for key, value in (("decimals", decimals), ("min", min_value), ("max", max_value)):
        if value is not None:
            defaults[key] = value
    return defaults


def _reduce(calc: str = "lastNotNull") -> JSON:
    return {"calcs": [calc], "fields": "", "values": False}


def timeseries(
    title: str,
    description: str,
    unit: str,
    queries: Sequence[Query | LokiQuery],
    *,
    threshold: Threshold | None = None,
    stack: bool = False,
    bars: bool = False,
    decimals: int | None = None,
    min_value: float | None = 0,
    max_value: float | None = None,
    interval: str | None = None,
    no_value: str | None = None,
) -> JSON:
    custom: JSON = {
        "axisBorderShow": False,
        "axisCenteredZero": False,
        "axisColorMode": "text",
        "axisLabel": "",
        "axisPlacement": "auto",
        # Bars of a period are drawn before their timestamp: a day's spend ends at midnight.
        "barAlignment": -1 if bars else 0,
        "drawStyle": "bars" if bars else "line",
        "fillOpacity": 80 if bars else (30 if stack else 10),
        "gradientMode": "none",
        "hideFrom": {"legend": False, "tooltip": False, "viz": False},
        "insertNulls": False,
        "lineInterpolation": "linear",
        "lineWidth": 1,
        "pointSize": 4,
        "scaleDistribution": {"type": "linear"},
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"group": "A", "mode": "normal" if stack else "none"},
        # The limit from monitoring/thresholds.yml as a dashed line with its bad side shaded.
        "thresholdsStyle": {"mode": "dashed+area" if threshold else "off"},
    }
    defaults = _field_defaults(
        unit,
        threshold,
        decimals=decimals,
        min_value=min_value,
        max_value=max_value,
        custom=custom,
        no_value=no_value,
    )
    options = {
        "legend": {
            "calcs": ["mean", "max", "lastNotNull"],
            "displayMode": "table",
            "placement": "bottom",
            "showLegend": True,
        },
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    return _panel("timeseries", title, description, queries, defaults, options, interval)


def stat(
    title: str,
    description: str,
    unit: str,
    query: Query,
    *,
    threshold: Threshold | None = None,
    decimals: int | None = None,
    graph: bool = True,
    interval: str | None = None,
    no_value: str | None = None,
) -> JSON:
    defaults = _field_defaults(
        unit,
        threshold,
        decimals=decimals,
        color="thresholds" if threshold else "fixed",
        no_value=no_value,
    )
    if not threshold:
        defaults["color"]["fixedColor"] = "text"
    options = {
        "colorMode": "value",
        "graphMode": "area" if graph and not query.instant else "none",
        "justifyMode": "auto",
        "orientation": "auto",
        "percentChangeColorMode": "standard",
        "reduceOptions": _reduce(),
        "showPercentChange": False,
        "textMode": "auto",
        "wideLayout": True,
    }
    return _panel("stat", title, description, [query], defaults, options, interval)


def gauge(
    title: str,
    description: str,
    unit: str,
    query: Query,
    *,
    threshold: Threshold,
    min_value: float,
    max_value: float,
    decimals: int | None = None,
) -> JSON:
    defaults = _field_defaults(
        unit,
        threshold,
        decimals=decimals,
        min_value=min_value,
        max_value=max_value,
        color="thresholds",
    )
    options = {
        "minVizHeight": 75,
        "minVizWidth": 75,
        "orientation": "auto",
        "reduceOptions": _reduce(),
        "showThresholdLabels": False,
        "showThresholdMarkers": True,
        "sizing": "auto",
    }
    return _panel("gauge", title, description, [query], defaults, options, None)


def bargauge(
    title: str,
    description: str,
    unit: str,
    query: Query,
    *,
    threshold: Threshold | None = None,
    decimals: int | None = None,
    no_value: str | None = None,
) -> JSON:
    """Horizontal bars, one per series: a ranking (most expensive agents) or a distribution."""
    defaults = _field_defaults(
        unit,
        threshold,
        decimals=decimals,
        min_value=0,
        color="thresholds" if threshold else "continuous-BlYlRd",
        no_value=no_value,
    )
    options = {
        "displayMode": "gradient",
        "legend": {"calcs": [], "displayMode": "list", "placement": "bottom", "showLegend": False},
        "maxVizHeight": 300,
        "minVizHeight": 16,
        "minVizWidth": 8,
        "namePlacement": "auto",
        "orientation": "horizontal",
        "reduceOptions": _reduce(),
        "showUnfilled": True,
        "sizing": "auto",
        "valueMode": "color",
    }
    return _panel("bargauge", title, description, [query], defaults, options, None)


def heatmap(
    title: str,
    description: str,
    query: Query,
    *,
    y_unit: str,
    interval: str | None = None,
) -> JSON:
    """Buckets of a Prometheus histogram over time; Prometheus has done the bucketing."""
    if query.format != "heatmap":
        raise ValueError(f"panel {title!r}: a heatmap query needs format='heatmap'")
    defaults = _field_defaults(
        Unit.COUNT,
        None,
        custom={
            "hideFrom": {"legend": False, "tooltip": False, "viz": False},
            "scaleDistribution": {"type": "linear"},
        },
    )
    options = {
        "calculate": False,
        "cellGap": 1,
        "cellValues": {"unit": Unit.COUNT},
        "color": {
            "exponent": 0.5,
            "fill": "dark-orange",
            "mode": "scheme",
            "reverse": False,
            "scale": "exponential",
            "scheme": "Oranges",
            "steps": 64,
        },
        "exemplars": {"color": "rgba(255,0,255,0.7)"},
        "filterValues": {"le": 1e-09},
        "legend": {"show": True},
        "rowsFrame": {"layout": "le"},
        "selectionMode": "x",
        "showValue": "never",
        "tooltip": {"mode": "single", "showColorScale": False, "yHistogram": True},
        "yAxis": {"axisPlacement": "left", "reverse": False, "unit": y_unit},
    }
    return _panel("heatmap", title, description, [query], defaults, options, interval)


def logs(title: str, description: str, query: LokiQuery) -> JSON:
    """The log lines themselves, newest first, each expandable into its fields.

    Lines are shown as written (the JSON object), so every field (job_id, trace_id) is
    searchable and the Loki datasource's derived field turns trace_id into a link to Tempo.
    """
    options = {
        "dedupStrategy": "none",
        "enableLogDetails": True,
        "prettifyLogMessage": False,
        "showCommonLabels": False,
        "showLabels": False,
        "showLogContextToggle": True,
        "showTime": True,
        "sortOrder": "Descending",
        "wrapLogMessage": True,
    }
    return _panel("logs", title, description, [query], {}, options, None)


class Grid:
    """Places panels left to right in rows of 24 columns; ids are given in placement order."""

    def __init__(self) -> None:
        self.panels: list[JSON] = []
        self._x = 0
        self._y = 0
        self._line_height = 0

    def _new_line(self) -> None:
        self._y += self._line_height
        self._x = 0
        self._line_height = 0

    def row(self, title: str) -> None:
        """A row header across the full width; the panels after it belong to it."""
        if self._x:
            self._new_line()
        self._place({"collapsed": False, "panels": [], "title": title, "type": "row"}, 24, 1)
        self._new_line()

    def add(self, panel: JSON, width: int, height: int) -> None:
        if not 0 < width <= GRID_COLUMNS:
            raise ValueError(f"panel {panel.get('title')!r}: width {width} is not in 1..24")
        if self._x + width > GRID_COLUMNS:
            self._new_line()
        self._place(panel, width, height)

    def _place(self, panel: JSON, width: int, height: int) -> None:
        panel["gridPos"] = {"h": height, "w": width, "x": self._x, "y": self._y}
        panel["id"] = len(self.panels) + 1
        self.panels.append(panel)
        self._x += width
        self._line_height = max(self._line_height, height)


def datasource_variable() -> JSON:
    """The ``datasource`` variable: any Prometheus datasource, the default one preselected."""
    return {
        "hide": 0,
        "includeAll": False,
        "label": "Data source",
        "multi": False,
        "name": "datasource",
        "options": [],
        "query": "prometheus",
        "refresh": 1,
        "regex": "",
        "skipUrlSync": False,
        "type": "datasource",
    }


def loki_datasource_variable() -> JSON:
    """The ``loki`` variable: any Loki datasource, for the panels that read log lines."""
    return {**datasource_variable(), "label": "Logs", "name": "loki", "query": "loki"}


def loki_label_variable(name: str, label: str, selector: str) -> JSON:
    """A multi-value variable of one stream label's values in Loki, refreshed on time change.

    ``label_values(<stream selector>, <label>)`` is also the syntax of Grafana's Loki variables;
    "All" (``.*``) also matches streams without the label (lines written outside any agent).
    """
    return query_variable(name, label, selector, datasource=LOKI_DATASOURCE)


def textbox_variable(name: str, label: str, description: str) -> JSON:
    """Free text typed by the user (a job id, a trace id), empty by default."""
    return {
        "current": {"selected": False, "text": "", "value": ""},
        "description": description,
        "hide": 0,
        "label": label,
        "name": name,
        "options": [],
        "query": "",
        "skipUrlSync": False,
        "type": "textbox",
    }


def query_variable(
    name: str,
    label: str,
    selector: str,
    *,
    multi: bool = True,
    include_all: bool = True,
    default: str | None = None,
    datasource: JSON = DATASOURCE,
) -> JSON:
    """A variable filled with ``label_values(selector, name)``, refreshed on time-range change.

    "All" is sent as ``.*`` rather than a list of every value, so series that appear after the
    variable was loaded are not silently left out.
    """
    definition = f"label_values({selector}, {name})"
    variable: JSON = {
        "datasource": dict(datasource),
        "definition": definition,
        "hide": 0,
        "includeAll": include_all,
        "label": label,
        "multi": multi,
        "name": name,
        "options": [],
        "query": definition,
        # 2 = on time range change: a value that appears later becomes selectable.
        "refresh": 2,
        "regex": "",
        "skipUrlSync": False,
        "sort": 1,
        "type": "query",
    }
    if include_all:
        variable["allValue"] = ".*"
    if default is not None:
        variable["current"] = {"selected": True, "text": default, "value": default}
    elif include_all:
        variable["current"] = {"selected": True, "text": "All", "value": "$__all"}
    return variable


def dashboard_links() -> list[JSON]:
    """One drop-down listing every NARRA_FORGE dashboard (by tag), keeping time and variables."""
    return [
        {
            "asDropdown": True,
            "icon": "external link",
            "includeVars": True,
            "keepTime": True,
            "tags": [TAG],
            "targetBlank": False,
            "title": "NARRA_FORGE dashboards",
            "tooltip": "The other NARRA_FORGE dashboards",
            "type": "dashboards",
            "url": "",
        }
    ]


def dashboard(
    *,
    board: Dashboard,
    description: str,
    tags: Iterable[str],
    variables: Sequence[JSON],
    grid: Grid,
    time_from: str = "now-6h",
    datasources: Sequence[JSON] | None = None,
) -> JSON:
    """``datasources``: the datasource variables (default: Prometheus' ``datasource``)."""
    sources = [datasource_variable()] if datasources is None else list(datasources)
    return {
        "annotations": {
            "list": [
                {
                    # Grafana's own annotations (manual notes, Grafana alerts); not a datasource.
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "description": description,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": dashboard_links(),
        "liveNow": False,
        "panels": grid.panels,
        "refresh": "1m",
        "schemaVersion": SCHEMA_VERSION,
        "tags": [TAG, *tags],
        "templating": {"list": [*sources, *variables]},
        "time": {"from": time_from, "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "title": board.full_title,
        "uid": board.uid,
        "version": 1,
        "weekStart": "",
    }
