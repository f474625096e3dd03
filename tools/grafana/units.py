"""What a PromQL query's numbers measure, and the Grafana units that display them.

The dashboard lint infers a quantity (duration, usd, ratio, score, rate, count) from the query's
syntax tree, the catalogue's metric names (``_seconds``, ``_usd``, ``_score``) and the recording
rules' own expressions, then checks the panel's unit against it.
"""

from __future__ import annotations

from collections.abc import Mapping

import promql_parser as pp

from narra_forge.monitoring.catalogue import series_index

# What a quantity may be displayed in. A value in seconds shown with "ms" is off by 1000, a
# ratio shown as "short" reads 0.05 instead of 5%: the unit is part of the number's meaning.
UNITS: Mapping[str, tuple[str, frozenset[str]]] = {
    "duration": ("a duration in seconds", frozenset({"s"})),
    "usd": ("an amount in US dollars", frozenset({"currencyUSD"})),
    "ratio": ("a ratio between 0 and 1", frozenset({"percentunit"})),
    "score": ("a quality score between 0 and 1", frozenset({"none", "percentunit"})),
    "rate": (
        "a rate of events",
        frozenset({"ops", "reqps", "cps", "opm", "cpm", "rps", "wps", "iops"}),
    ),
    "count": ("a count", frozenset({"short", "none"})),
    # A ratio over a ratio: how many times one is the other (an SLO's burn rate: its error
    # ratio over its error budget). Shown as a plain number, "14.4", as the alerts say it.
    "multiple": ("a multiple of one ratio by another", frozenset({"short", "none"})),
}
UNIT_SUGGESTION = {
    "duration": "s",
    "usd": "currencyUSD",
    "ratio": "percentunit",
    "score": "none",
    "rate": "ops",
    "count": "short",
    "multiple": "short",
}


def _family_quantity(name: str) -> str:
    base = name.removesuffix("_total")
    for suffix, kind in (("_seconds", "duration"), ("_usd", "usd"), ("_score", "score")):
        if base.endswith(suffix):
            return kind
    return "ratio" if base.endswith("_ratio") else "count"


def series_quantity(name: str, rules: Mapping[str, str]) -> str:
    if name in rules:
        return rules[name]
    metric = series_index().get(name)
    if metric is None:
        return "unknown"
    if name.endswith("_bucket") and metric.type == "histogram":
        return "bucket:" + _family_quantity(metric.name)
    if name.endswith("_count") and metric.type == "histogram":
        return "count"
    return _family_quantity(metric.name)


_KEEP = frozenset(
    {
        "increase",
        "delta",
        "idelta",
        "sort",
        "sort_desc",
        "abs",
        "ceil",
        "floor",
        "round",
        "clamp",
        "clamp_min",
        "clamp_max",
        "label_replace",
        "label_join",
        "scalar",
        "vector",
        "last_over_time",
        "sum_over_time",
        "avg_over_time",
        "min_over_time",
        "max_over_time",
        "quantile_over_time",
    }
)


def quantity(node: object, rules: Mapping[str, str]) -> str:
    """What the numbers of an expression measure: duration, usd, ratio, score, rate, count,
    ``bucket:<kind>`` (histogram buckets), ``scalar``, or ``unknown`` (then no unit is checked).
    """
    if isinstance(node, pp.NumberLiteral):
        return "scalar"
    if isinstance(node, pp.VectorSelector):
        return series_quantity(node.name or "", rules)
    if isinstance(node, pp.MatrixSelector):
        return series_quantity(node.vector_selector.name or "", rules)
    if isinstance(node, (pp.ParenExpr, pp.UnaryExpr, pp.SubqueryExpr)):
        return quantity(node.expr, rules)
    if isinstance(node, pp.AggregateExpr):
        op = str(node.op)
        if op in ("count", "count_values"):
            return "count"
        return "unknown" if op == "group" else quantity(node.expr, rules)
    if isinstance(node, pp.Call):
        name = node.func.name
        args = [quantity(arg, rules) for arg in node.args]
        vectors = [a for a in args if a != "scalar"] or ["scalar"]
        if name in ("rate", "irate", "deriv"):
            return "rate" if args[0] == "count" else args[0]
        if name == "histogram_quantile":
            return args[1].removeprefix("bucket:") if args[1].startswith("bucket:") else "unknown"
        if name == "count_over_time":
            return "count"
        return vectors[0] if name in _KEEP else "unknown"
    if isinstance(node, pp.BinaryExpr):
        return _binary_quantity(str(node.op), quantity(node.lhs, rules), quantity(node.rhs, rules))
    return "unknown"


def _binary_quantity(op: str, lhs: str, rhs: str) -> str:
    # In arithmetic, buckets are counts of observations (or their rate, like the other side).
    if lhs.startswith("bucket:"):
        lhs = rhs if rhs in ("count", "rate") else "count"
    if rhs.startswith("bucket:"):
        rhs = lhs if lhs in ("count", "rate") else "count"
    if op in ("==", "!=", ">", "<", ">=", "<=", "and", "unless"):
        return rhs if lhs == "scalar" else lhs
    if op == "or":
        return lhs if lhs == rhs else "unknown"
    if "unknown" in (lhs, rhs):
        return "unknown"
    if op == "/":
        if rhs == "scalar":
            return lhs
        if lhs == rhs == "ratio":
            return "multiple"  # a burn rate: an error ratio over the error budget
        if lhs == rhs:
            return "ratio"  # the same kind of thing divided: a share
        if rhs in ("count", "rate") and lhs in ("duration", "usd", "score"):
            return lhs  # an amount per event: average duration, cost per narrative
        return "unknown"
    if op == "*":
        if "scalar" in (lhs, rhs):
            return rhs if lhs == "scalar" else lhs
        return "unknown"
    if op in ("+", "-"):
        if lhs == "scalar":
            return rhs
        if rhs == "scalar" or lhs == rhs:
            return lhs
    return "unknown"
