"""Check a PromQL expression against the metric catalogue, with a real parser.

Shared by the rule lint (``tools/prometheus/lint.py``) and the dashboard lint: both ask the same
questions of every expression. Is each metric in the catalogue or a recording rule's output? Does
each label in a matcher, ``by``, ``without``, ``on`` or ``ignoring`` exist at that point? Are
counters only read through ``rate`` and its kin? Does ``histogram_quantile`` keep ``le``? Is every
range window long enough to hold four scrapes?

``analyse`` also returns the labels the expression's result carries, so callers can check that an
alert's annotations only template labels that really exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import promql_parser as pp

from narra_forge.monitoring.catalogue import METRICS

#: Labels Prometheus attaches to every scraped sample.
TARGET_LABELS = frozenset({"job", "instance"})

#: Functions that read a counter correctly (a raw counter is a meaningless, resetting number).
COUNTER_READERS = frozenset(
    {"rate", "irate", "increase", "resets", "absent", "absent_over_time", "present_over_time"}
)

SCALAR = "scalar"
"""Marker for a scalar result (a number literal, ``scalar()``, ``time()``)."""

#: Series that Prometheus produces itself, not the app: ``up`` for every target, and its own
#: metrics from scraping itself. name -> (labels besides job and instance, is a counter).
PROMETHEUS_OWN_SERIES: Mapping[str, tuple[tuple[str, ...], bool]] = {
    "up": ((), False),
    "scrape_duration_seconds": ((), False),
    "scrape_samples_scraped": ((), False),
    "prometheus_rule_evaluation_failures_total": (("rule_group",), True),
    "prometheus_rule_group_iterations_missed_total": (("rule_group",), True),
    "prometheus_notifications_errors_total": (("alertmanager",), True),
    "prometheus_notifications_sent_total": (("alertmanager",), True),
    "prometheus_notifications_dropped_total": ((), True),
    "prometheus_notifications_alertmanagers_discovered": ((), False),
    "prometheus_config_last_reload_successful": ((), False),
}


@dataclass(frozen=True)
class Series:
    """What the lint knows about one selectable name."""

    labels: frozenset[str]
    counter: bool
    origin: str  # "catalogue metric" or "recording rule"


@dataclass(frozen=True)
class Finding:
    message: str
    metric: str | None = None
    label: str | None = None

    def __str__(self) -> str:
        return self.message


@dataclass
class Analysis:
    findings: list[Finding] = field(default_factory=list)
    #: Labels of the result; ``None`` when they cannot be known, ``SCALAR`` for a scalar.
    labels: frozenset[str] | str | None = None
    #: Every metric or recording rule name the expression selects.
    selected: set[str] = field(default_factory=set)


def catalogue_series() -> dict[str, Series]:
    """Every sample name of the catalogue with its labels (``le`` on buckets)."""
    return {
        series: Series(
            labels=frozenset(metric.labels_of(series)) | TARGET_LABELS,
            counter=metric.type == "counter" or metric.type == "histogram",
            origin="catalogue metric",
        )
        for metric in METRICS
        for series in metric.series_names
    }


def prometheus_series() -> dict[str, Series]:
    """``PROMETHEUS_OWN_SERIES`` as an index, for rules that watch Prometheus and the targets."""
    return {
        name: Series(frozenset(labels) | TARGET_LABELS, counter, "Prometheus")
        for name, (labels, counter) in PROMETHEUS_OWN_SERIES.items()
    }


def with_recording_rules(
    series: Mapping[str, Series],
    rules: Iterable[tuple[str, str] | tuple[str, str, Iterable[str]]],
) -> tuple[dict[str, Series], list[tuple[str, Finding]]]:
    """Add recording rules' outputs, in order, each with the labels its expression returns
    (and those its ``labels:`` sets, given as a third element: the SLO rules' sloth_* labels).

    Returns the extended index and the findings of each rule's own expression. A name recorded
    by several rules (one per SLO) carries the labels of all of them.
    """
    known = dict(series)
    findings: list[tuple[str, Finding]] = []
    for record, expr, *rest in rules:
        result = analyse(expr, known)
        findings.extend((record, finding) for finding in result.findings)
        labels = result.labels if isinstance(result.labels, frozenset) else frozenset()
        labels |= frozenset(rest[0]) if rest else frozenset()
        if record in known and known[record].origin == "recording rule":
            labels |= known[record].labels
        known[record] = Series(labels=labels, counter=False, origin="recording rule")
    return known, findings


def analyse(expr: str, series: Mapping[str, Series], min_range_seconds: float = 60) -> Analysis:
    """Parse ``expr`` and check it; a syntax error is a finding, never an exception."""
    analysis = Analysis()
    try:
        tree = pp.parse(expr)
    except (ValueError, RuntimeError) as error:
        analysis.findings.append(Finding(f"does not parse as PromQL: {error}"))
        return analysis
    checker = _Checker(series, min_range_seconds, analysis)
    analysis.labels = checker.visit(tree, readers=())
    return analysis


def _describe(labels: Iterable[str]) -> str:
    shown = sorted(set(labels) - TARGET_LABELS)
    return ", ".join(shown) if shown else "(none)"


class _Checker:
    def __init__(self, series: Mapping[str, Series], min_range: float, out: Analysis) -> None:
        self.series = series
        self.min_range = min_range
        self.out = out

    def report(self, message: str, metric: str | None = None, label: str | None = None) -> None:
        self.out.findings.append(Finding(message, metric, label))

    def require_labels(
        self, wanted: Iterable[str], available: frozenset[str] | str | None, where: str
    ) -> None:
        if not isinstance(available, frozenset):
            return
        for label in wanted:
            if label not in available:
                self.report(
                    f'{where}: label "{label}" is not on the expression beneath; '
                    f"labels: {_describe(available)}",
                    label=label,
                )

    # One method per node type; each returns the result's labels.

    def visit(self, node: object, readers: tuple[str, ...]) -> frozenset[str] | str | None:
        if isinstance(node, pp.VectorSelector):
            return self.selector(node, readers, range_seconds=None)
        if isinstance(node, pp.MatrixSelector):
            return self.selector(
                node.vector_selector, readers, range_seconds=node.range.total_seconds()
            )
        if isinstance(node, pp.Call):
            return self.call(node, readers)
        if isinstance(node, pp.AggregateExpr):
            return self.aggregate(node, readers)
        if isinstance(node, pp.BinaryExpr):
            return self.binary(node, readers)
        if isinstance(node, (pp.ParenExpr, pp.UnaryExpr)):
            return self.visit(node.expr, readers)
        if isinstance(node, pp.SubqueryExpr):
            assert node.range is not None  # a subquery always has a range
            self.check_range(node.range.total_seconds(), "subquery")
            return self.visit(node.expr, ())
        if isinstance(node, pp.NumberLiteral):
            return SCALAR
        return None  # StringLiteral and anything newer than this lint

    def selector(
        self, node: pp.VectorSelector, readers: tuple[str, ...], range_seconds: float | None
    ) -> frozenset[str] | None:
        name = node.name
        if not name:
            return None  # {__name__=~"..."}: nothing to check against
        self.out.selected.add(name)
        info = self.series.get(name)
        if info is None:
            self.report(f"metric {name} is neither in the catalogue nor a recording rule", name)
            return None
        for matcher in node.matchers.matchers:
            if matcher.name != "__name__" and matcher.name not in info.labels:
                self.report(
                    f'metric {name} has no label "{matcher.name}"; '
                    f"labels: {_describe(info.labels)}",
                    name,
                    matcher.name,
                )
        if info.counter and not (readers and readers[-1] in COUNTER_READERS):
            self.report(f"counter {name} is read raw; wrap it in rate() or increase()", name)
        if range_seconds is not None:
            self.check_range(range_seconds, name)
        return info.labels

    def check_range(self, seconds: float, where: str) -> None:
        if seconds < self.min_range:
            self.report(
                f"range [{seconds:g}s] on {where} is shorter than four scrape intervals "
                f"({self.min_range:g}s): rate() over it is noisy or empty",
                where,
            )

    def call(self, node: pp.Call, readers: tuple[str, ...]) -> frozenset[str] | str | None:
        name = node.func.name
        args = [self.visit(arg, (*readers, name)) for arg in node.args]
        if name == "histogram_quantile":
            self.require_labels(["le"], args[1], "histogram_quantile")
            aggregated = _sums_keeping_le(node.args[1])
            for selected in _selector_names(node.args[1]):
                info = self.series.get(selected)
                if not info or info.origin != "catalogue metric":
                    continue
                if not selected.endswith("_bucket"):
                    self.report(
                        f"histogram_quantile reads {selected}, not a _bucket series", selected
                    )
                elif not aggregated:
                    # Unaggregated, it yields one quantile per instance and label combination,
                    # and the caller's labels are not the ones it asked for.
                    self.report(
                        f"histogram_quantile over {selected} is not aggregated: write "
                        "histogram_quantile(q, sum by (le, ...) (rate(...)))",
                        selected,
                    )
            inner = args[1]
            return inner - {"le"} if isinstance(inner, frozenset) else inner
        if name in ("label_replace", "label_join"):
            base = args[0]
            destination = _string(node.args[1])
            # label_replace(v, dst, replacement, src, regex); label_join(v, dst, sep, src...)
            source_args = node.args[3:4] if name == "label_replace" else node.args[3:]
            sources = [s for s in map(_string, source_args) if s]
            self.require_labels(sources, base, name)
            if isinstance(base, frozenset) and destination:
                return base | {destination}
            return base
        if name in ("scalar", "time", "pi"):
            return SCALAR
        if name == "vector":
            return frozenset()
        if name in ("absent", "absent_over_time"):
            # The one series absent() returns carries the argument's equality matchers.
            return _equality_labels(node.args[0]) if node.args else None
        vectors = [a for a in args if a != SCALAR and a is not None]
        return vectors[0] if vectors else (args[0] if args else None)

    def aggregate(self, node: pp.AggregateExpr, readers: tuple[str, ...]) -> frozenset[str] | None:
        op = str(node.op)
        if node.param is not None:
            self.visit(node.param, readers)
        inner = self.visit(node.expr, (*readers, op))
        modifier = node.modifier
        grouping = list(modifier.labels) if modifier is not None else []
        if modifier is None:
            if op in ("topk", "bottomk", "limitk", "limit_ratio"):
                return inner if isinstance(inner, frozenset) else None
            return frozenset()
        self.require_labels(grouping, inner, f"{op} {str(modifier.type).split('.')[-1].lower()}")
        if modifier.type == pp.AggModifierType.By:
            result = frozenset(grouping)
        elif isinstance(inner, frozenset):
            result = inner - set(grouping)
        else:
            return None
        if op == "count_values" and node.param is not None:
            result |= {_string(node.param) or ""}
        return result

    def binary(self, node: pp.BinaryExpr, readers: tuple[str, ...]) -> frozenset[str] | str | None:
        lhs = self.visit(node.lhs, readers)
        rhs = self.visit(node.rhs, readers)
        if lhs == SCALAR:
            return rhs
        if rhs == SCALAR:
            return lhs
        modifier = node.modifier
        matching = modifier.matching if modifier is not None else None
        if matching is None:
            if str(node.op) == "or" and isinstance(lhs, frozenset) and isinstance(rhs, frozenset):
                return lhs & rhs  # a result series may come from either side
            return lhs
        on = matching.type == pp.LabelModifierType.Include
        keyword = "on" if on else "ignoring"
        if on:
            self.require_labels(matching.labels, lhs, f"{keyword} (left side)")
            self.require_labels(matching.labels, rhs, f"{keyword} (right side)")
        assert modifier is not None  # the early return above handles "no modifier"
        card = modifier.card
        extra = list(modifier.group_labels or [])
        if card == pp.VectorMatchCardinality.ManyToOne:
            self.require_labels(extra, rhs, "group_left")
            return lhs | set(extra) if isinstance(lhs, frozenset) else None
        if card == pp.VectorMatchCardinality.OneToMany:
            self.require_labels(extra, lhs, "group_right")
            return rhs | set(extra) if isinstance(rhs, frozenset) else None
        if not isinstance(lhs, frozenset):
            return None
        if str(node.op) in ("and", "unless"):
            return lhs
        return frozenset(matching.labels) if on else lhs - set(matching.labels)


def _string(node: object) -> str | None:
    return node.val if isinstance(node, pp.StringLiteral) else None


def _sums_keeping_le(node: object) -> bool:
    """Is ``node`` (parentheses aside) ``sum by (le, ...)`` or ``sum without (...)`` keeping le?"""
    while isinstance(node, pp.ParenExpr):
        node = node.expr
    if not isinstance(node, pp.AggregateExpr) or str(node.op) != "sum" or node.modifier is None:
        return False
    labels = list(node.modifier.labels)
    if node.modifier.type == pp.AggModifierType.By:
        return "le" in labels
    return "le" not in labels


def _equality_labels(node: object) -> frozenset[str] | None:
    if isinstance(node, pp.MatrixSelector):
        node = node.vector_selector
    if not isinstance(node, pp.VectorSelector):
        return None
    return frozenset(
        m.name for m in node.matchers.matchers if m.name != "__name__" and m.op == pp.MatchOp.Equal
    )


def _selector_names(node: object) -> list[str]:
    names: list[str] = []

    def collect(child: object) -> None:
        if isinstance(child, pp.VectorSelector) and child.name:
            names.append(child.name)

    pp.walk(node, collect)  # type: ignore[arg-type]  # promql-parser's stub says Expr; any node walks
    return names
