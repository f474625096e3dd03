"""The repository's root, how a path is shown in a message, and where each binary is.

Every tool imports these three instead of working them out again, so ``PROMTOOL=/opt/promtool``
means the same thing to ``make lint-rules``, ``make demo``, the backfill and the benchmarks.
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or below it, links resolved."""
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def shown(path: Path | str) -> str:
    """A path as a message names it: relative to the repository when inside it."""
    path = Path(path)
    return str(path.resolve().relative_to(REPO)) if inside(path, REPO) else str(path)


class BinaryNotFoundError(RuntimeError):
    """A binary is missing; the message names the override and the package that brings it."""


@dataclass(frozen=True)
class Binary:
    """A program the tools run: its names on PATH, its override variable and its package."""

    names: tuple[str, ...]
    env: str
    package: str


#: Debian names the Alertmanager binary ``prometheus-alertmanager``; upstream calls it
#: ``alertmanager``. Either is accepted, Debian's first because `make setup` installs it.
BINARIES: Mapping[str, Binary] = {
    "promtool": Binary(("promtool",), "PROMTOOL", "prometheus"),
    "prometheus": Binary(("prometheus",), "PROMETHEUS", "prometheus"),
    "amtool": Binary(("amtool",), "AMTOOL", "prometheus-alertmanager"),
    "alertmanager": Binary(
        ("prometheus-alertmanager", "alertmanager"), "ALERTMANAGER", "prometheus-alertmanager"
    ),
    "docker-compose": Binary(("docker-compose",), "DOCKER_COMPOSE", "docker-compose"),
    "grafana": Binary(("grafana", "grafana-server"), "GRAFANA_SERVER", "grafana"),
    # Runs Grafana's LogQL grammar (tools/loki/parse_logql.cjs); Debian's package is nodejs.
    "node": Binary(("node", "nodejs"), "NODE", "nodejs"),
    # Debian's name first; upstream's release archives call it victoria-metrics-prod.
    "victoria-metrics": Binary(
        ("victoria-metrics", "victoria-metrics-prod"), "VICTORIA_METRICS", "victoria-metrics"
    ),
}


def which(name: str, env: Mapping[str, str] | None = None) -> list[str] | None:
    """The command that runs ``name``: its override (split like a shell), else PATH, else None.

    The Makefile exports ``PROMTOOL=promtool`` when none is on PATH, so an override equal to a
    bare name of the binary means "not set" and PATH decides.
    """
    env = os.environ if env is None else env
    binary = BINARIES[name]
    configured = env.get(binary.env, "").strip()
    if configured and configured not in binary.names:
        argv = shlex.split(configured)
        found = shutil.which(argv[0], path=env.get("PATH"))
        if found is None:
            raise BinaryNotFoundError(
                f"{binary.env}={configured!r}: {argv[0]} is not an executable file or command"
            )
        return [found, *argv[1:]]
    for candidate in binary.names:
        found = shutil.which(candidate, path=env.get("PATH"))
        if found:
            return [found]
    return None


def find_command(name: str, env: Mapping[str, str] | None = None) -> list[str]:
    """Like ``which``, but a missing binary is an error that says how to get it."""
    command = which(name, env)
    if command is None:
        binary = BINARIES[name]
        raise BinaryNotFoundError(
            f"{name} not found (looked for {', '.join(binary.names)} on PATH): run `make setup` "
            f"(Debian package {binary.package}) or set {binary.env}=/path/to/{binary.names[0]}"
        )
    return command
