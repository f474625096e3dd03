"""Multiprocess mode: worker processes write, one ``/metrics`` serves the sum, over real HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from narra_forge.monitoring import __version__, mark_process_dead, start_metrics_server
from tools._repo import REPO

# What one gunicorn worker does: record through the default registry, with the multiprocess
# directory set before prometheus-client is imported. "crash" dies in the middle of a pipeline,
# leaving its live gauge behind, as a killed worker would.
WORKER = textwrap.dedent(
    """
    import os, sys
    from narra_forge.monitoring import MetricsCollector

    metrics = MetricsCollector()
    with metrics.track_pipeline("novel", "fantasy"):
        with metrics.track_agent("a06_sequential_generator", "gpt-4o"):
            with metrics.track_api_call("gpt-4o", "a06_sequential_generator"):
                pass
    metrics.record_usage("gpt-4o", "a06_sequential_generator", 10_000, 500, cached_tokens=9_000)
    if sys.argv[1] == "crash":
        metrics.track_pipeline("novel", "fantasy").__enter__()
        sys.stdout.flush()
        os._exit(1)
    """
)


def process_pid(directory: Path, exclude: set[int]) -> int:
    pids = {int(p.stem.rsplit("_", 1)[1]) for p in directory.glob("gauge_livesum_*.db")}
    (pid,) = pids - exclude
    return pid


def scrape(url: str) -> dict[tuple[str, frozenset], float]:
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def key(name: str, **labels: str) -> tuple[str, frozenset]:
    return name, frozenset(labels.items())


def test_three_workers_are_summed_and_a_dead_workers_gauge_is_forgotten(tmp_path, monkeypatch):
    directory = tmp_path / "multiproc"
    directory.mkdir()
    seen: set[int] = set()
    pids = []
    for mode in ("ok", "ok", "crash"):
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(REPO / "src"), env.get("PYTHONPATH")])
        )
        done = subprocess.run(
            [sys.executable, "-c", WORKER, mode],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == (1 if mode == "crash" else 0), done.stderr
        pid = process_pid(directory, seen)
        seen.add(pid)
        pids.append(pid)

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    server = start_metrics_server(port=0, addr="127.0.0.1")
    try:
        before = scrape(server.url)
        mark_process_dead(pids[-1])  # what gunicorn's child_exit hook does
        after = scrape(server.url)
    finally:
        server.close()

    pipeline = {"production_type": "novel", "genre": "fantasy"}
    assert before[key("narra_forge_pipeline_total", **pipeline, status="success")] == 3
    assert before[key("narra_forge_pipeline_total", **pipeline, status="failed")] == 0
    calls = {"model": "gpt-4o", "agent_id": "a06_sequential_generator"}
    assert before[key("narra_forge_api_calls_total", **calls)] == 3
    assert before[key("narra_forge_api_errors_total", model="gpt-4o", error_type="timeout")] == 0
    assert before[key("narra_forge_cost_usd_total", **calls)] == pytest.approx(3 * 0.01875)
    prompt = {"model": "gpt-4o", "token_type": "prompt"}
    assert before[key("narra_forge_tokens_used_total", **prompt)] == 30_000
    assert before[key("narra_forge_jobs_active")] == 1  # the crashed worker's unfinished job
    assert after[key("narra_forge_jobs_active")] == 0
    assert before[key("narra_forge_build_info", version=__version__)] == 1  # max, not a sum
    assert not [name for name, _ in before if name.endswith("_created")]
