"""Validate dashboards against Grafana's JSON schemas (grafana-foundation-sdk, draft-07).

The schemas are data from outside the project and are not vendored: they are read from
``--schemas DIR``, else ``$GRAFANA_SCHEMAS_DIR``, else ``/work/shared/schemas/grafana``. The
dashboard model, each panel type's ``options`` and ``fieldConfig.defaults.custom``, and each
Prometheus target are validated separately, so a message names the panel and the path in it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator

from tools.grafana.builders import PANEL_TYPES
from tools.grafana.queries import iter_panels

DEFAULT_SCHEMAS_DIR = Path("/work/shared/schemas/grafana")


def find_schemas_dir(explicit: Path | None = None) -> tuple[Path | None, str]:
    """The schema folder to use, or None and why not."""
    candidates = [
        (explicit, "--schemas"),
        (
            Path(os.environ["GRAFANA_SCHEMAS_DIR"])
            if os.environ.get("GRAFANA_SCHEMAS_DIR")
            else None,
            "GRAFANA_SCHEMAS_DIR",
        ),
        (DEFAULT_SCHEMAS_DIR, "the default location"),
    ]
    for candidate, origin in candidates:
        if candidate is None:
            continue
        if (candidate / "dashboard.jsonschema.json").is_file():
            return candidate, f"{candidate} (from {origin})"
        return None, (
            f"Grafana JSON schemas not found: {candidate} (from {origin}) has no "
            "dashboard.jsonschema.json; set GRAFANA_SCHEMAS_DIR to a folder of "
            "grafana-foundation-sdk's jsonschema files"
        )
    return None, "Grafana JSON schemas not configured"


@cache
def _validators(directory: Path) -> dict[str, Any]:
    def load_schema(name: str) -> dict[str, Any] | None:
        path = directory / f"{name}.jsonschema.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def of(schema: dict[str, Any], definition: str) -> Any:
        return Draft7Validator(
            {"$ref": f"#/definitions/{definition}", "definitions": schema["definitions"]}
        )

    dashboard = load_schema("dashboard")
    assert dashboard is not None
    validators: dict[str, Any] = {
        "dashboard": Draft7Validator(dashboard),
        "panel": of(dashboard, "Panel"),
        "row": of(dashboard, "RowPanel"),
    }
    query = load_schema("prometheus")
    if query is not None:
        validators["target"] = Draft7Validator(query)
    for kind in PANEL_TYPES:
        schema = load_schema(kind)
        if schema is None:
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
    """Validate against Grafana's dashboard, panel-options and Prometheus-query schemas."""
    validators = _validators(directory)
    findings = [
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
        if "target" in validators:
            for index, target in enumerate(panel.get("targets") or []):
                checks.append((validators["target"], target, f"targets.{index}"))
        findings.extend(
            (title, message)
            for validator, instance, prefix in checks
            for message in _errors(validator, instance, prefix)
        )
    return findings
