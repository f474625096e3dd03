"""The logs and tracing profiles (tools/checks/observability.py, run by `make lint-compose`):
the shipped files pass; each broken copy of the compose file, of Loki's, Tempo's or Alloy's
configuration or of the datasources is named with the service or datasource and the fault."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from tools.checks.compose import COMPOSE_FILE, ENV_FILE, REPO, lint
from tools.checks.observability import datasource_links

DATASOURCES = REPO / "monitoring/grafana/provisioning/datasources/datasources.yml"


def _lint(tmp_path: Path, edit=None) -> list[str]:
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    if edit is not None:
        edit(document)
    path = tmp_path / "docker-compose.monitoring.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return lint(path, env_file=ENV_FILE, project_dir=REPO)


def _with_config(tmp_path: Path, part: str, mount: str, edit) -> list[str]:
    """Lint with monitoring/<part>/ replaced by an edited copy (its YAML or text)."""
    folder = tmp_path / part
    shutil.copytree(REPO / "monitoring" / part, folder)
    edit(folder)

    def remount(document):
        volumes = document["services"][part]["volumes"]
        volumes[0] = f"{folder}:{mount}:ro"

    return _lint(tmp_path, remount)


def _edit_yaml(name: str, change):
    def edit(folder: Path) -> None:
        document = yaml.safe_load((folder / name).read_text())
        change(document)
        (folder / name).write_text(yaml.safe_dump(document, sort_keys=False))

    return edit


def _one(findings: list[str], *fragments: str) -> str:
    matching = [f for f in findings if all(fragment in f for fragment in fragments)]
    assert len(matching) == 1, findings
    return matching[0]


def test_the_default_stack_stays_three_containers(tmp_path):
    def edit(document):
        del document["services"]["loki"]["profiles"]

    findings = _lint(tmp_path, edit)
    _one(findings, "without a profile these services run: alertmanager, grafana, loki, prometheus")
    _one(findings, "service loki: profiles must be [logs]")


def test_prometheus_without_exemplar_storage_is_named(tmp_path):
    def edit(document):
        command = document["services"]["prometheus"]["command"]
        command.remove("--enable-feature=exemplar-storage")

    _one(_lint(tmp_path, edit), "service prometheus", "exemplar-storage is missing")


def test_healthchecks_a_probe_everywhere_except_where_the_image_cannot(tmp_path):
    def edit(document):
        document["services"]["tempo"]["healthcheck"] = {"test": ["CMD", "/tempo", "-version"]}
        del document["services"]["alloy"]["healthcheck"]

    findings = _lint(tmp_path, edit)
    _one(findings, "service tempo: has a healthcheck, but grafana/tempo is distroless")
    _one(findings, "service alloy: no healthcheck")


def test_the_log_folder_must_be_read_only(tmp_path):
    def edit(document):
        volumes = document["services"]["alloy"]["volumes"]
        volumes[1] = volumes[1].removesuffix(":ro")

    _one(_lint(tmp_path, edit), "service alloy", "is data to read: mount it :ro")


def test_loki_config_faults_are_named(tmp_path):
    def change(config):
        config["auth_enabled"] = True
        config["ruler"]["alertmanager_url"] = "http://alertmanager:9094"
        config["ruler"]["external_labels"] = {"monitor": "elsewhere"}
        config["common"]["path_prefix"] = "/tmp/loki"
        config["ruler_storage"]["local"]["directory"] = "/etc/loki/nowhere"

    findings = _with_config(tmp_path, "loki", "/etc/loki", _edit_yaml("loki.yml", change))
    _one(findings, "service loki", "auth_enabled must be false")
    _one(findings, "service loki", "names alertmanager:9094, but service alertmanager listens on")
    _one(findings, "service loki", "ruler.external_labels must equal Prometheus'")
    _one(findings, "service loki", "common.path_prefix /tmp/loki is not on a named volume")
    _one(findings, "service loki", "ruler rules /etc/loki/nowhere/fake/*.yml")


def test_tempo_receivers_on_localhost_or_unpublished_ports_are_named(tmp_path):
    def change(config):
        otlp = config["distributor"]["receivers"]["otlp"]["protocols"]
        otlp["grpc"]["endpoint"] = "localhost:4317"
        otlp["http"]["endpoint"] = "0.0.0.0:4319"

    findings = _with_config(tmp_path, "tempo", "/etc/tempo", _edit_yaml("tempo.yml", change))
    _one(findings, "service tempo", "OTLP grpc listens on localhost:4317; use 0.0.0.0:4317")
    _one(findings, "service tempo", "OTLP http port 4319 is not published")


def test_alloy_labels_beyond_the_policy_and_a_wrong_loki_are_named(tmp_path):
    def edit(folder: Path) -> None:
        path = folder / "config.alloy"
        text = path.read_text()
        text = text.replace('      agent = "",\n', '      agent = "",\n      job_id = "",\n')
        text = text.replace("http://loki:3100/", "http://loki:3101/")
        path.write_text(text)

    findings = _with_config(tmp_path, "alloy", "/etc/alloy", edit)
    _one(findings, "service alloy", "stage.labels must set only service, level, agent; found")
    _one(findings, "service alloy", "names loki:3101, but service loki listens on 3100")


def _datasources() -> dict:
    return yaml.safe_load(DATASOURCES.read_text())


def _source(document: dict, kind: str) -> dict:
    return next(s for s in document["datasources"] if s["type"] == kind)


def test_the_shipped_datasources_link_metrics_logs_and_traces():
    assert datasource_links(_datasources()) == []


def test_a_missing_exemplar_link_or_an_unknown_uid_is_named():
    document = _datasources()
    del _source(document, "prometheus")["jsonData"]["exemplarTraceIdDestinations"]
    _source(document, "loki")["jsonData"]["derivedFields"][0]["datasourceUid"] = "gone"
    problems = datasource_links(document)
    _one(problems, "datasource Prometheus: exemplarTraceIdDestinations must lead to tempo")
    _one(problems, "datasource Loki: links to unknown uid 'gone'")


def test_a_derived_field_regex_that_misses_the_trace_id_is_named():
    document = _datasources()
    _source(document, "loki")["jsonData"]["derivedFields"][0]["matcherRegex"] = (
        '"trace_id":"([0-9a-f]{32})"'  # misses the standard json module's `": "`
    )
    _one(datasource_links(document), "derived field regex misses the trace id", '"trace_id": "')


def test_a_trace_to_logs_query_that_is_not_logql_is_named_by_the_real_parser():
    document = _datasources()
    settings = _source(document, "tempo")["jsonData"]["tracesToLogsV2"]
    settings["query"] = '{service="narra_forge" |= "$${__trace.traceId}"'
    _one(datasource_links(document), "tracesToLogsV2 query LogQL does not parse at 1:")
