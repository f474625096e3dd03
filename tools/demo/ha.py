"""Run the HA stack natively: `make demo-ha`.

    python -m tools.demo.ha [--scenario healthy] [--prometheus-b-port 9091] ...

What ``make demo`` runs (``tools/demo/stack.py``), grown into the shape of
``docs/operations.md`` "High availability": two Prometheus replicas (9090 and 9091) on the one
generated ``monitoring/prometheus/prometheus-ha.yml``, told apart by ``PROMETHEUS_REPLICA``
(``a``, ``b``); three Alertmanagers (9093, 9095, 9097) gossiping on 9094, 9096, 9098 as one
cluster; VictoriaMetrics (8428) receiving both replicas' remote_write and deduplicating them
(``-dedup.minScrapeInterval`` = the scrape interval). Both replicas send every alert to all
three Alertmanagers. The receiver moves to 9099, because 9095 is the second Alertmanager's.

Start order: receiver, the three Alertmanagers (then until their cluster counts three peers:
a replica must find them all), simulator, VictoriaMetrics (the replicas write to it from their
first scrape), the replicas, Grafana when installed. Ctrl-C stops everything. Every port has
a flag and an environment variable, as in ``make demo`` (``--alertmanager-b-cluster-port``,
``NARRA_FORGE_ALERTMANAGER_B_CLUSTER_PORT``); a taken port is named with both.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import yaml

from tools._repo import REPO, find_command
from tools.demo.net import http_get
from tools.demo.processes import Process, StartError
from tools.demo.stack import (
    GRAFANA_DIR,
    Stack,
    StackOptions,
    add_common_arguments,
    common_options,
    supervise,
)
from tools.demo.workload import SCENARIOS
from tools.prometheus import ha

#: Service -> default port; ``<alertmanager>-cluster`` is that Alertmanager's gossip port.
HA_PORTS: Mapping[str, int] = {
    # Not 9095 as in `make demo`: that is the second Alertmanager's here.
    "receiver": 9099,
    "mail": 9025,
    "alertmanager": 9093,
    "alertmanager-cluster": 9094,
    "alertmanager-b": 9095,
    "alertmanager-b-cluster": 9096,
    "alertmanager-c": 9097,
    "alertmanager-c-cluster": 9098,
    "simulator": 8000,
    "victoriametrics": 8428,
    "prometheus": 9090,
    "prometheus-b": 9091,
    "grafana": 3000,
}

#: Apart from make demo's .data/: a replica must not continue a single Prometheus's TSDB.
DEFAULT_HA_DATA_DIR = REPO / ".data" / "ha"

#: Long-term storage keeps a year (Prometheus's own TSDB keeps 30 days, as in make demo).
LONG_TERM_RETENTION = "1y"


@dataclass
class HaOptions(StackOptions):
    data_dir: Path = DEFAULT_HA_DATA_DIR
    ports: dict[str, int] = field(default_factory=lambda: dict(HA_PORTS))
    #: Alertmanager's --cluster.peer-timeout (15s): how long the n-th peer waits for the ones
    #: before it to notify. Tests shorten it; None keeps Alertmanager's default.
    peer_timeout: str | None = None
    #: VictoriaMetrics' -search.latencyOffset (30s): the newest samples it hides from queries.
    #: Tests shorten it to compare answers with Prometheus's up to now.
    latency_offset: str | None = None
    #: How long to wait for the Alertmanagers to see each other before starting Prometheus.
    cluster_timeout: float = 60.0


class HaStack(Stack):
    """Two Prometheus replicas, three clustered Alertmanagers, VictoriaMetrics."""

    default_ports: ClassVar[Mapping[str, int]] = HA_PORTS
    binaries: ClassVar[tuple[str, ...]] = ("prometheus", "alertmanager", "victoria-metrics")
    prometheus_config_name: ClassVar[str] = ha.OUTPUT.name

    options: HaOptions

    def __init__(self, options: HaOptions) -> None:
        super().__init__(options)

    def other_addresses(self) -> dict[str, str]:
        services = [*ha.REPLICAS, *ha.ALERTMANAGERS, ha.LONG_TERM]
        return {s: self.address(s) for s in services}

    def order(self) -> list[str]:
        services = [
            "receiver",
            *ha.ALERTMANAGERS,
            "simulator",
            ha.LONG_TERM,
            *ha.REPLICAS,
            "grafana",
        ]
        return [s for s in services if s in self.ports]

    def dedup_interval(self) -> str:
        """VictoriaMetrics keeps one sample per series per this interval: the scrape interval
        of the config the replicas run (a test's shorter one included)."""
        if self.options.timing.scrape_interval:
            return self.options.timing.scrape_interval
        return ha.scrape_interval(yaml.safe_load((REPO / ha.OUTPUT).read_text()) or {})

    def _argv(self, service: str) -> tuple[list[str], str]:
        if service in ha.ALERTMANAGERS:
            return self.alertmanager_argv(service, self.cluster_flags(service))
        if service in ha.REPLICAS:
            return self.prometheus_argv(service, ha.FEATURE_FLAG)
        if service == ha.LONG_TERM:
            argv = [
                *find_command("victoria-metrics"),
                f"-httpListenAddr={self.address(service)}",
                f"-storageDataPath={self.data_dir / service}",
                f"-retentionPeriod={LONG_TERM_RETENTION}",
                f"-dedup.minScrapeInterval={self.dedup_interval()}",
            ]
            if self.options.latency_offset:
                argv.append(f"-search.latencyOffset={self.options.latency_offset}")
            return argv, f"{self.url(service)}/health"
        return super()._argv(service)

    def survivors(self, service: str) -> list[str]:
        for group in (tuple(ha.REPLICAS), ha.ALERTMANAGERS):
            if service in group:
                return [s for s in group if s != service and s in self.processes]
        return []

    def cluster_flags(self, service: str) -> list[str]:
        """Gossip on the loopback: listen and advertise on this peer's port, join the others."""
        own = f"127.0.0.1:{self.ports[f'{service}-cluster']}"
        flags = [f"--cluster.listen-address={own}", f"--cluster.advertise-address={own}"]
        flags += [
            f"--cluster.peer=127.0.0.1:{self.ports[f'{peer}-cluster']}"
            for peer in ha.ALERTMANAGERS
            if peer != service
        ]
        if self.options.peer_timeout:
            flags.append(f"--cluster.peer-timeout={self.options.peer_timeout}")
        return flags

    def _env(self, service: str) -> dict[str, str]:
        if service in ha.REPLICAS:
            return {ha.REPLICA_ENV: ha.REPLICAS[service]}
        return super()._env(service)

    def grafana_rewrites(self) -> dict[str, str]:
        return {f"http://{ha.LONG_TERM}:{ha.LONG_TERM_PORT}": self.url(ha.LONG_TERM)}

    def start_service(self, service: str, timeout: float = 60.0) -> Process:
        process = super().start_service(service, timeout)
        if service == ha.ALERTMANAGERS[-1]:
            self.wait_for_cluster()
        return process

    def cluster_peers(self, service: str) -> int:
        """How many peers (itself included) an Alertmanager sees; 0 when it does not answer."""
        try:
            status, body = http_get(f"{self.url(service)}/api/v2/status", timeout=2)
        except OSError:
            return 0
        if status != 200:
            return 0
        cluster = json.loads(body).get("cluster") or {}
        return len(cluster.get("peers") or [])

    def wait_for_cluster(self) -> None:
        """Until every Alertmanager counts all of them: a notification evaluated before that
        would be sent by each alone."""
        deadline = time.monotonic() + self.options.cluster_timeout
        wanted = len(ha.ALERTMANAGERS)
        seen: dict[str, int] = {}
        while time.monotonic() < deadline:
            seen = {am: self.cluster_peers(am) for am in ha.ALERTMANAGERS}
            if all(count == wanted for count in seen.values()):
                return
            time.sleep(0.2)
        raise StartError(
            f"the Alertmanagers did not form a cluster of {wanted} within "
            f"{self.options.cluster_timeout:g}s (peers seen: {seen}); see "
            f"{self.log_dir}/alertmanager*.log"
        )

    def banner(self) -> str:
        rows = [
            ("Prometheus a", f"{self.url('prometheus')}  (replica=a)"),
            ("Prometheus b", f"{self.url('prometheus-b')}  (replica=b)"),
            *(
                (
                    f"Alertmanager {am.rpartition('-')[2] if '-' in am else 'a'}",
                    f"{self.url(am)}  (cluster port {self.ports[f'{am}-cluster']})",
                )
                for am in ha.ALERTMANAGERS
            ),
            (
                "VictoriaMetrics",
                f"{self.url(ha.LONG_TERM)}  (long-term store; PromQL at /api/v1/query, "
                f"UI at /vmui; dedup {self.dedup_interval()})",
            ),
            ("Simulator /metrics", f"{self.url('simulator')}/metrics"),
            ("Receiver", f"{self.url('receiver')}/received  (moved from 9095: an Alertmanager)"),
            ("Mail (SMTP)", f"{self.address('mail')}  (emails appear at /received too)"),
        ]
        if "grafana" in self.ports:
            rows.insert(
                0, ("Grafana", f"{self.url('grafana')}  (datasources Prometheus, long-term)")
            )
        width = max(len(name) for name, _ in rows)
        lines = [f"  {name:<{width}}  {url}" for name, url in rows]
        scenario = SCENARIOS[self.options.scenario]
        lines += [
            "",
            f"  scenario {scenario.name}: {scenario.description}",
            "  Try a fault: kill one replica or one Alertmanager (docs/demo.md, make demo-ha);",
            "  alerts still arrive, once, and VictoriaMetrics keeps every series without a gap.",
            f"  data and logs: {self.data_dir}",
        ]
        if "grafana" not in self.ports:
            lines += [
                "",
                "  No Grafana binary found. In an existing Grafana, add two Prometheus data",
                f"  sources, {self.url('prometheus')} and {self.url(ha.LONG_TERM)}, import",
                f"  {GRAFANA_DIR / 'dashboards'}/*.json and switch the `datasource` variable.",
            ]
        return "\n".join(lines)


def parse_args(argv: list[str] | None) -> HaOptions:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, HA_PORTS, DEFAULT_HA_DATA_DIR)
    args = parser.parse_args(argv)
    return HaOptions(**common_options(args, HA_PORTS))  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    return supervise(HaStack(parse_args(argv)), "NARRA_FORGE monitoring HA demo")


if __name__ == "__main__":
    sys.exit(main())
