"""The HA override, ``docker-compose.ha.yml``, merged onto the base compose file and checked.

Run by ``make lint-compose`` (``tools/checks/compose.py``) after the base file. Every service
of the merge passes the base file's checks; then what makes the pair a pair (docs/operations.md,
"High availability"), each finding naming the file, the service and the fault:

- each replica of ``tools/prometheus/ha.py`` runs the repository's ``prometheus-ha.yml`` with
  its own ``PROMETHEUS_REPLICA`` and the flag that expands it (Prometheus 2.x);
- that file carries the ``cluster`` and ``replica`` external labels, drops ``replica`` before
  alerts and before every remote_write, names every Alertmanager service of the merge as an
  alerting target, and writes to a service of the merge;
- every Alertmanager gossips on one cluster port with all the others and reads one configuration;
- VictoriaMetrics deduplicates at the scrape interval of that file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from tools._repo import REPO, shown
from tools.checks.compose import (
    ENV_FILE,
    Checker,
    ComposeError,
    _InvalidConfigError,
    env_file_values,
    flag,
    read_raw,
    resolved_config,
)
from tools.prometheus import ha

HA_CONFIG = REPO / ha.OUTPUT


def _merged_raw(documents: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The services as written, later files' keys over earlier ones' (for the image check)."""
    services: dict[str, dict[str, Any]] = {}
    for document in documents:
        for name, service in (document.get("services") or {}).items():
            services.setdefault(name, {}).update(service or {})
    return {"services": services}


def _environment(service: Mapping[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        return dict(str(item).split("=", 1) for item in environment)
    return {str(k): str(v) for k, v in environment.items()}


class HaChecker(Checker):
    def image_services(self, repository: str) -> list[str]:
        """Services running ``repository`` (any tag): the Alertmanagers, the store."""
        return [
            name
            for name, service in self.services.items()
            if str(service.get("image", "")).rpartition(":")[0] == repository
        ]

    def check_replicas(self) -> dict[str, Any] | None:
        """Each replica's flags; returns the HA configuration they run."""
        config: dict[str, Any] | None = None
        for name, replica in ha.REPLICAS.items():
            service = self.services.get(name)
            if service is None:
                self.findings.append(f"{self.file}: no service {name} (replica {replica})")
                continue
            loaded = self.check_prometheus(name)
            command = [str(c) for c in service.get("command") or []]
            container = PurePosixPath(flag(command, "--config.file") or "")
            local = self.must_exist(name, container, "--config.file")
            if local is not None and local.resolve() != HA_CONFIG.resolve():
                self.add(name, f"--config.file is {shown(local)}, not {ha.OUTPUT}")
            if ha.FEATURE_FLAG not in command:
                self.add(
                    name,
                    f"{ha.FEATURE_FLAG} is missing: Prometheus 2.x would not expand "
                    f"${{{ha.REPLICA_ENV}}} in the replica label",
                )
            value = _environment(service).get(ha.REPLICA_ENV)
            if value != replica:
                self.add(name, f"{ha.REPLICA_ENV} is {value!r}; replica {replica!r} expected")
            config = config or loaded
        return config

    def check_ha_config(self, config: Mapping[str, Any], alertmanagers: list[str]) -> None:
        self.findings += ha.problems(config, shown(HA_CONFIG), alertmanagers)

    def check_peers(self, alertmanagers: list[str]) -> None:
        configs = set()
        ports = set()
        for name in alertmanagers:
            command = [str(c) for c in self.services[name].get("command") or []]
            configs.add(flag(command, "--config.file"))
            listen = flag(command, "--cluster.listen-address") or ""
            if not listen:
                self.add(name, "--cluster.listen-address is empty: this peer gossips with none")
                continue
            port = listen.rpartition(":")[2]
            ports.add(port)
            peers = {
                argument.split("=", 1)[1]
                for argument in command
                if argument.startswith("--cluster.peer=")
            }
            wanted = {f"{other}:{port}" for other in alertmanagers if other != name}
            for missing in sorted(wanted - peers):
                self.add(name, f"--cluster.peer={missing} is missing")
            for unknown in sorted(peers - wanted):
                self.add(name, f"--cluster.peer={unknown} is not another Alertmanager's")
            self.check_alertmanager(name)
        if len(ports) > 1:
            self.findings.append(f"{self.file}: Alertmanagers gossip on different ports {ports}")
        if len(configs) > 1:
            self.findings.append(
                f"{self.file}: Alertmanagers read different configurations: "
                + ", ".join(sorted(map(str, configs)))
            )

    def check_store(self, config: Mapping[str, Any]) -> None:
        wanted = ha.scrape_interval(config)
        for name in self.image_services("victoriametrics/victoria-metrics"):
            command = [str(c) for c in self.services[name].get("command") or []]
            dedup = flag(command, "-dedup.minScrapeInterval")
            if dedup != wanted:
                self.add(
                    name,
                    f"-dedup.minScrapeInterval is {dedup}; the replicas scrape every {wanted}, "
                    "and another interval keeps both copies or drops samples",
                )


def lint_ha(
    compose_file: Path,
    ha_file: Path,
    env_file: Path = ENV_FILE,
    project_dir: Path = REPO,
) -> list[str]:
    where = f"{shown(compose_file)} + {shown(ha_file)}"
    try:
        config = resolved_config([compose_file, ha_file], project_dir)
    except _InvalidConfigError as error:
        return [f"{where}: docker-compose config refuses it:\n{error}"]
    except ComposeError:
        raise
    raw = _merged_raw([read_raw(compose_file), read_raw(ha_file)])
    checker = HaChecker(ha_file, project_dir, config, raw)
    checker.check_services(env_file_values(env_file))
    alertmanagers = checker.image_services("prom/alertmanager")
    if len(alertmanagers) < 3:
        checker.findings.append(
            f"{shown(ha_file)}: {len(alertmanagers)} Alertmanager(s); the HA shape has three "
            "(docs/operations.md, High availability)"
        )
    checker.check_peers(alertmanagers)
    ha_config = checker.check_replicas()
    if ha_config is not None:
        checker.check_ha_config(ha_config, alertmanagers)
        checker.check_store(ha_config)
    if not checker.image_services("victoriametrics/victoria-metrics"):
        checker.findings.append(f"{shown(ha_file)}: no VictoriaMetrics service")
    checker.check_grafana()
    return checker.findings
