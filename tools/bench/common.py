"""Measure small operations the same way everywhere: interleaved rounds, median and spread.

Cases that are compared run in the same process, round by round in turn, so drift of the
machine (frequency scaling, a neighbour's load) hits both alike. Each round times ``number``
calls with the garbage collector off; the result is the median per-call time over the rounds and
the spread (half the interquartile range, relative to the median).

A ``Goal`` is a limit on one measured number (a ratio, a time, a count); a row that misses it
says by how much, so a reader sees whether a miss is 3% or 3x.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Result:
    """One row of bench/results.md."""

    benchmark: str
    case: str
    median_us: float
    #: Half the interquartile range in percent of the median (half the range under four runs);
    #: ``None`` when there was a single run.
    spread_pct: float | None
    #: median / the baseline's median, when this case is compared with one.
    ratio: float | None = None
    baseline: str | None = None
    #: The goal in words (``"<= 1.0x hand-written"``) and whether this run met it.
    goal: str | None = None
    met: bool | None = None
    #: What else was measured, in words (``"812 series, 96,210 bytes"``).
    measured: str | None = None
    #: For a missed goal: by how much (``"1.35 s, 35% over 1 s"``).
    missed_by: str | None = None
    #: How many timed runs the median is over.
    runs: int | None = None


def format_number(value: float, unit: str) -> str:
    """``1500`` with unit ``" series"`` -> ``1,500 series``; times in seconds get a fitting unit."""
    if unit == "s":
        return format_seconds(value)
    if unit == "x":
        return f"{value:.2f}x"
    text = f"{value:,.0f}" if abs(value) >= 100 or value == int(value) else f"{value:.3g}"
    return f"{text}{unit}"


def format_seconds(seconds: float) -> str:
    """A duration with three significant digits in the unit that suits it (n/a: none)."""
    if math.isnan(seconds):
        return "n/a"
    for unit, size in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(seconds) >= size:
            return f"{seconds / size:.3g} {unit}" if seconds < 1000 else f"{seconds:,.0f} s"
    return f"{seconds * 1e9:.3g} ns"


@dataclass(frozen=True)
class Goal:
    """A limit on one measured number: ``measured <op> limit``.

    ``unit`` says how the numbers are shown: ``"x"`` for ratios, ``"s"`` for seconds, anything
    else is appended to the number (``" series"``).
    """

    words: str
    op: Literal["<", "<=", ">="]
    limit: float
    unit: str = ""

    def met(self, measured: float) -> bool:
        if self.op == "<":
            return measured < self.limit
        if self.op == "<=":
            return measured <= self.limit
        return measured >= self.limit

    def missed_by(self, measured: float) -> str | None:
        """``None`` when met; else the measured number and its distance from the limit."""
        if self.met(measured):
            return None
        shown, limit = format_number(measured, self.unit), format_number(self.limit, self.unit)
        if self.op == ">=":
            if measured <= 0:
                return f"{shown}, {limit} wanted"
            return f"{shown}, {limit} wanted ({self.limit / measured:.2f}x short)"
        if self.limit <= 0:
            return f"{shown}, limit {limit}"
        return f"{shown}, {(measured / self.limit - 1) * 100:.0f}% over {limit}"

    def judge(self, measured: float) -> dict[str, object]:
        """The goal fields of a ``Result``: ``Result(..., **goal.judge(value))``."""
        return {
            "goal": self.words,
            "met": self.met(measured),
            "missed_by": self.missed_by(measured),
        }


@dataclass(frozen=True)
class Timing:
    median_us: float
    spread_pct: float | None
    rounds: tuple[float, ...]


def summarise(samples: list[float]) -> Timing:
    """Median and spread of repeated measurements (microseconds in, microseconds out)."""
    if not samples:
        raise ValueError("summarise: no samples")
    median = statistics.median(samples)
    spread: float | None
    if len(samples) >= 4:
        q1, _, q3 = statistics.quantiles(samples, n=4)
        spread = (q3 - q1) / 2 / median * 100 if median else 0.0
    elif len(samples) >= 2:
        spread = (max(samples) - min(samples)) / 2 / median * 100 if median else 0.0
    else:
        spread = None
    return Timing(median_us=median, spread_pct=spread, rounds=tuple(samples))


def measure_interleaved(
    cases: Mapping[str, Callable[[], object]],
    *,
    number: int,
    rounds: int = 15,
    warmup: int = 2,
) -> dict[str, Timing]:
    """Per-call time of each case in microseconds; cases alternate within every round."""
    per_case: dict[str, list[float]] = {name: [] for name in cases}
    gc_was_enabled = gc.isenabled()
    try:
        for round_index in range(warmup + rounds):
            for name, func in cases.items():
                gc.collect()
                gc.disable()
                start = time.perf_counter()
                for _ in range(number):
                    func()
                elapsed = time.perf_counter() - start
                gc.enable()
                if round_index >= warmup:
                    per_case[name].append(elapsed / number * 1e6)
    finally:
        if gc_was_enabled:
            gc.enable()
    return {name: summarise(samples) for name, samples in per_case.items()}


def compare(
    benchmark: str,
    timings: Mapping[str, Timing],
    *,
    baseline: str,
    goals: Mapping[str, Goal] | None = None,
    goal_of: Literal["ratio", "median_us"] = "ratio",
) -> list[Result]:
    """Rows for one benchmark: each case's ratio to ``baseline`` and its goal, if any.

    ``goal_of`` says what the goals limit: the ratio to the baseline, or the median time in
    microseconds. ``goals`` maps a case to its goal.
    """
    goals = goals or {}
    base = timings[baseline].median_us
    rows = []
    for case, timing in timings.items():
        ratio = timing.median_us / base if case != baseline else None
        goal = goals.get(case)
        measured = (ratio if ratio is not None else 1.0) if goal_of == "ratio" else timing.median_us
        rows.append(
            Result(
                benchmark=benchmark,
                case=case,
                median_us=timing.median_us,
                spread_pct=timing.spread_pct,
                ratio=ratio,
                baseline=baseline if case != baseline else None,
                runs=len(timing.rounds),
                **(goal.judge(measured) if goal else {}),  # type: ignore[arg-type]
            )
        )
    return rows


def _cell(text: str) -> str:
    """Table cells hold no pipe and no line break."""
    return text.replace("|", "\\|").replace("\n", " ")


def render_table(rows: list[Result]) -> str:
    """The Markdown table of bench/results.md: one line per row, goals judged, misses sized."""
    lines = [
        "| benchmark | case | median | spread | runs | vs baseline | measured | goal | met |",
        "|---|---|---:|---:|---:|---:|---|---|---|",
    ]
    for row in rows:
        if row.ratio is not None:
            ratio = f"{row.ratio:.2f}x {row.baseline}"
        else:
            ratio = "baseline" if any(r.baseline == row.case for r in rows) else ""
        if row.met is None:
            met = ""
        elif row.met:
            met = "yes"
        else:
            met = "**no**" + (f": {row.missed_by}" if row.missed_by else "")
        spread = "n/a" if row.spread_pct is None else f"±{row.spread_pct:.1f}%"
        cells = [
            row.benchmark,
            row.case,
            format_seconds(row.median_us / 1e6),
            spread,
            "" if row.runs is None else str(row.runs),
            ratio,
            row.measured or "",
            row.goal or "",
            met,
        ]
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(lines)


def print_results(run: Callable[[], list[Result]]) -> int:
    """``python -m tools.bench.<module>``: run one benchmark module and print its table."""
    print(render_table(run()))
    return 0
