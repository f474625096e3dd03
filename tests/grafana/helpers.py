"""Helpers for the dashboard tests: the committed files, and finding a panel to break."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tools._repo import REPO
from tools.grafana.dashboards import DIRECTORY
from tools.grafana.queries import iter_panels

DASHBOARD_FILES = sorted((REPO / DIRECTORY).glob("*.json"))


def load(name: str) -> dict[str, Any]:
    """A fresh copy of a committed dashboard, e.g. ``load("cost_tracking")``."""
    return json.loads((REPO / DIRECTORY / f"{name}.json").read_text())


def panel(board: dict[str, Any], title: str) -> dict[str, Any]:
    """The panel with this title (fails the test, naming the title, when there is none)."""
    for candidate in iter_panels(board):
        if candidate.get("title") == title:
            return candidate
    raise AssertionError(f"no panel titled {title!r} in {board.get('uid')}")


def panels_with_targets(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    return (p for p in iter_panels(board) if p.get("targets"))


def committed() -> dict[str, dict[str, Any]]:
    """Every committed dashboard by its repository-relative path, as independent copies."""
    return {
        str(path.relative_to(REPO)): copy.deepcopy(json.loads(path.read_text()))
        for path in DASHBOARD_FILES
    }


def relpath(name: str) -> str:
    return str(DIRECTORY / f"{name}.json")


def repo_path(name: str) -> Path:
    return REPO / DIRECTORY / f"{name}.json"
