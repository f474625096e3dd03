"""The simulator's command line: it exists to be scraped, so a taken port stops it by name."""

from __future__ import annotations

import socket
import subprocess
import sys

from tools._repo import REPO


def test_a_taken_port_stops_the_simulator_and_says_which():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "tools.demo.simulator", "--port", str(port)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 2
    assert f"simulator: cannot serve /metrics on 127.0.0.1:{port}" in result.stderr
    assert "choose another port with --port" in result.stderr
