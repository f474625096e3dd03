"""Panel queries as Prometheus receives them, and their recording rules spelled out.

``panel_queries`` does what Grafana does before it sends a query: it replaces the interval and
range macros and the template variables, so tests and benchmarks can run every panel's query
against a real Prometheus. ``expand_recording_rules`` replaces each recording rule a query reads
by the expression that defines it, to measure what the recording rules save.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import promql_parser as pp

from tools.prometheus.promql_check import analyse, catalogue_series, with_recording_rules
from tools.prometheus.recording import RecordingRule, Rollup, recording_rules, rollups
from tools.prometheus.thresholds import duration_seconds, load_thresholds

JSON = dict[str, Any]
VariableValue = str | Sequence[str]

#: Grafana's interval and range macros, in both spellings (``$__range`` and ``${__range}``).
MACRO = re.compile(r"\$(?:\{__(?P<braced>\w+?)\}|__(?P<bare>\w+))")
#: Template variable references: ``${var}``, ``${var:format}``, ``[[var]]``, ``$var``.
VARIABLE = re.compile(
    r"\$\{(?P<braced>\w+)(?::(?P<format>\w+))?\}|\[\[(?P<bracket>\w+)(?::\w+)?\]\]|\$(?P<bare>\w+)"
)
ALL = "$__all"


#: A target that only brings exemplars (``builders.exemplars_of``): a histogram's buckets at the
#: Unix epoch draw nothing and read nothing; Grafana fetches the exemplars with the same selector.
EXEMPLARS_ONLY = re.compile(r"\s*[a-zA-Z_:][a-zA-Z0-9_:]*_bucket(\{[^{}]*\})?\s*@\s*0\s*")


def exemplars_only(target: Mapping[str, Any]) -> bool:
    expr = str(target.get("expr") or "")
    return bool(target.get("exemplar")) and EXEMPLARS_ONLY.fullmatch(expr) is not None


@dataclass(frozen=True)
class PanelQuery:
    """One target of one panel, with macros and variables replaced."""

    dashboard: str  # the dashboard's uid
    panel_title: str
    ref_id: str
    expr: str
    #: True for panels that show one value per series (stat, bar gauge): run as an instant query.
    instant: bool
    #: ``time_series``, ``table`` or ``heatmap`` (Grafana post-processes heatmap buckets).
    format: str
    #: The expression as written in the dashboard, before substitution.
    raw_expr: str
    #: The panel says what an empty result means (``noValue``, e.g. "no failures"): the series
    #: are created by the first event, so in a healthy system the query may return nothing.
    may_be_empty: bool = False
    #: Draws nothing: its answer is ``/api/v1/query_exemplars`` for ``expr`` (``exemplars_only``).
    exemplars_only: bool = False


def load_dashboard(dashboard: Mapping[str, Any] | Path | str) -> Mapping[str, Any]:
    """A dashboard from a dict or a JSON file."""
    if isinstance(dashboard, Mapping):
        return dashboard
    return json.loads(Path(dashboard).read_text())


def iter_panels(dashboard: Mapping[str, Any]) -> Iterator[JSON]:
    """Every panel, rows included, and the panels inside collapsed rows."""
    for panel in dashboard.get("panels") or []:
        yield panel
        yield from panel.get("panels") or []


def variables_of(dashboard: Mapping[str, Any]) -> dict[str, JSON]:
    return {v["name"]: v for v in (dashboard.get("templating") or {}).get("list") or []}


def prometheus_duration(seconds: float) -> str:
    """``315`` -> ``5m15s``; milliseconds only when needed."""
    millis = round(seconds * 1000)
    parts = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        amount, millis = divmod(millis, size)
        if amount:
            parts.append(f"{amount}{unit}")
    if millis or not parts:
        parts.append(f"{millis}ms")
    return "".join(parts)


@dataclass(frozen=True)
class Intervals:
    """What Grafana would compute for one panel; durations as Prometheus writes them."""

    interval: float
    rate_interval: float
    range_: float

    def macro(self, name: str) -> str | None:
        values = {"interval": self.interval, "rate_interval": self.rate_interval}
        values["range"] = self.range_
        for base, seconds in values.items():
            if name == base:
                return prometheus_duration(seconds)
            if name == f"{base}_ms":
                return str(round(seconds * 1000))
            if name == f"{base}_s":
                return str(round(seconds))
        return None


def panel_intervals(
    panel: Mapping[str, Any],
    *,
    interval: str,
    rate_interval: str,
    range_: str,
    scrape_interval: str,
) -> Intervals:
    """Grafana's rule: a panel's min interval raises ``$__interval``, and ``$__rate_interval``
    is at least ``$__interval`` plus one scrape and at least four scrapes."""
    scrape = duration_seconds(scrape_interval)
    step = max(duration_seconds(interval), duration_seconds(panel.get("interval") or "0s"))
    rate = max(duration_seconds(rate_interval), step + scrape, 4 * scrape)
    return Intervals(step, rate, duration_seconds(range_))


def substitute_macros(expr: str, intervals: Intervals) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("bare")
        value = intervals.macro(name)
        if value is None:
            raise ValueError(f"unknown Grafana macro ${{__{name}}} in {expr!r}")
        return value

    return MACRO.sub(replace, expr)


def regex_escape(value: str) -> str:
    """Grafana's escaping of one value of a multi-value variable (inside a PromQL string)."""
    return re.sub(
        r"[$^*{}\[\]'+?.()|]", lambda m: "\\\\" + m.group(0), value.replace("\\", "\\\\\\\\")
    )


def plain_escape(value: str) -> str:
    """Escaping of a single-value variable's value inside a PromQL string."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def format_variable(variable: Mapping[str, Any], value: VariableValue) -> str:
    """The text Grafana puts in a query for a variable's value."""
    name = variable["name"]
    values = [value] if isinstance(value, str) else list(value)
    if ALL in values:
        if not variable.get("includeAll"):
            raise ValueError(f'variable "{name}" has no "All" option')
        if variable.get("allValue") is None:
            raise ValueError(
                f'variable "{name}": "All" without an allValue is the list of every value, which '
                "only a running Grafana knows; pass the values"
            )
        return str(variable["allValue"])
    if not values:
        raise ValueError(f'variable "{name}": no value given')
    if not variable.get("multi") and not variable.get("includeAll"):
        if len(values) > 1:
            raise ValueError(f'variable "{name}" takes one value, got {values}')
        return plain_escape(values[0])
    escaped = [regex_escape(v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def default_value(variable: Mapping[str, Any]) -> VariableValue | None:
    """What a dashboard opened without URL parameters would use."""
    current = variable.get("current") or {}
    if "value" in current:
        return current["value"]
    return ALL if variable.get("includeAll") else None


def substitute_variables(
    expr: str, variables: Mapping[str, Mapping[str, Any]], values: Mapping[str, VariableValue]
) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("bracket") or match.group("bare")
        if name.startswith("__"):
            return match.group(0)  # a macro; handled by substitute_macros
        if name not in variables:
            raise ValueError(f"${name} is not a template variable of the dashboard")
        value = values.get(name, default_value(variables[name]))
        if value is None:
            raise ValueError(f'variable "{name}" has no default value; pass one')
        fmt = match.group("format")
        if fmt in ("raw", "text"):
            return value if isinstance(value, str) else ",".join(value)
        return format_variable(variables[name], value)

    return VARIABLE.sub(replace, expr)


def panel_queries(
    dashboard: Mapping[str, Any] | Path | str,
    *,
    rate_interval: str = "1m",
    range_: str = "1h",
    interval: str = "15s",
    scrape_interval: str = "15s",
    variables: Mapping[str, VariableValue] | None = None,
) -> list[PanelQuery]:
    """Every PromQL panel query of a dashboard as Grafana would send it.

    Variables take their default (``All`` where offered) unless ``variables`` gives values;
    a list is a multi-value selection. A panel's own minimum interval is honoured. Targets of
    another datasource type (the Logs dashboard's LogQL) are not Prometheus' to run: left out.
    """
    board = load_dashboard(dashboard)
    declared = variables_of(board)
    result = []
    for panel in iter_panels(board):
        targets = panel.get("targets") or []
        if not targets:
            continue
        intervals = panel_intervals(
            panel,
            interval=interval,
            rate_interval=rate_interval,
            range_=range_,
            scrape_interval=scrape_interval,
        )
        defaults = (panel.get("fieldConfig") or {}).get("defaults") or {}
        for target in targets:
            raw = target.get("expr")
            if not raw or target.get("hide"):
                continue
            if (target.get("datasource") or {}).get("type", "prometheus") != "prometheus":
                continue
            expr = substitute_variables(
                substitute_macros(raw, intervals), declared, variables or {}
            )
            result.append(
                PanelQuery(
                    dashboard=str(board.get("uid")),
                    panel_title=str(panel.get("title", "")),
                    ref_id=str(target.get("refId", "")),
                    expr=expr,
                    instant=bool(target.get("instant")),
                    format=str(target.get("format", "time_series")),
                    raw_expr=raw,
                    may_be_empty="noValue" in defaults,
                    exemplars_only=exemplars_only(target),
                )
            )
    return result


# Recording rules spelled out ------------------------------------------------------------------

AGGREGATIONS = frozenset(
    {
        "sum",
        "avg",
        "min",
        "max",
        "count",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
        "group",
        "limitk",
        "limit_ratio",
    }
)
#: Keywords followed by a parenthesised list of label names, not an expression.
LABEL_LISTS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
KEYWORDS = frozenset({"bool", "and", "or", "unless", "offset", "inf", "nan"})
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_NUMBER = re.compile(r"[0-9.]+(?:[eE][+-]?[0-9]+)?[A-Za-z0-9_]*")


@dataclass(frozen=True)
class _Selector:
    start: int
    end: int
    name: str
    matchers: str  # the text between the braces, "" when there are none


def _skip_string(text: str, i: int) -> int:
    quote = text[i]
    i += 1
    while i < len(text) and text[i] != quote:
        i += 2 if text[i] == "\\" and quote != "`" else 1
    return i + 1


def _skip_group(text: str, i: int, close: str) -> int:
    """From an opening bracket to just past its closing one, skipping strings."""
    while i < len(text) and text[i] != close:
        i = _skip_string(text, i) if text[i] in "\"'`" else i + 1
    return i + 1


def _selectors(expr: str) -> list[_Selector]:
    """Where the metric-name selectors of an expression are, with their matchers' text."""
    found: list[_Selector] = []
    i = 0
    while i < len(expr):
        char = expr[i]
        if char in "\"'`":
            i = _skip_string(expr, i)
        elif char == "{":
            i = _skip_group(expr, i + 1, "}")  # {__name__=...}: no name to expand
        elif char == "[":
            i = _skip_group(expr, i + 1, "]")
        elif char.isdigit() or char == ".":
            i = _NUMBER.match(expr, i).end()  # type: ignore[union-attr]  # a number or a duration
        elif match := _IDENT.match(expr, i):
            name, i = match.group(0), match.end()
            j = i
            while j < len(expr) and expr[j].isspace():
                j += 1
            if name.lower() in LABEL_LISTS:
                if j < len(expr) and expr[j] == "(":
                    i = _skip_group(expr, j + 1, ")")
            elif name.lower() in AGGREGATIONS or name.lower() in KEYWORDS:
                pass
            elif j < len(expr) and expr[j] == "(":
                pass  # a function call
            elif j < len(expr) and expr[j] == "{":
                close = _skip_group(expr, j + 1, "}")
                found.append(_Selector(match.start(), close, name, expr[j + 1 : close - 1]))
                i = close
            else:
                found.append(_Selector(match.start(), i, name, ""))
        else:
            i += 1
    return found


def _split_matchers(text: str) -> list[str]:
    parts, current, i = [], "", 0
    while i < len(text):
        if text[i] in "\"'`":
            end = _skip_string(text, i)
            current += text[i:end]
            i = end
        elif text[i] == ",":
            parts.append(current.strip())
            current, i = "", i + 1
        else:
            current += text[i]
            i += 1
    parts.append(current.strip())
    return [part for part in parts if part]


def _matcher_label(matcher: str) -> str:
    return re.match(r"\s*([A-Za-z_]\w*)", matcher).group(1)  # type: ignore[union-attr]


def _inject(expr: str, matchers: list[str]) -> str:
    """Add label matchers to every selector of ``expr`` (right to left keeps offsets valid)."""
    for selector in reversed(_selectors(expr)):
        merged = ", ".join([*_split_matchers(selector.matchers), *matchers])
        expr = f"{expr[: selector.start]}{selector.name}{{{merged}}}{expr[selector.end :]}"
    return expr


#: What stands right before a selector that ``sum_over_time`` reads.
_SUM_OVER_TIME = re.compile(r"sum_over_time\s*\(\s*$")


def _expand_rollups(expr: str, rollup_rules: Sequence[Rollup]) -> str:
    """``sum_over_time(<rollup>{...}[W])`` replaced by the counter's own increase over W."""
    by_record = {rollup.record: rollup for rollup in rollup_rules}
    for selector in reversed([s for s in _selectors(expr) if s.name in by_record]):
        rollup = by_record[selector.name]
        opening = _SUM_OVER_TIME.search(expr[: selector.start])
        window = re.match(r"\s*\[([^\]:]+)\]\s*\)", expr[selector.end :])
        if opening is None or window is None:
            raise ValueError(
                f"{selector.name}: a rollup is read only as sum_over_time({selector.name}[range]): "
                "its records are per 5 minutes, and anything else over them means nothing"
            )
        matchers = _split_matchers(selector.matchers)
        for matcher in matchers:
            if _matcher_label(matcher) not in rollup.by:
                raise ValueError(
                    f'{selector.name}: label "{_matcher_label(matcher)}" is not on the rollup, '
                    "so the matcher cannot be pushed into its counter"
                )
        raw = rollup.over(window.group(1))
        inner = _inject(raw, matchers) if matchers else raw
        end = selector.end + window.end()
        expr = f"{expr[: opening.start()]}({inner}){expr[end:]}"
    return expr


def rollup_misreads(expr: str, records: Iterable[str] = ()) -> list[str]:
    """Totals that would come out wrong: a rollup read other than through ``sum_over_time``,
    or ``sum_over_time`` over one of ``records`` (rules recorded every evaluation over
    windows longer than that: their sum counts each moment many times)."""
    problems = []
    rollup_rules = rollups()
    try:
        _expand_rollups(expr, rollup_rules)
    except ValueError as error:
        problems.append(str(error))
    overlapping = set(records) - {rollup.record for rollup in rollup_rules}
    for selector in _selectors(expr):
        if selector.name in overlapping and _SUM_OVER_TIME.search(expr[: selector.start]):
            problems.append(
                f"sum_over_time over {selector.name} adds up records whose windows overlap, so "
                "it counts each moment many times; total a rollup (...:increase5m_rollup) instead"
            )
    return problems


def expand_recording_rules(
    expr: str,
    rules: Sequence[RecordingRule] | None = None,
    rollup_rules: Sequence[Rollup] | None = None,
) -> str:
    """``expr`` with every recording rule it reads replaced by the rule's own expression.

    A label matcher on a rule's output is pushed down into the selectors of its expression,
    which selects the same series because the rules keep those labels with ``sum by``. What
    cannot be expanded exactly (a range or an offset on a rule's output) raises ValueError.
    A rollup summed over a window becomes its counter's increase over that window, which the
    rollup approximates (its span ends at the last record, up to 5 minutes earlier).
    """
    rules = tuple(rules if rules is not None else recording_rules(load_thresholds()))
    expr = _expand_rollups(expr, rollup_rules if rollup_rules is not None else rollups())
    by_record = {rule.record: rule.expr for rule in rules}
    known, _ = with_recording_rules(catalogue_series(), [(r.record, r.expr) for r in rules])
    for _ in range(len(by_record) + 1):  # a rule may read an earlier rule
        selectors = [s for s in _selectors(expr) if s.name in by_record]
        if not selectors:
            pp.parse(expr)  # raises ValueError if the expansion broke the syntax
            return expr
        for selector in reversed(selectors):
            after = expr[selector.end :].lstrip()
            if after.startswith("[") or re.match(r"(offset\b|@)", after):
                raise ValueError(
                    f"{selector.name}: a range or offset on a recording rule's output cannot be "
                    "expanded into its expression"
                )
            matchers = _split_matchers(selector.matchers)
            kept = analyse(by_record[selector.name], known).labels
            for matcher in matchers:
                label = _matcher_label(matcher)
                if label == "__name__" or not isinstance(kept, frozenset) or label not in kept:
                    raise ValueError(
                        f'{selector.name}: label "{label}" is not on the rule\'s output, so the '
                        "matcher cannot be pushed into its expression"
                    )
            inner = (
                _inject(by_record[selector.name], matchers)
                if matchers
                else by_record[selector.name]
            )
            expr = f"{expr[: selector.start]}({inner}){expr[selector.end :]}"
    raise ValueError(f"recording rules nest too deep to expand in {expr!r}")
