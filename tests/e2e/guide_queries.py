"""The PromQL queries of a markdown document: the monitoring guide, or docs/queries.md.

A query is the text under a ``# comment`` line inside a ```promql block, up to the next comment
or blank line; the comment is its title.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from tools._repo import REPO

QUERIES_DOC = REPO / "docs" / "queries.md"
FENCE = re.compile(r"^```promql\s*\n(.*?)^```", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Query:
    title: str
    expr: str


def guide_path() -> Path | None:
    """The monitoring guide beside the checkout (shared/), or $NARRA_FORGE_GUIDE."""
    override = os.environ.get("NARRA_FORGE_GUIDE")
    candidates = [Path(override)] if override else []
    candidates.append(REPO.parent / "shared" / "MONITORING_GUIDE.md")
    return next((path for path in candidates if path.is_file()), None)


def promql_queries(markdown: str) -> list[Query]:
    queries: list[Query] = []
    for block in FENCE.findall(markdown):
        title, lines = "", []
        for line in [*block.splitlines(), ""]:
            stripped = line.strip()
            if stripped.startswith("#") or not stripped:
                if lines:
                    queries.append(Query(title, "\n".join(lines)))
                    lines = []
                if stripped.startswith("#"):
                    title = stripped.lstrip("# ").strip()
                continue
            lines.append(line.rstrip())
    return queries


def normalised(expr: str) -> str:
    """Whitespace-insensitive form, to find a guide query inside docs/queries.md."""
    return re.sub(r"\s+", "", expr)
