"""Copies of the shipped Prometheus config for the native stack (Alertmanager's copy is written by
``tools/alertmanager/config.py``, ``local_copy``).

The container configs name their peers by compose service (``alertmanager:9093``,
``grafana:3000``, ``host.docker.internal:8000``). Natively everything runs on 127.0.0.1 on ports
chosen by the user or the tests, so ``tools/demo/stack.py`` runs *copies* written under ``.data/``
in which only addresses differ; rules, routes, receivers and templates are the repository's own
files. The end-to-end tests may also shorten timings (scrape and evaluation intervals,
Alertmanager's group waits): ``Timing`` says which, and ``make demo`` uses none of it.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tools._repo import REPO

PROMETHEUS_DIR = REPO / "monitoring" / "prometheus"
#: The SLO rules (error budgets, burn-rate alerts), loaded beside the alerts file.
SLO_RULES = PROMETHEUS_DIR / "slo_rules.yml"

#: Every address the shipped prometheus.yml and its target files may name, and which native
#: process stands behind it. An address not listed here fails loudly instead of being copied
#: unchanged into a config that cannot reach it.
CONTAINER_ADDRESSES: Mapping[str, str] = {
    "alertmanager:9093": "alertmanager",
    "localhost:9090": "prometheus",
    "prometheus:9090": "prometheus",
    "grafana:3000": "grafana",
    "host.docker.internal:8000": "simulator",
    # The HA pair (prometheus-ha.yml): the second replica, the Alertmanager peers, the store.
    "prometheus-b:9090": "prometheus-b",
    "alertmanager-b:9093": "alertmanager-b",
    "alertmanager-c:9093": "alertmanager-c",
    "victoriametrics:8428": "victoriametrics",
}


class ConfigError(ValueError):
    """A shipped config has a shape the native runner does not know how to rewrite."""


@dataclass(frozen=True)
class Addresses:
    """``host:port`` of each native process; ``grafana=None`` when no Grafana runs."""

    prometheus: str
    alertmanager: str
    simulator: str
    receiver: str
    grafana: str | None = None
    #: Services only some stacks run (the HA pair's); one missing here does not run natively.
    others: Mapping[str, str] = field(default_factory=dict)

    def of(self, service: str) -> str | None:
        fixed = {
            "prometheus": self.prometheus,
            "alertmanager": self.alertmanager,
            "simulator": self.simulator,
            "grafana": self.grafana,
        }
        return fixed[service] if service in fixed else self.others.get(service)


@dataclass(frozen=True)
class Timing:
    """Test-only overrides; ``None`` keeps the shipped value."""

    scrape_interval: str | None = None
    evaluation_interval: str | None = None
    group_wait: str | None = None
    group_interval: str | None = None
    repeat_interval: str | None = None
    #: Prometheus's --rules.alert.resend-delay (1m): how soon a restarted Alertmanager hears
    #: again of the alerts that are firing.
    resend_delay: str | None = None

    def route_timings(self) -> dict[str, str]:
        """The Alertmanager group timings to override, for ``local_copy``."""
        keys = ("group_wait", "group_interval", "repeat_interval")
        return {key: value for key in keys if (value := getattr(self, key))}


def _native_targets(targets: list[str], addresses: Addresses, where: str) -> list[str]:
    native = []
    for target in targets:
        service = CONTAINER_ADDRESSES.get(target)
        if service is None:
            raise ConfigError(
                f"{where}: target {target!r} is not one the native runner knows "
                f"({', '.join(CONTAINER_ADDRESSES)}); add it to CONTAINER_ADDRESSES"
            )
        address = addresses.of(service)
        if address is not None:
            native.append(address)
    return native


def _native_url(url: str, addresses: Addresses, where: str) -> str:
    """``http://victoriametrics:8428/api/v1/write`` with the native address of that service."""
    parts = urllib.parse.urlsplit(url)
    native = _native_targets([parts.netloc], addresses, where)
    if not native:
        raise ConfigError(f"{where}: {url} names a service that does not run natively")
    return urllib.parse.urlunsplit(parts._replace(netloc=native[0]))


def _rewrite_static(configs: list[dict[str, Any]], addresses: Addresses, where: str) -> None:
    for static in configs:
        static["targets"] = _native_targets(static.get("targets", []), addresses, where)


def prometheus_config(
    addresses: Addresses,
    alerts_file: Path,
    timing: Timing = Timing(),
    source_dir: Path = PROMETHEUS_DIR,
    config_name: str = "prometheus.yml",
    slo_rules_file: Path | None = SLO_RULES,
) -> dict[Path, str]:
    """prometheus.yml (or ``config_name``, written under the same name) and its file_sd target
    files, relative to the folder they go into."""
    source = source_dir / config_name
    config = yaml.safe_load(source.read_text())
    files: dict[Path, str] = {}
    # The rule files are the ones given (the shipped alerts.yml, or a test rendering of it, and
    # the shipped slo_rules.yml unless a test leaves it out).
    config["rule_files"] = [
        str(path.resolve()) for path in (alerts_file, slo_rules_file) if path is not None
    ]
    for manager in config.get("alerting", {}).get("alertmanagers", []):
        _rewrite_static(manager.get("static_configs", []), addresses, f"{source}: alerting")
    for remote in config.get("remote_write", []):
        remote["url"] = _native_url(str(remote["url"]), addresses, f"{source}: remote_write")
    kept = []
    for job in config.get("scrape_configs", []):
        where = f"{source}: job {job.get('job_name')}"
        _rewrite_static(job.get("static_configs", []), addresses, where)
        for file_sd in job.get("file_sd_configs", []):
            for pattern in file_sd.get("files", []):
                for target_file in sorted(source_dir.glob(pattern)):
                    groups = yaml.safe_load(target_file.read_text()) or []
                    for group in groups:
                        group["targets"] = _native_targets(
                            group.get("targets", []), addresses, str(target_file)
                        )
                    relative = target_file.relative_to(source_dir)
                    files[relative] = yaml.safe_dump(groups, sort_keys=False)
        statics = job.get("static_configs", [])
        if statics and not any(s["targets"] for s in statics) and not job.get("file_sd_configs"):
            # A job for a service that does not run natively (Grafana without a binary):
            # scraping nothing beats a target that is always down.
            continue
        kept.append(job)
    config["scrape_configs"] = kept
    glob = config.setdefault("global", {})
    if timing.scrape_interval:
        glob["scrape_interval"] = timing.scrape_interval
        glob["scrape_timeout"] = timing.scrape_interval
    if timing.evaluation_interval:
        glob["evaluation_interval"] = timing.evaluation_interval
    header = (
        f"# Generated by tools/demo/native_config.py from {source}:\n"
        "# the same configuration with native addresses (and, in tests, shorter timings).\n"
    )
    files[Path(config_name)] = header + yaml.safe_dump(config, sort_keys=False)
    return files


def write_files(folder: Path, files: Mapping[Path, str]) -> None:
    for relative, text in files.items():
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
