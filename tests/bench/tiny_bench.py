"""A benchmark module small enough for the tests of ``python -m tools.bench``."""

from __future__ import annotations

from tools.bench.common import Goal, Result

TITLE = "Tiny"
NOTES = "Two rows: one meets its goal, one misses it."


def run() -> list[Result]:
    goal = Goal("< 1 s", "<", 1.0, "s")
    return [
        Result("tiny", "fast", 500_000.0, 2.0, runs=5, **goal.judge(0.5)),  # type: ignore[arg-type]
        Result("tiny", "slow", 1_500_000.0, 4.0, runs=5, **goal.judge(1.5)),  # type: ignore[arg-type]
    ]
