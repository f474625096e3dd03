"""Validate dashboards against Grafana's JSON schemas (draft-07).

The schemas are derived from grafana-foundation-sdk's model classes by
``tools/grafana/sdk_schemas.py`` and committed under ``tools/grafana/jsonschema/``, so the check
runs in any clone; ``--schemas DIR`` (``tools/grafana/lint.py``) reads another folder of
``*.jsonschema.json`` instead, e.g. the SDK's published ones. The dashboard model, each panel
type's ``options`` and ``fieldConfig.defaults.custom``, and each target (by its datasource type:
Prometheus or Loki) are validated separately, so a message names the panel and the path in it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator

from tools._repo import REPO
from tools.grafana.builders import PANEL_TYPES
from tools.grafana.queries import iter_panels

#: Where the generated schemas are committed (repository-relative), written by
#: ``tools/grafana/sdk_schemas.py``.
SCHEMAS = Path("tools/grafana/jsonschema")
DEFAULT_SCHEMAS_DIR = REPO / SCHEMAS
#: Datasource types whose query schema (``<type>.jsonschema.json``) validates their targets.
TARGET_TYPES = ("prometheus", "loki")


class SchemasNotFoundError(Exception):
    """The schema folder lacks a schema every check needs."""


def schemas_dir(explicit: Path | None = None) -> Path:
    """``explicit``, else the committed schemas; either must hold the dashboard schema."""
    directory = explicit if explicit is not None else DEFAULT_SCHEMAS_DIR
    if not (directory / "dashboard.jsonschema.json").is_file():
        raise SchemasNotFoundError(f"{directory} has no dashboard.jsonschema.json")
    return directory


@cache
def _validators(directory: Path) -> dict[str, Any]:
    def load_schema(name: str) -> dict[str, Any] | None:
        path = directory / f"{name}.jsonschema.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def of(schema: dict[str, Any], definition: str) -> Any:
        return Draft7Validator(
            {"$ref": f"#/definitions/{definition}", "definitions": schema["definitions"]}
        )

    dashboard, query = load_schema("dashboard"), load_schema("prometheus")
    if dashboard is None or query is None:
        raise SchemasNotFoundError(f"{directory} lacks the dashboard or the Prometheus schema")
    validators: dict[str, Any] = {
        "dashboard": Draft7Validator(dashboard),
        "panel": of(dashboard, "Panel"),
        "row": of(dashboard, "RowPanel"),
        "target.prometheus": Draft7Validator(query),
    }
    for source in TARGET_TYPES:
        schema = load_schema(source)
        if schema is not None:
            validators[f"target.{source}"] = Draft7Validator(schema)
    for kind in PANEL_TYPES:
        schema = load_schema(kind)
        if schema is None:  # a panel type the SDK has no model of: its panel-level check stays
            continue
        validators[f"{kind}.options"] = of(schema, "Options")
        if "FieldConfig" in schema["definitions"]:
            validators[f"{kind}.custom"] = of(schema, "FieldConfig")
    return validators


def _errors(validator: Any, instance: object, prefix: str) -> list[str]:
    messages = []
    for error in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path)):
        path = ".".join(str(part) for part in [prefix, *error.absolute_path] if str(part))
        messages.append(f"{path}: {error.message}" if path else error.message)
    return messages


def schema_errors(board: Mapping[str, Any], directory: Path) -> list[tuple[str | None, str]]:
    """Validate against Grafana's dashboard, panel-options and query (Prometheus, Loki) schemas."""
    validators = _validators(directory)
    findings: list[tuple[str | None, str]] = [
        (None, message) for message in _errors(validators["dashboard"], {**board, "panels": []}, "")
    ]
    for panel in iter_panels(board):
        kind = panel.get("type")
        title = str(panel.get("title") or f"id {panel.get('id')}")
        checks: list[tuple[Any, object, str]] = [
            (validators["row" if kind == "row" else "panel"], panel, "")
        ]
        if f"{kind}.options" in validators and "options" in panel:
            checks.append((validators[f"{kind}.options"], panel["options"], "options"))
        custom = ((panel.get("fieldConfig") or {}).get("defaults") or {}).get("custom")
        if f"{kind}.custom" in validators and custom is not None:
            checks.append((validators[f"{kind}.custom"], custom, "fieldConfig.defaults.custom"))
        for index, target in enumerate(panel.get("targets") or []):
            source = (target.get("datasource") or {}).get("type", "prometheus")
            validator = validators.get(f"target.{source}")
            if validator is None:
                findings.append((title, f"targets.{index}: no query schema for {source!r}"))
                continue
            checks.append((validator, target, f"targets.{index}"))
        findings.extend(
            (title, message)
            for validator, instance, prefix in checks
            for message in _errors(validator, instance, prefix)
        )
    return findings
