"""Progress of long work: percent done, rate and time left.

On a terminal one line is redrawn in place (a bar); in a CI log, where a carriage return shows
as garbage and a redraw per second floods the log, a plain line is printed every few seconds.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

BAR_WIDTH = 24


def duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``1h02m``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def count(value: float) -> str:
    """``950``, ``12.3k``, ``4.7M``."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.1f}{suffix}"
    return f"{value:.0f}"


class Progress:
    """``update(done)`` as work advances (``done`` out of ``total``); ``finish()`` at the end.

    ``unit`` names what ``counted`` counts (samples, queries) for the rate; without ``counted``
    the rate is of ``done`` itself. ``heartbeat=True`` also prints every ``every`` seconds when
    nothing advanced (a thread): work whose first step takes a minute shows it is alive.
    """

    def __init__(
        self,
        label: str,
        total: float,
        *,
        unit: str = "",
        stream: TextIO | None = None,
        every: float = 5.0,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        heartbeat: bool = False,
    ) -> None:
        self.label = label
        self.total = max(total, 1e-9)
        self.unit = unit
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        # A terminal redraws twice a second; a log gets a line every `every` seconds.
        self.every = 0.5 if self.tty else every
        self.clock = clock
        self.began = clock()
        self._last = -float("inf")
        self.done = 0.0
        self.counted = 0.0
        # update() may come from the heartbeat and the worker at once: one line at a time.
        self._lock = threading.Lock()
        self._finished = threading.Event()
        if heartbeat:
            threading.Thread(target=self._beat, name="progress-heartbeat", daemon=True).start()

    def _beat(self) -> None:
        while not self._finished.wait(self.every):
            self.update(self.done)

    def line(self) -> str:
        elapsed = self.clock() - self.began
        fraction = min(1.0, self.done / self.total)
        rate = self.counted / elapsed if elapsed > 0 else 0.0
        left = elapsed * (1 - fraction) / fraction if fraction > 0 else None
        parts = [f"{self.label}: {fraction:4.0%}"]
        if self.tty:
            filled = round(fraction * BAR_WIDTH)
            parts.insert(1, "[" + "#" * filled + "." * (BAR_WIDTH - filled) + "]")
        if self.unit:
            parts.append(f"{count(self.counted)} {self.unit} ({count(rate)}/s)")
        parts.append(f"{duration(elapsed)} elapsed")
        parts.append(f"{duration(left)} left" if left is not None else "time left unknown")
        return "  ".join(parts)

    def update(self, done: float, counted: float | None = None) -> None:
        with self._lock:
            self.done = done
            if counted is not None:
                self.counted = counted
            now = self.clock()
            if self._finished.is_set() or now - self._last < self.every:
                return
            self._last = now
            self._emit()

    def _emit(self) -> None:
        if self.tty:
            self.stream.write("\r\x1b[K" + self.line())
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()

    def finish(self) -> float:
        """The last line (always printed); returns the seconds the work took."""
        with self._lock:
            self._finished.set()
            self.done = self.total
            self._emit()
            if self.tty:
                self.stream.write("\n")
                self.stream.flush()
        return self.clock() - self.began
