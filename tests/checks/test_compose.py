"""docker-compose.monitoring.yml, checked without a container engine: Debian's docker-compose
1.29 validates and resolves it, then `tools.checks.compose` compares it with the files the
containers read. Each broken copy must produce a finding that names the service and the fault."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tools.checks.compose import COMPOSE_FILE, ENV_FILE, REPO, compose_command, lint, main


def test_compose_file_validates_with_docker_compose_config():
    for profile in (
        [],
        ["--profile", "simulator"],
        ["--profile", "logs"],
        ["--profile", "tracing"],
        ["--profile", "logs", "--profile", "tracing"],
    ):
        result = subprocess.run(
            [*compose_command(), "-f", str(COMPOSE_FILE), *profile, "config", "-q"],
            capture_output=True,
            text=True,
            cwd=REPO,
            check=False,
        )
        assert result.returncode == 0, result.stderr


def test_shipped_compose_file_passes_every_check():
    assert lint() == []


def test_every_version_is_in_env_and_nowhere_else():
    env = ENV_FILE.read_text()
    compose = COMPOSE_FILE.read_text()
    for variable in (
        "PROMETHEUS_VERSION",
        "ALERTMANAGER_VERSION",
        "GRAFANA_VERSION",
        "LOKI_VERSION",
        "ALLOY_VERSION",
        "TEMPO_VERSION",
    ):
        assert f"\n{variable}=" in env
        assert f"${{{variable}" in compose
    assert ":latest" not in compose
    values = [line.split("=", 1)[1] for line in env.splitlines() if line and line[0] != "#"]
    assert "latest" not in values


def _broken(tmp_path: Path, edit) -> Path:
    """A copy of the compose file with one edit; relative paths still resolve in the repo."""
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    edit(document)
    path = tmp_path / "docker-compose.monitoring.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def _findings(tmp_path, edit, env_file=ENV_FILE):
    return lint(_broken(tmp_path, edit), env_file=env_file, project_dir=REPO)


def _one(findings, *fragments):
    matching = [f for f in findings if all(fragment in f for fragment in fragments)]
    assert len(matching) == 1, findings
    return matching[0]


def test_unchanged_copy_elsewhere_is_still_clean(tmp_path):
    assert _findings(tmp_path, lambda d: None) == []


def test_latest_or_literal_image_tag_is_refused(tmp_path):
    def edit(d):
        d["services"]["grafana"]["image"] = "grafana/grafana:latest"
        d["services"]["alertmanager"]["image"] = "prom/alertmanager:v0.28.1"

    findings = _findings(tmp_path, edit)
    _one(findings, "service grafana", "not pinned to a released version")
    _one(findings, "service grafana", "must come from .env")
    _one(findings, "service alertmanager", "must come from .env")


def test_image_variable_missing_from_env_file_is_named(tmp_path):
    env = tmp_path / ".env"
    env.write_text(ENV_FILE.read_text().replace("GRAFANA_VERSION=", "# GRAFANA_VERSION="))
    findings = _findings(tmp_path, lambda d: None, env_file=env)
    _one(findings, "service grafana", "GRAFANA_VERSION is not set in .env")


def test_port_published_on_every_address_is_refused(tmp_path):
    findings = _findings(
        tmp_path, lambda d: d["services"]["grafana"].update({"ports": ["3000:3000"]})
    )
    _one(findings, "service grafana", "port 3000:3000 is published on every address")


def test_service_without_healthcheck_is_named(tmp_path):
    findings = _findings(tmp_path, lambda d: d["services"]["alertmanager"].pop("healthcheck"))
    _one(findings, "service alertmanager", "no healthcheck")


def test_depends_on_without_health_condition_is_named(tmp_path):
    findings = _findings(
        tmp_path, lambda d: d["services"]["prometheus"].update({"depends_on": ["alertmanager"]})
    )
    _one(findings, "service prometheus", "depends_on alertmanager must wait for service_healthy")


def test_mount_of_a_missing_path_and_read_write_config_are_named(tmp_path):
    def edit(d):
        volumes = d["services"]["alertmanager"]["volumes"]
        volumes[0] = "./monitoring/alertmanager:/etc/alertmanager"
        volumes.append("./monitoring/no-such-folder:/etc/extra:ro")

    findings = _findings(tmp_path, edit)
    _one(findings, "service alertmanager", "monitoring/no-such-folder does not exist")
    _one(findings, "service alertmanager", "monitoring/alertmanager is mounted read-write")


def test_prometheus_without_retention_flags_or_lifecycle_is_named(tmp_path):
    def edit(d):
        command = d["services"]["prometheus"]["command"]
        d["services"]["prometheus"]["command"] = [
            c for c in command if "retention.time" not in c and "lifecycle" not in c
        ]

    findings = _findings(tmp_path, edit)
    _one(findings, "service prometheus", "--storage.tsdb.retention.time is not set")
    _one(findings, "service prometheus", "--web.enable-lifecycle is missing")


def test_config_mounted_where_prometheus_does_not_look_is_named(tmp_path):
    def edit(d):
        d["services"]["prometheus"]["volumes"][0] = "./monitoring/prometheus:/etc/prom:ro"

    findings = _findings(tmp_path, edit)
    _one(
        findings,
        "service prometheus",
        "--config.file /etc/prometheus/prometheus.yml is not inside any bind mount",
    )


def test_rule_file_or_file_sd_that_the_mount_does_not_provide_is_named(tmp_path):
    # Mount only the targets folder where the config is: alerts.yml is then missing.
    prometheus_dir = tmp_path / "prom"
    (prometheus_dir / "targets").mkdir(parents=True)
    shutil.copy(REPO / "monitoring/prometheus/prometheus.yml", prometheus_dir)

    def edit(d):
        d["services"]["prometheus"]["volumes"][0] = f"{prometheus_dir}:/etc/prometheus:ro"

    findings = _findings(tmp_path, edit)
    _one(findings, "service prometheus", "rule_files entry /etc/prometheus/alerts.yml")
    _one(findings, "service prometheus", "file_sd /etc/prometheus/targets/narra_forge")


def test_renamed_alertmanager_service_breaks_prometheus_and_grafana_addresses(tmp_path):
    def edit(d):
        d["services"]["am"] = d["services"].pop("alertmanager")
        d["services"]["am"]["container_name"] = "narra-forge-am"
        d["services"]["prometheus"]["depends_on"] = {"am": {"condition": "service_healthy"}}
        d["services"]["grafana"]["depends_on"].pop("alertmanager")
        d["services"]["loki"]["depends_on"] = {"am": {"condition": "service_healthy"}}

    findings = _findings(tmp_path, edit)
    _one(findings, "service prometheus", "alerting target names alertmanager:9093")
    _one(findings, "service prometheus", "job alertmanager names alertmanager:9093")
    _one(findings, "service grafana", "datasource Alertmanager names alertmanager:9093")
    _one(findings, "service loki", "ruler.alertmanager_url names alertmanager:9093")


def test_dashboards_mounted_away_from_the_provider_path_are_named(tmp_path):
    def edit(d):
        volumes = d["services"]["grafana"]["volumes"]
        d["services"]["grafana"]["volumes"] = [
            v.replace("/var/lib/grafana/dashboards", "/dashboards") for v in volumes
        ]

    findings = _findings(tmp_path, edit)
    _one(findings, "service grafana", "provider narra-forge path /var/lib/grafana/dashboards")


def test_grafana_open_to_anonymous_users_or_with_a_password_in_the_file_is_named(tmp_path):
    def edit(d):
        environment = d["services"]["grafana"]["environment"]
        environment["GF_AUTH_ANONYMOUS_ENABLED"] = "true"
        environment["GF_SECURITY_ADMIN_PASSWORD"] = "${GRAFANA_ADMIN_PASSWORD:-S3cret-in-git}"

    findings = _findings(tmp_path, edit)
    _one(findings, "service grafana", 'GF_AUTH_ANONYMOUS_ENABLED must be "false"')
    _one(findings, "service grafana", "GF_SECURITY_ADMIN_PASSWORD holds a password other than")


def test_host_networking_outside_a_profile_is_refused(tmp_path):
    findings = _findings(tmp_path, lambda d: d["services"]["simulator"].pop("profiles"))
    _one(findings, "service simulator", "host networking outside an optional profile")


def test_a_file_docker_compose_refuses_is_reported_with_its_message(tmp_path):
    findings = _findings(tmp_path, lambda d: d["services"]["grafana"].update({"ports": 5}))
    assert len(findings) == 1
    assert "docker-compose config refuses it" in findings[0]
    assert "ports" in findings[0]


def test_missing_docker_compose_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.setenv("DOCKER_COMPOSE", "/nonexistent/docker-compose")
    assert main([]) == 2
    error = capsys.readouterr().err
    assert "DOCKER_COMPOSE='/nonexistent/docker-compose'" in error
    assert "not an executable file or command" in error


def test_command_line_exit_codes(tmp_path, capsys):
    assert main([]) == 0
    broken = _broken(tmp_path, lambda d: d["services"]["grafana"].pop("healthcheck"))
    # The copy lives in tmp_path; its relative mounts resolve against the repository.
    assert main(["--file", str(broken)]) == 1
    assert "service grafana: no healthcheck" in capsys.readouterr().err


# --- the Grafana entrypoint: password from the secret file, else the environment -------------


def _entrypoint_script() -> str:
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    entrypoint = document["services"]["grafana"]["entrypoint"]
    assert entrypoint[:2] == ["/bin/sh", "-c"]
    # Compose turns $$ into $ before the shell sees it.
    return entrypoint[2].replace("$$", "$")


@pytest.mark.parametrize(
    ("secret_file", "environment", "expected"),
    [
        ("from-the-secret-file", "from-the-environment", "from-the-secret-file"),
        (None, "from-the-environment", "from-the-environment"),
        # An empty or unreadable file stops the container: test_grafana_entrypoint.py (uid 472).
    ],
)
def test_grafana_admin_password_comes_from_file_then_environment(
    tmp_path, secret_file, environment, expected
):
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    if secret_file is not None:
        (secrets / "grafana_admin_password").write_text(secret_file)
    # Stand-in for the image's /run.sh: prints what Grafana would be started with.
    run_sh = tmp_path / "run.sh"
    run_sh.write_text('#!/bin/sh\nprintf "%s|%s" "$GF_SECURITY_ADMIN_PASSWORD" "$*"\n')
    run_sh.chmod(0o755)
    script = (
        _entrypoint_script()
        .replace("/run/secrets/narra-forge/", f"{secrets}/")
        .replace("/run.sh", str(run_sh))
    )
    result = subprocess.run(
        ["/bin/sh", "-c", script, "grafana-entrypoint", "--extra-arg"],
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], "GF_SECURITY_ADMIN_PASSWORD": environment},
        check=True,
    )
    assert result.stdout == f"{expected}|--extra-arg"


# --- the simulator profile: the files its container copies are enough to run the simulator --


def test_simulator_profile_runs_from_the_files_its_container_copies(tmp_path):
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    script = document["services"]["simulator"]["command"][2]
    copy_line = next(line for line in script.splitlines() if line.startswith("cp -r"))
    sources = [word.removeprefix("/src/") for word in copy_line.split()[2:-1]]
    app = tmp_path / "app"
    app.mkdir()
    for source in sources:
        path = REPO / source
        assert path.exists(), f"the simulator container copies {source}, which is missing"
        if path.is_dir():
            shutil.copytree(path, app / source, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(path, app / source)
    result = subprocess.run(
        [str(REPO / ".venv/bin/python"), "-m", "tools.demo.simulator", "--list-scenarios"],
        cwd=app,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "healthy" in result.stdout
