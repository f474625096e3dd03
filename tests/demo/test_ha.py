"""`make demo-ha` (tools/demo/ha.py): ports and their overrides, the native copy of
prometheus-ha.yml, the Alertmanager cluster flags, and the runner as a user runs it (real
binaries: it starts, prints every address, and Ctrl-C leaves nothing running)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.e2e.conftest import require_binaries, wait_for
from tests.e2e.test_demo import alive, descendants
from tools._repo import REPO, find_command
from tools.demo.ha import HA_PORTS, HaOptions, HaStack
from tools.demo.net import free_port, http_get, port_is_free
from tools.demo.stack import DEFAULT_PORTS, Stack, StackOptions, port_env, port_flag
from tools.prometheus import ha

PORTS = {service: 20000 + index for index, service in enumerate(HA_PORTS)}


def stack(tmp_path: Path, **options: object) -> HaStack:
    return HaStack(HaOptions(data_dir=tmp_path, ports=dict(PORTS), grafana=False, **options))  # type: ignore[arg-type]


def test_issue_ports_and_the_receiver_moved_off_the_second_alertmanager():
    assert {s: HA_PORTS[s] for s in ("prometheus", "prometheus-b")} == {
        "prometheus": 9090,
        "prometheus-b": 9091,
    }
    assert [HA_PORTS[am] for am in ha.ALERTMANAGERS] == [9093, 9095, 9097]
    assert [HA_PORTS[f"{am}-cluster"] for am in ha.ALERTMANAGERS] == [9094, 9096, 9098]
    assert HA_PORTS["victoriametrics"] == 8428
    assert DEFAULT_PORTS["receiver"] == HA_PORTS["alertmanager-b"]  # why it moved
    assert len(set(HA_PORTS.values())) == len(HA_PORTS)
    assert port_env("alertmanager-b-cluster") == "NARRA_FORGE_ALERTMANAGER_B_CLUSTER_PORT"
    assert port_flag("alertmanager-b-cluster") == "--alertmanager-b-cluster-port"


def test_each_alertmanager_gossips_with_the_two_others(tmp_path: Path):
    s = stack(tmp_path, peer_timeout="2s")
    flags = s.cluster_flags("alertmanager-b")
    assert f"--cluster.listen-address=127.0.0.1:{PORTS['alertmanager-b-cluster']}" in flags
    peers = sorted(f for f in flags if f.startswith("--cluster.peer="))
    assert peers == sorted(
        f"--cluster.peer=127.0.0.1:{PORTS[f'{am}-cluster']}"
        for am in ("alertmanager", "alertmanager-c")
    )
    assert "--cluster.peer-timeout=2s" in flags


def test_replicas_and_store_flags(tmp_path: Path):
    s = stack(tmp_path)
    argv, ready = s._argv("prometheus-b")
    assert ha.FEATURE_FLAG in argv
    assert any(a.endswith("/prometheus-ha.yml") for a in argv)
    assert ready == f"http://127.0.0.1:{PORTS['prometheus-b']}/-/ready"
    assert s._env("prometheus-b") == {"PROMETHEUS_REPLICA": "b"}
    assert s._env("prometheus") == {"PROMETHEUS_REPLICA": "a"}
    store, _ = s._argv("victoriametrics")
    assert "-dedup.minScrapeInterval=15s" in store  # prometheus-ha.yml's scrape_interval


def test_native_copy_of_the_ha_config_points_at_the_native_pair(tmp_path: Path):
    s = stack(tmp_path)
    s.write_configs()
    config = yaml.safe_load((tmp_path / "config/prometheus/prometheus-ha.yml").read_text())
    assert config["remote_write"][0]["url"] == (
        f"http://127.0.0.1:{PORTS['victoriametrics']}/api/v1/write"
    )
    targets = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert targets == [f"127.0.0.1:{PORTS[am]}" for am in ha.ALERTMANAGERS]
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    assert jobs["prometheus"]["static_configs"][0]["targets"] == [
        f"127.0.0.1:{PORTS[r]}" for r in ha.REPLICAS
    ]
    assert config["global"]["external_labels"]["replica"] == "${PROMETHEUS_REPLICA}"
    result = subprocess.run(
        [
            *find_command("promtool"),
            "check",
            "config",
            "--syntax-only",
            str(tmp_path / "config/prometheus/prometheus-ha.yml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _rows_received(port: int) -> float:
    _, body = http_get(f"http://127.0.0.1:{port}/metrics")
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in body.decode().splitlines()
        if line.startswith('vm_rows_inserted_total{type="promremotewrite"}')
    )


def _listening(pids: set[int], port: int) -> int:
    """The process among ``pids`` started to listen on ``port`` (from its command line)."""
    for pid in pids:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"--web.listen-address=127.0.0.1:{port}".encode() in argv:
            return pid
    raise AssertionError(f"no process listens on {port} among {pids}")


def _read_until(runner: subprocess.Popen[str], output: list[str], text: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and runner.stdout:
        line = runner.stdout.readline()
        if not line:
            break
        output.append(line)
        if text in line:
            return "".join(output[-3:])
    raise AssertionError(f"{text!r} not printed; output:\n{''.join(output)}")


def _env(ports: dict[str, int]) -> dict[str, str]:
    return {**os.environ, **{port_env(s): str(p) for s, p in ports.items()}}


def test_a_taken_cluster_port_is_named_with_its_override(tmp_path: Path):
    require_binaries()
    ports = {service: free_port() for service in HA_PORTS}
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", ports["alertmanager-b-cluster"]))
        squatter.listen()
        result = subprocess.run(
            [sys.executable, "-m", "tools.demo.ha", "--no-grafana", f"--data-dir={tmp_path}"],
            cwd=REPO,
            env=_env(ports),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2, result.stderr
    assert f"alertmanager-b-cluster: port {ports['alertmanager-b-cluster']} is in use" in (
        result.stderr
    )
    assert "--alertmanager-b-cluster-port" in result.stderr
    assert "NARRA_FORGE_ALERTMANAGER_B_CLUSTER_PORT" in result.stderr


def test_demo_ha_runs_and_ctrl_c_stops_everything(tmp_path: Path):
    require_binaries()
    find_command("victoria-metrics")
    ports = {service: free_port() for service in HA_PORTS}
    runner = subprocess.Popen(
        [sys.executable, "-m", "tools.demo.ha", "--no-grafana", f"--data-dir={tmp_path}"],
        cwd=REPO,
        env=_env(ports),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = runner.stdout.readline() if runner.stdout else ""
            if not line:
                break
            output.append(line)
            if "Press Ctrl-C" in line:
                break
        banner = "".join(output)
        assert "Press Ctrl-C" in banner, banner
        for service in ("prometheus", "prometheus-b", *ha.ALERTMANAGERS, "victoriametrics"):
            assert f"127.0.0.1:{ports[service]}" in banner, service
        children = descendants(runner.pid)
        assert len(children) >= 8, children
        # The replicas remote-write from their first scrape (VictoriaMetrics' queries hide the
        # last 30 s: its own counter of rows received says it sooner).
        wait_for(
            "rows remote-written into VictoriaMetrics",
            lambda: _rows_received(ports["victoriametrics"]) > 0,
            timeout=90,
        )
        # Losing replica a is what the pair is for: the runner says so and carries on.
        replica_a = _listening(children, ports["prometheus"])
        os.kill(replica_a, signal.SIGKILL)
        warning = _read_until(runner, output, "carry on", timeout=30)
        assert "prometheus exited" in warning
        assert "prometheus-b carry on" in warning
        assert runner.poll() is None
        runner.send_signal(signal.SIGINT)
        runner.wait(timeout=60)
        output.append(runner.stdout.read() if runner.stdout else "")
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    assert runner.returncode == 0, "".join(output)
    assert "nothing left running" in "".join(output)
    assert not [pid for pid in children if alive(pid)]
    assert all(port_is_free(port) for service, port in ports.items() if service != "grafana")


def test_grafana_gets_the_long_term_datasource_only_where_victoriametrics_runs(tmp_path: Path):
    single = Stack(StackOptions(data_dir=tmp_path / "one", grafana=False))
    single._write_grafana_provisioning()
    datasources = tmp_path / "one/config/grafana/provisioning/datasources"
    assert (datasources / "datasources.yml").exists()
    assert not (datasources / "long-term.yml").exists()

    pair = stack(tmp_path / "ha")
    pair._write_grafana_provisioning()
    text = (tmp_path / "ha/config/grafana/provisioning/datasources/long-term.yml").read_text()
    assert f"url: http://127.0.0.1:{PORTS['victoriametrics']}" in text


def test_the_one_alertmanager_config_of_the_three_peers_passes_amtool(tmp_path: Path):
    s = stack(tmp_path)
    s.write_configs()
    config = tmp_path / "config/alertmanager.yml"
    result = subprocess.run(
        [*find_command("amtool"), "check-config", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # Each peer is started on that same file.
    for am in ha.ALERTMANAGERS:
        argv, _ = s._argv(am)
        assert f"--config.file={config}" in argv
