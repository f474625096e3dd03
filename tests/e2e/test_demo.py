"""`make demo` (python -m tools.demo.stack) and `make backfill`, run as a user runs them."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import Prometheus, require_binaries, wait_for
from tests.e2e.user_queries import unanswered, user_queries
from tools._repo import REPO
from tools.demo import backfill
from tools.demo.net import free_port, http_get, port_is_free
from tools.demo.processes import Process
from tools.demo.stack import DEFAULT_PORTS, port_env


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (children in their own sessions included)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def demo_env(ports: dict[str, int]) -> dict[str, str]:
    return {**os.environ, **{port_env(s): str(p) for s, p in ports.items()}}


#: The promise of `make demo` on an empty data directory (issue 16) is that every query of the
#: guide and docs/queries.md and every dashboard panel answers within a minute of the command on
#: an idle machine (docs/demo.md has the measurements; this test prints its own). What it asserts
#: is that they all answer from the demo's own start, with room for a machine whose cores are
#: busy: the deadline is a bound for a hang, not the promise.
DEADLINE_SECONDS = 300.0


@pytest.mark.timeout(DEADLINE_SECONDS + 300)
def test_demo_answers_every_query_from_its_own_start_and_stops_everything_on_ctrl_c(
    tmp_path: Path,
):
    require_binaries()
    queries = user_queries()
    ports = {service: free_port() for service in DEFAULT_PORTS}
    prometheus = Prometheus(f"http://127.0.0.1:{ports['prometheus']}")
    # What `make demo` runs (its default history included), on an empty data directory.
    started = time.monotonic()
    runner = subprocess.Popen(
        [sys.executable, "-m", "tools.demo.stack", "--no-grafana", f"--data-dir={tmp_path}"],
        cwd=REPO,
        env=demo_env(ports),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(iter(runner.stdout.readline, "")))
    reader.start()
    children: set[int] = set()
    try:
        ready: float | None = None
        missing: list[str] = ["(Prometheus never became ready)"]
        while time.monotonic() - started < DEADLINE_SECONDS and runner.poll() is None:
            if ready is None:
                with contextlib.suppress(OSError):
                    if http_get(f"{prometheus.url}/-/ready")[0] == 200:
                        ready = time.monotonic() - started
            else:
                missing = unanswered(prometheus.query, queries, prometheus.exemplars)
                if not missing:
                    break
            time.sleep(0.5)
        answered = time.monotonic() - started
        assert not missing, (
            f"{len(missing)} of {len(queries)} queries without data {answered:.0f}s after the "
            f"command (Prometheus ready after {ready}s):\n" + "\n".join(missing) + "\n"
            "demo output:\n" + "".join(output)
        )
        print(
            f"Prometheus ready after {ready:.1f}s, {len(queries)} queries answered after "
            f"{answered:.1f}s"
        )

        wait_for("the banner", lambda: "Press Ctrl-C" in "".join(output), timeout=30)
        banner = "".join(output)
        assert "history: writing the last 6 hours of the healthy workload" in banner
        assert "history: written in" in banner
        for service in ("prometheus", "alertmanager", "simulator", "receiver"):
            assert f"127.0.0.1:{ports[service]}" in banner
        assert "No Grafana binary found" in banner  # and how to import the dashboards
        children = descendants(runner.pid)
        assert len(children) >= 4, children
        # The demo's Prometheus scrapes the simulator and the shipped alerts are loaded.
        wait_for(
            "the simulator scraped",
            lambda: prometheus.query('up{job="narra_forge"} == 1'),
            timeout=120,
        )
        rules = prometheus.api("rules")["groups"]
        assert any(r.get("name") == "Watchdog" for g in rules for r in g["rules"])
        # The history is there, in the same series as the live scrape (one `up` for both).
        an_hour_ago = time.time() - 3600
        history = prometheus.query(
            'sum(increase(narra_forge_pipeline_total{job="narra_forge"}[1h]))', at=an_hour_ago
        )
        assert history
        assert float(history[0]["value"][1]) > 20
        spend = prometheus.query(":narra_forge_cost_usd:increase1h", at=an_hour_ago)
        assert spend
        up = prometheus.query('count_over_time(up{job="narra_forge"}[7h])')
        assert [series["metric"]["instance"] for series in up] == [
            f"127.0.0.1:{ports['simulator']}"
        ]
        assert float(up[0]["value"][1]) > 150  # six hours at the history's 2-minute step, and more
        # A healthy history pages nobody: nothing fires but Watchdog.
        assert not prometheus.query('ALERTS{alertstate="firing", alertname!="Watchdog"}')
    finally:
        runner.send_signal(signal.SIGINT)
        try:
            runner.wait(timeout=60)
        finally:
            if runner.poll() is None:
                runner.kill()
                runner.wait()
            reader.join(timeout=10)
    assert runner.returncode == 0, "".join(output)
    assert "nothing left running" in "".join(output)
    left = [pid for pid in children if alive(pid)]
    assert not left, f"processes left behind: {left}"
    assert all(port_is_free(port) for port in ports.values() if port != ports["grafana"])


def test_demo_names_a_taken_port_and_how_to_change_it(tmp_path: Path):
    require_binaries()
    ports = {service: free_port() for service in DEFAULT_PORTS}
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", ports["prometheus"]))
        squatter.listen()
        result = subprocess.run(
            [sys.executable, "-m", "tools.demo.stack", "--no-grafana", f"--data-dir={tmp_path}"],
            cwd=REPO,
            env=demo_env(ports),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert f"prometheus: port {ports['prometheus']} is in use" in result.stderr
    assert "--prometheus-port" in result.stderr
    assert "NARRA_FORGE_PROMETHEUS_PORT" in result.stderr
    assert not any(p.exists() for p in (tmp_path / "prometheus", tmp_path / "alertmanager"))


def test_backfill_writes_hours_of_history_that_prometheus_serves(tmp_path: Path):
    require_binaries()
    end = 1_767_225_600  # 2026-01-01T00:00:00Z, on a two-hour block boundary
    hours = 6
    data = tmp_path / "prometheus"
    code = backfill.main(["--days", str(hours / 24), "--data-dir", str(data), "--end", str(end)])
    assert code == 0
    server, prometheus = _serve(data, tmp_path)
    try:
        # The demo's default load: a pipeline about every minute, so about 60 an hour.
        finished = prometheus.query(
            f"sum(increase(narra_forge_pipeline_total[{hours - 1}h]))", at=end
        )
        per_hour = float(finished[0]["value"][1]) / (hours - 1)
        assert 35 < per_hour < 90
        # The recording rules were backfilled too, over the same range, with the demo's
        # healthy spend: under the $10/hour budget, not zero.
        spend = prometheus.query(":narra_forge_cost_usd:increase1h", at=end - 3600)
        assert 1 < float(spend[0]["value"][1]) < 10
        p95 = prometheus.query(
            "production_type:narra_forge_pipeline_duration_seconds:p95_5m", at=end - 1800
        )
        assert p95, "no backfilled P95 recording rule samples"
        # Series carry the labels a live scrape would have.
        up = prometheus.query('up{job="narra_forge"}', at=end - 600)
        assert up
        assert up[0]["metric"]["instance"] == "127.0.0.1:8000"
        status, body = http_get(f"{prometheus.url}/api/v1/status/tsdb")
        assert status == 200
        assert json.loads(body)["status"] == "success"
    finally:
        server.stop()


def _serve(data: Path, tmp_path: Path) -> tuple[Process, Prometheus]:
    port = free_port()
    config = tmp_path / "empty.yml"
    config.write_text("global: {}\n")
    server = Process(
        "prometheus",
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=3650d",
        ],
        tmp_path / "prometheus.log",
    )
    try:
        server.wait_ready(f"http://127.0.0.1:{port}/-/ready", timeout=120)
    except BaseException:
        server.stop()
        raise
    return server, Prometheus(f"http://127.0.0.1:{port}")


def test_backfill_of_several_instances_writes_one_block_per_two_hours_for_all_of_them(
    tmp_path: Path,
):
    require_binaries()
    end = 1_767_225_600
    data = tmp_path / "prometheus"
    argv = ["--days", str(4 / 24), "--step", "60", "--instances", "3", "--no-rules", "--quiet"]
    code = backfill.main([*argv, "--data-dir", str(data), "--end", str(end)])
    assert code == 0
    # The three instances' chunks of a block are imported together: two-hour blocks that do
    # not overlap (promtool would otherwise write three overlapping blocks per two hours).
    spans = sorted(
        (meta["minTime"], meta["maxTime"])
        for meta in (json.loads(p.read_text()) for p in data.glob("*/meta.json"))
    )
    assert all(high <= low for (_, high), (low, _) in itertools.pairwise(spans))
    assert all(high - low <= 2 * 3600 * 1000 for low, high in spans)
    server, prometheus = _serve(data, tmp_path)
    try:
        ups = prometheus.query(f'count_over_time(up{{job="narra_forge"}}[{4 * 60 - 1}m])', at=end)
        # Each instance scraped every 60 s for four hours, no gap: 240 samples in a 239-minute
        # window (Prometheus 2.x includes both of its ends).
        assert {s["metric"]["instance"]: s["value"][1] for s in ups} == {
            "127.0.0.1:8000": "240",
            "127.0.0.1:8001": "240",
            "127.0.0.1:8002": "240",
        }
        # Each its own workload (seed + 1 each): the same load, not the same history.
        runs = prometheus.query(
            "sum by (instance) (increase(narra_forge_pipeline_total[4h]))", at=end
        )
        totals = [float(s["value"][1]) for s in runs]
        assert len(totals) == 3
        assert len(set(totals)) == 3
        assert min(totals) > 100
    finally:
        server.stop()
