"""Check the Alertmanager configuration with the real amtool, against every alert we ship.

    python -m tools.alertmanager.lint          # make lint-alertmanager

Steps (each finding names the file and the alert, receiver or field):

1. ``amtool check-config`` on the configuration as seen on this host (templates parsed).
2. Secrets: no secret written inline; every secret file is under ``/etc/alertmanager/secrets/``
   and has a ``.example`` beside it; every template glob matches a file; every receiver is
   reached by some route. The operator's real secret files, where present, have the shape
   their integration needs (without ever printing them).
3. Routes: for every alert of ``monitoring/prometheus/alerts.yml`` and ``slo_rules.yml`` (each
   severity of an SLO alert on its own) and of Loki's rule file
   (``monitoring/loki/rules/fake/narra_forge.yml``), ``amtool config routes
   test`` with the labels the alert carries at Alertmanager (rule labels, ``alertname``,
   Prometheus' external labels) gives exactly the receivers listed for it in
   ``monitoring/alertmanager/routes.expected.yml``. An alert missing from that table fails,
   naming the alert, and so does an entry for an alert that no longer exists.
4. Templates: every templated field of every receiver is rendered with ``amtool template
   render`` for every alert; each integration's message must carry the alert's summary,
   description, severity, runbook link and dashboard link.

amtool comes from ``$AMTOOL`` or ``PATH`` (``make system-deps`` installs Debian's).
Exit codes: 0 clean, 1 findings, 2 a file or amtool missing.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from tools._repo import BinaryNotFoundError, find_command, shown
from tools.alertmanager.config import (
    CONFIG_PATH,
    CONTAINER_DIR,
    HOST_DIR,
    REPO,
    ConfigError,
    dump_config,
    file_references,
    host_view,
    inline_secrets,
    load_config,
    receiver_names,
    routed_receivers,
)

ALERTS_PATH = REPO / "monitoring" / "prometheus" / "alerts.yml"
#: Loki's ruler sends these alerts (tools/loki/rules.py) with the same external labels as
#: Prometheus (monitoring/loki/loki.yml; `make lint-compose` checks they agree).
LOKI_RULES_PATH = REPO / "monitoring" / "loki" / "rules" / "fake" / "narra_forge.yml"
SLO_ALERTS_PATH = REPO / "monitoring" / "prometheus" / "slo_rules.yml"
PROMETHEUS_PATH = REPO / "monitoring" / "prometheus" / "prometheus.yml"
EXPECTED_PATH = HOST_DIR / "routes.expected.yml"
#: Integrations that send a human-readable message built from our templates. Webhooks send
#: the raw alert JSON, which holds every label and annotation anyway.
MESSAGE_INTEGRATIONS = ("slack_configs", "pagerduty_configs", "email_configs")
#: Template fields rendered as HTML (escaped) rather than text.
HTML_FIELDS = frozenset({"html"})
#: Fields nobody reads as text: a severity found only there is not shown to anyone.
INVISIBLE_FIELDS = frozenset({"color"})


class LintError(RuntimeError):
    """The lint cannot run (a file or amtool is missing); the message says what to do."""


@dataclass(frozen=True)
class Alert:
    """An alerting rule as Alertmanager will see it, before Prometheus expands templates."""

    name: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]


@dataclass(frozen=True)
class ExpectedRoutes:
    #: Alert name -> receivers; ``Name@severity`` for an alert listed per severity (the SLO
    #: alerts are one name in two severities, a page and a ticket, routed differently).
    alerts: Mapping[str, frozenset[str]]
    label_sets: Sequence[tuple[Mapping[str, str], frozenset[str]]] = field(default_factory=tuple)


def find_amtool() -> str:
    try:
        return find_command("amtool")[0]
    except BinaryNotFoundError as error:
        raise LintError(str(error)) from error


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except OSError as error:
        raise LintError(f"{shown(path)}: cannot read: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise LintError(f"{shown(path)}: not valid YAML: {error}") from error


def load_alerts(alerts_path: Path = ALERTS_PATH) -> list[Alert]:
    """Every alerting rule of a Prometheus rule file, in file order."""
    document = _read_yaml(alerts_path) or {}
    alerts = []
    for group in document.get("groups") or []:
        for rule in group.get("rules") or []:
            if "alert" in rule:
                alerts.append(
                    Alert(
                        name=str(rule["alert"]),
                        labels={k: str(v) for k, v in (rule.get("labels") or {}).items()},
                        annotations={k: str(v) for k, v in (rule.get("annotations") or {}).items()},
                    )
                )
    return alerts


def external_labels(prometheus_path: Path = PROMETHEUS_PATH) -> dict[str, str]:
    """Prometheus adds these to every alert it sends; routes and inhibition may use them."""
    if not prometheus_path.exists():
        return {}
    document = _read_yaml(prometheus_path) or {}
    labels = (document.get("global") or {}).get("external_labels") or {}
    return {str(k): str(v) for k, v in labels.items()}


def alert_labels(alert: Alert, external: Mapping[str, str]) -> dict[str, str]:
    """The labels an alert carries when it reaches Alertmanager (rule labels win)."""
    return {**external, **alert.labels, "alertname": alert.name}


def load_expected(path: Path = EXPECTED_PATH) -> ExpectedRoutes:
    document = _read_yaml(path)
    where = shown(path)
    if not isinstance(document, dict) or not isinstance(document.get("alerts"), dict):
        raise LintError(f"{where}: expected a mapping with `alerts: {{AlertName: [receiver]}}`")
    alerts = {}
    for name, receivers in document["alerts"].items():
        if isinstance(receivers, dict) and receivers:
            for severity, per_severity in receivers.items():
                if not isinstance(per_severity, list) or not per_severity:
                    raise LintError(
                        f"{where}: alert {name}, severity {severity}: expected a non-empty list "
                        "of receivers"
                    )
                alerts[f"{name}@{severity}"] = frozenset(str(r) for r in per_severity)
            continue
        if not isinstance(receivers, list) or not receivers:
            raise LintError(
                f"{where}: alert {name}: expected a non-empty list of receivers (or a mapping "
                "severity -> receivers)"
            )
        alerts[str(name)] = frozenset(str(r) for r in receivers)
    label_sets = []
    for index, entry in enumerate(document.get("label_sets") or []):
        if not isinstance(entry, dict) or not isinstance(entry.get("labels"), dict):
            raise LintError(f"{where}: label_sets[{index}]: expected `labels` and `receivers`")
        labels = {str(k): str(v) for k, v in entry["labels"].items()}
        label_sets.append((labels, frozenset(str(r) for r in entry.get("receivers") or [])))
    return ExpectedRoutes(alerts=alerts, label_sets=tuple(label_sets))


# --- 1. amtool check-config -------------------------------------------------------------------


def check_config(amtool: str, config_file: Path, shown_as: str) -> list[str]:
    result = subprocess.run(
        [amtool, "check-config", str(config_file)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode == 0:
        return []
    output = (result.stdout + result.stderr).replace(str(config_file), shown_as).strip()
    return [f"{shown_as}: amtool check-config failed:\n{output}"]


# --- 2. secrets, templates, receivers ---------------------------------------------------------


def check_structure(config: Mapping[str, Any], shown_as: str, host_dir: Path) -> list[str]:
    findings = [
        f"{shown_as}: {where}: secret written in the file; use the `_file` field and a file "
        f"in {CONTAINER_DIR}/secrets/ (see monitoring/alertmanager/secrets/README.md)"
        for where in inline_secrets(config)
    ]
    secrets_dir = CONTAINER_DIR / "secrets"
    for reference in file_references(config):
        path = PurePosixPath(reference.path)
        if reference.where.startswith("templates"):
            if not path.is_relative_to(CONTAINER_DIR):
                findings.append(
                    f"{shown_as}: {reference.where}: {reference.path} is outside "
                    f"{CONTAINER_DIR}/, which is what compose mounts"
                )
                continue
            local = host_dir / path.relative_to(CONTAINER_DIR)
            if not sorted(local.parent.glob(local.name)):
                findings.append(
                    f"{shown_as}: {reference.where}: {reference.path} matches no file "
                    f"(looked for {shown(local)})"
                )
            continue
        if path.parent != secrets_dir:
            findings.append(
                f"{shown_as}: {reference.where}: {reference.path} is not in {secrets_dir}/, "
                "the git-ignored folder mounted into the container"
            )
            continue
        example = host_dir / "secrets" / f"{path.name}.example"
        if not example.exists():
            findings.append(
                f"{shown_as}: {reference.where}: no {shown(example)} showing the shape of "
                f"{path.name}"
            )
    routed = routed_receivers(config)
    for name in receiver_names(config):
        if name not in routed:
            findings.append(f"{shown_as}: receivers[{name}]: no route sends to it")
    return findings


def check_secret_files(secrets_dir: Path) -> list[str]:
    """The operator's real secret files, when present: shapes that fail only at send time.

    Never prints a secret: findings name the file and what is wrong with it.
    """
    findings = []
    for path in sorted(secrets_dir.iterdir()) if secrets_dir.is_dir() else []:
        if path.name.endswith(".example") or path.name == "README.md" or not path.is_file():
            continue
        where = shown(path)
        raw = path.read_bytes()
        value = raw.decode(errors="replace").strip()
        example = path.with_name(f"{path.name}.example")
        if example.exists() and value == example.read_text().strip():
            findings.append(f"{where}: still the placeholder of {example.name}")
            continue
        if not value:
            findings.append(f"{where}: empty")
        elif path.name == "smtp_auth_password" and raw != raw.rstrip(b"\r\n"):
            # Measured with Alertmanager 0.25: the Slack URL and the routing key are trimmed,
            # the SMTP password file is sent byte for byte and the login fails.
            findings.append(
                f"{where}: ends with a newline, which Alertmanager sends as part of the "
                "password; write it with `printf '%s' 'the-password' > " + where + "`"
            )
        elif path.name == "slack_api_url" and not value.startswith(("https://", "http://")):
            findings.append(f"{where}: not a URL (expected https://hooks.slack.com/services/...)")
        elif path.name == "pagerduty_routing_key" and not (len(value) == 32 and value.isalnum()):
            findings.append(
                f"{where}: not a PagerDuty Events API v2 integration key (32 letters and digits)"
            )
    return findings


# --- 3. routes --------------------------------------------------------------------------------


def _matcher_arg(name: str, value: str) -> str:
    # amtool parses each argument as a matcher; quoting keeps values with spaces or commas whole.
    return f"{name}={json.dumps(value)}"


def route_receivers(amtool: str, config_file: Path, labels: Mapping[str, str]) -> frozenset[str]:
    """Receivers ``amtool config routes test`` resolves a label set to."""
    result = subprocess.run(
        [
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={config_file}",
            *(_matcher_arg(k, v) for k, v in sorted(labels.items())),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise LintError(f"amtool config routes test failed for {dict(labels)}: {result.stderr}")
    return frozenset(r for r in result.stdout.strip().split(",") if r)


def _names(receivers: frozenset[str]) -> str:
    return ", ".join(sorted(receivers)) or "(none)"


def check_routes(
    amtool: str,
    config_file: Path,
    shown_as: str,
    alerts: Sequence[Alert],
    external: Mapping[str, str],
    expected: ExpectedRoutes,
    expected_as: str,
) -> list[str]:
    label_sets: list[Mapping[str, str]] = [alert_labels(alert, external) for alert in alerts]
    label_sets += [dict(labels) for labels, _ in expected.label_sets]
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        resolved = list(pool.map(lambda ls: route_receivers(amtool, config_file, ls), label_sets))
    findings = []
    for alert, labels, got in zip(alerts, label_sets, resolved[: len(alerts)], strict=False):
        key = f"{alert.name}@{alert.labels.get('severity')}"
        want = expected.alerts.get(key, expected.alerts.get(alert.name))
        if want is None:
            findings.append(
                f"{expected_as}: alert {alert.name} has no expected receivers; it routes to "
                f"{_names(got)} today. Add `{alert.name}: [{_names(got)}]` (or the receivers "
                "you mean) under `alerts:`"
            )
        elif got != want:
            findings.append(
                f"{shown_as}: alert {alert.name} {labels} routes to {_names(got)}; "
                f"{expected_as} expects {_names(want)}"
            )
    shipped = {alert.name for alert in alerts}
    shipped |= {f"{alert.name}@{alert.labels.get('severity')}" for alert in alerts}
    for name in sorted(set(expected.alerts) - shipped):
        findings.append(
            f"{expected_as}: alert {name} is listed but no rule in alerts.yml, slo_rules.yml "
            "or the Loki rules has it"
        )
    for (labels, want), got in zip(expected.label_sets, resolved[len(alerts) :], strict=True):
        if got != want:
            findings.append(
                f"{shown_as}: labels {dict(labels)} route to {_names(got)}; "
                f"{expected_as} expects {_names(want)}"
            )
    return findings


# --- 4. templates -----------------------------------------------------------------------------


def template_data(alert: Alert, labels: Mapping[str, str], receiver: str) -> dict[str, Any]:
    """Alertmanager's notification data for a group holding this one firing alert."""
    return {
        "receiver": receiver,
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": dict(labels),
                "annotations": dict(alert.annotations),
                "startsAt": "2024-05-01T12:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://localhost:9090/graph",
                "fingerprint": "0000000000000001",
            }
        ],
        "groupLabels": {"alertname": alert.name},
        "commonLabels": dict(labels),
        "commonAnnotations": dict(alert.annotations),
        "externalURL": "http://localhost:9093",
    }


def templated_fields(integration: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Every string of an integration that holds a template, by its path (``text``,
    ``actions[0].url``, ``headers.Subject``)."""
    fields: dict[str, str] = {}
    for key, value in integration.items():
        path = f"{prefix}{key}"
        if isinstance(value, str) and "{{" in value:
            fields[path] = value
        elif isinstance(value, dict):
            fields.update(templated_fields(value, f"{path}."))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    fields.update(templated_fields(item, f"{path}[{index}]."))
    return fields


_SEPARATOR = "\n@@narra-forge-field {}@@\n"


def render_fields(
    amtool: str,
    template_globs: Sequence[str],
    fields: Mapping[str, str],
    data: Mapping[str, Any],
    html_type: bool,
) -> dict[str, str]:
    """Render several template strings in one amtool call; their text by field path."""
    if not fields:
        return {}
    text = "".join(_SEPARATOR.format(name) + value for name, value in fields.items())
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(data, handle)
        data_file = handle.name
    try:
        result = subprocess.run(
            [
                amtool,
                "template",
                "render",
                *(f"--template.glob={glob}" for glob in template_globs),
                f"--template.text={text}",
                f"--template.data={data_file}",
                f"--template.type={'html' if html_type else 'text'}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        os.unlink(data_file)
    if result.returncode != 0:
        raise _RenderFailedError(result.stderr.strip() or result.stdout.strip())
    rendered: dict[str, str] = {}
    parts = result.stdout.split("@@narra-forge-field ")
    for part in parts[1:]:
        name, _, body = part.partition("@@\n")
        rendered[name] = body.rstrip("\n")
    return rendered


class _RenderFailedError(RuntimeError):
    pass


def _must_show(alert: Alert, labels: Mapping[str, str]) -> dict[str, str]:
    return {
        "summary": alert.annotations.get("summary", ""),
        "description": alert.annotations.get("description", ""),
        "severity": labels.get("severity", ""),
        "runbook link": alert.annotations.get("runbook_url", ""),
        "dashboard link": alert.annotations.get("dashboard_url", ""),
    }


def _render_message(
    amtool: str, globs: Sequence[str], fields: Mapping[str, str], data: Mapping[str, Any]
) -> dict[str, str]:
    """All fields of one integration for one alert; on failure, name the field that fails."""
    text_fields = {k: v for k, v in fields.items() if k not in HTML_FIELDS}
    html_fields = {k: v for k, v in fields.items() if k in HTML_FIELDS}
    try:
        output = render_fields(amtool, globs, text_fields, data, False)
        output.update(render_fields(amtool, globs, html_fields, data, True))
        return output
    except _RenderFailedError:
        pass
    for name, value in fields.items():  # rare: find the culprit one field at a time
        try:
            render_fields(amtool, globs, {name: value}, data, name in HTML_FIELDS)
        except _RenderFailedError as error:
            raise _RenderFailedError(f"{name}: {error}") from None
    raise _RenderFailedError("the fields fail together but not one by one")


def check_templates(
    amtool: str,
    config: Mapping[str, Any],
    shown_as: str,
    alerts: Sequence[Alert],
    external: Mapping[str, str],
) -> tuple[list[str], int]:
    """Findings, and how many template fields were rendered."""
    globs = [str(glob) for glob in config.get("templates") or []]
    jobs = []
    for receiver in config.get("receivers") or []:
        for kind in MESSAGE_INTEGRATIONS:
            for index, integration in enumerate(receiver.get(kind) or []):
                where = f"receivers[{receiver['name']}].{kind}[{index}]"
                fields = templated_fields(integration)
                for alert in alerts:
                    labels = alert_labels(alert, external)
                    data = template_data(alert, labels, receiver["name"])
                    jobs.append((where, alert, labels, fields, data))

    def render(job: tuple[str, Alert, dict[str, str], dict[str, str], dict[str, Any]]) -> Any:
        try:
            return _render_message(amtool, globs, job[3], job[4])
        except _RenderFailedError as error:
            return error

    # amtool calls are independent processes: run them side by side.
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        outputs = list(pool.map(render, jobs))

    findings: list[str] = []
    rendered_count = 0
    for (where, alert, labels, _, _), output in zip(jobs, outputs, strict=True):
        if isinstance(output, _RenderFailedError):
            findings.append(f"{shown_as}: {where}.{output}: for alert {alert.name}")
            continue
        rendered_count += len(output)
        visible = [v for k, v in output.items() if k not in INVISIBLE_FIELDS]
        message = html.unescape("\n".join(visible))
        for what, value in _must_show(alert, labels).items():
            if value and value not in message:  # a missing annotation is the rule lint's job
                findings.append(
                    f"{shown_as}: {where}: the message for alert {alert.name} "
                    f"does not show its {what} ({value!r})"
                )
        for name, text in output.items():
            if not text.strip():
                findings.append(f"{shown_as}: {where}.{name}: renders empty for alert {alert.name}")
    return findings, rendered_count


# --- all together -----------------------------------------------------------------------------


@dataclass
class Report:
    findings: list[str]
    alerts: int
    routes_checked: int
    fields_rendered: int


def lint(
    config_path: Path = CONFIG_PATH,
    alerts_path: Path = ALERTS_PATH,
    prometheus_path: Path = PROMETHEUS_PATH,
    expected_path: Path = EXPECTED_PATH,
    amtool: str | None = None,
    loki_rules_path: Path | None = LOKI_RULES_PATH,
    slo_alerts_path: Path = SLO_ALERTS_PATH,
) -> Report:
    amtool = amtool or find_amtool()
    shown_as = shown(config_path)
    try:
        config = load_config(config_path)
    except ConfigError as error:
        raise LintError(str(error)) from error
    host_dir = config_path.resolve().parent
    alerts = load_alerts(alerts_path) + load_alerts(slo_alerts_path)
    if loki_rules_path is not None and loki_rules_path.exists():
        alerts += load_alerts(loki_rules_path)
    external = external_labels(prometheus_path)
    expected = load_expected(expected_path)
    view = host_view(config, host_dir)
    findings = check_structure(config, shown_as, host_dir)
    findings += check_secret_files(host_dir / "secrets")
    with tempfile.TemporaryDirectory(prefix="lint-alertmanager-") as tmp:
        view_file = Path(tmp) / "alertmanager.yml"
        view_file.write_text(dump_config(view))
        config_findings = check_config(amtool, view_file, shown_as)
        findings += config_findings
        if config_findings:  # routes and templates of a refused file mean nothing
            return Report(findings, len(alerts), 0, 0)
        findings += check_routes(
            amtool, view_file, shown_as, alerts, external, expected, shown(expected_path)
        )
    template_findings, rendered = check_templates(amtool, view, shown_as, alerts, external)
    findings += template_findings
    return Report(findings, len(alerts), len(alerts) + len(expected.label_sets), rendered)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=CONFIG_PATH)
    parser.add_argument("--alerts", type=Path, default=ALERTS_PATH)
    parser.add_argument("--slo-alerts", type=Path, default=SLO_ALERTS_PATH)
    parser.add_argument("--loki-rules", type=Path, default=LOKI_RULES_PATH)
    parser.add_argument("--prometheus", type=Path, default=PROMETHEUS_PATH)
    parser.add_argument("--expected", type=Path, default=EXPECTED_PATH)
    args = parser.parse_args(argv)
    try:
        report = lint(
            args.config,
            args.alerts,
            args.prometheus,
            args.expected,
            loki_rules_path=args.loki_rules,
            slo_alerts_path=args.slo_alerts,
        )
    except LintError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for finding in report.findings:
        print(finding, file=sys.stderr)
    if report.findings:
        print(
            f"{len(report.findings)} problem(s) in the Alertmanager configuration", file=sys.stderr
        )
        return 1
    print(
        f"{shown(args.config)}: amtool check-config passes; {report.alerts} alerts and "
        f"{report.routes_checked - report.alerts} other label sets route as "
        f"{shown(args.expected)} says; {report.fields_rendered} template fields rendered"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
