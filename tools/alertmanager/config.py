"""Read ``monitoring/alertmanager/alertmanager.yml`` and make copies of it that run elsewhere.

The shipped file is written for the container: templates and secret files are under
``/etc/alertmanager/`` (docker-compose mounts ``monitoring/alertmanager/`` there) and the
integrations point at Slack, PagerDuty, an SMTP server and a dead man's switch. Checks and tests
run the same file with Debian's Alertmanager on this host, so they need copies with only paths
(``host_view``) or also addresses and timings (``local_copy``) rewritten; everything else
(routes, inhibition, receivers, templates) stays exactly as shipped.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from tools._repo import REPO

HOST_DIR = REPO / "monitoring" / "alertmanager"
CONFIG_PATH = HOST_DIR / "alertmanager.yml"
SECRETS_DIR = HOST_DIR / "secrets"
#: Where docker-compose.monitoring.yml mounts ``monitoring/alertmanager/``.
CONTAINER_DIR = PurePosixPath("/etc/alertmanager")

#: Fields that hold a secret inline. The shipped file must use their ``*_file`` twin instead.
INLINE_SECRET_FIELDS = frozenset(
    {
        "api_url",
        "slack_api_url",
        "routing_key",
        "service_key",
        "auth_password",
        "smtp_auth_password",
        "auth_secret",
        "smtp_auth_secret",
        "api_key",
        "opsgenie_api_key",
        "victorops_api_key",
        "bot_token",
        "token",
        "password",
        "credentials",
        "webex_api_url",
    }
)


class ConfigError(ValueError):
    """The Alertmanager file cannot be read; the message names the file."""


@dataclass(frozen=True)
class FileReference:
    """A path the configuration reads: a ``*_file`` field or a ``templates`` glob."""

    where: str  # e.g. "receivers[slack].slack_configs[0].api_url_file"
    path: str


def load_config(path: Path = CONFIG_PATH) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top, got {type(data).__name__}")
    return data


def dump_config(config: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(config), sort_keys=False, default_flow_style=False)


def _walk(node: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every mapping of the document with a readable location (receivers named, not numbered)."""
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from _walk(value, f"{where}.{key}" if where else str(key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            label = item.get("name") if isinstance(item, dict) and "name" in item else index
            yield from _walk(item, f"{where}[{label}]")


def file_references(config: Mapping[str, Any]) -> list[FileReference]:
    """Every file the configuration reads, in document order."""
    references = [
        FileReference(f"templates[{index}]", str(glob))
        for index, glob in enumerate(config.get("templates") or [])
    ]
    for where, mapping in _walk(dict(config), ""):
        for key, value in mapping.items():
            if isinstance(key, str) and key.endswith("_file") and isinstance(value, str):
                references.append(FileReference(f"{where}.{key}" if where else key, value))
    return references


def inline_secrets(config: Mapping[str, Any]) -> list[str]:
    """Locations of secrets written into the file itself instead of a ``*_file`` field."""
    found = []
    for where, mapping in _walk(dict(config), ""):
        for key, value in mapping.items():
            if key in INLINE_SECRET_FIELDS and value not in (None, ""):
                found.append(f"{where}.{key}" if where else str(key))
    return found


def _rebase(path: str, old: PurePosixPath | Path, new: Path) -> str:
    pure = PurePosixPath(path)
    if pure == old or old in pure.parents:
        return str(new / pure.relative_to(old))
    return path


def rebased(config: Mapping[str, Any], old: PurePosixPath | Path, new: Path) -> dict[str, Any]:
    """A copy whose templates and ``*_file`` paths under ``old`` point under ``new``."""
    result = copy.deepcopy(dict(config))
    result["templates"] = [_rebase(str(glob), old, new) for glob in result.get("templates") or []]
    for _, mapping in _walk(result, ""):
        for key, value in list(mapping.items()):
            if isinstance(key, str) and key.endswith("_file") and isinstance(value, str):
                mapping[key] = _rebase(value, old, new)
    return result


def host_view(config: Mapping[str, Any], host_dir: Path = HOST_DIR) -> dict[str, Any]:
    """The configuration as seen on this host: ``/etc/alertmanager/`` is ``host_dir``."""
    return rebased(config, CONTAINER_DIR, host_dir)


#: The first lines of every local copy, so nobody mistakes it for the shipped file.
LOCAL_COPY_HEADER = (
    "# Written by tools/alertmanager/config.py (local_copy) from monitoring/alertmanager/:\n"
    "# the same routes, receivers and templates; every integration points at local stand-ins.\n"
)


def local_copy(
    config: Mapping[str, Any],
    *,
    receiver_url: str,
    smtp_smarthost: str,
    secrets_dir: Path,
    slack_from_secret_file: bool = False,
    timings: Mapping[str, str] | None = None,
    host_dir: Path = HOST_DIR,
) -> dict[str, Any]:
    """A copy that sends every integration to local stand-ins; routes and templates unchanged.

    Slack, PagerDuty and webhooks (the dead man's switch) post to
    ``<receiver_url>/<slack|pagerduty|webhook>/<receiver name>``, so a recorder there sees
    exactly what each would get, rendered by the repository's templates. With
    ``slack_from_secret_file`` Slack's address stays the content of ``secrets_dir/slack_api_url``
    (the operator's one step, tested as such). Secret files are read from ``secrets_dir``, never
    the user's real ones. STARTTLS is off: the local SMTP server has no certificate.
    ``timings`` replaces group_wait, group_interval and repeat_interval wherever a route sets
    them, and on the root (tests cannot wait 30 s per group).
    """
    templates = [str(glob) for glob in config.get("templates") or []]
    outside = [glob for glob in templates if CONTAINER_DIR not in PurePosixPath(glob).parents]
    if outside:
        raise ConfigError(f"templates {outside} are not under {CONTAINER_DIR}/: cannot relocate")
    result = rebased(host_view(config, host_dir), host_dir / "secrets", secrets_dir)
    global_ = result.setdefault("global", {})
    global_["smtp_smarthost"] = smtp_smarthost
    global_["smtp_require_tls"] = False
    for receiver in result.get("receivers") or []:
        name = receiver["name"]
        if not slack_from_secret_file:
            for slack in receiver.get("slack_configs") or []:
                slack.pop("api_url_file", None)
                slack["api_url"] = f"{receiver_url}/slack/{name}"
        for pagerduty in receiver.get("pagerduty_configs") or []:
            pagerduty["url"] = f"{receiver_url}/pagerduty/{name}"
        for webhook in receiver.get("webhook_configs") or []:
            webhook["url"] = f"{receiver_url}/webhook/{name}"
        for email in receiver.get("email_configs") or []:
            if "smarthost" in email:
                email["smarthost"] = smtp_smarthost
                email["require_tls"] = False
    for _, route in _routes(result["route"]):
        for key, value in (timings or {}).items():
            if key in route or route is result["route"]:
                route[key] = value
    return result


def write_placeholder_secrets(secrets_dir: Path) -> None:
    """Stand-in secrets for local stand-ins: an integration needs a key to send at all."""
    secrets_dir.mkdir(parents=True, exist_ok=True)
    for name, value in {
        "pagerduty_routing_key": "local-demo-routing-key-0000000000",
        "smtp_auth_password": "local-demo-password",  # secret-scan: allow (local stand-in)
    }.items():
        (secrets_dir / name).write_text(value + "\n")


def _routes(route: dict[str, Any], depth: int = 0) -> Iterator[tuple[int, dict[str, Any]]]:
    yield depth, route
    for child in route.get("routes") or []:
        yield from _routes(child, depth + 1)


def receiver_names(config: Mapping[str, Any]) -> list[str]:
    return [str(receiver.get("name")) for receiver in config.get("receivers") or []]


def routed_receivers(config: Mapping[str, Any]) -> set[str]:
    """Receivers some route (or the root) sends to."""
    route = config.get("route") or {}
    return {str(node["receiver"]) for _, node in _routes(route) if "receiver" in node}
