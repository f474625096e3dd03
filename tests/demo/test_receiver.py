"""The local notification receiver: real HTTP, as Alertmanager talks to it."""

from __future__ import annotations

import json
import subprocess
import sys

from tools.demo.net import free_port, http_get, http_post
from tools.demo.processes import Process
from tools.demo.receiver import Receiver, summarise

WEBHOOK = {
    "version": "4",
    "status": "firing",
    "receiver": "heartbeat",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "Watchdog", "severity": "info"},
            "annotations": {"summary": "Always firing"},
        }
    ],
}


def test_records_posts_and_lists_them_until_cleared():
    with Receiver(quiet=True) as receiver:
        status, _ = http_post(f"{receiver.url}/webhook/heartbeat", json.dumps(WEBHOOK).encode())
        assert status == 200
        status, body = http_get(f"{receiver.url}/received")
        received = json.loads(body)
        assert status == 200
        assert [item["path"] for item in received] == ["/webhook/heartbeat"]
        assert received[0]["body"]["alerts"][0]["labels"]["alertname"] == "Watchdog"
        assert http_post(f"{receiver.url}/received", method="DELETE")[0] == 200
        assert json.loads(http_get(f"{receiver.url}/received")[1]) == []


def test_pagerduty_path_answers_202_like_the_events_api():
    with Receiver(quiet=True) as receiver:
        body = {"event_action": "trigger", "payload": {"summary": "boom"}}
        status, _ = http_post(f"{receiver.url}/pagerduty/critical", json.dumps(body).encode())
        assert status == 202


def test_unknown_get_path_is_a_404_that_points_to_received():
    with Receiver(quiet=True) as receiver:
        status, body = http_get(f"{receiver.url}/nope")
        assert status == 404
        assert "/received" in json.loads(body)["error"]


def test_summary_lines_name_status_alert_and_severity():
    lines = summarise("/webhook/heartbeat", WEBHOOK)
    assert lines == ["/webhook/heartbeat: [FIRING] Watchdog severity=info: Always firing"]
    slack = {"attachments": [{"title": "[FIRING:1] PipelineErrorRateHigh"}]}
    assert "PipelineErrorRateHigh" in summarise("/slack/x", slack)[0]


def test_command_line_prints_each_notification_and_stops_on_sigterm(tmp_path):
    port = free_port()
    log = tmp_path / "receiver.log"
    # echo=False sends stdout to the log file too, which is what we read back.
    process = Process(
        "receiver",
        [sys.executable, "-m", "tools.demo.receiver", "--port", str(port)],
        log,
    )
    try:
        process.wait_ready(f"http://127.0.0.1:{port}/-/healthy", timeout=20)
        http_post(f"http://127.0.0.1:{port}/webhook/heartbeat", json.dumps(WEBHOOK).encode())
    finally:
        code = process.stop()
    assert code == 0
    assert "[FIRING] Watchdog severity=info" in log.read_text()


def test_taken_port_is_reported_with_the_flag_to_change_it():
    with Receiver(quiet=True) as receiver:
        result = subprocess.run(
            [sys.executable, "-m", "tools.demo.receiver", "--port", str(receiver.port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 2
    assert f"127.0.0.1:{receiver.port}" in result.stderr
    assert "--port" in result.stderr


def test_mail_server_records_subject_recipients_and_text():
    import smtplib
    from email.message import EmailMessage

    with Receiver(quiet=True, smtp_port=0) as receiver:
        message = EmailMessage()
        message["From"] = "alertmanager@example.com"
        message["To"] = "budget@example.com"
        message["Subject"] = "[FIRING:1] CostBudgetWarning (warning)"
        message.set_content("Spend over the last hour is above $10.00")
        host, port = receiver.smtp_address.split(":")
        with smtplib.SMTP(host, int(port), timeout=10) as smtp:
            smtp.send_message(message)
        mails = [item for item in receiver.store.all() if item["path"] == "/smtp"]
    assert len(mails) == 1
    body = mails[0]["body"]
    assert body["to"] == ["budget@example.com"]
    assert body["subject"] == "[FIRING:1] CostBudgetWarning (warning)"
    assert "above $10.00" in body["text"]
