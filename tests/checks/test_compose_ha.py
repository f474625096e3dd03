"""docker-compose.ha.yml merged onto docker-compose.monitoring.yml, checked without a container
engine (tools/checks/compose_ha.py): the shipped pair is clean, and each broken copy of the
override yields one finding naming the service and what is wrong."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools.checks.compose import COMPOSE_FILE, ENV_FILE, HA_FILE, REPO, lint, main
from tools.checks.compose_ha import lint_ha

Edit = Callable[[dict[str, Any]], None]


def test_shipped_override_passes_every_check():
    assert lint_ha(COMPOSE_FILE, HA_FILE) == []


def test_base_file_alone_may_name_the_long_term_store_only_through_grafana():
    assert lint() == []
    findings = lint(ha_file=None)
    assert len(findings) == 1, findings
    assert "long-term" in findings[0]
    assert "no service victoriametrics" in findings[0]


def test_version_of_the_store_is_pinned_in_env():
    assert "\nVICTORIA_METRICS_VERSION=v" in ENV_FILE.read_text()
    assert "${VICTORIA_METRICS_VERSION" in HA_FILE.read_text()


def _findings(tmp_path: Path, edit: Edit) -> list[str]:
    document = yaml.safe_load(HA_FILE.read_text())
    edit(document)
    path = tmp_path / "docker-compose.ha.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return lint_ha(COMPOSE_FILE, path, ENV_FILE, project_dir=REPO)


def _command(service: str, edit: Callable[[list[str]], list[str]]) -> Edit:
    def apply(document: dict[str, Any]) -> None:
        spec = document["services"][service]
        spec["command"] = edit(list(spec["command"]))

    return apply


def _drop_alertmanager_c(document: dict[str, Any]) -> None:
    document["services"].pop("alertmanager-c")
    # The replicas' depends_on is one YAML anchor: one object for both.
    document["services"]["prometheus"]["depends_on"].pop("alertmanager-c")


def _without(prefix: str) -> Callable[[list[str]], list[str]]:
    return lambda command: [c for c in command if not c.startswith(prefix)]


@pytest.mark.parametrize(
    ("edit", "fragments"),
    [
        (
            _command("alertmanager-c", _without("--cluster.peer=alertmanager-b")),
            ("service alertmanager-c", "--cluster.peer=alertmanager-b:9094 is missing"),
        ),
        (
            _command("alertmanager-b", _without("--cluster.listen-address")),
            ("service alertmanager-b", "gossips with none"),
        ),
        (
            lambda d: d["services"]["prometheus-b"]["environment"].update(PROMETHEUS_REPLICA="a"),
            ("service prometheus-b", "PROMETHEUS_REPLICA is 'a'"),
        ),
        (
            _command("prometheus-b", _without("--enable-feature")),
            ("service prometheus-b", "expand-external-labels is missing"),
        ),
        (
            _command(
                "prometheus",
                lambda c: [
                    "--config.file=/etc/prometheus/prometheus.yml" if "--config.file" in x else x
                    for x in c
                ],
            ),
            ("service prometheus", "not monitoring/prometheus/prometheus-ha.yml"),
        ),
        (
            _command(
                "victoriametrics",
                lambda c: ["-dedup.minScrapeInterval=30s" if "dedup" in x else x for x in c],
            ),
            ("service victoriametrics", "-dedup.minScrapeInterval is 30s"),
        ),
        (
            _drop_alertmanager_c,
            ("2 Alertmanager(s)", "the HA shape has three"),
        ),
        (
            lambda d: d["services"]["victoriametrics"]["ports"].__setitem__(
                0, "${VICTORIA_METRICS_PORT:-8428}:8428"
            ),
            ("service victoriametrics", "published on every address"),
        ),
    ],
)
def test_each_broken_piece_of_the_override_is_named(
    tmp_path: Path, edit: Edit, fragments: tuple[str, ...]
):
    findings = _findings(tmp_path, edit)
    matching = [f for f in findings if all(fragment in f for fragment in fragments)]
    assert matching, findings


def test_command_line_checks_both_and_says_so(capsys: pytest.CaptureFixture[str]):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "docker-compose.ha.yml: valid" in out
