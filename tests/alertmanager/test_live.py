"""The shipped alertmanager.yml in a real Alertmanager 0.25, sending to local stand-ins.

What an operator would notice: the stack starts with no secret at all and shows every alert;
Slack starts working once its one file exists; each integration's message carries the summary,
description, severity, runbook and dashboard links; a warning is quiet while a critical alert
of the same category fires; Watchdog reaches the heartbeat and nobody else.
"""

from __future__ import annotations

import pytest

from tests.alertmanager.conftest import alert_payload, wait_for
from tools.alertmanager.lint import SLO_ALERTS_PATH, load_alerts, load_expected
from tools.demo.net import http_post

pytestmark = pytest.mark.e2e


def slack_texts(live):
    """Every Slack message received, flattened to one string each (title, text, buttons)."""
    texts = []
    for item in live.received("/slack"):
        for attachment in item["body"]["attachments"]:
            parts = [attachment.get(k, "") for k in ("title", "title_link", "text", "fallback")]
            parts += [action.get("url", "") for action in attachment.get("actions") or []]
            texts.append("\n".join(parts))
    return texts


def test_no_secret_configured_alertmanager_starts_and_shows_every_alert(
    start_alertmanager, shipped_alerts, external
):
    live = start_alertmanager()  # the secrets folder is empty
    live.post([alert_payload(alert, external) for alert in shipped_alerts.values()])

    expected = load_expected()
    shown = {a["labels"]["alertname"]: a for a in live.alerts()}
    assert set(shown) == set(shipped_alerts)
    for name, alert in shown.items():
        assert {r["name"] for r in alert["receivers"]} == expected.alerts[name], name

    # The missing files fail only their own integration, with an error naming the file...
    for missing in ("slack_api_url", "pagerduty_routing_key"):
        wait_for(
            f"the missing {missing} to be reported",
            lambda missing=missing: f"{missing}: no such file or directory" in live.log(),
            live,
        )
    # ...while the heartbeat, which needs no secret, still goes out.
    heartbeats = wait_for("a heartbeat", lambda: live.received("/webhook/heartbeat"), live)
    assert heartbeats[0]["body"]["alerts"][0]["labels"]["alertname"] == "Watchdog"
    # Alertmanager is still up and answering after the failed notifications.
    assert {a["labels"]["alertname"] for a in live.alerts()} == set(shipped_alerts)


def test_slack_is_enabled_by_writing_its_one_file(start_alertmanager, shipped_alerts, external):
    live = start_alertmanager()
    live.post([alert_payload(shipped_alerts["QualityScoreLow"], external)])
    wait_for(
        "the missing Slack file to be reported",
        lambda: "slack_api_url: no such file or directory" in live.log(),
        live,
    )
    assert live.received("/slack") == []

    # The operator's one step: the webhook URL into secrets/slack_api_url (with the newline
    # that `echo` adds). No restart; no reload either, the file is read at send time.
    (live.secrets / "slack_api_url").write_text(f"{live.recorder.url}/slack/slack\n")
    live.post([alert_payload(shipped_alerts["RetryStorm"], external)])
    messages = wait_for("a Slack message", lambda: slack_texts(live), live)
    assert any("RetryStorm" in text for text in messages)

    # The documented reload works and keeps the alerts.
    status, _ = http_post(f"{live.url}/-/reload")
    assert status == 200
    assert "RetryStorm" in {a["labels"]["alertname"] for a in live.alerts()}


def _write_all_secrets(live):
    (live.secrets / "slack_api_url").write_text(f"{live.recorder.url}/slack/slack\n")
    (live.secrets / "pagerduty_routing_key").write_text("0123456789abcdef0123456789abcdef\n")
    # Without a newline, as the secrets README says: Alertmanager 0.25 trims the Slack URL and
    # the routing key but sends the SMTP password file byte for byte.
    (live.secrets / "smtp_auth_password").write_text("smtp-password-from-the-file")


def test_critical_alert_pages_and_posts_with_summary_severity_and_links(
    start_alertmanager, shipped_alerts, external
):
    live = start_alertmanager()
    _write_all_secrets(live)
    rule = shipped_alerts["PipelineErrorRateHigh"]
    live.post([alert_payload(rule, external)])

    events = wait_for("a PagerDuty event", lambda: live.received("/pagerduty"), live)
    event = events[0]["body"]
    assert event["routing_key"] == "0123456789abcdef0123456789abcdef"  # from the file
    assert event["event_action"] == "trigger"
    assert event["payload"]["severity"] == "critical"
    assert rule.annotations["summary"] in event["payload"]["summary"]
    assert {link["href"] for link in event["links"]} == {
        rule.annotations["runbook_url"],
        rule.annotations["dashboard_url"],
    }
    assert rule.annotations["description"] in event["payload"]["custom_details"]["alerts"]

    texts = wait_for("a Slack message", lambda: slack_texts(live), live)
    text = texts[0]
    for shown in (
        rule.annotations["summary"],
        rule.annotations["description"],
        rule.annotations["runbook_url"],
        rule.annotations["dashboard_url"],
        "critical",
    ):
        assert shown in text
    assert live.mailbox.messages == []  # not a cost alert: no email


def test_cost_alert_is_emailed_with_links_and_the_password_from_its_file(
    start_alertmanager, shipped_alerts, external
):
    live = start_alertmanager()
    _write_all_secrets(live)
    rule = shipped_alerts["CostBudgetWarning"]
    live.post([alert_payload(rule, external)])

    wait_for("an email", lambda: live.mailbox.messages, live)
    message = live.mailbox.messages[0]
    assert live.mailbox.logins == [
        ("narra-forge-alertmanager@example.com", "smtp-password-from-the-file")
    ]
    assert message["To"] == "narra-forge-budget@example.com"
    assert "CostBudgetWarning" in message["Subject"]
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    for body in (html, text):
        assert rule.annotations["runbook_url"] in body
        assert rule.annotations["dashboard_url"] in body
        assert "warning" in body
    assert rule.annotations["summary"] in text
    assert f'href="{rule.annotations["runbook_url"]}"' in html

    wait_for("the Slack copy", lambda: slack_texts(live), live)
    assert live.received("/pagerduty") == []  # a warning never pages


def test_watchdog_reaches_the_heartbeat_and_nobody_else(
    start_alertmanager, shipped_alerts, external
):
    live = start_alertmanager()
    _write_all_secrets(live)
    live.post(
        [
            alert_payload(shipped_alerts["Watchdog"], external),
            alert_payload(shipped_alerts["JobsStuck"], external),
        ]
    )
    wait_for("the JobsStuck Slack message", lambda: slack_texts(live), live)
    heartbeats = wait_for("a heartbeat", lambda: live.received("/webhook/heartbeat"), live)
    assert [a["labels"]["alertname"] for a in heartbeats[0]["body"]["alerts"]] == ["Watchdog"]
    assert not any("Watchdog" in text for text in slack_texts(live))
    assert live.received("/pagerduty") == []


def test_warning_is_quiet_while_a_critical_alert_of_its_category_fires(
    start_alertmanager, shipped_alerts, external
):
    live = start_alertmanager()
    _write_all_secrets(live)
    live.post(
        [
            alert_payload(shipped_alerts["APIErrorRateHigh"], external),  # critical, api
            alert_payload(shipped_alerts["APIRateLimited"], external),  # warning, api
            alert_payload(shipped_alerts["QualityScoreLow"], external),  # warning, quality
        ]
    )

    # The inhibitor learns about the critical alert asynchronously: poll the API.
    def states():
        state = {a["labels"]["alertname"]: a["status"] for a in live.alerts()}
        return state if state["APIRateLimited"]["state"] == "suppressed" else None

    state = wait_for("APIRateLimited to be suppressed", states, live)
    assert state["APIRateLimited"]["inhibitedBy"]
    assert state["QualityScoreLow"]["state"] == "active"
    assert state["APIErrorRateHigh"]["state"] == "active"

    # Both unmuted alerts reach Slack; the muted one does not.
    def both_posted():
        texts = slack_texts(live)
        joined = "\n".join(texts)
        return texts if "APIErrorRateHigh" in joined and "QualityScoreLow" in joined else None

    texts = wait_for("the critical and the unrelated warning on Slack", both_posted, live)
    assert not any("APIRateLimited" in text for text in texts)


def test_inhibition_does_not_cross_prometheus_servers(start_alertmanager, shipped_alerts, external):
    live = start_alertmanager()
    live.post(
        [
            alert_payload(shipped_alerts["APIErrorRateHigh"], external, monitor="staging"),
            alert_payload(shipped_alerts["APIRateLimited"], external, monitor="staging"),
            alert_payload(shipped_alerts["APIRateLimited"], external, monitor="production"),
        ]
    )

    def states():
        state = {
            a["labels"]["monitor"]: a["status"]["state"]
            for a in live.alerts()
            if a["labels"]["alertname"] == "APIRateLimited"
        }
        return state if state["staging"] == "suppressed" else None

    # Once staging's warning is muted by staging's critical, production's is still active.
    assert wait_for("staging's warning to be suppressed", states, live)["production"] == "active"


def test_an_slo_page_mutes_the_ticket_of_its_own_slo_only(start_alertmanager, external):
    slo_alerts = {(a.name, a.labels["severity"]): a for a in load_alerts(SLO_ALERTS_PATH)}
    live = start_alertmanager()
    live.post(
        [
            alert_payload(slo_alerts[("PipelineSuccessBudgetBurn", "critical")], external),
            alert_payload(slo_alerts[("PipelineSuccessBudgetBurn", "warning")], external),
            alert_payload(slo_alerts[("APISuccessBudgetBurn", "warning")], external),
        ]
    )

    def states():
        state = {
            (a["labels"]["alertname"], a["labels"]["sloth_severity"]): a["status"]["state"]
            for a in live.alerts()
        }
        muted = state.get(("PipelineSuccessBudgetBurn", "ticket")) == "suppressed"
        return state if muted and len(state) == 3 else None

    state = wait_for("the pipeline-success ticket to be suppressed", states, live)
    assert state[("PipelineSuccessBudgetBurn", "page")] == "active"
    # Another SLO's ticket is its own problem: the page of pipeline-success does not mute it.
    assert state[("APISuccessBudgetBurn", "ticket")] == "active"
