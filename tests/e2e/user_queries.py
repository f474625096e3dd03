"""Every query a user of the demo looks at: the monitoring guide's (kept in docs/queries.md with
more) and every Prometheus panel of the dashboards, as Grafana sends them.

``unanswered(prometheus, queries)`` names those without data right now: the promise of
``make demo`` is that this list is empty within a minute of the command
(``tests/e2e/test_demo_alive.py``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.e2e.guide_queries import QUERIES_DOC, guide_path, promql_queries
from tools._repo import REPO
from tools.grafana.queries import panel_queries

DASHBOARD_DIR = REPO / "monitoring" / "grafana" / "dashboards"

#: Series that exist only once something is wrong: a healthy platform never has them.
ONLY_WHEN_SOMETHING_IS_WRONG = frozenset({"narra_forge_instrumentation_errors_total"})


@dataclass(frozen=True)
class UserQuery:
    #: Where a user finds it: "guide", "docs/queries.md" or the dashboard's file name.
    source: str
    title: str
    expr: str
    #: A panel that says what an empty result means ("no failures"): running is enough.
    may_be_empty: bool = False
    #: A panel target that draws nothing: its answer is its exemplars.
    exemplars_only: bool = False

    def __str__(self) -> str:
        return f"{self.source}: {self.title}: {' '.join(self.expr.split())}"


def _default_range(dashboard: Path) -> str:
    """The dashboard's own time range (``now-6h`` -> ``6h``), its ``$__range``."""
    start = str(json.loads(dashboard.read_text()).get("time", {}).get("from", "now-1h"))
    return start.removeprefix("now-") or "1h"


def user_queries(rate_interval: str = "1m") -> list[UserQuery]:
    """The guide's queries (when the guide is beside the checkout), docs/queries.md's, and every
    Prometheus panel query. ``$__rate_interval`` is 1m, the shortest Grafana uses at a 15 s
    scrape (the hardest case for a young Prometheus); ``$__range`` is each dashboard's own."""
    found: list[UserQuery] = []
    documents = [("docs/queries.md", QUERIES_DOC)]
    guide = guide_path()
    if guide is not None:
        documents.insert(0, ("guide", guide))
    for source, path in documents:
        for query in promql_queries(path.read_text()):
            if not any(name in query.expr for name in ONLY_WHEN_SOMETHING_IS_WRONG):
                found.append(UserQuery(source, query.title, query.expr))
    for dashboard in sorted(DASHBOARD_DIR.glob("*.json")):
        for panel in panel_queries(
            dashboard, rate_interval=rate_interval, range_=_default_range(dashboard)
        ):
            found.append(
                UserQuery(
                    dashboard.name,
                    f"{panel.panel_title} ({panel.ref_id})",
                    panel.expr,
                    panel.may_be_empty,
                    panel.exemplars_only,
                )
            )
    return found


def has_finite_value(result: list[dict[str, Any]]) -> bool:
    return any(math.isfinite(float(series["value"][1])) for series in result)


def unanswered(
    query: Callable[[str], list[dict[str, Any]]],
    queries: list[UserQuery],
    exemplars: Callable[[str], list[dict[str, Any]]],
) -> list[str]:
    """The queries without a finite value now (panels that may be empty: those that fail),
    each with the reason; ``query`` runs one instant query (``Prometheus.query``), ``exemplars``
    asks for the exemplars of an exemplars-only target (``Prometheus.exemplars``)."""
    problems = []
    for user_query in queries:
        ask = exemplars if user_query.exemplars_only else query
        try:
            result = ask(user_query.expr)
        except AssertionError as error:  # Prometheus answered with an error
            problems.append(f"{user_query}: error: {error}")
            continue
        if user_query.may_be_empty:
            continue
        if user_query.exemplars_only and not result:
            problems.append(f"{user_query}: no exemplars")
        elif not user_query.exemplars_only and not has_finite_value(result):
            problems.append(f"{user_query}: no data")
    return problems
