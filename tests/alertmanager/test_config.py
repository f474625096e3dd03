"""``local_copy``: the one writer of a runnable alertmanager.yml, used by the demo and the tests.
Only addresses, secret paths and (in tests) group timings differ from the shipped file, and the
real amtool accepts the copy."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tools._repo import find_command
from tools.alertmanager.config import (
    CONFIG_PATH,
    LOCAL_COPY_HEADER,
    ConfigError,
    dump_config,
    load_config,
    local_copy,
    write_placeholder_secrets,
)

RECEIVER = "http://127.0.0.1:19095"
TIMINGS = {"group_wait": "1s", "group_interval": "2s", "repeat_interval": "10s"}


def copy(tmp_path: Path, **options: object) -> dict:
    secrets = tmp_path / "secrets"
    write_placeholder_secrets(secrets)
    return local_copy(
        load_config(),
        receiver_url=RECEIVER,
        smtp_smarthost="127.0.0.1:19025",
        secrets_dir=secrets,
        timings=TIMINGS,
        **options,
    )


def test_every_integration_goes_to_the_receiver_under_its_receiver_name(tmp_path: Path):
    config = copy(tmp_path)
    urls = {
        (receiver["name"], key): integration[field]
        for receiver in config["receivers"]
        for key, field in (
            ("slack_configs", "api_url"),
            ("pagerduty_configs", "url"),
            ("webhook_configs", "url"),
        )
        for integration in receiver.get(key, [])
    }
    assert urls == {
        ("slack", "slack_configs"): f"{RECEIVER}/slack/slack",
        ("pagerduty", "pagerduty_configs"): f"{RECEIVER}/pagerduty/pagerduty",
        ("heartbeat", "webhook_configs"): f"{RECEIVER}/webhook/heartbeat",
    }
    assert config["global"]["smtp_smarthost"] == "127.0.0.1:19025"
    assert config["global"]["smtp_require_tls"] is False
    assert "/etc/alertmanager" not in dump_config(config)


def test_secrets_are_read_from_the_given_folder_never_the_users(tmp_path: Path):
    config = copy(tmp_path)
    text = dump_config(config)
    assert str(tmp_path / "secrets" / "pagerduty_routing_key") in text
    assert str(tmp_path / "secrets" / "smtp_auth_password") in text
    assert "monitoring/alertmanager/secrets" not in text


def test_slack_can_stay_on_its_secret_file(tmp_path: Path):
    config = copy(tmp_path, slack_from_secret_file=True)
    (slack,) = next(r for r in config["receivers"] if r["name"] == "slack")["slack_configs"]
    assert "api_url" not in slack
    assert slack["api_url_file"] == str(tmp_path / "secrets" / "slack_api_url")


def test_routes_and_receivers_are_the_shipped_ones_only_timings_change(tmp_path: Path):
    config = copy(tmp_path)
    shipped = yaml.safe_load(CONFIG_PATH.read_text())
    assert [r["name"] for r in config["receivers"]] == [r["name"] for r in shipped["receivers"]]
    assert config["route"]["group_by"] == shipped["route"]["group_by"]
    assert config["inhibit_rules"] == shipped["inhibit_rules"]
    timed = [config["route"], *[r for r in config["route"]["routes"] if "group_wait" in r]]
    assert len(timed) > 1
    assert all(r["group_wait"] == "1s" and r["group_interval"] == "2s" for r in timed)


def test_amtool_accepts_the_copy(tmp_path: Path):
    path = tmp_path / "alertmanager.yml"
    path.write_text(LOCAL_COPY_HEADER + dump_config(copy(tmp_path)))
    result = subprocess.run(
        [*find_command("amtool"), "check-config", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_templates_outside_the_mount_are_refused_by_name(tmp_path: Path):
    config = load_config()
    config["templates"] = ["/opt/templates/*.tmpl"]
    with pytest.raises(ConfigError, match=r"/opt/templates/\*\.tmpl.*not under /etc/alertmanager"):
        local_copy(
            config,
            receiver_url=RECEIVER,
            smtp_smarthost="127.0.0.1:19025",
            secrets_dir=tmp_path,
        )
