"""The pipeline_failures stack: an alert's whole path, then faults. Tests run in file order."""

from __future__ import annotations

import json
import time

from tests.e2e.conftest import RunningStack, wait_for
from tools.demo.net import http_get, http_post

RUNBOOK_SUFFIX = "docs/runbooks/PipelineErrorRateHigh.md"
DASHBOARD_SUFFIX = "/d/narra-forge-pipeline-overview"


def slack_messages(stack: RunningStack, alertname: str) -> list[dict]:
    return [
        attachment
        for body in stack.receiver.messages("/slack/slack")
        for attachment in body.get("attachments", [])
        if alertname in attachment.get("title", "") and "FIRING" in attachment.get("title", "")
    ]


def pagerduty_events(stack: RunningStack, alertname: str) -> list[dict]:
    return [
        body
        for body in stack.receiver.messages("/pagerduty/pagerduty")
        if alertname in body.get("payload", {}).get("summary", "")
        and body.get("event_action") == "trigger"
    ]


def test_pipeline_failures_fire_pipeline_error_rate_high(failing: RunningStack):
    alerts = wait_for(
        "PipelineErrorRateHigh firing in Prometheus",
        lambda: failing.prometheus.firing("PipelineErrorRateHigh"),
    )
    assert alerts[0]["labels"]["severity"] == "critical"
    assert float(alerts[0]["value"]) > 0.10
    # The agents that reject the drafts in this scenario, a07 and a09, fire their own alert.
    agents = wait_for(
        "AgentErrorRateHigh firing for a07 or a09",
        lambda: {a["labels"]["agent_id"] for a in failing.prometheus.firing("AgentErrorRateHigh")},
    )
    assert agents <= {"a07_coherence_validator", "a09_editorial_reviewer"}


def test_pipeline_error_rate_high_reaches_slack_and_pagerduty_with_its_links(
    failing: RunningStack,
):
    slack = wait_for(
        "PipelineErrorRateHigh at the Slack receiver",
        lambda: slack_messages(failing, "PipelineErrorRateHigh"),
        timeout=60,
    )[0]
    assert slack["title"].startswith("[FIRING:1] PipelineErrorRateHigh (critical):")
    assert slack["title_link"].endswith(DASHBOARD_SUFFIX)
    assert "*Severity:* critical" in slack["text"]
    assert "*Category:* pipeline" in slack["text"]
    assert "of the pipelines that finished in the last 5 minutes failed" in slack["text"]
    assert RUNBOOK_SUFFIX in slack["text"]
    buttons = {action["text"]: action["url"] for action in slack["actions"]}
    assert buttons["Runbook"].endswith(RUNBOOK_SUFFIX)
    assert buttons["Dashboard"].endswith(DASHBOARD_SUFFIX)

    page = wait_for(
        "PipelineErrorRateHigh at the PagerDuty receiver",
        lambda: pagerduty_events(failing, "PipelineErrorRateHigh"),
        timeout=30,
    )[0]
    assert page["payload"]["severity"] == "critical"
    assert page["routing_key"].startswith("local-demo-routing-key")
    assert any(link["href"].endswith(RUNBOOK_SUFFIX) for link in page["links"])

    # Alertmanager holds it with the labels and annotations of the rule.
    held = [
        a
        for a in failing.alertmanager_alerts()
        if a["labels"]["alertname"] == "PipelineErrorRateHigh"
    ]
    assert held, "Alertmanager does not list PipelineErrorRateHigh"
    labels, annotations = held[0]["labels"], held[0]["annotations"]
    assert labels["severity"] == "critical"
    assert labels["category"] == "pipeline"
    assert labels["monitor"] == "narra-forge"
    assert annotations["summary"]
    assert annotations["runbook_url"].startswith("http")
    assert annotations["runbook_url"].endswith(RUNBOOK_SUFFIX)
    assert annotations["dashboard_url"].endswith(DASHBOARD_SUFFIX)
    assert "%" in annotations["description"]


def test_alertmanager_restarted_while_the_alert_fires_still_delivers_it(failing: RunningStack):
    assert failing.prometheus.firing("PipelineErrorRateHigh")
    failing.stack.restart_service("alertmanager")
    failing.receiver.clear()
    # The restarted Alertmanager knows no alert until Prometheus sends them again.
    wait_for(
        "PipelineErrorRateHigh delivered by the restarted Alertmanager",
        lambda: slack_messages(failing, "PipelineErrorRateHigh"),
        timeout=60,
    )
    assert any(
        a["labels"]["alertname"] == "PipelineErrorRateHigh" for a in failing.alertmanager_alerts()
    )


def _sample_count(stack: RunningStack, at: float) -> float:
    result = stack.prometheus.query('count_over_time(up{job="narra_forge"}[10m])', at=at)
    assert result, "no samples of up{job=narra_forge}"
    return float(result[0]["value"][1])


def test_prometheus_restarted_keeps_the_samples_it_had(failing: RunningStack):
    before_restart = time.time() - 1
    counted = _sample_count(failing, before_restart)
    total = failing.prometheus.query("sum(narra_forge_pipeline_total)", at=before_restart)
    assert counted >= 5
    failing.stack.restart_service("prometheus")
    assert _sample_count(failing, before_restart) == counted
    again = failing.prometheus.query("sum(narra_forge_pipeline_total)", at=before_restart)
    assert again[0]["value"][1] == total[0]["value"][1]


def test_prometheus_refuses_a_broken_config_on_reload_and_keeps_the_old_one(
    failing: RunningStack,
):
    config = failing.stack.config_dir / "prometheus" / "prometheus.yml"
    good = config.read_text()
    url = failing.prometheus.url
    try:
        config.write_text(good.replace("scrape_interval: 1s", "scrape_interval: every-second"))
        status, body = http_post(f"{url}/-/reload")
        assert status == 500
        assert b"every-second" in body or b"duration" in body
        # Prometheus reports it on its own /metrics: the next self-scrape shows the failure.
        wait_for(
            "prometheus_config_last_reload_successful == 0",
            lambda: failing.prometheus.query("prometheus_config_last_reload_successful == 0"),
            timeout=15,
        )
        # The old config still scrapes: fresh samples keep arriving after the refused reload.
        refused_at = time.time()
        wait_for(
            "a scrape after the refused reload",
            lambda: failing.prometheus.query(
                f'timestamp(up{{job="narra_forge"}}) > {refused_at:.3f}'
            ),
            timeout=15,
        )
    finally:
        config.write_text(good)
    status, _ = http_post(f"{url}/-/reload")
    assert status == 200
    wait_for(
        "prometheus_config_last_reload_successful == 1",
        lambda: failing.prometheus.query("prometheus_config_last_reload_successful == 1"),
        timeout=15,
    )


def test_alertmanager_refuses_a_broken_config_on_reload_and_keeps_routing(
    failing: RunningStack,
):
    config = failing.stack.config_dir / "alertmanager.yml"
    good = config.read_text()
    url = failing.alertmanager_url
    try:
        config.write_text(good.replace("receiver: default", "receiver: nobody-by-that-name", 1))
        status, body = http_post(f"{url}/-/reload")
        assert status == 500
        assert b"nobody-by-that-name" in body
        status, body = http_get(f"{url}/api/v2/status")
        assert status == 200
        running = json.loads(body)["config"]["original"]
        assert "nobody-by-that-name" not in running
        # Still routing: the next notifications arrive (repeat_interval is 10 s in tests).
        failing.receiver.clear()
        wait_for(
            "a notification after the refused reload",
            lambda: slack_messages(failing, "PipelineErrorRateHigh"),
            timeout=60,
        )
    finally:
        config.write_text(good)
    status, _ = http_post(f"{url}/-/reload")
    assert status == 200


def test_stopping_the_simulator_fires_target_down(failing: RunningStack):
    failing.stack.stop_service("simulator")
    alerts = wait_for(
        "NarraForgeTargetDown firing",
        lambda: failing.prometheus.firing("NarraForgeTargetDown"),
        timeout=60,
    )
    assert alerts[0]["labels"]["severity"] == "critical"
    wait_for(
        "NarraForgeTargetDown paged",
        lambda: pagerduty_events(failing, "NarraForgeTargetDown"),
        timeout=30,
    )
