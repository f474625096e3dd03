"""The runner's Grafana path. No Grafana can be installed here (Debian has no package), so a
stand-in ``grafana-server`` on PATH answers /api/health and records how it was started; the
provisioning it is given is the repository's, with addresses rewritten, and is checked here."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import yaml

from tools.demo.net import free_port
from tools.demo.stack import DEFAULT_PORTS, GRAFANA_DIR, Stack, StackOptions

STAND_IN = """#!{python}
import json, os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
env = {{k: v for k, v in os.environ.items() if k.startswith("GF_")}}
with open({record!r}, "w") as out:
    json.dump({{"argv": sys.argv, "env": env}}, out)
class Health(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/api/health" else 404)
        self.end_headers()
        self.wfile.write(b'{{"database": "ok"}}')
    def log_message(self, *args):
        pass
address = (env["GF_SERVER_HTTP_ADDR"], int(env["GF_SERVER_HTTP_PORT"]))
HTTPServer(address, Health).serve_forever()
"""


def test_grafana_is_started_with_rewritten_provisioning_when_a_binary_exists(
    tmp_path: Path, monkeypatch
):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "grafana-start.json"
    fake = bin_dir / "grafana-server"
    fake.write_text(STAND_IN.format(python=sys.executable, record=str(record)))
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    ports = {service: free_port() for service in DEFAULT_PORTS}
    with Stack(StackOptions(data_dir=tmp_path / "data", ports=ports)) as stack:
        assert "grafana" in stack.processes
        banner = stack.banner()
        started = json.loads(record.read_text())
        prometheus_yml = yaml.safe_load(
            (stack.config_dir / "prometheus" / "prometheus.yml").read_text()
        )
    assert f"http://127.0.0.1:{ports['grafana']}" in banner
    assert "No Grafana binary found" not in banner
    env = started["env"]
    assert env["GF_SERVER_HTTP_ADDR"] == "127.0.0.1"
    assert env["GF_SERVER_HTTP_PORT"] == str(ports["grafana"])
    assert env["GF_USERS_ALLOW_SIGN_UP"] == "false"
    provisioning = Path(env["GF_PATHS_PROVISIONING"])
    datasources = yaml.safe_load((provisioning / "datasources" / "datasources.yml").read_text())
    urls = {d["uid"]: d["url"] for d in datasources["datasources"]}
    assert urls["narra-forge-prometheus"] == f"http://127.0.0.1:{ports['prometheus']}"
    assert urls["narra-forge-alertmanager"] == f"http://127.0.0.1:{ports['alertmanager']}"
    dashboards = yaml.safe_load((provisioning / "dashboards" / "dashboards.yml").read_text())
    assert dashboards["providers"][0]["options"]["path"] == str(GRAFANA_DIR / "dashboards")
    grafana_job = [j for j in prometheus_yml["scrape_configs"] if j["job_name"] == "grafana"]
    assert grafana_job[0]["static_configs"][0]["targets"] == [f"127.0.0.1:{ports['grafana']}"]
