"""End-to-end fixtures: real Prometheus, Alertmanager, simulator and receiver, natively.

Each stack is ``tools.demo.stack.Stack`` (what ``make demo`` runs) on free ports in a temp dir, with
the repository's configs. What differs from the demo is timing only, and said here:
- alerts.yml is rendered by the same renderer from ``fast_thresholds.yml`` (short `for`s, and
  cost budgets scaled to the test's arrival rate);
- scrape and evaluation every second, Alertmanager's group_wait 1s / group_interval 2s /
  repeat_interval 10s, Prometheus's alert resend delay 1s;
- the simulator runs 300x faster than real time with a pipeline every second (faster, and a
  loaded machine's event-loop lag, multiplied by the speed, would inflate recorded durations).

The stacks start together (in threads) when the first test needs them, so their warm-up overlaps,
and stop after the last test of this folder, whose tests of them run last: eight Prometheus
evaluating every second would otherwise take a core from every test that runs after them, the
demo's and the HA pair's included. Under pytest-xdist every test that uses them runs in one
worker (tests/conftest.py), so they start once.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from tools._repo import BinaryNotFoundError, find_command
from tools.demo.native_config import Timing
from tools.demo.net import http_get, http_post
from tools.demo.stack import DEFAULT_PORTS, Stack, StackOptions
from tools.demo.workload import SCENARIOS
from tools.prometheus import render, slos

TEST_THRESHOLDS = Path(__file__).with_name("fast_thresholds.yml")
TIMING = Timing(
    scrape_interval="1s",
    evaluation_interval="1s",
    group_wait="1s",
    group_interval="2s",
    repeat_interval="10s",
    resend_delay="1s",
)
#: Simulated seconds per wall second, and arrivals per wall hour (one a second).
SPEED = 300.0
PIPELINES_PER_HOUR = 3600.0

#: The stacks that load the SLO rules: healthy (the SLOs dashboard's panels, and no SLO alert
#: when all is well) and slow_burn (the ticket). Elsewhere they would only cost CPU: their
#: windows up to 30 days, evaluated every second, make each Prometheus several times busier.
SLO_STACKS = frozenset({"healthy", "slow_burn"})

T = TypeVar("T")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    e2e = [i for i, item in enumerate(items) if _is_e2e(item)]
    for index in e2e:
        items[index].add_marker(pytest.mark.e2e)
    # The tests of the scenario stacks last and together: the stacks start at the first of them
    # and stop after the last, so the demo and HA tests (timed against a minute) never share the
    # machine with them. Stable: each part keeps its file order.
    ordered = sorted((items[i] for i in e2e), key=lambda item: "stacks" in _fixtures(item))
    for index, item in zip(e2e, ordered, strict=True):
        items[index] = item


def _is_e2e(item: pytest.Item) -> bool:
    return "tests/e2e/" in str(item.path).replace("\\", "/")


def _fixtures(item: pytest.Item) -> list[str]:
    return list(getattr(item, "fixturenames", ()))


def wait_for(
    what: str, probe: Callable[[], T | None], timeout: float = 90.0, every: float = 0.5
) -> T:
    """Poll until ``probe()`` returns something truthy; fail naming ``what`` and the last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; last: {last!r}")


class Prometheus:
    """The Prometheus HTTP API of a stack."""

    def __init__(self, url: str) -> None:
        self.url = url

    def api(self, path: str, **params: Any) -> Any:
        query = urllib.parse.urlencode(params)
        status, body = http_get(f"{self.url}/api/v1/{path}?{query}", timeout=30)
        payload = json.loads(body)
        if status != 200 or payload.get("status") != "success":
            raise AssertionError(f"GET /api/v1/{path} {params}: HTTP {status}: {payload}")
        return payload["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self.api("query", **params)
        result = data["result"]
        return result if data["resultType"] in ("vector", "matrix") else [{"value": result}]

    def exemplars(self, expr: str, seconds: float = 3600) -> list[dict[str, Any]]:
        """The series with exemplars in the last ``seconds`` that Grafana's exemplar request
        for ``expr`` gets (Prometheus matches the expression's selectors)."""
        now = time.time()
        data = self.api(
            "query_exemplars", query=expr, start=f"{now - seconds:.3f}", end=f"{now + 60:.3f}"
        )
        return [series for series in data or () if series.get("exemplars")]

    def alerts(self, state: str | None = None) -> list[dict[str, Any]]:
        alerts = self.api("alerts")["alerts"]
        return [a for a in alerts if state is None or a["state"] == state]

    def firing(self, name: str) -> list[dict[str, Any]]:
        return [a for a in self.alerts("firing") if a["labels"]["alertname"] == name]


class Receiver:
    def __init__(self, url: str) -> None:
        self.url = url

    def received(self) -> list[dict[str, Any]]:
        status, body = http_get(f"{self.url}/received")
        assert status == 200, body
        return json.loads(body)

    def clear(self) -> None:
        http_post(f"{self.url}/received", method="DELETE")

    def webhook_alerts(self, path_prefix: str = "/webhook/") -> list[dict[str, Any]]:
        return [
            alert
            for item in self.received()
            if item["path"].startswith(path_prefix)
            for alert in item["body"].get("alerts", [])
        ]

    def messages(self, path: str) -> list[dict[str, Any]]:
        return [item["body"] for item in self.received() if item["path"] == path]


class RunningStack:
    """A started stack and clients for its APIs."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.prometheus = Prometheus(stack.url("prometheus"))
        self.receiver = Receiver(stack.url("receiver"))
        self.alertmanager_url = stack.url("alertmanager")
        self.simulator_url = stack.url("simulator")
        self.started_at = time.time()

    def alertmanager_alerts(self) -> list[dict[str, Any]]:
        status, body = http_get(f"{self.alertmanager_url}/api/v2/alerts")
        assert status == 200, body
        return json.loads(body)


def render_test_rules(out: Path) -> Path:
    # Rollups every 5 s instead of 5 minutes, so the time-range totals have records at once.
    argv = ["--thresholds", str(TEST_THRESHOLDS), "--rollup-interval", "5s", "--out", str(out)]
    code = render.main(argv)
    assert code == 0, f"rendering {TEST_THRESHOLDS} failed"
    return out


def require_binaries() -> None:
    for name in ("prometheus", "alertmanager", "promtool"):
        try:
            find_command(name)
        except BinaryNotFoundError as error:
            pytest.fail(f"end-to-end tests need {name}: {error}", pytrace=False)


@pytest.fixture(scope="session")
def test_alerts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_test_rules(tmp_path_factory.mktemp("rules") / "alerts.yml")


def render_test_slo_rules(out: Path) -> Path:
    """The shipped SLOs with their SLI groups every second instead of every minute, so the
    records exist within seconds. The windows (5m to 30d) stay: a test stack minutes old has
    all its history in every window from 30m up, so what a test can show is the path (records,
    a ticket without a page, routing), not the timing of a 3-day window."""
    code = slos.main(["--group-interval", "1s", "--out", str(out)])
    assert code == 0, "rendering the SLO rules failed"
    return out


@pytest.fixture(scope="session")
def test_slo_rules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_test_slo_rules(tmp_path_factory.mktemp("slo_rules") / "slo_rules.yml")


def _options(
    data_dir: Path, scenario: str, alerts: Path, slo_rules: Path | None = None
) -> StackOptions:
    return StackOptions(
        data_dir=data_dir,
        ports=dict.fromkeys(DEFAULT_PORTS, 0),
        scenario=scenario,
        speed=SPEED,
        pipelines_per_hour=PIPELINES_PER_HOUR,
        seed=7,
        alerts_file=alerts,
        slo_rules_file=slo_rules,
        timing=TIMING,
        grafana=False,
        simulator_args=("--max-concurrent=16", "--log-level=WARNING"),
    )


@pytest.fixture(scope="package")
def stacks(
    tmp_path_factory: pytest.TempPathFactory, test_alerts: Path, test_slo_rules: Path
) -> Iterator[dict[str, RunningStack]]:
    """One stack per scenario, started in parallel: ``healthy``, ``failing`` (pipeline_failures)
    and one named after each other scenario."""
    require_binaries()
    wanted = {"healthy": "healthy", "failing": "pipeline_failures"}
    wanted.update({name: name for name in SCENARIOS if name not in wanted.values()})
    built = {
        key: Stack(
            _options(
                tmp_path_factory.mktemp(key),
                scenario,
                test_alerts,
                test_slo_rules if key in SLO_STACKS else None,
            )
        )
        for key, scenario in wanted.items()
    }
    errors: dict[str, BaseException] = {}

    def start(key: str) -> None:
        try:
            built[key].start()
        except BaseException as error:
            errors[key] = error

    threads = [threading.Thread(target=start, args=(key,)) for key in built]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        if errors:
            raise RuntimeError(f"stacks failed to start: {errors}")
        yield {key: RunningStack(stack) for key, stack in built.items()}
    finally:
        for stack in built.values():
            stack.stop()


@pytest.fixture(scope="package")
def healthy(stacks: dict[str, RunningStack]) -> RunningStack:
    return stacks["healthy"]


@pytest.fixture(scope="package")
def failing(stacks: dict[str, RunningStack]) -> RunningStack:
    return stacks["failing"]


def thresholds_test_document() -> dict[str, Any]:
    return yaml.safe_load(TEST_THRESHOLDS.read_text())
