"""docs/instrumentation.md says what the code does: its tables are checked against the code."""

from __future__ import annotations

import re
from pathlib import Path

import narra_forge.monitoring
from narra_forge.monitoring import DEFAULT_PRICING, ERROR_TYPES
from narra_forge.monitoring.errors import CLASS_NAMES

DOC = Path(__file__).resolve().parents[2] / "docs" / "instrumentation.md"


def section(title: str) -> str:
    text = DOC.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def table_rows(text: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows[1:]  # without the header


def test_error_classification_table_matches_the_code():
    documented: dict[str, str] = {}
    for error_type, names, _status in table_rows(section("Error classification")):
        kind = error_type.strip("`")
        assert kind in ERROR_TYPES, kind
        for name in re.findall(r"`([A-Za-z]+)`", names):
            if name not in ("content_filter", "content_policy_violation", "code"):
                documented[name] = kind
    assert documented == dict(CLASS_NAMES)


def test_pricing_table_matches_default_pricing():
    rows = table_rows(section("Pricing"))
    documented = {
        model.strip("`"): (float(i), None if c == "-" else float(c), float(o))
        for model, i, c, o in rows
    }
    actual = {
        model: (price.input, price.cached_input, price.output)
        for model, price in DEFAULT_PRICING.prices.items()
    }
    assert documented == actual
    assert f"version `{DEFAULT_PRICING.version}`" in section("Pricing")


def test_every_public_name_is_documented():
    text = DOC.read_text()
    constants = {"AGENT_IDS", "ERROR_TYPES", "METRICS", "OVERFLOW_VALUE", "PRODUCTION_TYPES"}
    for name in set(narra_forge.monitoring.__all__) - constants - {"__version__"}:
        assert name in text, f"{name} is exported but docs/instrumentation.md never mentions it"
