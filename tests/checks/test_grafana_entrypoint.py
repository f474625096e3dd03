"""Grafana's compose entrypoint, run for real: /bin/sh as uid 472 (Grafana's user in its image).

The snippet is taken from docker-compose.monitoring.yml as compose would run it (``$$`` is a
literal ``$``); only its two absolute paths are pointed into a temporary folder: the mounted
secrets folder, and the image's ``/run.sh``, replaced by a script that prints the password it
was given. A password file that exists but cannot be read, or is empty, must stop the
container with a message saying what to do, never start Grafana with admin/admin.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

#: Read directly (not through tools/): this test stays where the compose file is.
COMPOSE_FILE = Path(__file__).resolve().parents[2] / "docker-compose.monitoring.yml"
GRAFANA_UID = 472
SECRETS = "/run/secrets/narra-forge/"
RUN_SH = "/run.sh"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="running as uid 472 needs root and setpriv (util-linux)",
)


def entrypoint() -> list[str]:
    grafana = yaml.safe_load(COMPOSE_FILE.read_text())["services"]["grafana"]
    command = [part.replace("$$", "$") for part in grafana["entrypoint"]]
    assert command[:2] == ["/bin/sh", "-c"], command
    return command


@pytest.fixture
def folder() -> Iterator[Path]:
    # Not pytest's tmp_path: its parents are private to root, and uid 472 must reach the files.
    path = Path(tempfile.mkdtemp(prefix="grafana-entrypoint-"))
    path.chmod(0o755)
    (path / "secrets").mkdir(mode=0o755)
    (path / "secrets").chmod(0o755)
    run = path / "run.sh"
    run.write_text(
        '#!/bin/sh\nprintf "started password=[%s] args=%s\\n" "$GF_SECURITY_ADMIN_PASSWORD" "$*"\n'
    )
    run.chmod(0o755)
    yield path
    shutil.rmtree(path)


def run_as_grafana(folder: Path) -> subprocess.CompletedProcess[str]:
    command = entrypoint()
    script = command[2]
    assert SECRETS in script, "the entrypoint's secrets path changed: update the test"
    assert RUN_SH in script, "the entrypoint's /run.sh changed: update the test"
    command[2] = script.replace(SECRETS, f"{folder}/secrets/").replace(RUN_SH, f"{folder}/run.sh")
    setpriv = ["setpriv", "--reuid", str(GRAFANA_UID), "--regid", str(GRAFANA_UID)]
    return subprocess.run(
        [*setpriv, "--clear-groups", *command, "web"],
        # What compose's `environment:` gives the container when GRAFANA_ADMIN_PASSWORD is unset.
        env={"PATH": "/usr/bin:/bin", "GF_SECURITY_ADMIN_PASSWORD": "admin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def write_secret(folder: Path, content: str, mode: int) -> Path:
    secret = folder / "secrets" / "grafana_admin_password"
    secret.write_text(content)
    secret.chmod(mode)
    return secret


def test_a_readable_password_file_is_used(folder: Path) -> None:
    write_secret(folder, "s3cret-long-password", 0o644)
    done = run_as_grafana(folder)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "started password=[s3cret-long-password] args=web\n"


def test_a_trailing_newline_is_not_part_of_the_password(folder: Path) -> None:
    write_secret(folder, "s3cret-long-password\n", 0o644)
    done = run_as_grafana(folder)
    assert done.returncode == 0, done.stderr
    assert "password=[s3cret-long-password]" in done.stdout


def test_without_a_password_file_the_environment_password_is_kept(folder: Path) -> None:
    done = run_as_grafana(folder)
    assert done.returncode == 0, done.stderr
    assert "password=[admin]" in done.stdout


def test_an_unreadable_password_file_stops_grafana_and_says_what_to_do(folder: Path) -> None:
    secret = write_secret(folder, "s3cret-long-password", 0o600)  # root's, not uid 472's
    assert not os.stat(secret).st_mode & stat.S_IROTH
    done = run_as_grafana(folder)
    assert done.returncode != 0
    assert "started" not in done.stdout
    assert "secrets/grafana_admin_password" in done.stderr
    assert "not readable" in done.stderr
    assert "chmod 644 secrets/grafana_admin_password" in done.stderr


@pytest.mark.parametrize("content", ["", "\n"])
def test_an_empty_password_file_stops_grafana_and_says_what_to_do(
    folder: Path, content: str
) -> None:
    write_secret(folder, content, 0o644)
    done = run_as_grafana(folder)
    assert done.returncode != 0
    assert "started" not in done.stdout
    assert "secrets/grafana_admin_password" in done.stderr
    assert "empty" in done.stderr
    assert "write a password into it, or remove it" in done.stderr
