"""The native copy of prometheus.yml: only addresses (and test timings) differ, and the real
promtool accepts it."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tools._repo import BinaryNotFoundError, find_command
from tools.demo.native_config import (
    PROMETHEUS_DIR,
    SLO_RULES,
    Addresses,
    ConfigError,
    Timing,
    prometheus_config,
    write_files,
)

ADDRESSES = Addresses(
    prometheus="127.0.0.1:19090",
    alertmanager="127.0.0.1:19093",
    simulator="127.0.0.1:18000",
    receiver="127.0.0.1:19095",
)
ALERTS = Path("monitoring/prometheus/alerts.yml")


def tool(name: str) -> str:
    try:
        return find_command(name)[0]
    except BinaryNotFoundError as error:
        pytest.fail(str(error), pytrace=False)


def test_prometheus_copy_points_every_target_at_the_native_processes(tmp_path: Path):
    files = prometheus_config(ADDRESSES, ALERTS)
    write_files(tmp_path, files)
    text = "\n".join(files.values())
    for container in ("alertmanager:9093", "grafana:3000", "host.docker.internal", "localhost:"):
        assert container not in text
    config = yaml.safe_load(files[Path("prometheus.yml")])
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    # No Grafana natively here: its job is dropped rather than left always down.
    assert jobs == {"narra_forge", "prometheus", "alertmanager"}
    # The alerts and the SLO rules, by absolute path: the copy lives elsewhere.
    assert config["rule_files"] == [str(ALERTS.resolve()), str(SLO_RULES.resolve())]
    targets = yaml.safe_load((tmp_path / "targets" / "narra_forge.yml").read_text())
    assert targets[0]["targets"] == ["127.0.0.1:18000"]
    # Everything but addresses is the shipped file's.
    shipped = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    assert config["global"] == shipped["global"]
    result = subprocess.run(
        [tool("promtool"), "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_grafana_job_kept_when_grafana_runs():
    with_grafana = dataclasses.replace(ADDRESSES, grafana="127.0.0.1:13000")
    config = yaml.safe_load(prometheus_config(with_grafana, ALERTS)[Path("prometheus.yml")])
    grafana = [job for job in config["scrape_configs"] if job["job_name"] == "grafana"]
    assert grafana[0]["static_configs"][0]["targets"] == ["127.0.0.1:13000"]


def test_test_timing_shortens_only_intervals():
    config = yaml.safe_load(
        prometheus_config(
            ADDRESSES, ALERTS, Timing(scrape_interval="1s", evaluation_interval="2s")
        )[Path("prometheus.yml")]
    )
    assert config["global"]["scrape_interval"] == "1s"
    assert config["global"]["evaluation_interval"] == "2s"
    assert config["global"]["external_labels"] == {"monitor": "narra-forge"}


def test_an_address_the_runner_does_not_know_is_refused_by_name(tmp_path: Path):
    shutil.copytree(PROMETHEUS_DIR, tmp_path / "prometheus")
    config = tmp_path / "prometheus" / "prometheus.yml"
    config.write_text(config.read_text().replace("grafana:3000", "loki:3100"))
    with pytest.raises(ConfigError, match=r"job grafana: target 'loki:3100'"):
        prometheus_config(ADDRESSES, ALERTS, source_dir=tmp_path / "prometheus")
