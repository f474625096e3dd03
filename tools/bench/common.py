"""Measure small operations the same way everywhere: interleaved rounds, median and spread.

Cases that are compared run in the same process, round by round in turn, so drift of the
machine (frequency scaling, a neighbour's load) hits both alike. Each round times ``number``
calls with the garbage collector off; the result is the median per-call time over the rounds and
the spread (half the interquartile range, relative to the median).
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    """One row of bench/results.md."""

    benchmark: str
    case: str
    median_us: float
    spread_pct: float
    #: median / the baseline's median, when this case is compared with one.
    ratio: float | None = None
    baseline: str | None = None
    #: The goal in words (``"<= 1.0x hand-written"``) and whether this run met it.
    goal: str | None = None
    met: bool | None = None


@dataclass(frozen=True)
class Timing:
    median_us: float
    spread_pct: float
    rounds: tuple[float, ...]


def _summarise(samples: list[float]) -> Timing:
    median = statistics.median(samples)
    if len(samples) >= 4:
        q1, _, q3 = statistics.quantiles(samples, n=4)
        spread = (q3 - q1) / 2 / median * 100 if median else 0.0
    else:
        spread = 0.0
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
    return {name: _summarise(samples) for name, samples in per_case.items()}


def compare(
    benchmark: str,
    timings: Mapping[str, Timing],
    *,
    baseline: str,
    goals: Mapping[str, tuple[str, Callable[[float, Timing], bool]]] | None = None,
) -> list[Result]:
    """Rows for one benchmark: each case's ratio to ``baseline`` and its goal, if any.

    A goal is ``(words, check)`` where ``check(ratio, timing)`` says whether it was met.
    """
    goals = goals or {}
    base = timings[baseline].median_us
    rows = []
    for case, timing in timings.items():
        ratio = timing.median_us / base if case != baseline else None
        goal = goals.get(case)
        rows.append(
            Result(
                benchmark=benchmark,
                case=case,
                median_us=timing.median_us,
                spread_pct=timing.spread_pct,
                ratio=ratio,
                baseline=baseline if case != baseline else None,
                goal=goal[0] if goal else None,
                met=goal[1](ratio if ratio is not None else 1.0, timing) if goal else None,
            )
        )
    return rows


def render_table(rows: list[Result]) -> str:
    lines = [
        "| benchmark | case | median (µs) | spread | vs baseline | goal | met |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for row in rows:
        ratio = f"{row.ratio:.2f}x {row.baseline}" if row.ratio is not None else "baseline"
        met = "" if row.met is None else ("yes" if row.met else "**no**")
        lines.append(
            f"| {row.benchmark} | {row.case} | {row.median_us:.3f} | ±{row.spread_pct:.1f}% "
            f"| {ratio} | {row.goal or ''} | {met} |"
        )
    return "\n".join(lines)
