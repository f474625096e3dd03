"""No secret in the repository: the scan over `git ls-files` is clean, and it catches secrets
planted in a temporary git repository. Planted values are assembled at run time, so this file
does not itself hold anything the scan would report."""

from __future__ import annotations

import subprocess

import pytest

from tools.checks.secret_scan import (
    fingerprint,
    main,
    scan_files,
    scan_text,
    tracked_files,
)


def test_tracked_files_hold_no_secret():
    findings = scan_files(tracked_files())
    assert findings == [], "\n".join(str(f) for f in findings)


# Realistic shapes, split so that no line of this file matches a rule.
SLACK_URL = (
    "https://hooks.slack.com/" + "services/T04ABCD1E/B05FGHI2J/" + "k9Zq3LmN8pR2sT6vW1xY4aB7"
)
SLACK_TOKEN = "xox" + "b-123456789012-abcdefghijklmnop"  # secret-scan: allow
ROUTING_KEY = "f3a9c2e1" + "7b5d4c3a" + "9e8f7a6b" + "5c4d3e2f"
OPENAI_KEY = "sk-" + "proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8t"
PASSWORD = "Tr0ub4dor" + "-and-3"  # secret-scan: allow
PING_URL = "https://hc-ping.com/" + "1f2e3d4c-5b6a-4789-8abc-def012345678"


def _planted() -> dict[str, tuple[str, str]]:
    """file name -> (content, the kind the scan must report)."""
    return {
        "alertmanager.yml": (f"slack_configs:\n  - api_url: {SLACK_URL}\n", "Slack webhook URL"),
        "bot.env": (f"SLACK_BOT={SLACK_TOKEN}\n", "Slack token"),
        "pd.yml": (f"pagerduty_configs:\n  - routing_key: {ROUTING_KEY}\n", "PagerDuty key"),
        "app.py": (f'client = OpenAI(api_key="{OPENAI_KEY}")\n', "OpenAI API key"),
        "grafana.env": (f"GF_SECURITY_ADMIN_PASSWORD={PASSWORD}\n", "password"),
        "smtp.yml": (f"global:\n  smtp_auth_password: '{PASSWORD}'\n", "password"),
        "compose.yml": (
            f"GF_SECURITY_ADMIN_PASSWORD: ${{GRAFANA_ADMIN_PASSWORD:-{PASSWORD}}}\n",
            "password",
        ),
        "notes.md": (f"curl -u admin:{PASSWORD} http://localhost:3000/api/search\n", "curl"),
        "db.txt": (f"postgres://narra:{PASSWORD}@db:5432/forge\n", "password in a URL"),
        "heartbeat.yml": (f"webhook_configs:\n  - url: {PING_URL}\n", "dead man's switch URL"),
        "key.pem": ("-----BEGIN RSA " + "PRIVATE KEY-----\nMIIE\n", "private key"),
    }


@pytest.fixture
def planted_repo(tmp_path):
    """A temporary git repository with one planted secret per file, added to the index."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    for name, (content, _) in _planted().items():
        (tmp_path / name).write_text(content)
    (tmp_path / "monitoring/alertmanager/secrets").mkdir(parents=True)
    (tmp_path / "monitoring/alertmanager/secrets/slack_api_url").write_text("https://x\n")
    (tmp_path / "monitoring/alertmanager/secrets/slack_api_url.example").write_text("X\n")
    subprocess.run(["git", "add", "-f", "."], cwd=tmp_path, check=True)
    return tmp_path


def test_planted_secrets_are_each_found_and_never_printed(planted_repo):
    no_allowlist = planted_repo / "no-allowlist"
    findings = scan_files(tracked_files(planted_repo), root=planted_repo, allowlist=no_allowlist)
    by_file = {f.path: f for f in findings}
    for name, (_, kind) in _planted().items():
        assert name in by_file, f"{name} not reported"
        assert kind in by_file[name].kind
    tracked_secret = by_file["monitoring/alertmanager/secrets/slack_api_url"]
    assert "real secret file" in tracked_secret.kind
    assert "monitoring/alertmanager/secrets/slack_api_url.example" not in by_file
    report = "\n".join(str(f) for f in findings)
    for secret in (SLACK_URL, SLACK_TOKEN, ROUTING_KEY, OPENAI_KEY, PASSWORD, PING_URL):
        assert secret not in report


@pytest.mark.parametrize(
    "line",
    [
        "https://hooks.slack.com/services/TXXXXXXXX/BXXXXXXXX/XXXXXXXXXXXXXXXXXXXXXXXX",
        "printf '%s' 'https://hooks.slack.com/services/T.../B.../...' > secrets/slack_api_url",
        "GF_SECURITY_ADMIN_PASSWORD: ${GRAFANA_ADMIN_PASSWORD:-admin}",
        "curl -u admin:admin http://localhost:3000/api/search",
        "smtp_auth_password_file: /etc/alertmanager/secrets/smtp_auth_password",
        "routing_key: <your-integration-key>",
        "password: ${SMTP_PASSWORD}",
        "grafana cli admin reset-admin-password <new-password>",
    ],
)
def test_placeholders_and_the_documented_default_are_not_secrets(line):
    assert scan_text("docs/example.md", line) == []


def test_in_code_only_quoted_literals_count():
    assert scan_text("tool.py", "password = args.password\n") == []
    assert [f.kind for f in scan_text("tool.py", f'password = "{PASSWORD}"\n')] == ["password"]


def test_allowlisted_fake_is_skipped_but_another_secret_in_the_file_is_not(tmp_path):
    (tmp_path / "test_fake.py").write_text(
        f'FAKE = {{"password": "{PASSWORD}"}}\nREAL = {{"password": "{PASSWORD}2"}}\n'
    )
    allow = tmp_path / "allow"
    allow.write_text(f"test_fake.py {fingerprint(PASSWORD)}  # a made-up password\n")
    findings = scan_files(["test_fake.py"], root=tmp_path, allowlist=allow)
    assert [(f.path, f.line) for f in findings] == [("test_fake.py", 2)]


def test_marked_line_is_skipped():
    assert scan_text("a.yml", f"password: {PASSWORD}  # secret-scan: allow\n") == []


def test_command_line_fails_on_a_planted_file_without_printing_it(tmp_path, capsys, monkeypatch):
    (tmp_path / "leak.yml").write_text(f"routing_key: {ROUTING_KEY}\n")
    monkeypatch.chdir(tmp_path)
    assert main(["leak.yml"]) == 1
    output = capsys.readouterr()
    assert "leak.yml:1: PagerDuty key" in output.err
    assert ROUTING_KEY not in output.err + output.out
