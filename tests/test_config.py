"""``tools/config.py`` agrees with the files it names: the scrape job in prometheus.yml and the
dashboard files Grafana loads."""

from __future__ import annotations

import json

import yaml

from tools._repo import REPO
from tools.config import DASHBOARDS, JOB


def test_the_job_is_the_apps_scrape_job_in_prometheus_yml():
    config = yaml.safe_load((REPO / "monitoring/prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert JOB in jobs
    assert jobs[JOB]["file_sd_configs"][0]["files"] == [f"targets/{JOB}*.yml"]


def test_each_dashboard_file_carries_its_uid_and_title():
    for board in DASHBOARDS.values():
        data = json.loads((REPO / "monitoring/grafana/dashboards" / board.file).read_text())
        assert (data["uid"], data["title"]) == (board.uid, f"NARRA_FORGE {board.title}")
