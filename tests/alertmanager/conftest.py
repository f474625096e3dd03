"""Fixtures: copies of monitoring/alertmanager/ to break, and a real Alertmanager 0.25 that
sends to local stand-ins (HTTP recorder for Slack, PagerDuty and the heartbeat; a real SMTP
server for email). Ports are chosen at run time; everything started is stopped."""

from __future__ import annotations

import email
import email.policy
import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tools._repo import BinaryNotFoundError, find_command
from tools.alertmanager.config import HOST_DIR, dump_config, load_config, local_copy
from tools.alertmanager.lint import Alert, alert_labels, external_labels, load_alerts
from tools.demo.net import free_port, http_get, http_post
from tools.demo.processes import Process
from tools.demo.receiver import Receiver

#: Tests cannot wait 30 s for a group; only these timings differ from the shipped file.
FAST = {"group_wait": "1s", "group_interval": "2s", "repeat_interval": "1h"}


def alertmanager_binary() -> str:
    try:
        return find_command("alertmanager")[0]
    except BinaryNotFoundError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture
def am_dir(tmp_path: Path) -> Path:
    """A copy of monitoring/alertmanager/ (config, templates, examples) that a test may break."""
    copy = tmp_path / "alertmanager"
    shutil.copytree(HOST_DIR, copy, ignore=_real_secrets)
    return copy


def _real_secrets(folder: str, names: list[str]) -> list[str]:
    # A developer's real secret files must never be copied into a test.
    if Path(folder).name != "secrets":
        return []
    return [n for n in names if not n.endswith(".example") and n != "README.md"]


@pytest.fixture(scope="session")
def shipped_alerts() -> dict[str, Alert]:
    return {alert.name: alert for alert in load_alerts()}


@pytest.fixture(scope="session")
def external() -> dict[str, str]:
    return external_labels()


@dataclass
class Mailbox:
    """What the SMTP server received: messages and the credentials used to log in."""

    messages: list[email.message.EmailMessage] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            with self.lock:
                self.logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=True)


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, str]]:
    """A real SMTP server (aiosmtpd) on a free port; yields it and its host:port."""
    box = Mailbox()
    port = free_port()
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=port,
        authenticator=box.authenticate,
        # Local test server without a certificate: Go's client still sends PLAIN credentials
        # to 127.0.0.1 without TLS, so the password file's content can be checked.
        auth_require_tls=False,
        # aiosmtpd's LOGIN challenge ("User Name") is not the "Username:" that Alertmanager's
        # LOGIN client (and real servers) use; offering PLAIN only avoids that quirk.
        auth_exclude_mechanism=["LOGIN"],
    )
    controller.start()
    try:
        yield box, f"127.0.0.1:{port}"
    finally:
        controller.stop()


@pytest.fixture
def recorder() -> Iterator[Receiver]:
    with Receiver(quiet=True) as receiver:
        yield receiver


@dataclass
class LiveAlertmanager:
    url: str
    process: Process
    secrets: Path
    recorder: Receiver
    mailbox: Mailbox

    def post(self, alerts: list[dict[str, Any]]) -> None:
        status, body = http_post(f"{self.url}/api/v2/alerts", json.dumps(alerts).encode())
        assert status == 200, body

    def alerts(self) -> list[dict[str, Any]]:
        status, body = http_get(f"{self.url}/api/v2/alerts")
        assert status == 200, body
        return json.loads(body)

    def received(self, path_prefix: str) -> list[dict[str, Any]]:
        return [item for item in self.recorder.store.all() if item["path"].startswith(path_prefix)]

    def log(self) -> str:
        return self.process.log_path.read_text(errors="replace")


def wait_for(what: str, condition: Callable[[], Any], live: LiveAlertmanager, timeout: float = 30):
    """Poll until ``condition()`` is truthy; on timeout fail with the Alertmanager log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}; Alertmanager log:\n{live.log()[-3000:]}")


def alert_payload(alert: Alert, external: dict[str, str], **extra_labels: str) -> dict[str, Any]:
    """An alert as Prometheus posts it: rule labels, external labels, its annotations."""
    return {
        "labels": {**alert_labels(alert, external), **extra_labels},
        "annotations": dict(alert.annotations),
        "generatorURL": "http://localhost:9090/graph",
    }


@pytest.fixture
def start_alertmanager(
    tmp_path: Path, recorder: Receiver, mailbox: tuple[Mailbox, str]
) -> Iterator[Callable[[], LiveAlertmanager]]:
    """Start the shipped alertmanager.yml with local addresses and an empty secrets folder."""
    started: list[Process] = []
    box, smarthost = mailbox

    def start() -> LiveAlertmanager:
        secrets = tmp_path / "secrets"
        secrets.mkdir(exist_ok=True)
        config = local_copy(
            load_config(),
            receiver_url=recorder.url,
            smtp_smarthost=smarthost,
            secrets_dir=secrets,
            slack_from_secret_file=True,
            timings=FAST,
        )
        config_file = tmp_path / "alertmanager.yml"
        config_file.write_text(dump_config(config))
        port = free_port()
        process = Process(
            "alertmanager",
            [
                alertmanager_binary(),
                f"--config.file={config_file}",
                f"--storage.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",  # no HA gossip port to collide with
                f"--web.external-url=http://127.0.0.1:{port}",
            ],
            tmp_path / "alertmanager.log",
        )
        started.append(process)
        url = f"http://127.0.0.1:{port}"
        process.wait_ready(f"{url}/-/ready")
        return LiveAlertmanager(url, process, secrets, recorder, box)

    yield start
    for process in started:
        process.stop()
