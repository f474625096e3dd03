"""The schemas derived from grafana-foundation-sdk's model classes: keys, required keys, enums and
our overlays come out as the SDK and Grafana say, each file stands alone, the committed copies
are current."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tools._repo import REPO
from tools.grafana.schemas import SCHEMAS
from tools.grafana.sdk_schemas import SchemaError, _Definitions, _type, outputs, schemas

SCHEMA = schemas()


def definition(kind: str, name: str) -> dict[str, Any]:
    return SCHEMA[kind]["definitions"][name]


def test_enums_list_the_sdks_members():
    placement = definition("timeseries", "LegendPlacement")
    assert (placement["enum"], placement["type"]) == (["bottom", "right"], "string")
    assert definition("timeseries", "GraphDrawStyle")["enum"] == ["line", "bars", "points"]
    # An IntEnum keeps its numbers and its docstring.
    cursor_sync = definition("dashboard", "DashboardCursorSync")
    assert cursor_sync["enum"] == [0, 1, 2]
    assert cursor_sync["type"] == "integer"
    assert cursor_sync["description"].startswith("0 for no shared crosshair")


def test_required_keys_are_those_to_json_always_writes():
    options = definition("stat", "Options")
    assert "reduceOptions" in options["required"]
    assert "text" not in options["required"]
    assert options["properties"]["reduceOptions"] == {"$ref": "#/definitions/ReduceDataOptions"}
    assert options["additionalProperties"] is False
    assert definition("dashboard", "GridPos")["required"] == ["h", "w", "x", "y"]


def test_keys_carry_their_json_names():
    query = definition("prometheus", "Dataquery")
    assert query["required"] == ["expr", "refId"]
    # The SDK's attributes range_val and format_val are written as "range" and "format".
    assert query["properties"]["range"] == {"type": "boolean"}
    assert query["properties"]["format"] == {"$ref": "#/definitions/PromQueryFormat"}


def test_optional_means_may_be_left_out_unless_always_written():
    # Threshold.value is Optional and always written: null is a value.
    assert definition("dashboard", "Threshold")["properties"]["value"] == {
        "anyOf": [{"type": "number"}, {"type": "null"}]
    }
    # Dashboard.uid is Optional and written only when set: the key may be missing, not null.
    assert definition("dashboard", "Dashboard")["properties"]["uid"] == {"type": "string"}


def test_our_overlays_are_applied():
    grid = definition("dashboard", "GridPos")["properties"]
    assert grid["w"] == {"type": "integer", "minimum": 1, "maximum": 24}
    assert grid["x"]["maximum"] == 23
    dashboard = definition("dashboard", "Dashboard")["properties"]
    assert dashboard["id"] == {"type": ["integer", "null"]}
    assert definition("dashboard", "VariableModel")["properties"]["definition"] == {
        "type": "string"
    }


def test_a_tag_init_fixes_is_a_constant():
    assert definition("dashboard", "ValueMap")["properties"]["type"] == {"const": "value"}
    assert definition("dashboard", "RowPanel")["properties"]["type"] == {"const": "row"}


def test_per_panel_files_name_options_and_field_config():
    assert SCHEMA["timeseries"]["definitions"]["FieldConfig"] == {
        "$ref": "#/definitions/GraphFieldConfig"
    }
    assert "FieldConfig" not in SCHEMA["stat"]["definitions"]
    assert SCHEMA["dashboard"]["$ref"] == "#/definitions/Dashboard"
    assert SCHEMA["prometheus"]["$ref"] == "#/definitions/Dataquery"
    assert SCHEMA["loki"]["$ref"] == "#/definitions/Dataquery"
    assert "maxLines" in SCHEMA["loki"]["definitions"]["Dataquery"]["properties"]
    assert "Options" in SCHEMA["logs"]["definitions"]


def refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"]
        for value in node.values():
            yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


@pytest.mark.parametrize("kind", sorted(SCHEMA))
def test_each_file_carries_every_definition_it_refers_to(kind):
    schema = SCHEMA[kind]
    missing = {
        r for r in refs(schema) if r.removeprefix("#/definitions/") not in schema["definitions"]
    }
    assert missing == set()


def test_an_unknown_type_is_an_error_not_a_guess():
    with pytest.raises(SchemaError, match="no JSON schema"):
        _type(set[int], _Definitions())


def test_committed_files_equal_a_fresh_generation():
    generated = outputs()
    assert {path.parent for path in generated} == {SCHEMAS}
    committed = sorted(p.name for p in (REPO / SCHEMAS).glob("*.jsonschema.json"))
    assert committed == sorted(path.name for path in generated)
    for path, text in generated.items():
        assert (REPO / path).read_text() == text, f"{path} is stale: run `make generate`"
        assert json.loads(text)["$schema"] == "http://json-schema.org/draft-07/schema#"
