"""free_port: the ports of the test stacks, the demo's tests and the benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

from tools._repo import REPO
from tools.demo import net


def test_threads_never_get_the_same_port():
    # The eight scenario stacks take their ports in threads at once: one port given twice made a
    # Prometheus that could not bind look ready (another stack's simulator answered for it).
    ports: list[int] = []

    def take() -> None:
        ports.extend(net.free_port() for _ in range(25))

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ports) == 200
    assert len(set(ports)) == 200


def test_a_port_is_below_the_range_of_outgoing_connections_and_bindable():
    port = net.free_port()
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    assert net.POOL_START <= port < low
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))
        server.listen()


def test_a_listening_port_is_never_handed_out():
    port = net.free_port()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        for _ in range(50):
            assert net.free_port() != port


def test_xdist_workers_draw_from_disjoint_slices():
    def ports_of(worker: str) -> set[int]:
        code = "from tools.demo.net import free_port; print(*(free_port() for _ in range(300)))"
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO,
            env={**os.environ, "PYTEST_XDIST_WORKER": worker, "PYTEST_XDIST_WORKER_COUNT": "2"},
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        return {int(port) for port in out.split()}

    first, second = ports_of("gw0"), ports_of("gw1")
    assert len(first) == len(second) == 300
    assert max(first) < min(second)
