"""prometheus.yml: the contract with compose and the native runner, and a real Prometheus."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tools.demo.net import free_port, http_get
from tools.demo.processes import Process
from tools.prometheus.lint import CONFIG, RULE_FILES, RULES, Promtool

TARGETS = CONFIG.parent / "targets" / "narra_forge.yml"


def config() -> dict:
    return yaml.safe_load(CONFIG.read_text())


def test_scrape_and_evaluation_every_15s_with_external_labels():
    g = config()["global"]
    assert g["scrape_interval"] == "15s"
    assert g["evaluation_interval"] == "15s"
    assert g["external_labels"] == {"monitor": "narra-forge"}


def test_rules_and_alertmanager_are_where_the_containers_expect_them():
    c = config()
    assert c["rule_files"] == ["alerts.yml", "slo_rules.yml"]
    (alertmanagers,) = c["alerting"]["alertmanagers"]
    assert alertmanagers["static_configs"] == [{"targets": ["alertmanager:9093"]}]
    assert "retention" not in json.dumps(c)  # a flag, not a setting: promtool rejects it


def test_the_four_jobs_and_file_discovered_app_targets():
    jobs = {job["job_name"]: job for job in config()["scrape_configs"]}
    assert set(jobs) == {"narra_forge", "prometheus", "alertmanager", "grafana"}
    (file_sd,) = jobs["narra_forge"]["file_sd_configs"]
    assert file_sd["files"] == ["targets/narra_forge*.yml"]
    assert yaml.safe_load(TARGETS.read_text()) == [{"targets": ["host.docker.internal:8000"]}]
    assert jobs["alertmanager"]["static_configs"] == [{"targets": ["alertmanager:9093"]}]
    assert jobs["grafana"]["static_configs"] == [{"targets": ["grafana:3000"]}]


def test_promtool_accepts_the_config_with_its_rule_file():
    ok, output = Promtool.find().run(["check", "config", str(CONFIG)], [CONFIG])
    assert ok, output
    assert "SUCCESS: 2 rule files found" in output


def wait_for(url: str, ready: Callable[[dict], bool], timeout: float = 60.0) -> dict:
    """Poll a Prometheus API URL until ``ready(data)``; no timing is asserted."""
    deadline = time.monotonic() + timeout
    data: dict = {}
    while time.monotonic() < deadline:
        status, body = http_get(url)
        if status == 200:
            data = json.loads(body)["data"]
            if ready(data):
                return data
        time.sleep(0.2)
    pytest.fail(f"{url} never became ready; last answer: {data}")


@pytest.fixture
def prometheus(tmp_path: Path):
    """The real Prometheus binary on a copy of the repository's config, on a free port.

    Only the addresses change (as the native runner does): every target points at a closed
    port on 127.0.0.1, so the test never looks up or contacts another host.
    """
    port, closed = free_port(), free_port()
    addresses = {
        "localhost:9090": f"127.0.0.1:{port}",
        "alertmanager:9093": f"127.0.0.1:{closed}",
        "grafana:3000": f"127.0.0.1:{closed}",
        "host.docker.internal:8000": f"127.0.0.1:{closed}",
    }
    folder = tmp_path / "prometheus"
    shutil.copytree(CONFIG.parent, folder, ignore=shutil.ignore_patterns("tests"))
    for path in (folder / "prometheus.yml", folder / "targets" / "narra_forge.yml"):
        text = path.read_text()
        for old, new in addresses.items():
            text = text.replace(old, new)
        path.write_text(text)
    assert (folder / "alerts.yml").read_text() == RULES.read_text()
    process = Process(
        "prometheus",
        [
            "prometheus",
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        tmp_path / "prometheus.log",
    )
    try:
        process.wait_ready(f"http://127.0.0.1:{port}/-/ready")
        yield f"http://127.0.0.1:{port}", addresses["host.docker.internal:8000"]
    finally:
        process.stop()


def test_a_real_prometheus_loads_every_rule_group_and_discovers_every_job(prometheus):
    prometheus, app = prometheus
    groups = {
        g["name"]: path.name
        for path in RULE_FILES
        for g in yaml.safe_load(path.read_text())["groups"]
    }
    loaded = wait_for(f"{prometheus}/api/v1/rules", lambda d: len(d["groups"]) == len(groups))
    assert {g["name"]: g["file"].rsplit("/", 1)[-1] for g in loaded["groups"]} == groups
    documents = [yaml.safe_load(path.read_text()) for path in RULE_FILES]
    rules = sum(len(g["rules"]) for document in documents for g in document["groups"])
    assert sum(len(g["rules"]) for g in loaded["groups"]) == rules
    targets = wait_for(
        f"{prometheus}/api/v1/targets?state=active",
        lambda d: len({t["labels"]["job"] for t in d["activeTargets"]}) == 4,
    )
    by_job = {t["labels"]["job"]: t for t in targets["activeTargets"]}
    assert by_job["narra_forge"]["labels"]["instance"] == app
    assert by_job["narra_forge"]["discoveredLabels"]["__meta_filepath"].endswith(
        "targets/narra_forge.yml"
    )
