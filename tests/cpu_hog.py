"""Keep every core busy for the length of a block: one spinning process per core (at least
two), each bounded in time whatever happens, killed when the block ends.

    with cpu_hog():
        ...  # what must keep working on a busy machine

From a shell, beside a whole `make test` (which must pass on a machine kept this busy):

    python tests/cpu_hog.py --seconds 1800 &   # stops by itself, or at Ctrl-C / kill
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import signal
import sys
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Keep every core busy for a while.")
    parser.add_argument("--seconds", type=float, default=MAX_SECONDS, help="how long (300)")
    parser.add_argument("--processes", type=int, default=None, help="spinners (one a core)")
    args = parser.parse_args(argv)
    # `kill` stops the spinners too (through the block's exit), not only Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with contextlib.suppress(KeyboardInterrupt), cpu_hog(args.processes, args.seconds) as count:
        print(f"{count} processes spinning for {args.seconds:g} s", flush=True)
        time.sleep(args.seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
