"""Start, watch and stop the native stack's processes (ports and HTTP: ``tools/demo/net.py``).

Every child runs in its own process group (``start_new_session``), so stopping it also stops
whatever it spawned, and a Ctrl-C in the terminal reaches only the supervisor, which then stops
its children in reverse start order. Shared by ``tools/demo/stack.py`` and the end-to-end fixtures.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from tools.demo.net import http_get


class StartError(RuntimeError):
    """A process did not start or did not become ready; the message says which and why."""


class Process:
    """One supervised child: its own process group, output to a log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        echo: bool = False,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("ab")
        try:
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                # echo: the demo shows the receiver's notifications in the terminal.
                stdout=None if echo else self._log,
                stderr=self._log,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                start_new_session=True,
            )
        except OSError as error:
            self._log.close()
            raise StartError(f"{name}: cannot run {self.argv[0]}: {error}") from error

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def signal(self, signum: int) -> None:
        """Send a signal to the whole process group (the child and anything it spawned)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signum)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the group, wait, SIGKILL what is left. Returns the exit code."""
        if self.alive():
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.popen.wait(5)
        # The leader may be gone while a grandchild in its group lives on.
        self.signal(signal.SIGKILL)
        self._log.close()
        return self.popen.returncode

    def wait_ready(self, url: str, timeout: float = 30.0) -> None:
        """Poll ``url`` until it answers 200; fail fast, with the log, if the process dies."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if not self.alive():
                raise StartError(
                    f"{self.name} exited with code {self.popen.returncode} before it was ready;"
                    f" last lines of {self.log_path}:\n{self.log_tail()}"
                )
            try:
                status, _ = http_get(url, timeout=2)
                if status == 200:
                    return
                last = f"HTTP {status}"
            except OSError as error:
                last = str(error)
            time.sleep(0.1)
        raise StartError(
            f"{self.name} not ready at {url} after {timeout:g}s ({last}); "
            f"last lines of {self.log_path}:\n{self.log_tail()}"
        )


def python_module(module: str, *args: str) -> list[str]:
    """argv running ``python -m module`` with this interpreter (the venv's)."""
    return [sys.executable, "-m", module, *args]
