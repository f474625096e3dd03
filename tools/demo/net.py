"""Ports and plain HTTP on the loopback: what the native stack, its tests and the benchmarks
need to find a free port and talk to Prometheus, Alertmanager and the receiver."""

from __future__ import annotations

import os
import random
import socket
import threading
import urllib.error
import urllib.request
from pathlib import Path

#: Where ``free_port`` looks: below the kernel's range for outgoing connections, so a client
#: socket of a busy test run never takes a port between its hand-out and the server's bind.
POOL_START = 10000
_handed_out: set[int] = set()
_lock = threading.Lock()


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on now, never handed out before by this process.

    Eight test stacks start in threads and pytest-xdist runs workers side by side: with the
    kernel's ``bind(0)`` two of them once got the same port, and a Prometheus that could not bind
    looked ready because another stack's simulator answered on its port. So: a pool below the
    outgoing-connection range, a disjoint slice of it per xdist worker, and no port twice.
    """
    with _lock:
        for port in _candidates():
            if port not in _handed_out and port_is_free(port, host):
                _handed_out.add(port)
                return port
    raise OSError(f"no free port left in {POOL_START}-{_ephemeral_start() - 1} on {host}")


def _candidates() -> list[int]:
    """This process's slice of the pool, from a random point (two runs that are not xdist
    workers of one session then rarely probe the same ports first)."""
    start, end = POOL_START, _ephemeral_start()
    if end - start < 1000:  # an unusual kernel setting: let the kernel choose
        return [_kernel_port() for _ in range(100)]
    index, count = _xdist_worker()
    size = (end - start) // count
    first = start + index * size
    ports = list(range(first, first + size))
    offset = random.randrange(size)
    return ports[offset:] + ports[:offset]


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def _xdist_worker() -> tuple[int, int]:
    """(index, count) of this pytest-xdist worker; (0, 1) outside one."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = os.environ.get("PYTEST_XDIST_WORKER_COUNT", "")
    if name.startswith("gw") and name[2:].isdigit() and count.isdigit() and int(count) > 0:
        return int(name[2:]) % int(count), int(count)
    return 0, 1


def _kernel_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when ``host:port`` can be bound, i.e. no other program holds it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Without SO_REUSEADDR a port in TIME_WAIT from our own previous run looks taken.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """Status and body of a GET; HTTP errors are returned, not raised."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def http_post(
    url: str, data: bytes = b"", timeout: float = 10.0, method: str = "POST"
) -> tuple[int, bytes]:
    """Status and body of a POST (or ``method``) with a JSON body; HTTP errors returned."""
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
