"""``/metrics`` inside a FastAPI app, served by real uvicorn (and by gunicorn with
uvicorn-worker's worker class), exactly as docs/instrumentation.md shows it; the
troubleshooting page's ``curl`` command run against it."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tools.demo.net import free_port

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "instrumentation.md"
TROUBLESHOOTING = REPO / "docs" / "troubleshooting.md"


def fastapi_lines() -> str:
    """The FastAPI lines of the guide's "Inside your own web server" block."""
    block = re.search(r"# FastAPI / Starlette \(ASGI\)\n(.*?)\n\n", GUIDE.read_text(), re.S)
    assert block, "docs/instrumentation.md: the FastAPI / Starlette snippet is gone"
    return block.group(1)


def app_source() -> str:
    return "\n".join(
        [
            "from fastapi import FastAPI",
            "from narra_forge.monitoring import MetricsCollector",
            "app = FastAPI()",
            "metrics = MetricsCollector()",
            fastapi_lines(),
            "",
            "@app.get('/produce')",
            "async def produce():",
            "    with metrics.track_pipeline('novel', 'fantasy'):",
            "        pass",
            "    return {'pid': __import__('os').getpid()}",
            "",
        ]
    )


def request(port: int, path: str) -> tuple[int, dict[str, str], str]:
    """One GET, redirects *not* followed (as `curl -s` does)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        connection.close()


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except Exception as error:
            last = error
        else:
            if last:
                return last
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; last: {last!r}")


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[list[str], dict[str, str]], int]]:
    processes: list[subprocess.Popen[bytes]] = []
    (tmp_path / "app.py").write_text(app_source())

    def _serve(command: list[str], env: dict[str, str]) -> int:
        port = free_port()
        environment = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(tmp_path), str(REPO / "src"), os.environ.get("PYTHONPATH")])
            ),
            **env,
        }
        argv = [sys.executable, "-m", *[part.replace("{port}", str(port)) for part in command]]
        log = open(tmp_path / "server.log", "ab")  # noqa: SIM115 - closed with the process
        processes.append(
            subprocess.Popen(
                argv,
                cwd=tmp_path,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        log.close()
        wait_for("the app", lambda: request(port, "/produce")[0] == 200)
        return port

    yield _serve
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)


def runs(body: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
        if sample.name == "narra_forge_pipeline_total" and sample.labels["status"] == "success"
    )


def test_fastapi_under_uvicorn_answers_200_at_metrics(
    serve: Callable[[list[str], dict[str, str]], int],
) -> None:
    port = serve(["uvicorn", "app:app", "--host", "127.0.0.1", "--port", "{port}"], {})
    status, headers, body = request(port, "/metrics")
    assert status == 200, (status, headers.get("location"))
    assert headers["content-type"].startswith("text/plain")
    assert runs(body) == 1
    assert request(port, "/produce")[0] == 200
    assert runs(request(port, "/metrics")[2]) == 2


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_the_troubleshooting_curl_command_prints_the_info_lines(
    serve: Callable[[list[str], dict[str, str]], int],
) -> None:
    port = serve(["uvicorn", "app:app", "--host", "127.0.0.1", "--port", "{port}"], {})
    command = next(
        line.strip()
        for line in TROUBLESHOOTING.read_text().splitlines()
        if line.strip().startswith("curl -s http://localhost:8000/metrics | grep -E")
    )
    done = subprocess.run(
        ["/bin/sh", "-c", command.replace("localhost:8000", f"127.0.0.1:{port}")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = done.stdout.splitlines()
    assert any(line.startswith("narra_forge_build_info{") for line in lines), done
    assert any(line.startswith("narra_forge_pricing_info{") for line in lines), done


def test_gunicorn_with_uvicorn_workers_as_documented(
    serve: Callable[[list[str], dict[str, str]], int], tmp_path: Path
) -> None:
    """The guide's command: gunicorn -k uvicorn_worker.UvicornWorker, the hooks' gunicorn.conf.py,
    /metrics from the master merging both workers."""
    guide = GUIDE.read_text()
    assert "-k uvicorn_worker.UvicornWorker" in guide
    assert "-k uvicorn.workers.UvicornWorker" not in guide  # deprecated in uvicorn
    (tmp_path / "gunicorn.conf.py").write_text(
        "from narra_forge.monitoring.gunicorn_hooks import child_exit, on_starting, when_ready\n"
    )
    metrics_port = free_port()
    port = serve(
        [
            "gunicorn",
            "-c",
            "gunicorn.conf.py",
            "-w",
            "2",
            "-k",
            "uvicorn_worker.UvicornWorker",
            "-b",
            "127.0.0.1:{port}",
            "app:app",
        ],
        {
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "multiproc"),
            "NARRA_FORGE_METRICS_PORT": str(metrics_port),
            "NARRA_FORGE_METRICS_ADDR": "127.0.0.1",
        },
    )
    pids: set[str] = set()

    def both_workers() -> bool:
        pids.add(request(port, "/produce")[2])
        return len(pids) >= 2

    wait_for("both workers answering", both_workers)
    total = len(pids)  # at least one more /produce per distinct pid seen, plus the first
    status, _, body = request(metrics_port, "/metrics")
    assert status == 200
    assert runs(body) >= total
