"""The README's install line works for a new user: a copy of the repository's tracked files (what
a clone holds), a clean virtualenv, the README's command run as written, then the package used:
a JSON log line and a real scrape of ``/metrics``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SMOKE = textwrap.dedent(
    """
    import urllib.request
    import narra_forge.monitoring as monitoring
    from narra_forge.monitoring import MetricsCollector, configure_logging, get_logger
    from narra_forge.monitoring import start_metrics_server

    print(monitoring.__file__)
    configure_logging(json_output=True)
    get_logger("smoke").info("installed", ok=True)
    MetricsCollector()
    server = start_metrics_server(port=0, addr="127.0.0.1")
    body = urllib.request.urlopen(server.url, timeout=30).read().decode()
    server.close()
    print([line for line in body.splitlines() if line.startswith("narra_forge_pricing_info")])
    """
)


def readme_install_line() -> str:
    lines = (REPO / "README.md").read_text().splitlines()
    found = [line.split("#", 1)[0].strip() for line in lines if line.startswith("pip install -e")]
    assert found, "README.md: no `pip install -e .` line"
    return found[0]


@pytest.mark.heavy  # a virtualenv and a pip install
@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_the_readme_install_line_works_from_a_clone_in_a_clean_virtualenv(tmp_path: Path) -> None:
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=False)
    if tracked.returncode != 0:
        pytest.skip("not a git checkout")
    clone = tmp_path / "clone"
    for name in tracked.stdout.decode().split("\0"):
        if name and (REPO / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, clone / name)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    command = readme_install_line()
    installed = subprocess.run(
        ["/bin/sh", "-c", command],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert installed.returncode == 0, f"{command}: {installed.stderr[-2000:]}"
    used = subprocess.run(
        [str(venv / "bin" / "python"), "-c", SMOKE],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert used.returncode == 0, used.stderr
    out = used.stdout.splitlines()
    assert out[0] == str(clone / "src" / "narra_forge" / "monitoring" / "__init__.py")
    assert '"event":"installed"' in out[1]
    assert out[2].startswith("['narra_forge_pricing_info{version=")
