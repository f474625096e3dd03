"""The dashboards against Grafana's JSON schemas, generated from grafana-foundation-sdk and
committed under tools/grafana/jsonschema/: they run in every clone, never skipped."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.grafana.helpers import committed, load, panel, relpath
from tools._repo import REPO
from tools.grafana.lint import schema_findings
from tools.grafana.schemas import SchemasNotFoundError, schemas_dir

SCHEMAS = schemas_dir()


def test_the_schemas_come_from_the_repository():
    assert SCHEMAS.resolve().is_relative_to(REPO)


def test_the_committed_dashboards_validate():
    for file, board in committed().items():
        assert [str(f) for f in schema_findings(file, board, SCHEMAS)] == []


@pytest.mark.parametrize(
    ("title", "mutate", "expected"),
    [
        (
            "Spend in the last hour",
            lambda p: p["options"].pop("reduceOptions"),
            "schema: options: 'reduceOptions' is a required property",
        ),
        (
            "Cost per hour",
            lambda p: p["gridPos"].update(w=30),
            "schema: gridPos.w: 30 is greater than the maximum of 24",
        ),
        (
            "Cost per hour",
            lambda p: p["targets"][0].update(expression="sum(x)"),
            "schema: targets.0: Additional properties are not allowed "
            "('expression' was unexpected)",
        ),
        (
            "Cost per hour",
            lambda p: p["fieldConfig"]["defaults"]["custom"].update(drawStyle="area"),
            "schema: fieldConfig.defaults.custom.drawStyle: 'area' is not one of",
        ),
        (
            "Cost per hour",
            lambda p: p["options"]["legend"].update(placement="left"),
            "schema: options.legend.placement: 'left' is not one of ['bottom', 'right']",
        ),
    ],
)
def test_a_panel_that_breaks_grafanas_schema_is_named(title, mutate, expected):
    board = load("cost_tracking")
    mutate(panel(board, title))
    found = [str(f) for f in schema_findings(relpath("cost_tracking"), board, SCHEMAS)]
    assert any(f'{relpath("cost_tracking")}: panel "{title}": {expected}' in f for f in found), (
        found
    )


@pytest.mark.parametrize(
    ("title", "mutate", "expected"),
    [
        (
            # A Loki target is checked with the Loki query schema, not Prometheus' one.
            "Log lines by level",
            lambda p: p["targets"][0].update(editorMode="text"),
            "schema: targets.0.editorMode: 'text' is not one of ['code', 'builder']",
        ),
        (
            "Log lines by level",
            lambda p: p["targets"][0].update(format="time_series"),
            "schema: targets.0: Additional properties are not allowed ('format' was unexpected)",
        ),
        (
            "Log lines (JSON)",
            lambda p: p["options"].update(sortOrder="Newest"),
            "schema: options.sortOrder: 'Newest' is not one of",
        ),
    ],
)
def test_a_loki_target_or_logs_panel_that_breaks_grafanas_schema_is_named(title, mutate, expected):
    board = load("logs")
    mutate(panel(board, title))
    found = [str(f) for f in schema_findings(relpath("logs"), board, SCHEMAS)]
    assert any(f'{relpath("logs")}: panel "{title}": {expected}' in f for f in found), found


def test_a_dashboard_level_schema_error_is_named():
    board = load("cost_tracking")
    board["time"] = {"from": "now-6h"}
    found = [str(f) for f in schema_findings(relpath("cost_tracking"), board, SCHEMAS)]
    assert f"{relpath('cost_tracking')}: schema: time: 'to' is a required property" in found


def test_a_folder_without_schemas_is_an_error_not_a_skip(tmp_path):
    with pytest.raises(SchemasNotFoundError, match=str(tmp_path)):
        schemas_dir(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "tools.grafana.lint", "--schemas", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{tmp_path} has no dashboard.jsonschema.json" in result.stderr


def test_the_cli_checks_against_the_committed_schemas():
    result = subprocess.run(
        [sys.executable, "-m", "tools.grafana.lint"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "schema check against tools/grafana/jsonschema" in result.stderr
