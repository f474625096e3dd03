"""The HA pair's configuration (tools/prometheus/ha.py): made from prometheus.yml, accepted by
promtool, and every piece that makes two replicas one pair checked by ``ha.problems``."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools._repo import REPO, find_command
from tools.prometheus import ha

SHIPPED = yaml.safe_load((REPO / ha.OUTPUT).read_text())


def test_shipped_ha_config_is_the_generators_and_has_no_problem():
    assert (REPO / ha.OUTPUT).read_text() == ha.render()
    assert ha.problems(SHIPPED, "prometheus-ha.yml") == []


def test_replicas_keep_prometheus_yml_and_add_the_pair():
    base = yaml.safe_load((REPO / "monitoring/prometheus/prometheus.yml").read_text())
    labels = SHIPPED["global"]["external_labels"]
    assert labels == {
        **base["global"]["external_labels"],
        "cluster": "narra-forge",
        "replica": "${PROMETHEUS_REPLICA}",
    }
    assert SHIPPED["rule_files"] == base["rule_files"]
    assert SHIPPED["global"]["scrape_interval"] == base["global"]["scrape_interval"]
    targets = SHIPPED["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert targets == ["alertmanager:9093", "alertmanager-b:9093", "alertmanager-c:9093"]
    drop = {"action": "labeldrop", "regex": "replica"}
    assert SHIPPED["alerting"]["alert_relabel_configs"] == [drop]
    assert SHIPPED["remote_write"] == [
        {"url": "http://victoriametrics:8428/api/v1/write", "write_relabel_configs": [drop]}
    ]
    jobs = {job["job_name"]: job for job in SHIPPED["scrape_configs"]}
    assert set(jobs) == {j["job_name"] for j in base["scrape_configs"]} | {"victoriametrics"}
    assert jobs["prometheus"]["static_configs"][0]["targets"] == [
        "prometheus:9090",
        "prometheus-b:9090",
    ]


def test_a_job_or_rule_file_added_to_prometheus_yml_reaches_the_pair(tmp_path: Path):
    base = yaml.safe_load((REPO / "monitoring/prometheus/prometheus.yml").read_text())
    shipped_rules = list(base["rule_files"])
    base["rule_files"].append("team_rules.yml")
    base["scrape_configs"].append({"job_name": "node", "static_configs": [{"targets": ["n:1"]}]})
    source = tmp_path / "prometheus.yml"
    source.write_text(yaml.safe_dump(base))
    rendered = yaml.safe_load(ha.render(source))
    assert rendered["rule_files"] == [*shipped_rules, "team_rules.yml"]
    assert "node" in [job["job_name"] for job in rendered["scrape_configs"]]
    assert ha.problems(rendered, "x") == []


@pytest.mark.parametrize("replica", ["a", "b"])
def test_promtool_accepts_it_as_each_replica_runs_it(replica: str):
    result = subprocess.run(
        [*find_command("promtool"), "check", "config", str(REPO / ha.OUTPUT)],
        capture_output=True,
        text=True,
        env={"PROMETHEUS_REPLICA": replica, "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _broken(edit: Any) -> list[str]:
    config = copy.deepcopy(SHIPPED)
    edit(config)
    return ha.problems(config, "prometheus-ha.yml")


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda c: c["global"]["external_labels"].pop("replica"), "external label replica"),
        (lambda c: c["global"]["external_labels"].pop("cluster"), "external label cluster"),
        (lambda c: c["alerting"].pop("alert_relabel_configs"), "alert_relabel_configs must drop"),
        (lambda c: c["remote_write"][0].pop("write_relabel_configs"), "remote_write[0]"),
        (lambda c: c.pop("remote_write"), "no remote_write"),
        (
            lambda c: c["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"].pop(),
            "does not send to Alertmanager alertmanager-c",
        ),
        (
            lambda c: c["scrape_configs"][1]["static_configs"][0].update(
                targets=["localhost:9090"]
            ),
            "no scrape job scrapes replica prometheus",
        ),
    ],
)
def test_each_missing_piece_of_the_pair_is_named(edit: Any, fragment: str):
    found = _broken(edit)
    assert [f for f in found if fragment in f], found
