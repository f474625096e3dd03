"""`make lint-alertmanager`: the shipped files pass, and each check fed a broken copy names
the file and the alert, receiver or field that is wrong. amtool is the real one (0.25)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from tools.alertmanager.lint import (
    ALERTS_PATH,
    EXPECTED_PATH,
    LintError,
    check_secret_files,
    find_amtool,
    lint,
    load_alerts,
    load_expected,
    main,
)


def test_shipped_configuration_passes_every_check():
    report = lint()
    assert report.findings == []
    assert report.fields_rendered > 0


def test_every_alert_in_alerts_yml_has_a_deliberate_route():
    # The same check the lint makes, spelled out: a new alert must be added to the table.
    listed = set(load_expected().alerts)
    missing = [alert.name for alert in load_alerts() if alert.name not in listed]
    assert missing == [], f"add these alerts to {EXPECTED_PATH}: {missing}"


def _edit_yaml(path: Path, edit) -> None:
    document = yaml.safe_load(path.read_text())
    edit(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def _alerts_with(tmp_path: Path, rule: dict) -> Path:
    document = yaml.safe_load(ALERTS_PATH.read_text())
    document["groups"].append({"name": "test_extra", "rules": [rule]})
    path = tmp_path / "alerts.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


NEW_ALERT = {
    "alert": "BrandNewAlert",
    "expr": "vector(1)",
    "labels": {"severity": "warning", "category": "pipeline"},
    "annotations": {
        "summary": "Something new",
        "description": "Something new happened",
        "runbook_url": "https://example.com/docs/runbooks/BrandNewAlert.md",
        "dashboard_url": "http://localhost:3000/d/narra-forge-pipeline-overview",
    },
}


def test_a_new_alert_without_an_expected_route_fails_naming_it(am_dir, tmp_path):
    report = lint(
        config_path=am_dir / "alertmanager.yml",
        alerts_path=_alerts_with(tmp_path, NEW_ALERT),
        expected_path=am_dir / "routes.expected.yml",
    )
    assert len(report.findings) == 1
    assert "alert BrandNewAlert has no expected receivers" in report.findings[0]
    assert "it routes to slack today" in report.findings[0]


def test_an_expected_entry_for_a_removed_alert_fails_naming_it(am_dir):
    expected = am_dir / "routes.expected.yml"
    _edit_yaml(expected, lambda d: d["alerts"].update({"GoneAlert": ["slack"]}))
    report = lint(config_path=am_dir / "alertmanager.yml", expected_path=expected)
    assert report.findings == [
        f"{expected}: alert GoneAlert is listed but no rule in alerts.yml, slo_rules.yml or the "
        "Loki rules has it"
    ]


def test_a_route_that_differs_from_the_table_names_alert_and_both_receiver_sets(am_dir):
    config = am_dir / "alertmanager.yml"

    def drop_pagerduty_route(document):
        routes = document["route"]["routes"]
        document["route"]["routes"] = [r for r in routes if r["receiver"] != "pagerduty"]
        document["receivers"] = [r for r in document["receivers"] if r["name"] != "pagerduty"]

    _edit_yaml(config, drop_pagerduty_route)
    report = lint(config_path=config, expected_path=am_dir / "routes.expected.yml")
    paged = [f for f in report.findings if "alert PipelineErrorRateHigh" in f]
    assert len(paged) == 1
    assert "routes to slack;" in paged[0]
    assert "expects pagerduty, slack" in paged[0]


def test_a_secret_written_inline_is_refused(am_dir):
    config = am_dir / "alertmanager.yml"

    def inline_slack(document):
        slack = document["receivers"][1]["slack_configs"][0]
        del slack["api_url_file"]
        slack["api_url"] = "https://hooks.slack.com/services/TXXXXXXXX/BXXXXXXXX/XXXXXXXXXXXX"

    _edit_yaml(config, inline_slack)
    findings = lint(config_path=config, expected_path=am_dir / "routes.expected.yml").findings
    assert any(
        "receivers[slack].slack_configs[0].api_url: secret written in the file" in f
        for f in findings
    ), findings


def test_a_secret_file_outside_the_secrets_folder_or_without_example_is_named(am_dir):
    config = am_dir / "alertmanager.yml"

    def move_secrets(document):
        pagerduty = document["receivers"][2]["pagerduty_configs"][0]
        pagerduty["routing_key_file"] = "/etc/alertmanager/secrets/pd_key"
        document["global"]["smtp_auth_password_file"] = "/run/secrets/smtp"

    _edit_yaml(config, move_secrets)
    findings = lint(config_path=config, expected_path=am_dir / "routes.expected.yml").findings
    assert any(
        "receivers[pagerduty].pagerduty_configs[0].routing_key_file: no " in f
        and "pd_key.example" in f
        for f in findings
    ), findings
    assert any(
        "global.smtp_auth_password_file: /run/secrets/smtp is not in /etc/alertmanager/secrets/"
        in f
        for f in findings
    ), findings


def test_a_receiver_no_route_reaches_is_named(am_dir):
    config = am_dir / "alertmanager.yml"
    _edit_yaml(config, lambda d: d["receivers"].append({"name": "forgotten"}))
    findings = lint(config_path=config, expected_path=am_dir / "routes.expected.yml").findings
    assert findings == [f"{config}: receivers[forgotten]: no route sends to it"]


def test_amtool_check_config_failure_is_reported_with_its_message(am_dir):
    config = am_dir / "alertmanager.yml"
    _edit_yaml(config, lambda d: d["route"]["routes"][0].update({"receiver": "nobody"}))
    findings = lint(config_path=config, expected_path=am_dir / "routes.expected.yml").findings
    failed = [f for f in findings if "amtool check-config failed" in f]
    assert len(failed) == 1
    assert 'undefined receiver "nobody"' in failed[0]


def test_a_broken_template_file_fails_check_config(am_dir):
    (am_dir / "templates" / "narra_forge.tmpl").write_text('{{ define "narra_forge.title" }}{{')
    findings = lint(
        config_path=am_dir / "alertmanager.yml", expected_path=am_dir / "routes.expected.yml"
    ).findings
    assert any("amtool check-config failed" in f and "narra_forge.tmpl" in f for f in findings)


def test_a_field_calling_an_undefined_template_is_named_with_the_field(am_dir):
    config = am_dir / "alertmanager.yml"
    _edit_yaml(
        config,
        lambda d: d["receivers"][1]["slack_configs"][0].update(
            {"text": '{{ template "narra_forge.typo" . }}'}
        ),
    )
    findings = lint(config_path=config, expected_path=am_dir / "routes.expected.yml").findings
    assert findings, "an undefined template must be reported"
    assert all("receivers[slack].slack_configs[0].text: " in f for f in findings), findings
    assert all('template "narra_forge.typo" not defined' in f for f in findings), findings


def test_a_message_without_the_runbook_link_is_named(am_dir):
    template = am_dir / "templates" / "narra_forge.tmpl"
    # Email keeps its links; Slack's text and buttons lose the runbook.
    text = template.read_text()
    config = am_dir / "alertmanager.yml"

    def no_runbook_in_slack(document):
        slack = document["receivers"][1]["slack_configs"][0]
        slack["actions"] = [a for a in slack["actions"] if a["text"] != "Runbook"]
        slack["text"] = "{{ .CommonAnnotations.summary }} {{ .CommonAnnotations.description }}"

    template.write_text(text)
    _edit_yaml(config, no_runbook_in_slack)
    findings = lint(config_path=config, expected_path=am_dir / "routes.expected.yml").findings
    slack = [f for f in findings if "receivers[slack]" in f]
    assert slack
    assert all("does not show its runbook link" in f for f in slack)
    assert any("alert PipelineErrorRateHigh" in f for f in slack)
    assert not [f for f in findings if "receivers[email]" in f]


def test_operator_secret_files_with_the_wrong_shape_are_named_without_their_content(tmp_path):
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "smtp_auth_password").write_text("hunter2-but-longer\n")
    (secrets / "slack_api_url").write_text("hooks.slack.com/services/no-scheme\n")
    (secrets / "pagerduty_routing_key").write_text("short\n")
    (secrets / "slack_api_url.example").write_text("https://hooks.slack.com/services/X\n")
    findings = check_secret_files(secrets)
    assert len(findings) == 3
    assert any("smtp_auth_password: ends with a newline" in f for f in findings)
    assert any("slack_api_url: not a URL" in f for f in findings)
    assert any("pagerduty_routing_key: not a PagerDuty" in f for f in findings)
    for secret in ("hunter2-but-longer", "no-scheme", "short"):
        assert not any(secret in f for f in findings)


def test_a_secret_file_left_as_the_example_placeholder_is_named(tmp_path):
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "slack_api_url.example").write_text("https://hooks.slack.com/services/TXX/BXX\n")
    (secrets / "slack_api_url").write_text("https://hooks.slack.com/services/TXX/BXX\n")
    assert check_secret_files(secrets) == [
        f"{secrets / 'slack_api_url'}: still the placeholder of slack_api_url.example"
    ]


def test_a_wrong_amtool_override_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("AMTOOL", "/nonexistent/amtool")
    with pytest.raises(LintError, match="AMTOOL='/nonexistent/amtool'"):
        find_amtool()


def test_missing_amtool_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.delenv("AMTOOL", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LintError, match=r"make setup.*prometheus-alertmanager.*AMTOOL="):
        find_amtool()


def test_command_line_exit_codes(am_dir, tmp_path, capsys):
    assert main([]) == 0
    assert "amtool check-config passes" in capsys.readouterr().out
    broken = _alerts_with(tmp_path, NEW_ALERT)
    assert main(["--config", str(am_dir / "alertmanager.yml"), "--alerts", str(broken)]) == 1
    assert "BrandNewAlert" in capsys.readouterr().err
    assert main(["--expected", os.devnull]) == 2
