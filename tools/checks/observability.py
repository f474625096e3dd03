"""The logs and tracing parts of the compose stack: Loki, Alloy, Tempo and the Grafana links.

Called by ``tools/checks/compose.py`` (``make lint-compose``) with its checker, so findings
read like the rest: ``<file>: service <name>: <problem>``.

- Loki's and Tempo's YAML are parsed with PyYAML and the keys the stack relies on are checked:
  Loki's ruler reads the generated rules from a mounted folder of tenant ``fake`` (so
  ``auth_enabled: false``), sends to the compose Alertmanager with Prometheus' external
  labels, keeps its data on a named volume with retention on; Tempo's OTLP receivers listen
  on 0.0.0.0 at the ports compose publishes, with local storage on a named volume.
- Alloy's configuration is checked as text, and only for what the stack relies on: no parser
  of Alloy's syntax is installable here (it exists only in Go, in Alloy itself; neither PyPI nor
  npm has one), so the file is kept small and these few lines are found with patterns: the
  Loki push URL, the log paths (under the mounted log folder), the labels it sets (only the
  bounded service, level, agent) and the ``filename`` label dropped.
- Grafana's datasources: every ``datasourceUid`` names a provisioned datasource of the right
  type, Prometheus' exemplars and Loki's derived field lead to Tempo, Tempo's trace-to-logs
  query leads to Loki and parses with Grafana's LogQL grammar, and the derived field's regex
  finds the trace id in a JSON line as the package writes it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

import yaml

from tools._repo import REPO, shown
from tools.config import LOG_LABELS, LOG_SERVICE
from tools.loki.logql import Expression, check

if TYPE_CHECKING:
    from tools.checks.compose import Checker

#: What Loki calls the only tenant when auth_enabled is false: the ruler's rule folder.
LOKI_TENANT = "fake"
#: A trace id as the package writes it (32 lowercase hex) for the regex and query checks.
SAMPLE_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PROMETHEUS_CONFIG = REPO / "monitoring" / "prometheus" / "prometheus.yml"


def _flag(command: list[str], name: str) -> str | None:
    for argument in command:
        if argument.startswith(f"{name}="):
            return argument.split("=", 1)[1]
    return None


def _yaml_config(checker: Checker, name: str, flag: str) -> tuple[Any, PurePosixPath] | None:
    """The service's config file (from its ``flag``), parsed; None when a finding says why."""
    service = checker.services.get(name)
    if service is None:
        return None
    command = [str(c) for c in service.get("command") or []]
    path = _flag(command, flag)
    if path is None:
        checker.add(name, f"{flag}= is not set")
        return None
    local = checker.must_exist(name, PurePosixPath(path), flag)
    if local is None:
        return None
    try:
        document = yaml.safe_load(local.read_text())
    except yaml.YAMLError as error:
        checker.add(name, f"{shown(local)} is not valid YAML: {error}")
        return None
    if not isinstance(document, dict):
        checker.add(name, f"{shown(local)}: expected a mapping")
        return None
    return document, PurePosixPath(path)


def _get(document: Mapping[str, Any], dotted: str) -> Any:
    node: Any = document
    for key in dotted.split("."):
        node = node.get(key) if isinstance(node, Mapping) else None
    return node


def _on_volume(checker: Checker, name: str, path: object, what: str) -> None:
    """Data must land on a named volume (kept across container upgrades), not in the image."""
    if not isinstance(path, str):
        checker.add(name, f"{what} is not set")
        return
    target = PurePosixPath(path)
    if not any(
        not mount.bind and (mount.target == target or mount.target in target.parents)
        for mount in checker.mounts(name)
    ):
        checker.add(name, f"{what} {path} is not on a named volume: data would be lost")


def _port_of(endpoint: object) -> tuple[str, str]:
    host, _, port = str(endpoint).rpartition(":")
    return host, port


def check_loki(checker: Checker) -> None:
    name = "loki"
    loaded = _yaml_config(checker, name, "-config.file")
    if loaded is None:
        return
    config, path = loaded
    where = f"{path}"
    if config.get("auth_enabled") is not False:
        checker.add(
            name, f"{where}: auth_enabled must be false (the rules are tenant {LOKI_TENANT})"
        )
    if _get(config, "ruler_storage.backend") != "local":
        checker.add(
            name, f"{where}: ruler_storage.backend must be local (rules from the repository)"
        )
    directory = _get(config, "ruler_storage.local.directory")
    if not isinstance(directory, str):
        checker.add(name, f"{where}: ruler_storage.local.directory is not set")
    else:
        rules = PurePosixPath(directory) / LOKI_TENANT / "*.yml"
        checker.must_match(name, rules, f"{where}: ruler rules")
    url = str(_get(config, "ruler.alertmanager_url") or "")
    match = re.match(r"^https?://([^/]+)", url)
    if match is None:
        checker.add(name, f"{where}: ruler.alertmanager_url {url!r} is not an http URL")
    else:
        checker.check_address(name, match.group(1), f"{where}: ruler.alertmanager_url")
    prometheus = yaml.safe_load(PROMETHEUS_CONFIG.read_text()) or {}
    expected = _get(prometheus, "global.external_labels") or {}
    if (_get(config, "ruler.external_labels") or {}) != expected:
        checker.add(
            name,
            f"{where}: ruler.external_labels must equal Prometheus' {expected} so Alertmanager "
            "groups and inhibits Loki's alerts like Prometheus' ones",
        )
    _on_volume(checker, name, _get(config, "common.path_prefix"), f"{where}: common.path_prefix")
    port = str(_get(config, "server.http_listen_port") or "3100")
    from tools.checks.compose import container_ports

    if port not in container_ports(checker.services[name]):
        checker.add(name, f"{where}: server.http_listen_port {port} is not the published port")
    schemas = _get(config, "schema_config.configs") or [{}]
    if (schemas[-1].get("store"), schemas[-1].get("object_store")) != ("tsdb", "filesystem"):
        checker.add(name, f"{where}: the newest schema_config must be tsdb on filesystem")
    if not _get(config, "limits_config.retention_period") or not _get(
        config, "compactor.retention_enabled"
    ):
        checker.add(
            name,
            f"{where}: limits_config.retention_period and compactor.retention_enabled are "
            "needed, or the volume grows forever",
        )


def check_tempo(checker: Checker) -> None:
    name = "tempo"
    loaded = _yaml_config(checker, name, "-config.file")
    if loaded is None:
        return
    config, path = loaded
    where = f"{path}"
    from tools.checks.compose import container_ports

    published = container_ports(checker.services[name])
    for protocol, default in (("grpc", "4317"), ("http", "4318")):
        endpoint = _get(config, f"distributor.receivers.otlp.protocols.{protocol}.endpoint")
        if endpoint is None:
            checker.add(name, f"{where}: no OTLP {protocol} receiver (port {default})")
            continue
        host, port = _port_of(endpoint)
        if host != "0.0.0.0":
            checker.add(
                name,
                f"{where}: OTLP {protocol} listens on {endpoint}; use 0.0.0.0:{port} or the "
                "published port cannot reach it",
            )
        if port not in published:
            checker.add(name, f"{where}: OTLP {protocol} port {port} is not published")
    if _get(config, "storage.trace.backend") != "local":
        checker.add(name, f"{where}: storage.trace.backend must be local")
    for key in ("storage.trace.wal.path", "storage.trace.local.path"):
        _on_volume(checker, name, _get(config, key), f"{where}: {key}")
    port = str(_get(config, "server.http_listen_port") or "3200")
    if port not in published:
        checker.add(name, f"{where}: server.http_listen_port {port} is not published")


# Alloy: text, see the module docstring. Each pattern finds one attribute of the shipped shape.
_ALLOY_URL = re.compile(r'^\s*url\s*=\s*"([^"]+)"', re.M)
_ALLOY_PATH = re.compile(r'"__path__"\s*=\s*"([^"]+)"')
_ALLOY_SERVICE = re.compile(r'"service"\s*=\s*"([^"]+)"')
_ALLOY_BLOCK = re.compile(r"^\s*stage\.(labels|label_drop)\s*\{(.*?)^\s*\}", re.M | re.S)
_ALLOY_KEY = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=", re.M)


def check_alloy(checker: Checker) -> None:
    name = "alloy"
    service = checker.services.get(name)
    if service is None:
        return
    command = [str(c) for c in service.get("command") or []]
    if len(command) < 2 or command[0] != "run":
        checker.add(name, "command must be `run <config file>`")
        return
    local = checker.must_exist(name, PurePosixPath(command[1]), "config file")
    if local is None:
        return
    # Whole-line comments out (a `//` inside a URL string is not one).
    text = "\n".join(
        line for line in local.read_text().splitlines() if not line.lstrip().startswith("//")
    )
    where = command[1]
    urls = _ALLOY_URL.findall(text)
    if not urls:
        checker.add(name, f"{where}: no loki.write endpoint url")
    for url in urls:
        match = re.match(r"^https?://([^/]+)/loki/api/v1/push$", url)
        if match is None:
            checker.add(name, f"{where}: {url} is not a Loki push URL (/loki/api/v1/push)")
        else:
            checker.check_address(name, match.group(1), f"{where}: loki.write")
    from tools.checks.compose import DATA_MOUNTS

    folder = DATA_MOUNTS[name]
    paths = _ALLOY_PATH.findall(text)
    if not paths:
        checker.add(name, f"{where}: no __path__ of log files")
    for pattern in paths:
        if folder not in PurePosixPath(pattern).parents:
            checker.add(name, f"{where}: {pattern} is outside the mounted log folder {folder}")
    if set(_ALLOY_SERVICE.findall(text)) != {LOG_SERVICE}:
        checker.add(name, f'{where}: every target must carry service="{LOG_SERVICE}"')
    blocks = {kind: body for kind, body in _ALLOY_BLOCK.findall(text)}
    labels = set(_ALLOY_KEY.findall(blocks.get("labels", "").split("{", 1)[-1]))
    unbounded = sorted(labels - set(LOG_LABELS))
    if unbounded or not labels:
        checker.add(
            name,
            f"{where}: stage.labels must set only {', '.join(LOG_LABELS)}; found "
            f"{', '.join(sorted(labels)) or 'none'} (job_id and trace_id stay in the line)",
        )
    if '"filename"' not in blocks.get("label_drop", ""):
        checker.add(name, f"{where}: stage.label_drop must drop the filename label")


def _walk_uids(node: object) -> Iterator[str]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "datasourceUid":
                yield str(value)
            else:
                yield from _walk_uids(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk_uids(item)


def datasource_links(document: Mapping[str, Any]) -> list[str]:
    """Problems of the links between provisioned datasources (exemplars, logs, traces)."""
    sources = document.get("datasources") or []
    by_uid = {str(s.get("uid")): s for s in sources}
    # Of several datasources of one type (Prometheus and the long-term VictoriaMetrics), the
    # default one is where links must start: the long-term store keeps no exemplars.
    by_type: dict[str, Mapping[str, Any]] = {}
    for source in sources:
        kind = str(source.get("type"))
        if kind not in by_type or source.get("isDefault"):
            by_type[kind] = source
    problems = []
    for source in sources:
        for uid in _walk_uids(source.get("jsonData") or {}):
            if uid not in by_uid:
                problems.append(f"datasource {source.get('name')}: links to unknown uid {uid!r}")

    def links(source_type: str, key: str, target_type: str) -> list[Mapping[str, Any]]:
        source = by_type.get(source_type)
        if source is None:
            problems.append(f"no {source_type} datasource")
            return []
        value = (source.get("jsonData") or {}).get(key)
        entries = value if isinstance(value, list) else [value] if value else []
        target = by_type.get(target_type, {}).get("uid")
        good = [e for e in entries if isinstance(e, Mapping) and e.get("datasourceUid") == target]
        if not good:
            problems.append(f"datasource {source.get('name')}: {key} must lead to {target_type}")
        return good

    links("prometheus", "exemplarTraceIdDestinations", "tempo")
    sample = json.dumps({"event": "agent_execution_started", "trace_id": SAMPLE_TRACE_ID})
    compact = json.dumps(json.loads(sample), separators=(",", ":"))  # orjson's spacing
    for field in links("loki", "derivedFields", "tempo"):
        regex = re.compile(str(field.get("matcherRegex", "")))
        for line in (sample, compact):
            found = regex.search(line)
            if found is None or found.group(1) != SAMPLE_TRACE_ID:
                problems.append(
                    f"datasource Loki: derived field regex misses the trace id in {line}"
                )
    for setting in links("tempo", "tracesToLogsV2", "loki"):
        query = str(setting.get("query", ""))
        if not setting.get("customQuery") or not query:
            problems.append("datasource Tempo: tracesToLogsV2 needs the custom trace-id query")
            continue
        # As Grafana runs it: `$$` is the provisioning file's literal `$`, then the macro.
        expr = query.replace("$$", "$").replace("${__trace.traceId}", SAMPLE_TRACE_ID)
        problems += [
            f"datasource Tempo: tracesToLogsV2 query {finding.message}"
            for finding in check([Expression(expr, "tracesToLogsV2")], kind="LogExpr")
        ]
        if SAMPLE_TRACE_ID not in expr:
            problems.append(
                "datasource Tempo: tracesToLogsV2 query does not use ${__trace.traceId}"
            )
    return problems


def check_observability(checker: Checker) -> None:
    check_loki(checker)
    check_alloy(checker)
    check_tempo(checker)
