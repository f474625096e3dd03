"""Lint the Grafana dashboards against the design's conventions and the metric catalogue.

    python -m tools.grafana.lint [FILE ...] [--schemas DIR | --no-schemas]

Without files it checks every ``monitoring/grafana/dashboards/*.json``. Every query is checked
the way Grafana would send it: macros and variables are substituted, then a PromQL target
goes to ``tools/prometheus/promql_check.py``, which parses it and checks each metric and label
against the catalogue and the recording rules, and a LogQL target (datasource type ``loki``)
to Grafana's own LogQL grammar (``tools/loki/logql.py``, one node process per dashboard), which
also says whether it is a log or a metric query and which stream labels it selects on (only
the bounded ones Alloy sets). Each finding names the file, the panel and the metric or label:

    monitoring/grafana/dashboards/cost_tracking.json: panel "Cost by model": metric
    narra_forge_cost_usd_total has no label "agent"; labels: agent_id, model

The dashboards are also validated against Grafana's JSON schemas, derived from
grafana-foundation-sdk and committed under ``tools/grafana/jsonschema/`` (``--schemas DIR``
reads another folder; a folder without ``dashboard.jsonschema.json`` is an error).
Exit status: 0 clean, 1 findings, 2 nothing to check.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import promql_parser as pp
import yaml

from tools._repo import REPO, shown
from tools.config import LOG_LABELS, LOG_SERVICE
from tools.grafana.builders import (
    DATASOURCE,
    DATASOURCES,
    GRID_COLUMNS,
    LOKI_DATASOURCE,
    PANEL_TYPES,
    SCHEMA_VERSION,
    TAG,
)
from tools.grafana.queries import (
    MACRO,
    VARIABLE,
    Intervals,
    exemplars_only,
    iter_panels,
    prometheus_duration,
    rollup_misreads,
    substitute_macros,
    variables_of,
)
from tools.grafana.schemas import SchemasNotFoundError, schema_errors, schemas_dir
from tools.grafana.units import UNIT_SUGGESTION, UNITS, quantity, series_quantity
from tools.loki.logql import Expression, LogQLParserError, describe, parse
from tools.prometheus.promql_check import (
    Series,
    analyse,
    catalogue_series,
    prometheus_series,
    with_recording_rules,
)
from tools.prometheus.recording import recording_rules, rollups
from tools.prometheus.slos import load_slos, slo_records
from tools.prometheus.thresholds import duration_seconds, load_thresholds

DASHBOARD_DIR = REPO / "monitoring" / "grafana" / "dashboards"
DATASOURCES_FILE = (
    REPO / "monitoring" / "grafana" / "provisioning" / "datasources" / "datasources.yml"
)
UID_PREFIX = "narra-forge-"

MATCHER = re.compile(r'([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?P<selector>.+)\s*,\s*(?P<label>\w+)\s*\)\s*$")
#: Grafana's range macros a LogQL window may use: ``$__auto`` follows the zoom like
#: ``$__rate_interval`` does for PromQL (Loki needs no minimum of four scrapes).
LOKI_WINDOWS = frozenset({"auto", "interval", "range"})


@dataclass(frozen=True)
class DashboardFinding:
    file: str
    message: str
    panel: str | None = None

    def __str__(self) -> str:
        where = f'panel "{self.panel}": ' if self.panel is not None else ""
        return f"{self.file}: {where}{self.message}"


@dataclass
class Context:
    """What every dashboard is checked against."""

    series: Mapping[str, Series]
    quantities: Mapping[str, str]
    scrape_seconds: float

    @property
    def min_range(self) -> float:
        return 4 * self.scrape_seconds


def scrape_interval(path: Path = DATASOURCES_FILE) -> float:
    """The Prometheus datasource's ``timeInterval`` (Grafana's idea of the scrape interval)."""
    try:
        data = yaml.safe_load(path.read_text())
        for source in data.get("datasources", []):
            if source.get("type") == "prometheus":
                return duration_seconds(source.get("jsonData", {}).get("timeInterval", "15s"))
    except (OSError, yaml.YAMLError, AttributeError, ValueError):
        pass
    return 15.0


@cache
def default_context() -> Context:
    rules: list[tuple[str, str, tuple[str, ...]]] = [
        (rule.record, rule.expr, ()) for rule in recording_rules(load_thresholds())
    ]
    rules += [(rollup.record, rollup.expr, ()) for rollup in rollups()]
    # The SLO rules: one name per window, recorded once per SLO with its sloth_* labels.
    rules += [(r.record, r.expr, tuple(r.labels)) for r in slo_records(load_slos())]
    # Prometheus's own series too: a panel may show `up` of the app's targets.
    series, _ = with_recording_rules({**catalogue_series(), **prometheus_series()}, rules)
    quantities: dict[str, str] = {}
    for record, expr, _ in rules:  # in order: a rule may read an earlier one
        measured = quantity(pp.parse(expr), quantities)
        # One name recorded per SLO: the bad events of one SLO are a rate of bucket samples
        # (scores at or under a boundary), of another a rate of a counter; both are rates.
        if quantities.get(record, measured) != measured and "rate" in (
            quantities[record],
            measured.replace("bucket:score", "rate").replace("bucket:duration", "rate"),
        ):
            measured = "rate"
        # A constant (Sloth's objective and error budget, vector(0.99)) is what its name says.
        if measured == "scalar" and record.endswith(":ratio"):
            measured = "ratio"
        # 1 - burn rate over the period: the share of the budget left, not a multiple.
        if record == "slo:period_error_budget_remaining:ratio":
            measured = "ratio"
        quantities[record] = measured
    return Context(series=series, quantities=quantities, scrape_seconds=scrape_interval())


# The checks ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _LogQL:
    """A LogQL expression waiting for the dashboard's one parser run."""

    expression: Expression
    panel: Mapping[str, Any] | None
    #: ``LogExpr`` for the logs panel and variable selectors, ``MetricExpr`` for graphs.
    kind: str


@dataclass
class _Linter:
    file: str
    board: Mapping[str, Any]
    context: Context
    findings: list[DashboardFinding] = field(default_factory=list)
    logql: list[_LogQL] = field(default_factory=list)

    def report(self, message: str, panel: Mapping[str, Any] | None = None) -> None:
        title = None if panel is None else str(panel.get("title") or f"id {panel.get('id')}")
        self.findings.append(DashboardFinding(self.file, message, title))

    # Dashboard level

    def check_dashboard(self) -> None:
        board = self.board
        if board.get("id") is not None:
            self.report(f"id must be null so the file imports anywhere, got {board.get('id')!r}")
        uid = board.get("uid")
        expected = UID_PREFIX + Path(self.file).stem.replace("_", "-")
        if not isinstance(uid, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,39}", uid):
            self.report(f"uid must be fixed, lowercase, at most 40 of [a-z0-9-]; got {uid!r}")
        elif uid != expected:
            self.report(f'uid "{uid}" does not match the file name; expected "{expected}"')
        if board.get("schemaVersion") != SCHEMA_VERSION:
            self.report(
                f"schemaVersion is {board.get('schemaVersion')!r}; every dashboard uses "
                f"{SCHEMA_VERSION}"
            )
        if not str(board.get("title") or "").strip():
            self.report("the dashboard has no title")
        if TAG not in (board.get("tags") or []):
            self.report(f'tag "{TAG}" is missing: the other dashboards\' links find it by tag')
        if not any(
            link.get("type") == "dashboards" and TAG in (link.get("tags") or [])
            for link in board.get("links") or []
        ):
            self.report(f'no dashboard link with tag "{TAG}": it must link to the other four')
        for key in ("__inputs", "__requires"):
            if key in board:
                self.report(f"{key} is an export for one datasource; use the datasource variable")
        text = json.dumps(board)
        if "${DS_" in text or "$DS_" in text:
            self.report("a ${DS_...} datasource placeholder is left; use ${datasource}")
        self.check_variables()

    def source_types(self) -> set[str]:
        """The datasource types the panels' targets read (Prometheus when there is none)."""
        types = {
            str((target.get("datasource") or {}).get("type"))
            for panel in iter_panels(self.board)
            for target in panel.get("targets") or []
        }
        return types or {"prometheus"}

    def check_variables(self) -> None:
        variables = variables_of(self.board)
        for source_type in sorted(self.source_types() & DATASOURCES.keys()):
            name = DATASOURCES[source_type]["uid"].strip("${}")
            source = variables.get(name)
            if (
                not source
                or source.get("type") != "datasource"
                or source.get("query") != source_type
            ):
                self.report(
                    f'template variable "{name}" of type datasource with query "{source_type}" '
                    "is missing; without it the file only works with one datasource uid"
                )
        for name, variable in variables.items():
            if variable.get("type") != "query":
                continue
            where = f'variable "{name}"'
            if variable.get("datasource") == LOKI_DATASOURCE:
                self.check_loki_variable(where, variable)
                continue
            if variable.get("datasource") != DATASOURCE:
                self.report(f"{where}: datasource must be {json.dumps(DATASOURCE)}")
            if variable.get("refresh") != 2:
                self.report(
                    f"{where}: refresh must be 2 (on time range change), got "
                    f"{variable.get('refresh')!r}; values that appear later stay unselectable"
                )
            query = variable.get("query")
            query = query.get("query") if isinstance(query, Mapping) else query
            match = LABEL_VALUES.match(str(query or ""))
            if not match:
                self.report(
                    f"{where}: query must be label_values(<metric>, <label>), got {query!r}"
                )
                continue
            selector, label = match.group("selector"), match.group("label")
            expr = self.substitute(selector, None, variables)
            if expr is None:
                continue
            analysis = analyse(f"absent({expr})", self.context.series)
            for finding in analysis.findings:
                self.report(f"{where}: {finding}")
            for metric in analysis.selected:
                known = self.context.series.get(metric)
                if known and label not in known.labels:
                    self.report(
                        f'{where}: metric {metric} has no label "{label}"; labels: '
                        f"{', '.join(sorted(known.labels - {'job', 'instance'}))}"
                    )

    def check_loki_variable(self, where: str, variable: Mapping[str, Any]) -> None:
        """A Loki variable lists a stream label's values: a bounded label, a valid selector."""
        if variable.get("refresh") != 2:
            self.report(f"{where}: refresh must be 2 (on time range change)")
        match = LABEL_VALUES.match(str(variable.get("query") or ""))
        if not match:
            self.report(
                f"{where}: query must be label_values(<stream selector>, <label>), got "
                f"{variable.get('query')!r}"
            )
            return
        if match.group("label") not in LOG_LABELS:
            self.report(
                f'{where}: "{match.group("label")}" is not a Loki label here; labels: '
                f"{', '.join(LOG_LABELS)}"
            )
        self.logql.append(_LogQL(Expression(match.group("selector"), where), None, "LogExpr"))

    # Panel level

    def check_panels(self) -> None:
        panels = list(iter_panels(self.board))
        ids: dict[object, str] = {}
        titles: set[str] = set()
        for panel in panels:
            title = str(panel.get("title") or "")
            if title.strip() and panel.get("type") != "row":
                if title in titles:
                    # A finding names its panel by title: two panels with one title are ambiguous.
                    self.report("another panel of this dashboard has the same title", panel)
                titles.add(title)
            panel_id = panel.get("id")
            if not isinstance(panel_id, int) or isinstance(panel_id, bool):
                self.report(f"id must be an integer, got {panel_id!r}", panel)
            elif panel_id in ids:
                self.report(f'id {panel_id} is also the id of panel "{ids[panel_id]}"', panel)
            else:
                ids[panel_id] = str(panel.get("title"))
            self.check_panel(panel)
        self.check_grid(self.board.get("panels") or [])
        for row in self.board.get("panels") or []:
            if row.get("type") == "row" and row.get("panels"):
                self.check_grid(row["panels"])

    def check_panel(self, panel: Mapping[str, Any]) -> None:
        kind = panel.get("type")
        if kind == "row":
            if not str(panel.get("title") or "").strip():
                self.report("a row needs a title", panel)
            return
        if kind not in PANEL_TYPES:
            self.report(
                f'type "{kind}" is not a modern panel; use one of {", ".join(sorted(PANEL_TYPES))}',
                panel,
            )
        if not str(panel.get("title") or "").strip():
            self.report("the panel has no title", panel)
        if not str(panel.get("description") or "").strip():
            self.report(
                "no description: say what the number means and what to do when it is bad", panel
            )
        if kind == "text":
            return
        unit = ((panel.get("fieldConfig") or {}).get("defaults") or {}).get("unit")
        if not unit and kind != "logs":  # log lines have no unit
            self.report("no unit (fieldConfig.defaults.unit)", panel)
        expected = _expected_datasource(panel.get("datasource"))
        if panel.get("datasource") != expected:
            self.report(
                f"datasource must be {json.dumps(expected)}, "
                f"got {json.dumps(panel.get('datasource'))}",
                panel,
            )
        targets = panel.get("targets") or []
        if not targets:
            self.report("the panel has no query", panel)
        ref_ids: set[str] = set()
        for target in targets:
            ref = str(target.get("refId") or "")
            if not ref:
                self.report("a query has no refId", panel)
            elif ref in ref_ids:
                self.report(f"refId {ref} is used twice", panel)
            ref_ids.add(ref)
            self.check_target(panel, target, unit)
        if kind == "heatmap":
            self.check_heatmap(panel)

    def check_grid(self, panels: Sequence[Mapping[str, Any]]) -> None:
        placed: list[tuple[Mapping[str, Any], tuple[int, int, int, int]]] = []
        for panel in panels:
            pos = panel.get("gridPos") or {}
            try:
                x, y, w, h = (int(pos[k]) for k in ("x", "y", "w", "h"))
            except (KeyError, TypeError, ValueError):
                self.report(f"gridPos needs integer x, y, w, h; got {pos!r}", panel)
                continue
            if x < 0 or y < 0 or w < 1 or h < 1 or x + w > GRID_COLUMNS:
                self.report(
                    f"gridPos x={x} w={w} does not fit the {GRID_COLUMNS} columns "
                    f"(or a size is not positive)",
                    panel,
                )
            for other, (ox, oy, ow, oh) in placed:
                if x < ox + ow and ox < x + w and y < oy + oh and oy < y + h:
                    self.report(f'overlaps panel "{other.get("title")}" on the grid', panel)
            placed.append((panel, (x, y, w, h)))

    # Query level

    def substitute(
        self,
        expr: str,
        panel: Mapping[str, Any] | None,
        variables: Mapping[str, Mapping[str, Any]],
    ) -> str | None:
        """The query as Prometheus would get it, with the shortest windows Grafana can use."""
        scrape = self.context.scrape_seconds
        step = duration_seconds((panel or {}).get("interval") or "0s") or scrape
        intervals = Intervals(step, max(step + scrape, 4 * scrape), 3600)
        try:
            expr = substitute_macros(expr, intervals)
        except ValueError as error:
            self.report(str(error), panel)
            return None

        def replace(match: re.Match[str]) -> str:
            name = match.group("braced") or match.group("bracket") or match.group("bare")
            if name not in variables:
                self.report(f"${name} is not a template variable of this dashboard", panel)
                return name
            variable = variables[name]
            if variable.get("multi") or variable.get("includeAll"):
                return str(variable.get("allValue") or ".*")
            value = (variable.get("current") or {}).get("value")
            return value if isinstance(value, str) else name

        return VARIABLE.sub(replace, expr)

    def check_target(self, panel: Mapping[str, Any], target: Mapping[str, Any], unit: Any) -> None:
        ref = target.get("refId", "?")
        if target.get("datasource") == LOKI_DATASOURCE:
            self.check_loki_target(panel, target)
            return
        if target.get("datasource") != DATASOURCE:
            self.report(
                f"query {ref}: datasource must be {json.dumps(DATASOURCE)}, got "
                f"{json.dumps(target.get('datasource'))}",
                panel,
            )
        raw = target.get("expr")
        if not isinstance(raw, str) or not raw.strip():
            self.report(f"query {ref} has no expr", panel)
            return
        variables = variables_of(self.board)
        self.check_variable_use(panel, ref, raw, variables)
        self.check_windows(panel, ref, raw)
        expr = self.substitute(raw, panel, variables)
        if expr is None:
            return
        analysis = analyse(expr, self.context.series, min_range_seconds=self.context.min_range)
        for problem in rollup_misreads(expr, self.context.quantities):
            self.report(f"query {ref}: {problem}", panel)
        exemplars = exemplars_only(target)
        for finding in analysis.findings:
            # An exemplars-only target selects raw buckets on purpose; it draws no line.
            if not (exemplars and "is read raw" in str(finding)):
                self.report(str(finding), panel)
        if exemplars or any("does not parse" in str(f) for f in analysis.findings):
            return
        if target.get("format") == "heatmap":
            if isinstance(analysis.labels, frozenset) and "le" not in analysis.labels:
                self.report(
                    f'query {ref}: format "heatmap" needs the bucket label le in the result; '
                    "aggregate with sum by (le)",
                    panel,
                )
            kind = "count"  # Grafana turns the buckets into counts per bucket
        else:
            kind = quantity(pp.parse(expr), self.context.quantities)
        if kind.startswith("bucket:"):
            kind = "count"
        if kind in UNITS and isinstance(unit, str) and unit:
            description, allowed = UNITS[kind]
            if unit not in allowed:
                self.report(
                    f'unit "{unit}" does not fit {description} (query {ref}); use '
                    f'"{UNIT_SUGGESTION[kind]}"',
                    panel,
                )

    def check_loki_target(self, panel: Mapping[str, Any], target: Mapping[str, Any]) -> None:
        """A LogQL target: windows follow the zoom; the expression is queued for the parser."""
        ref = target.get("refId", "?")
        raw = target.get("expr")
        if not isinstance(raw, str) or not raw.strip():
            self.report(f"query {ref} has no expr", panel)
            return
        for window in _windows(raw):
            macro = MACRO.fullmatch(window.strip())
            if not macro or (macro.group("braced") or macro.group("bare")) not in LOKI_WINDOWS:
                self.report(
                    f"query {ref}: range [{window}] is fixed; use [$__auto] so the window follows "
                    "the zoom ([$__range] for a total over the picked time range)",
                    panel,
                )
        # $__auto is Grafana's Loki-only macro: the panel's interval, as far as parsing goes.
        expr = self.substitute(
            re.sub(r"\$(\{__auto\}|__auto)", "$__interval", raw), panel, variables_of(self.board)
        )
        if expr is None:
            return
        kind = "LogExpr" if panel.get("type") == "logs" else "MetricExpr"
        self.logql.append(_LogQL(Expression(expr, f"query {ref}"), panel, kind))

    def check_logql(self) -> None:
        """Every queued LogQL expression, in one run of Grafana's grammar."""
        if not self.logql:
            return
        for queued, parsed in zip(
            self.logql, parse([q.expression for q in self.logql]), strict=True
        ):
            where = queued.expression.where
            if not parsed.ok:
                problem = describe(parsed)
                self.report(f"{where}: {problem}", queued.panel)
                continue
            if parsed.kind != queued.kind:
                wanted = "a log query (lines)" if queued.kind == "LogExpr" else "a metric query"
                self.report(f"{where}: LogQL is a {parsed.kind}; this needs {wanted}", queued.panel)
            unbounded = sorted(parsed.stream_labels - set(LOG_LABELS))
            if unbounded:
                self.report(
                    f"{where}: stream selector uses {', '.join(unbounded)}, which are not Loki "
                    f"labels (only {', '.join(LOG_LABELS)}); filter fields after `| json`",
                    queued.panel,
                )
            if "service" not in parsed.stream_labels:
                self.report(
                    f'{where}: no service="{LOG_SERVICE}" in the stream selector', queued.panel
                )

    def check_variable_use(
        self,
        panel: Mapping[str, Any],
        ref: str,
        expr: str,
        variables: Mapping[str, Mapping[str, Any]],
    ) -> None:
        """A multi-value variable becomes ``(a|b)``: only a regex matcher can take that."""
        in_matchers: set[tuple[int, int]] = set()
        for matcher in MATCHER.finditer(expr):
            label, op, value = matcher.groups()
            in_matchers.add(matcher.span(3))
            for use in VARIABLE.finditer(value):
                name = use.group("braced") or use.group("bracket") or use.group("bare")
                variable = variables.get(name) or {}
                if (variable.get("multi") or variable.get("includeAll")) and op in ("=", "!="):
                    self.report(
                        f"query {ref}: variable ${name} can hold several values (multi-value or "
                        f'All) but is used in {label}{op}"..."; use {label}=~"${name}"',
                        panel,
                    )
        for use in VARIABLE.finditer(expr):
            name = use.group("braced") or use.group("bracket") or use.group("bare")
            inside = any(start <= use.start() < end for start, end in in_matchers)
            variable = variables.get(name) or {}
            if not inside and (variable.get("multi") or variable.get("includeAll")):
                self.report(
                    f"query {ref}: multi-value variable ${name} is used outside a label matcher",
                    panel,
                )

    def check_windows(self, panel: Mapping[str, Any], ref: str, expr: str) -> None:
        """Range windows follow Grafana's interval: ``$__rate_interval`` (or ``$__range``)."""
        for window in _windows(expr):
            for part in filter(None, window.split(":")):
                macro = MACRO.fullmatch(part.strip())
                name = macro and (macro.group("braced") or macro.group("bare"))
                if name in ("rate_interval", "range"):
                    continue
                if name == "interval":
                    minimum = duration_seconds(panel.get("interval") or "0s")
                    if minimum >= self.context.min_range:
                        continue
                    self.report(
                        f"query {ref}: [$__interval] needs a panel min interval of at least "
                        f"{prometheus_duration(self.context.min_range)} (four scrapes), or a "
                        "rate over it is empty at close zoom; use [$__rate_interval]",
                        panel,
                    )
                    continue
                self.report(
                    f"query {ref}: range [{part}] is fixed; use [$__rate_interval] so the window "
                    "follows the scrape interval and the zoom ([$__range] for a total over the "
                    "picked time range)",
                    panel,
                )

    def check_heatmap(self, panel: Mapping[str, Any]) -> None:
        options = panel.get("options") or {}
        if options.get("calculate") is not False:
            self.report(
                "heatmap must set options.calculate to false: Prometheus has the buckets", panel
            )
        shape = (
            "sum by (le) (increase(<histogram>_bucket[$__rate_interval])), or sum by (le) "
            "(<recording rule of bucket counts>)"
        )
        y_unit = (options.get("yAxis") or {}).get("unit")
        for target in panel.get("targets") or []:
            ref, raw = target.get("refId", "?"), str(target.get("expr") or "")
            if target.get("format") != "heatmap":
                self.report(f'query {ref}: a heatmap query needs format "heatmap"', panel)
            bucket = _heatmap_bucket(raw, self.context.quantities)
            if bucket is None:
                self.report(f"query {ref}: a latency heatmap query has the shape {shape}", panel)
                continue
            kind = series_quantity(bucket, self.context.quantities).removeprefix("bucket:")
            if kind in UNITS and y_unit not in UNITS[kind][1]:
                self.report(
                    f'options.yAxis.unit "{y_unit}" does not fit the buckets of {bucket}, '
                    f'{UNITS[kind][0]}; use "{UNIT_SUGGESTION[kind]}"',
                    panel,
                )


def _expected_datasource(reference: object) -> dict[str, str]:
    """The reference a panel or target of this datasource type must use (Prometheus if none)."""
    source_type = reference.get("type") if isinstance(reference, Mapping) else None
    return DATASOURCES.get(str(source_type), DATASOURCE)


def _windows(expr: str) -> list[str]:
    """The text inside each ``[...]`` of an expression, strings skipped."""
    windows, i = [], 0
    while i < len(expr):
        if expr[i] in "\"'`":
            quote, i = expr[i], i + 1
            while i < len(expr) and expr[i] != quote:
                i += 2 if expr[i] == "\\" else 1
            i += 1
        elif expr[i] == "[":
            end = expr.find("]", i)
            end = len(expr) if end < 0 else end
            windows.append(expr[i + 1 : end])
            i = end + 1
        else:
            i += 1
    return windows


def _heatmap_bucket(raw: str, rules: Mapping[str, str] | None = None) -> str | None:
    """The ``_bucket`` series (or recording rule of buckets) a heatmap reads, if the query has
    the expected shape.

    A recording rule that keeps ``le`` and records bucket increases or rates (its quantity is
    ``bucket:...``, e.g. ``le:narra_forge_agent_duration_seconds_bucket:increase5m``) is read
    as it is: its window is the rule's, so no ``$__rate_interval`` is needed.
    """
    rules = rules or {}
    try:
        node = pp.parse(VARIABLE.sub("x", MACRO.sub("1m", raw)))
    except (ValueError, RuntimeError):
        return None
    while isinstance(node, pp.ParenExpr):
        node = node.expr
    if not (
        isinstance(node, pp.AggregateExpr)
        and str(node.op) == "sum"
        and node.modifier is not None
        and node.modifier.type == pp.AggModifierType.By
        and list(node.modifier.labels) == ["le"]
    ):
        return None
    inner = node.expr
    while isinstance(inner, pp.ParenExpr):
        inner = inner.expr
    if isinstance(inner, pp.VectorSelector):
        name = inner.name or ""
        return name if rules.get(name, "").startswith("bucket:") else None
    if not re.search(r"\[\s*\$(\{__rate_interval\}|__rate_interval)\s*\]", raw):
        return None
    if not (isinstance(inner, pp.Call) and inner.func.name in ("increase", "rate")):
        return None
    selector = inner.args[0]
    if not isinstance(selector, pp.MatrixSelector):
        return None
    name = selector.vector_selector.name or ""
    return name if name.endswith("_bucket") else None


# Files --------------------------------------------------------------------------------------


def lint_dashboard(
    file: str, board: Mapping[str, Any], context: Context | None = None
) -> list[DashboardFinding]:
    """Every convention that one dashboard can be checked for on its own."""
    linter = _Linter(file, board, context or default_context())
    linter.check_dashboard()
    linter.check_panels()
    linter.check_logql()
    return linter.findings


def lint_set(boards: Mapping[str, Mapping[str, Any]]) -> list[DashboardFinding]:
    """Conventions across the files: unique uids and titles."""
    findings = []
    for key in ("uid", "title"):
        seen: dict[object, str] = {}
        for file, board in boards.items():
            value = board.get(key)
            if value in seen:
                findings.append(
                    DashboardFinding(file, f'{key} "{value}" is also the {key} of {seen[value]}')
                )
            else:
                seen[value] = file
    return findings


def load(paths: Iterable[Path]) -> tuple[dict[str, Mapping[str, Any]], list[DashboardFinding]]:
    boards: dict[str, Mapping[str, Any]] = {}
    findings = []
    for path in paths:
        file = shown(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            findings.append(DashboardFinding(file, f"cannot read the dashboard: {error}"))
            continue
        if not isinstance(data, dict):
            findings.append(DashboardFinding(file, "a dashboard is a JSON object"))
            continue
        boards[file] = data
    return boards, findings


# Command line --------------------------------------------------------------------------------


def schema_findings(file: str, board: Mapping[str, Any], directory: Path) -> list[DashboardFinding]:
    """Grafana's JSON schemas' complaints about one dashboard, as lint findings."""
    return [
        DashboardFinding(file, f"schema: {message}", panel)
        for panel, message in schema_errors(board, directory)
    ]


def run(paths: Sequence[Path], schemas: Path | None) -> tuple[list[DashboardFinding], int]:
    boards, findings = load(paths)
    for file, board in boards.items():
        findings += lint_dashboard(file, board)
        if schemas is not None:
            findings += schema_findings(file, board, schemas)
    findings += lint_set(boards)
    return findings, sum(1 for b in boards.values() for _ in iter_panels(b))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.grafana.lint", description=__doc__.splitlines()[0]
    )
    parser.add_argument("files", nargs="*", type=Path, help="dashboard JSON files")
    parser.add_argument(
        "--schemas",
        type=Path,
        help="folder of *.jsonschema.json (default: tools/grafana/jsonschema)",
    )
    parser.add_argument("--no-schemas", action="store_true", help="skip the JSON schema check")
    args = parser.parse_args(argv)
    paths = args.files or sorted(DASHBOARD_DIR.glob("*.json"))
    if not paths:
        print(f"no dashboards to check in {shown(DASHBOARD_DIR)}", file=sys.stderr)
        return 2
    schemas: Path | None = None
    if args.no_schemas:
        print("schema check skipped: --no-schemas", file=sys.stderr)
    else:
        try:
            schemas = schemas_dir(args.schemas)
        except SchemasNotFoundError as error:
            parser.error(f"schema check: {error}")
        print(f"schema check against {shown(schemas)}", file=sys.stderr)
    try:
        findings, panels = run(paths, schemas)
    except LogQLParserError as error:  # the grammar is not installed: say how, no traceback
        print(f"error: {error}", file=sys.stderr)
        return 2
    for finding in findings:
        print(finding)
    print(
        f"{len(paths)} dashboards, {panels} panels: "
        + (f"{len(findings)} findings" if findings else "no findings"),
        file=sys.stderr,
    )
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
