"""Real gunicorn, several workers, multiprocess mode: what a deploy does to ``/metrics``.

gunicorn runs in its own process group on free ports of 127.0.0.1, with the configuration the
docs show (``narra_forge.monitoring.gunicorn_hooks``: ``/metrics`` served by the master, dead
workers marked). Everything is polled with generous deadlines; nothing asserts a duration.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from prometheus_client.parser import text_string_to_metric_families

from narra_forge.monitoring import __version__
from tools.demo.net import free_port

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")

# A WSGI app whose pricing table version is read from a file at import, as a deploy would ship
# new prices: each worker records one usage per request.
APP = textwrap.dedent(
    """
    import os
    from pathlib import Path

    from narra_forge.monitoring import DEFAULT_PRICING, MetricsCollector, PricingTable

    VERSION = Path(os.environ["PRICES_FILE"]).read_text().strip()
    metrics = MetricsCollector(pricing=PricingTable(VERSION, DEFAULT_PRICING.prices))


    def app(environ, start_response):
        metrics.record_usage("gpt-4o", "a01_brief_interpreter", 100, 10)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"{os.getpid()} {VERSION}".encode()]
    """
)

# The README's single-process snippet, served by `gunicorn -w 2`: every worker tries to start
# the metrics server on the same port.
README_APP = textwrap.dedent(
    """
    import os

    from narra_forge.monitoring import MetricsCollector, start_metrics_server

    metrics = MetricsCollector()
    server = start_metrics_server(port=int(os.environ["METRICS_PORT"]), addr="127.0.0.1")


    def app(environ, start_response):
        with metrics.track_pipeline("novel", "fantasy"):
            pass
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(os.getpid()).encode()]
    """
)

# docs/instrumentation.md, "Several processes": the whole gunicorn.conf.py.
CONF = "from narra_forge.monitoring.gunicorn_hooks import child_exit, on_starting, when_ready\n"


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 90.0) -> T:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            value = probe()
        except Exception as error:  # not up yet: keep polling, report the last failure
            last = error
        else:
            last = value
            if value:
                return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; last: {last!r}")


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        body: bytes = response.read()
        return body.decode()


def samples(url: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(get(url))
        for sample in family.samples
        if sample.name == name
    }


class Gunicorn:
    def __init__(self, folder: Path, app: str, workers: int, env: dict[str, str]) -> None:
        self.folder = folder
        (folder / "app.py").write_text(app)
        (folder / "gunicorn.conf.py").write_text(CONF)
        self.multiproc = folder / "multiproc"
        self.port = free_port()
        self.metrics_port = free_port()
        self.log = folder / "gunicorn.log"
        environment = {
            **os.environ,
            "PROMETHEUS_MULTIPROC_DIR": str(self.multiproc),
            "NARRA_FORGE_METRICS_PORT": str(self.metrics_port),
            "NARRA_FORGE_METRICS_ADDR": "127.0.0.1",
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(folder), str(REPO / "src"), os.environ.get("PYTHONPATH")])
            ),
            **env,
        }
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "-c",
                    str(folder / "gunicorn.conf.py"),
                    "-w",
                    str(workers),
                    "-b",
                    f"127.0.0.1:{self.port}",
                    "--graceful-timeout",
                    "10",
                    "--chdir",
                    str(folder),
                    "app:app",
                ],
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Gunicorn]]:
    started: list[Gunicorn] = []

    def _start(app: str, workers: int = 2, **env: str) -> Gunicorn:
        server = Gunicorn(tmp_path, app, workers, env)
        started.append(server)
        return server

    yield _start
    for server in started:
        server.stop()


def test_after_a_hup_reload_with_new_prices_only_the_live_version_is_shown(
    start: Callable[..., Gunicorn], tmp_path: Path
) -> None:
    prices = tmp_path / "prices.txt"
    prices.write_text("2025-01")
    server = start(APP, workers=2, PRICES_FILE=str(prices))

    def versions() -> dict[str, float]:
        found = samples(server.metrics_url, "narra_forge_pricing_info")
        return {dict(labels)["version"]: value for labels, value in found.items()}

    wait_for("the app", lambda: get(server.url))
    assert wait_for("pricing_info 2025-01", lambda: versions() == {"2025-01": 1.0})

    prices.write_text("2025-06")
    os.kill(server.process.pid, signal.SIGHUP)  # the deploy: new workers, new prices
    wait_for("new workers with the 2025-06 prices", lambda: get(server.url).endswith(" 2025-06"))
    last: dict[str, float] = {}

    def only_new() -> bool:
        nonlocal last
        last = versions()
        return last == {"2025-06": 1.0}

    try:
        wait_for("pricing_info of live workers only", only_new, timeout=90)
    except AssertionError:
        raise AssertionError(f"narra_forge_pricing_info after the reload: {last}") from None
    build = samples(server.metrics_url, "narra_forge_build_info")
    assert build == {(("version", __version__),): 1.0}
    assert server.alive(), server.output()


def test_the_readme_snippet_under_two_workers_keeps_serving(start: Callable[..., Gunicorn]) -> None:
    """Each worker calls start_metrics_server on one port: the second finds it taken. The app
    must keep running (log and continue), never take the master down."""
    metrics_port = free_port()
    server = start(README_APP, workers=2, METRICS_PORT=str(metrics_port))
    wait_for("the app", lambda: get(server.url))
    pids = set()

    def both_workers() -> bool:
        pids.add(get(server.url))
        return len(pids) >= 2

    wait_for("both workers answering", both_workers, timeout=90)
    assert server.alive(), server.output()
    # One of them serves /metrics, and in multiprocess mode it shows both workers' runs.
    url = f"http://127.0.0.1:{metrics_port}/metrics"

    def runs() -> float:
        found = samples(url, "narra_forge_pipeline_total")
        return sum(value for labels, value in found.items() if ("status", "success") in labels)

    wait_for("every run on /metrics", lambda: runs() >= len(pids) and runs())
    assert "Address already in use" in server.output() or "already in use" in server.output()
    assert server.alive(), server.output()
