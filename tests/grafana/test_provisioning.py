"""Grafana provisioning: the datasources and the dashboard provider, and how they fit the
Prometheus config and the compose file that mount them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tools._repo import REPO
from tools.grafana.dashboards import DIRECTORY

PROVISIONING = REPO / "monitoring/grafana/provisioning"


def datasources() -> dict[str, dict]:
    data = yaml.safe_load((PROVISIONING / "datasources/datasources.yml").read_text())
    assert data["apiVersion"] == 1
    return {source["type"]: source for source in data["datasources"]}


def test_prometheus_datasource_is_the_fixed_default_with_post_and_the_scrape_interval():
    prometheus = datasources()["prometheus"]
    assert prometheus["uid"] == "narra-forge-prometheus"
    assert prometheus["url"] == "http://prometheus:9090"
    assert prometheus["isDefault"] is True
    assert prometheus["access"] == "proxy"
    assert prometheus["jsonData"]["httpMethod"] == "POST"
    assert prometheus["jsonData"]["timeInterval"] == "15s"
    assert prometheus["jsonData"]["alertmanagerUid"] == "narra-forge-alertmanager"


def test_alertmanager_datasource():
    alertmanager = datasources()["alertmanager"]
    assert alertmanager["uid"] == "narra-forge-alertmanager"
    assert alertmanager["url"] == "http://alertmanager:9093"
    assert alertmanager["jsonData"]["implementation"] == "prometheus"
    assert not alertmanager.get("isDefault")


def test_time_interval_equals_prometheus_scrape_interval():
    config = REPO / "monitoring/prometheus/prometheus.yml"
    if not config.exists():
        pytest.skip("monitoring/prometheus/prometheus.yml does not exist yet")
    scrape = yaml.safe_load(config.read_text())["global"]["scrape_interval"]
    assert datasources()["prometheus"]["jsonData"]["timeInterval"] == scrape


def test_dashboard_provider_loads_the_repository_files_read_only_into_one_folder():
    data = yaml.safe_load((PROVISIONING / "dashboards/dashboards.yml").read_text())
    [provider] = data["providers"]
    assert provider["type"] == "file"
    assert provider["folder"] == "NARRA_FORGE"
    assert provider["allowUiUpdates"] is False
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


def compose_volumes(service: str) -> dict[str, tuple[str, bool]]:
    """Container path -> (host path, read-only) for a compose service's bind mounts."""
    compose = REPO / "docker-compose.monitoring.yml"
    if not compose.exists():
        pytest.skip("docker-compose.monitoring.yml does not exist yet")
    volumes = yaml.safe_load(compose.read_text())["services"][service].get("volumes", [])
    mounts = {}
    for volume in volumes:
        if isinstance(volume, str):
            source, target, *mode = volume.split(":")
            mounts[target] = (source, "ro" in mode)
        else:
            mounts[volume["target"]] = (volume.get("source", ""), bool(volume.get("read_only")))
    return mounts


def test_compose_mounts_provisioning_and_dashboards_where_the_provider_looks():
    mounts = compose_volumes("grafana")
    source, read_only = mounts["/etc/grafana/provisioning"]
    assert (REPO / source).resolve() == PROVISIONING.resolve()
    assert read_only
    source, read_only = mounts["/var/lib/grafana/dashboards"]
    assert (REPO / source).resolve() == (REPO / DIRECTORY).resolve()
    assert read_only


def test_datasource_urls_name_compose_services_on_their_container_ports():
    compose = REPO / "docker-compose.monitoring.yml"
    if not compose.exists():
        pytest.skip("docker-compose.monitoring.yml does not exist yet")
    services = yaml.safe_load(compose.read_text())["services"]
    for source in datasources().values():
        host_port = source["url"].removeprefix("http://")
        host, port = host_port.split(":")
        assert host in services, source["name"]
        assert any(str(p).endswith(f":{port}") for p in services[host].get("ports", [])), host


def test_provisioning_files_are_plain_yaml_without_secrets():
    for path in Path(PROVISIONING).rglob("*.yml"):
        text = path.read_text()
        assert "password" not in text.lower(), path
        assert "secureJsonData" not in text, path


def test_long_term_datasource_is_offered_by_every_dashboards_datasource_variable():
    """VictoriaMetrics answers the Prometheus API, so it is a `prometheus` datasource, and each
    dashboard's `datasource` variable (any datasource of that type) lists it."""
    data = yaml.safe_load((PROVISIONING / "datasources/long-term.yml").read_text())
    (long_term,) = data["datasources"]
    assert long_term["name"] == "long-term"
    assert long_term["type"] == "prometheus"
    assert long_term["url"] == "http://victoriametrics:8428"
    assert long_term["isDefault"] is False  # the replicas' Prometheus stays the default
    assert (
        long_term["jsonData"]["timeInterval"]
        == datasources()["prometheus"]["jsonData"]["timeInterval"]
    )
    metric_boards = [
        board
        for board in (json.loads(p.read_text()) for p in sorted(DIRECTORY.glob("*.json")))
        if any(
            target.get("datasource", {}).get("type") == "prometheus"
            for panel in board["panels"]
            for target in panel.get("targets", [])
        )
    ]
    assert len(metric_boards) >= 5  # every dashboard but Logs reads Prometheus
    for board in metric_boards:
        path = DIRECTORY / f"{board['uid']}"
        variables = {v["name"]: v for v in board["templating"]["list"]}
        variable = variables["datasource"]
        assert variable["type"] == "datasource"
        assert variable["query"] == long_term["type"], path.name
        assert variable["regex"] == "", path.name
