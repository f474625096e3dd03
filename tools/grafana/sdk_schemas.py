"""Draft-07 JSON schemas of Grafana's dashboard model, derived from grafana-foundation-sdk.

    python -m tools.grafana.sdk_schemas    # (re)write tools/grafana/jsonschema/*.jsonschema.json

``tools/grafana/schemas.py`` validates the dashboards against the committed files, so the
check runs in any clone with nothing beside it. They are derived from the typed model classes of
the SDK pinned in pyproject.toml's ``dev`` extra (the Grafana 11.6 build), and ``tools/generate.py
--check`` fails when they no longer match it. Everything is read from the classes themselves:

- JSON keys: a class's own ``to_json()`` runs on an instance whose attributes are all None; the
  keys it still writes are required. Then each attribute in turn holds a marker, and the key the
  marker comes out under is that attribute's JSON name.
- Types: ``typing.get_type_hints()``; an attribute ``__init__`` sets without taking it as an
  argument is a constant (``const``). ``Optional`` on an optional key means it may be left out;
  on a required key, that the value may be null. Enum classes become ``enum``; model classes
  become ``#/definitions/<Class>`` with ``additionalProperties: false``, and each file carries
  every definition it refers to.
- Descriptions: the classes' docstrings (the SDK's comments on attributes are not introspectable).

Where Grafana's rules differ from the SDK's types, the overlay tables below say how; they are
this project's knowledge of Grafana, not the SDK's.
"""

from __future__ import annotations

import enum
import importlib
import inspect
import json
import sys
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.cog import variants
from grafana_foundation_sdk.models import dashboard, loki, prometheus

from tools.grafana.builders import GRID_COLUMNS, PANEL_TYPES
from tools.grafana.schemas import SCHEMAS

Schema = dict[str, Any]

DRAFT_07 = "http://json-schema.org/draft-07/schema#"

# Ours, not the SDK's: limits Grafana applies that the SDK's types cannot carry, added to the
# derived schema of (definition, JSON key). The grid is GRID_COLUMNS wide; a panel covers at
# least one cell.
CONSTRAINTS: dict[tuple[str, str], Schema] = {
    ("GridPos", "w"): {"minimum": 1, "maximum": GRID_COLUMNS},
    ("GridPos", "h"): {"minimum": 1},
    ("GridPos", "x"): {"minimum": 0, "maximum": GRID_COLUMNS - 1},
    ("GridPos", "y"): {"minimum": 0},
    ("Panel", "type"): {"minLength": 1},  # the plugin id Grafana loads the panel with
}

# Ours: keys whose Grafana rule differs from the SDK's type, with the schema that replaces it.
REPLACED: dict[tuple[str, str], Schema] = {
    # Grafana's model says `id?: int64 | null` and provisioned dashboards carry "id": null; the
    # SDK's Optional only says that the key may be left out.
    ("Dashboard", "id"): {"type": ["integer", "null"]},
    # An override's value is whatever the overridden option takes ("unit" -> "s", "max" -> 1);
    # the SDK types it `object`, which would read as "a JSON object" here.
    ("DynamicConfigValue", "value"): {},
}

# Ours: keys Grafana writes and reads that the SDK's model of this release lacks.
ADDED: dict[tuple[str, str], Schema] = {
    # A query variable's query as the variable list shows it; Grafana saves it beside `query`.
    ("VariableModel", "definition"): {"type": "string"},
}

_SCALARS: dict[object, str] = {str: "string", bool: "boolean", int: "integer", float: "number"}


class SchemaError(Exception):
    """The SDK has a shape this generator does not know how to map; extend the mapping."""


class _Marker:
    """Stands in for one attribute while to_json() runs, to see which key it is written under."""


class _Definitions:
    """The definitions of one schema file, filled in as types refer to classes."""

    def __init__(self) -> None:
        self.schemas: dict[str, Schema] = {}
        self._classes: dict[str, type] = {}

    def ref(self, cls: type) -> Schema:
        name = cls.__name__
        ref = {"$ref": f"#/definitions/{name}"}
        if self._classes.get(name) is cls:
            return ref
        if name in self.schemas:
            raise SchemaError(f"two definitions named {name} ({cls.__module__})")
        self._classes[name] = cls
        self.schemas[name] = {}  # taken before recursing, so a class that refers to itself ends
        self.schemas[name] = _definition(cls, self)
        return ref

    def alias(self, name: str, cls: type) -> None:
        """``cls`` under another name too: timeseries' FieldConfig is GraphFieldConfig."""
        ref = self.ref(cls)
        if name in self.schemas:
            raise SchemaError(f"two definitions named {name}")
        self.schemas[name] = ref


def _json_type(values: Sequence[object]) -> str:
    kinds = {_SCALARS.get(type(value)) for value in values}
    if len(kinds) != 1 or None in kinds:
        raise SchemaError(f"enum values of mixed or unknown types: {list(values)}")
    return str(kinds.pop())


def _json_keys(cls: type, attributes: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """Each attribute's JSON key, and the keys to_json() writes even when everything is None."""
    # Not __init__: it would put defaults where None belongs. Any: to_json() is duck-typed.
    instance: Any = object.__new__(cls)
    for name in attributes:
        setattr(instance, name, None)
    required = list(instance.to_json())
    keys: dict[str, str] = {}
    for name in attributes:
        marker = _Marker()
        setattr(instance, name, marker)
        written = [key for key, value in instance.to_json().items() if value is marker]
        setattr(instance, name, None)
        if len(written) != 1:
            raise SchemaError(f"{cls.__qualname__}.{name}: to_json() writes it as {written}")
        keys[name] = written[0]
    if unknown := set(required) - set(keys.values()):
        raise SchemaError(f"{cls.__qualname__}: to_json() writes {unknown} from no attribute")
    return keys, required


def _union_members(hint: object) -> tuple[object, ...]:
    return typing.get_args(hint) if typing.get_origin(hint) is typing.Union else (hint,)


def _any_of(members: Iterable[object], definitions: _Definitions) -> Schema:
    schemas = [_type(member, definitions) for member in members]
    return schemas[0] if len(schemas) == 1 else {"anyOf": schemas}


def _type(hint: object, definitions: _Definitions) -> Schema:
    """The schema of one type hint; model and enum classes go to the definitions."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is type(None):
        return {"type": "null"}
    if hint in _SCALARS:
        return {"type": _SCALARS[hint]}
    # The SDK writes `object` for Grafana's open structs (panel options, field config custom);
    # a query's shape depends on its datasource (targets are checked against prometheus.* or
    # loki.*, by the target's datasource type).
    if hint is object or hint is variants.Dataquery:
        return {"type": "object"}
    if origin is typing.Literal:
        return {"enum": list(args), "type": _json_type(args)}
    if origin is list:
        return {"type": "array", "items": _type(args[0], definitions)}
    if origin is dict and args[0] is str:
        return {"type": "object", "additionalProperties": _type(args[1], definitions)}
    if origin is typing.Union:
        return _any_of(args, definitions)
    if isinstance(hint, type) and (issubclass(hint, enum.Enum) or hasattr(hint, "to_json")):
        return definitions.ref(hint)
    raise SchemaError(f"no JSON schema for {hint!r}")


def _object(cls: type, definitions: _Definitions) -> Schema:
    hints = typing.get_type_hints(cls)
    keys, required = _json_keys(cls, hints)
    # An attribute __init__ takes no argument for is fixed by it: the tag that tells the members
    # of a union apart (ValueMap's type "value", RowPanel's "row"). A default instance holds it.
    fixed = hints.keys() - inspect.signature(cls).parameters.keys()
    default = cls() if fixed else None
    properties: dict[str, Schema] = {}
    for name, key in keys.items():
        where = (cls.__name__, key)
        if where in REPLACED:
            properties[key] = dict(REPLACED[where])
            continue
        if name in fixed:
            value = getattr(default, name)
            properties[key] = {"const": value.value if isinstance(value, enum.Enum) else value}
            continue
        # None is a value only where to_json() writes the key whatever it holds.
        members = [m for m in _union_members(hints[name]) if key in required or m is not type(None)]
        properties[key] = {**_any_of(members, definitions), **CONSTRAINTS.get(where, {})}
    for (name, key), added in ADDED.items():
        if name == cls.__name__:
            if key in properties:
                raise SchemaError(f"the SDK now has {name}.{key}: drop it from ADDED")
            properties[key] = dict(added)
    schema: Schema = {"type": "object", "additionalProperties": False, "properties": properties}
    if required:
        schema["required"] = required
    return schema


def _definition(cls: type, definitions: _Definitions) -> Schema:
    if issubclass(cls, enum.Enum):
        values = [member.value for member in cls]
        schema: Schema = {"enum": values, "type": _json_type(values)}
    else:
        schema = _object(cls, definitions)
    if doc := cls.__dict__.get("__doc__"):  # the class's own, not one inherited from StrEnum
        schema["description"] = inspect.cleandoc(doc)
    return schema


def _schema(root: type | None, named: dict[str, type]) -> Schema:
    """A self-contained schema file: ``$ref`` to ``root`` (if any) and the named definitions."""
    definitions = _Definitions()
    for name, cls in named.items():
        if cls.__name__ == name:
            definitions.ref(cls)
        else:
            definitions.alias(name, cls)
    schema: Schema = {"$schema": DRAFT_07, "definitions": definitions.schemas}
    if root is not None:
        schema["$ref"] = definitions.ref(root)["$ref"]
    return schema


def _panel_models() -> dict[str, dict[str, type]]:
    """Per panel type the dashboards use and the SDK models: its Options and FieldConfig."""
    models: dict[str, dict[str, type]] = {}
    for kind in sorted(PANEL_TYPES):
        try:
            module = importlib.import_module(f"grafana_foundation_sdk.models.{kind}")
        except ModuleNotFoundError:
            continue
        models[kind] = {
            name: getattr(module, name)
            for name in ("Options", "FieldConfig")
            if hasattr(module, name)
        }
    return models


def schemas() -> dict[str, Schema]:
    """Every schema by name: dashboard, the Prometheus and Loki queries, one per panel type."""
    result = {
        "dashboard": _schema(dashboard.Dashboard, {}),
        "prometheus": _schema(prometheus.Dataquery, {}),
        "loki": _schema(loki.Dataquery, {}),
    }
    for kind, named in _panel_models().items():
        result[kind] = _schema(None, named)
    # An overlay whose key the SDK no longer has would silently stop applying.
    properties = {
        (name, key)
        for name, definition in result["dashboard"]["definitions"].items()
        for key in definition.get("properties", {})
    }
    if stale := (CONSTRAINTS.keys() | REPLACED.keys() | ADDED.keys()) - properties:
        raise SchemaError(f"overlay entries for keys the SDK's model lacks: {sorted(stale)}")
    return result


def outputs() -> dict[Path, str]:
    """Repository-relative path to text, for tools/generate.py."""
    return {
        SCHEMAS / f"{name}.jsonschema.json": json.dumps(schema, sort_keys=True, indent=2) + "\n"
        for name, schema in schemas().items()
    }


def main() -> int:
    from tools.generate import write_outputs  # generate imports this module by name

    write_outputs(outputs())
    return 0


if __name__ == "__main__":
    sys.exit(main())
