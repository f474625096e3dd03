"""Keep every core busy for the length of a block: one spinning process per core (at least
two), each bounded in time whatever happens, killed when the block ends.

    with cpu_hog():
        ...  # what must keep working on a busy machine
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import time
from collections.abc import Iterator

#: The longest a hog process may spin, even if its parent dies without killing it.
MAX_SECONDS = 300.0


def _spin(until: float) -> None:
    while time.time() < until:
        pass


@contextlib.contextmanager
def cpu_hog(processes: int | None = None, max_seconds: float = MAX_SECONDS) -> Iterator[int]:
    """Start the hog; yields how many spinning processes run."""
    count = processes if processes is not None else max(2, os.cpu_count() or 2)
    context = multiprocessing.get_context("spawn")  # no copy of the test process's threads
    hogs = [
        context.Process(target=_spin, args=(time.time() + max_seconds,), daemon=True)
        for _ in range(count)
    ]
    try:
        for hog in hogs:
            hog.start()
        yield count
    finally:
        for hog in hogs:
            if hog.pid is not None:
                hog.kill()
        for hog in hogs:
            if hog.pid is not None:
                hog.join(timeout=30)
