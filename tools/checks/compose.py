"""Check ``docker-compose.monitoring.yml`` without a container engine.

    python -m tools.checks.compose          # make lint-compose

``docker-compose config`` (Debian's 1.29, or ``$DOCKER_COMPOSE``, e.g. ``"docker compose"``)
validates the file and resolves ``.env``; the resolved services are then checked against the
conventions of the stack and against the files the containers will read:

- images pinned to a released tag that comes from ``.env`` (no ``latest``, no literal tag);
- ports published on 127.0.0.1 only; host networking only for services behind a profile;
- every service: ``container_name: narra-forge-<service>``, ``restart: unless-stopped``, a
  healthcheck, ``depends_on`` waiting for health;
- every bind mount exists in the repository; configuration is mounted read-only;
- container-side paths: Prometheus' ``--config.file``, its ``rule_files`` and ``file_sd``
  files, Alertmanager's config, templates and secrets folder, Grafana's provisioning and the
  dashboard provider's path all land on files of the repository; every ``service:port`` that
  prometheus.yml and the Grafana datasources name is a service of this file on its port;
- Prometheus retention flags, lifecycle API and exemplar storage; Grafana sign-up and anonymous
  access off and no admin password in the file other than the documented local default
  ``admin``; every ``datasourceUid`` a datasource links to (exemplars, derived fields, traces
  to logs) is a provisioned datasource, and the LogQL of those links parses;
- profiles: without one, exactly Alertmanager, Prometheus and Grafana run; Loki and Alloy are
  behind ``logs``, Tempo behind ``tracing`` (``tools/checks/observability.py`` checks their
  configuration files: Loki's and Tempo's YAML parsed with PyYAML, Alloy's as text, since no
  parser of its syntax is installable here).

The HA override, ``docker-compose.ha.yml``, is checked merged onto the base file (``-f base -f
override``, what users run): every service of the merge by the rules above, and the HA shape of
docs/operations.md: both replicas on the repository's ``prometheus-ha.yml`` with
``PROMETHEUS_REPLICA`` a and b and the flag that expands it; in that file the ``cluster`` and
``replica`` external labels, ``replica`` dropped before remote_write and before alerts, every
Alertmanager service as an alerting target, remote_write to a service of the file; every
Alertmanager gossiping with all the others on one cluster port and reading one configuration;
VictoriaMetrics deduplicating at the replicas' scrape interval. Checked alone, the base file may
name the override's services only in Grafana's long-term datasource.

Each finding names the file, the service and what is wrong. Exit codes: 0 clean, 1 findings,
2 docker-compose missing or the file unreadable.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from tools._repo import REPO, BinaryNotFoundError, shown, which
from tools.alertmanager.config import file_references
from tools.checks.observability import check_observability, datasource_links

COMPOSE_FILE = REPO / "docker-compose.monitoring.yml"
HA_FILE = REPO / "docker-compose.ha.yml"
ENV_FILE = REPO / ".env"
PROFILES = ("simulator", "logs", "tracing")
#: What `docker compose up` starts without a profile; everything else is opt-in.
DEFAULT_SERVICES = frozenset({"alertmanager", "prometheus", "grafana"})
#: The profile each optional service belongs to.
SERVICE_PROFILES: Mapping[str, str] = {
    "simulator": "simulator",
    "loki": "logs",
    "alloy": "logs",
    "tempo": "tracing",
}
#: Services whose image cannot probe itself (distroless: no shell, no HTTP client, no health
#: command), with the reason; only these may disable the healthcheck.
NO_PROBE: Mapping[str, str] = {
    "tempo": "grafana/tempo is distroless, without a health command; probe :3200/ready",
}
#: Bind mounts of data, not configuration: the folder may not exist yet (Docker creates it).
DATA_MOUNTS: Mapping[str, PurePosixPath] = {"alloy": PurePosixPath("/var/log/narra_forge")}
#: The only admin password the compose file may carry: the documented local default.
LOCAL_DEFAULT_PASSWORD = "admin"
#: Grafana's provisioning folder inside its image (GF_PATHS_PROVISIONING's default).
GRAFANA_PROVISIONING = PurePosixPath("/etc/grafana/provisioning")
_RELEASE_TAG = re.compile(r"^v?\d+\.\d+(\.\d+)?([.-][0-9A-Za-z.-]+)?$")
_VARIABLE_WITH_DEFAULT = re.compile(r"^\$\{[A-Za-z0-9_]+(:?-(?P<default>[^}]*))?\}$")
_IMAGE_VARIABLE = re.compile(r":\$\{([A-Z0-9_]+)(:?[?-][^}]*)?\}$")


class ComposeError(RuntimeError):
    """The check cannot run; the message says what to install or fix."""


@dataclass(frozen=True)
class Mount:
    source: str  # host path (absolute) or volume name
    target: PurePosixPath
    read_only: bool
    bind: bool


def compose_command() -> list[str]:
    try:
        command = which("docker-compose")
    except BinaryNotFoundError as error:
        raise ComposeError(str(error)) from error
    if command is None:
        raise ComposeError(
            "docker-compose not found: run `make setup` (Debian package docker-compose) or "
            'set DOCKER_COMPOSE="docker compose"'
        )
    return command


def resolved_config(
    compose_file: Path | Sequence[Path], project_dir: Path, profiles: Sequence[str] = PROFILES
) -> dict[str, Any]:
    """``docker-compose config`` of the file (or the files, merged in order) with every
    profile: what compose would run.

    ``project_dir`` is where relative paths and ``.env`` are taken from (the file's own folder
    normally; the repository for a test copy of the file kept elsewhere).
    """
    files = [compose_file] if isinstance(compose_file, Path) else list(compose_file)
    command = [*compose_command()]
    for path in files:
        command += ["-f", str(path)]
    command += ["--project-directory", str(project_dir)]
    for profile in profiles:
        command += ["--profile", profile]
    try:
        result = subprocess.run(
            [*command, "config"], capture_output=True, text=True, check=False, cwd=project_dir
        )
    except OSError as error:
        raise ComposeError(
            f"cannot run {command[0]}: {error.strerror}; run `make system-deps` or set "
            'DOCKER_COMPOSE="docker compose"'
        ) from error
    if result.returncode != 0:
        raise _InvalidConfigError(result.stderr.strip() or result.stdout.strip())
    return yaml.safe_load(result.stdout)


class _InvalidConfigError(ValueError):
    pass


def env_file_values(env_file: Path) -> dict[str, str]:
    values = {}
    if env_file.exists():
        for line in env_file.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, _, value = line.partition("=")
                values[key.strip()] = value.strip()
    return values


def mounts(service: Mapping[str, Any], base: Path) -> list[Mount]:
    """The service's volumes in one shape (1.29 prints strings, Compose v2 mappings)."""
    result = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            parts = volume.split(":")
            source, target = parts[0], parts[1]
            mode = parts[2] if len(parts) > 2 else "rw"
            read_only = "ro" in mode.split(",")
        else:
            source = str(volume.get("source", ""))
            target = str(volume["target"])
            read_only = bool(volume.get("read_only"))
        bind = source.startswith(("/", ".", "~"))
        if bind and not source.startswith("/"):
            source = str((base / source).resolve())
        result.append(Mount(source, PurePosixPath(target), read_only, bind))
    return result


def host_path(service_mounts: Sequence[Mount], container_path: PurePosixPath) -> Path | None:
    """Where a container path of a bind mount is in the repository (the deepest mount wins)."""
    inside = [
        mount
        for mount in service_mounts
        if mount.bind and (container_path == mount.target or mount.target in container_path.parents)
    ]
    best = max(inside, key=lambda mount: len(mount.target.parts), default=None)
    if best is None:
        return None
    return Path(best.source) / container_path.relative_to(best.target)


def flag(command: Sequence[str], name: str) -> str | None:
    for argument in command:
        if argument.startswith(f"{name}="):
            return argument.split("=", 1)[1]
    return None


def published_ports(service: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(host_ip, published, target) of each published port, both output shapes."""
    for port in service.get("ports") or []:
        if isinstance(port, str):
            spec = port.split("/")[0]
            parts = spec.split(":")
            if len(parts) == 3:
                yield parts[0], parts[1], parts[2]
            elif len(parts) == 2:
                yield "", parts[0], parts[1]
            else:
                yield "", parts[0], parts[0]
        else:
            yield (
                str(port.get("host_ip", "")),
                str(port.get("published", "")),
                str(port.get("target", "")),
            )


def container_ports(service: Mapping[str, Any]) -> set[str]:
    return {target for _, _, target in published_ports(service)} | {
        str(p) for p in service.get("expose") or []
    }


class Checker:
    def __init__(
        self,
        compose_file: Path,
        project_dir: Path,
        config: Mapping[str, Any],
        raw: Mapping[str, Any],
        optional: frozenset[str] = frozenset(),
    ) -> None:
        self.file = shown(compose_file)
        #: Services of the HA override that the base file's Grafana datasources may name.
        self.optional = optional
        self.base = project_dir.resolve()
        self.services: Mapping[str, Any] = config.get("services") or {}
        self.raw_services: Mapping[str, Any] = raw.get("services") or {}
        self.declared_volumes = set((config.get("volumes") or {}).keys())
        self.findings: list[str] = []

    def add(self, service: str, message: str) -> None:
        self.findings.append(f"{self.file}: service {service}: {message}")

    def mounts(self, name: str) -> list[Mount]:
        return mounts(self.services[name], self.base)

    # --- conventions of every service ---------------------------------------------------------

    def check_services(self, env: Mapping[str, str]) -> None:
        for name, service in self.services.items():
            self.check_image(name, service, env)
            if service.get("container_name") != f"narra-forge-{name}":
                self.add(name, f"container_name must be narra-forge-{name}")
            if service.get("restart") != "unless-stopped":
                self.add(name, "restart must be unless-stopped")
            health = service.get("healthcheck") or {}
            disabled = health.get("disable") or health.get("test") in (["NONE"], None)
            if name in NO_PROBE:
                if not disabled:
                    self.add(name, f"has a healthcheck, but {NO_PROBE[name]}: update NO_PROBE")
            elif disabled:
                self.add(name, "no healthcheck")
            for dependency, how in (service.get("depends_on") or {}).items():
                condition = how.get("condition") if isinstance(how, dict) else None
                if condition != "service_healthy":
                    self.add(name, f"depends_on {dependency} must wait for service_healthy")
            for host_ip, published, target in published_ports(service):
                if host_ip != "127.0.0.1":
                    self.add(
                        name,
                        f"port {published}:{target} is published on {host_ip or 'every address'}"
                        "; publish it on 127.0.0.1 only",
                    )
            if service.get("network_mode") == "host" and not service.get("profiles"):
                self.add(name, "host networking outside an optional profile")
            for mount in self.mounts(name):
                self.check_mount(name, mount)

    def check_image(self, name: str, service: Mapping[str, Any], env: Mapping[str, str]) -> None:
        image = str(service.get("image", ""))
        repository, _, tag = image.rpartition(":")
        if not repository or "/" in tag:
            self.add(name, f"image {image!r} has no tag; pin a released version")
            return
        if tag == "latest" or not _RELEASE_TAG.match(tag.removesuffix("-slim")):
            self.add(name, f"image {image!r} is not pinned to a released version")
        raw_image = str((self.raw_services.get(name) or {}).get("image", ""))
        variable = _IMAGE_VARIABLE.search(raw_image)
        if not variable:
            self.add(name, f"image {raw_image!r}: the version must come from .env (${{VAR}})")
        elif variable.group(1) not in env:
            self.add(name, f"image {raw_image!r}: {variable.group(1)} is not set in .env")

    def check_profiles(self) -> None:
        """The default stack stays three containers; optional parts sit behind their profile.

        Judged on the resolved config, not on ``docker-compose config --services``: Debian's
        1.29 lists every service there whatever the profiles.
        """
        default = {name for name, s in self.services.items() if not s.get("profiles")}
        if default != DEFAULT_SERVICES:
            self.findings.append(
                f"{self.file}: without a profile these services run: {', '.join(sorted(default))}"
                f"; expected exactly {', '.join(sorted(DEFAULT_SERVICES))}"
            )
        for name, profile in SERVICE_PROFILES.items():
            service = self.services.get(name)
            if service is None:
                self.findings.append(f"{self.file}: no service {name} (profile {profile})")
            elif list(service.get("profiles") or []) != [profile]:
                self.add(name, f"profiles must be [{profile}], got {service.get('profiles')}")

    def check_mount(self, name: str, mount: Mount) -> None:
        if not mount.bind:
            if mount.source not in self.declared_volumes:
                self.add(name, f"volume {mount.source} is not declared under `volumes:`")
            return
        source = Path(mount.source)
        if DATA_MOUNTS.get(name) == mount.target:
            if not mount.read_only:
                self.add(name, f"{shown(source)} is data to read: mount it :ro")
            return
        if not source.exists():
            self.add(name, f"mounted path {shown(source)} does not exist in the repository")
        if not mount.read_only:
            self.add(name, f"{shown(source)} is mounted read-write; mount configuration :ro")

    # --- what each container reads --------------------------------------------------------------

    def must_exist(self, name: str, container_path: PurePosixPath, what: str) -> Path | None:
        local = host_path(self.mounts(name), container_path)
        if local is None:
            self.add(name, f"{what} {container_path} is not inside any bind mount")
            return None
        if not local.exists():
            self.add(name, f"{what} {container_path} is {shown(local)}, which does not exist")
            return None
        return local

    def must_match(self, name: str, pattern: PurePosixPath, what: str) -> None:
        local = host_path(self.mounts(name), pattern)
        if local is None:
            self.add(name, f"{what} {pattern} is not inside any bind mount")
        elif not sorted(local.parent.glob(local.name)):
            self.add(name, f"{what} {pattern} matches no file (looked in {shown(local.parent)})")

    def check_address(self, name: str, address: str, where: str) -> None:
        """``service:port`` named in a config must be a compose service listening there."""
        host, _, port = address.rpartition(":")
        if host in ("localhost", "127.0.0.1"):
            return
        if host == "host.docker.internal":
            extra = self.services.get(name, {}).get("extra_hosts") or []
            extra = [extra] if isinstance(extra, str) else extra
            if isinstance(extra, dict):
                extra = [f"{k}:{v}" for k, v in extra.items()]
            if not any(str(e).startswith("host.docker.internal") for e in extra):
                self.add(name, f"{where} names {address} but extra_hosts lacks host-gateway")
            return
        if host not in self.services:
            self.add(name, f"{where} names {address}, but there is no service {host}")
        elif port not in container_ports(self.services[host]):
            self.add(
                name,
                f"{where} names {address}, but service {host} listens on "
                f"{', '.join(sorted(container_ports(self.services[host]))) or 'no port'}",
            )

    def check_prometheus(self, name: str = "prometheus") -> dict[str, Any] | None:
        """A Prometheus service's flags and the addresses of its config; returns the config."""
        service = self.services.get(name)
        if service is None:
            self.findings.append(f"{self.file}: no service {name}")
            return None
        command = [str(c) for c in service.get("command") or []]
        for required in ("--storage.tsdb.retention.time", "--storage.tsdb.retention.size"):
            if not flag(command, required):
                self.add(name, f"{required} is not set (retention is a flag, not a config key)")
        if "--web.enable-lifecycle" not in command:
            self.add(name, "--web.enable-lifecycle is missing: POST /-/reload would be refused")
        features = {
            f for c in command if c.startswith("--enable-feature=") for f in c[17:].split(",")
        }
        if "exemplar-storage" not in features:
            self.add(
                name,
                "--enable-feature=exemplar-storage is missing: exemplars (trace IDs on latency "
                "buckets) would be dropped",
            )
        config_file = PurePosixPath(
            flag(command, "--config.file") or "/etc/prometheus/prometheus.yml"
        )
        local = self.must_exist(name, config_file, "--config.file")
        if local is None:
            return None
        config = yaml.safe_load(local.read_text()) or {}
        where = f"{shown(local)}"
        for remote in config.get("remote_write") or []:
            match = re.match(r"^https?://([^/]+)", str(remote.get("url", "")))
            if match:
                self.check_address(name, match.group(1), f"{where}: remote_write")
        for rule_file in config.get("rule_files") or []:
            self.must_match(name, config_file.parent / rule_file, f"{where}: rule_files entry")
        for manager in (config.get("alerting") or {}).get("alertmanagers") or []:
            for static in manager.get("static_configs") or []:
                for target in static.get("targets") or []:
                    self.check_address(name, str(target), f"{where}: alerting target")
        for job in config.get("scrape_configs") or []:
            label = f"{where}: job {job.get('job_name')}"
            for static in job.get("static_configs") or []:
                for target in static.get("targets") or []:
                    self.check_address(name, str(target), label)
            for file_sd in job.get("file_sd_configs") or []:
                for pattern in file_sd.get("files") or []:
                    container = config_file.parent / pattern
                    self.must_match(name, container, f"{label}: file_sd")
                    local_pattern = host_path(self.mounts(name), container)
                    if local_pattern is None:
                        continue
                    for target_file in sorted(local_pattern.parent.glob(local_pattern.name)):
                        for group in yaml.safe_load(target_file.read_text()) or []:
                            for target in group.get("targets") or []:
                                self.check_address(name, str(target), shown(target_file))
        return config

    def check_alertmanager(self, name: str = "alertmanager") -> None:
        service = self.services.get(name)
        if service is None:
            self.findings.append(f"{self.file}: no service {name}")
            return
        command = [str(c) for c in service.get("command") or []]
        config_file = PurePosixPath(
            flag(command, "--config.file") or "/etc/alertmanager/alertmanager.yml"
        )
        local = self.must_exist(name, config_file, "--config.file")
        if local is None:
            return
        config = yaml.safe_load(local.read_text()) or {}
        where = shown(local)
        for glob in config.get("templates") or []:
            self.must_match(name, config_file.parent / glob, f"{where}: templates")
        for reference in file_references(config):
            if reference.where.startswith("templates"):
                continue
            # The secret file itself may be missing (that integration is off); its folder not.
            self.must_exist(
                name, PurePosixPath(reference.path).parent, f"{where}: {reference.where} folder"
            )

    def check_grafana(self) -> None:
        name = "grafana"
        service = self.services.get(name)
        if service is None:
            self.findings.append(f"{self.file}: no service {name}")
            return
        environment = service.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) for item in environment)
        for key in ("GF_USERS_ALLOW_SIGN_UP", "GF_AUTH_ANONYMOUS_ENABLED"):
            if str(environment.get(key, "")).lower() != "false":
                self.add(name, f'{key} must be "false"')
        # Judged on the file as written: a password the operator exports is none of its business.
        raw_environment = (self.raw_services.get(name) or {}).get("environment") or {}
        if isinstance(raw_environment, list):
            raw_environment = dict(item.split("=", 1) for item in raw_environment)
        password = raw_environment.get("GF_SECURITY_ADMIN_PASSWORD")
        if password is not None:
            reference = _VARIABLE_WITH_DEFAULT.match(str(password))
            literal = reference.group("default") if reference else str(password)
            if literal not in (None, LOCAL_DEFAULT_PASSWORD):
                self.add(
                    name,
                    "GF_SECURITY_ADMIN_PASSWORD holds a password other than the documented "
                    f"local default {LOCAL_DEFAULT_PASSWORD!r}; use secrets/"
                    "grafana_admin_password or GRAFANA_ADMIN_PASSWORD in the environment",
                )
        provisioning = self.must_exist(name, GRAFANA_PROVISIONING, "provisioning folder")
        if provisioning is None:
            return
        datasource_folder = provisioning / "datasources"
        # Grafana provisions every file of the folder into one instance: the links between
        # datasources (exemplars -> Tempo, logs <-> traces) are checked across the files.
        provisioned: list[Any] = []
        for datasources in sorted(datasource_folder.glob("*.y*ml")):
            document = yaml.safe_load(datasources.read_text()) or {}
            provisioned += document.get("datasources") or []
            for source in document.get("datasources") or []:
                url = str(source.get("url", ""))
                match = re.match(r"^https?://([^/]+)", url)
                if match and match.group(1).rpartition(":")[0] in self.optional:
                    continue  # the long-term datasource: its service comes with the override
                if match:
                    self.check_address(
                        name,
                        match.group(1),
                        f"{shown(datasources)}: datasource {source.get('name')}",
                    )
        self.findings += [
            f"{shown(datasource_folder)}: {problem}"
            for problem in datasource_links({"datasources": provisioned})
        ]
        for providers in sorted((provisioning / "dashboards").glob("*.y*ml")):
            document = yaml.safe_load(providers.read_text()) or {}
            for provider in document.get("providers") or []:
                path = (provider.get("options") or {}).get("path")
                if not path:
                    continue
                folder = self.must_exist(
                    name,
                    PurePosixPath(path),
                    f"{shown(providers)}: provider {provider.get('name')} path",
                )
                if folder is not None and not sorted(folder.glob("*.json")):
                    self.add(
                        name, f"{shown(providers)}: {path} ({shown(folder)}) holds no dashboard"
                    )


def read_raw(compose_file: Path) -> dict[str, Any]:
    """The file as written (variables unresolved): what the image and password checks read."""
    try:
        return yaml.safe_load(compose_file.read_text()) or {}
    except OSError as error:
        raise ComposeError(f"{shown(compose_file)}: cannot read: {error.strerror}") from error


def lint(
    compose_file: Path = COMPOSE_FILE,
    env_file: Path = ENV_FILE,
    project_dir: Path = REPO,
    ha_file: Path | None = HA_FILE,
) -> list[str]:
    """Findings of the base file alone (``ha_file`` names the override whose services its
    long-term datasource may name; None: it may name none)."""
    where = shown(compose_file)
    try:
        config = resolved_config(compose_file, project_dir)
    except _InvalidConfigError as error:
        return [f"{where}: docker-compose config refuses it:\n{error}"]
    raw = read_raw(compose_file)
    optional: frozenset[str] = frozenset()
    if ha_file is not None and ha_file.exists():
        # The services the override adds (with an image), not the ones it only adjusts.
        added = (read_raw(ha_file).get("services") or {}).items()
        optional = frozenset(name for name, spec in added if "image" in (spec or {}))
    checker = Checker(compose_file, project_dir, config, raw, optional)
    checker.check_services(env_file_values(env_file))
    checker.check_profiles()
    checker.check_prometheus()
    checker.check_alertmanager()
    checker.check_grafana()
    check_observability(checker)
    return checker.findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=COMPOSE_FILE)
    parser.add_argument("--env-file", type=Path, default=ENV_FILE)
    parser.add_argument(
        "--ha-file", type=Path, default=HA_FILE, help="the HA override, checked merged onto --file"
    )
    args = parser.parse_args(argv)
    from tools.checks import compose_ha  # it builds on this module's Checker

    try:
        findings = lint(args.file, args.env_file, ha_file=args.ha_file)
        ha_findings = compose_ha.lint_ha(args.file, args.ha_file, args.env_file)
    except ComposeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for finding in findings + ha_findings:
        print(finding, file=sys.stderr)
    if findings or ha_findings:
        return 1
    print(f"{shown(args.file)}: valid; images pinned, ports on 127.0.0.1, mounts and paths agree")
    print(
        f"{shown(args.file)} + {shown(args.ha_file)}: valid; replicas, Alertmanager peers, "
        "relabelling, remote_write and deduplication agree"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
