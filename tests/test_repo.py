"""``tools/_repo.py``: where a binary is, with its override honoured the same way everywhere."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tools._repo import REPO, BinaryNotFoundError, find_command, shown, which


def executable(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_the_override_wins_over_path(tmp_path):
    mine = executable(tmp_path, "my-promtool")
    env = {"PROMTOOL": str(mine), "PATH": os.environ["PATH"]}
    assert find_command("promtool", env) == [str(mine)]


def test_an_override_may_carry_arguments(tmp_path):
    executable(tmp_path, "docker")
    env = {"DOCKER_COMPOSE": "docker compose", "PATH": str(tmp_path)}
    assert find_command("docker-compose", env) == [str(tmp_path / "docker"), "compose"]


def test_an_override_equal_to_the_bare_name_means_path_decides(tmp_path):
    """The Makefile exports PROMTOOL=promtool when none is on PATH."""
    found = executable(tmp_path, "promtool")
    assert find_command("promtool", {"PROMTOOL": "promtool", "PATH": str(tmp_path)}) == [str(found)]


def test_a_wrong_override_is_named_not_silently_replaced_by_path(tmp_path):
    executable(tmp_path, "amtool")
    env = {"AMTOOL": "/nonexistent/amtool", "PATH": str(tmp_path)}
    with pytest.raises(BinaryNotFoundError, match="AMTOOL='/nonexistent/amtool'"):
        find_command("amtool", env)


def test_debians_alertmanager_name_is_found_first_then_upstreams(tmp_path):
    upstream = executable(tmp_path, "alertmanager")
    assert which("alertmanager", {"PATH": str(tmp_path)}) == [str(upstream)]
    debian = executable(tmp_path, "prometheus-alertmanager")
    assert which("alertmanager", {"PATH": str(tmp_path)}) == [str(debian)]


def test_a_missing_binary_says_which_package_and_which_variable(tmp_path):
    assert which("prometheus", {"PATH": str(tmp_path)}) is None
    with pytest.raises(BinaryNotFoundError) as error:
        find_command("prometheus", {"PATH": str(tmp_path)})
    assert str(error.value) == (
        "prometheus not found (looked for prometheus on PATH): run `make setup` "
        "(Debian package prometheus) or set PROMETHEUS=/path/to/prometheus"
    )


def test_paths_are_shown_relative_to_the_repository_when_inside_it(tmp_path):
    assert shown(REPO / "monitoring" / "thresholds.yml") == "monitoring/thresholds.yml"
    assert shown(tmp_path / "x.yml") == str(tmp_path / "x.yml")


def test_the_demo_extra_pins_what_dev_pins():
    # `make demo` installs [demo] alone on a fresh clone: the same versions as the tests run.
    tomllib = pytest.importorskip("tomllib")
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert set(extras["demo"]) <= set(extras["dev"])
