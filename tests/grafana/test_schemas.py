"""The dashboards against Grafana's own JSON schemas (grafana-foundation-sdk), when available."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.grafana.helpers import committed, load, panel, relpath
from tools._repo import REPO
from tools.grafana.lint import schema_findings
from tools.grafana.schemas import find_schemas_dir

SCHEMAS, WHY = find_schemas_dir()
needs_schemas = pytest.mark.skipif(SCHEMAS is None, reason=WHY)


@needs_schemas
def test_the_committed_dashboards_validate():
    assert SCHEMAS is not None
    for file, board in committed().items():
        assert [str(f) for f in schema_findings(file, board, SCHEMAS)] == []


@needs_schemas
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
    assert SCHEMAS is not None
    board = load("cost_tracking")
    mutate(panel(board, title))
    found = [str(f) for f in schema_findings(relpath("cost_tracking"), board, SCHEMAS)]
    assert any(f'{relpath("cost_tracking")}: panel "{title}": {expected}' in f for f in found), (
        found
    )


@needs_schemas
def test_a_dashboard_level_schema_error_is_named():
    assert SCHEMAS is not None
    board = load("cost_tracking")
    board["time"] = {"from": "now-6h"}
    found = [str(f) for f in schema_findings(relpath("cost_tracking"), board, SCHEMAS)]
    assert f"{relpath('cost_tracking')}: schema: time: 'to' is a required property" in found


def test_without_schemas_the_check_is_skipped_with_a_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAFANA_SCHEMAS_DIR", str(tmp_path))
    directory, reason = find_schemas_dir()
    assert directory is None
    assert str(tmp_path) in reason
    assert "GRAFANA_SCHEMAS_DIR" in reason
    result = subprocess.run(
        [sys.executable, "-m", "tools.grafana.lint"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "GRAFANA_SCHEMAS_DIR": str(tmp_path)},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"schema check skipped: Grafana JSON schemas not found: {tmp_path}" in result.stderr
