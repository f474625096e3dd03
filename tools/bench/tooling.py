"""What the repository's own checks cost the operator: ``make lint-rules`` and ``make test``.

Both run as a user runs them, as subprocesses of ``make`` in the repository, and are timed from
start to exit. ``make lint-rules`` runs several times; the whole ``make test`` once (it takes
minutes; its spread is that of a single run: n/a). ``BENCH_SKIP_MAKE_TEST=1`` leaves ``make
test`` out for quick runs of the benchmarks; the committed bench/results.md includes it.

    python -m tools.bench tooling
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tools._repo import REPO
from tools.bench.common import Goal, Result, summarise

TITLE = "Tooling: the repository's own checks"
SKIP_ENV = "BENCH_SKIP_MAKE_TEST"
_BASE_NOTES = (
    "Wall time of the command from start to exit, run with `make` in the repository as a user "
    "runs it (the suite's end-to-end tests start real Prometheus and Alertmanager binaries). "
    "Goals: `make lint-rules` under 20 s, the whole `make test` under 8 minutes on an idle "
    "machine, both passing."
)
NOTES = _BASE_NOTES

LINT_RULES_GOAL = Goal("< 20 s, passing", "<", 20.0, "s")
MAKE_TEST_GOAL = Goal("< 8 min, passing", "<", 480.0, "s")
#: pytest's last line: "==== 572 passed, 2 skipped in 224.83s (0:03:44) ====".
_PYTEST_SUMMARY = re.compile(r"^=+ (?P<outcome>.+?) in [\d.]+s(?: \([\d:]+\))? =+$", re.M)


@dataclass(frozen=True)
class Run:
    seconds: float
    returncode: int
    output: str


def run_command(argv: Sequence[str], cwd: Path = REPO, timeout: float = 3600) -> Run:
    """Run a command to completion; its wall time, exit code and combined output."""
    began = time.perf_counter()
    done = subprocess.run(
        list(argv),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Run(time.perf_counter() - began, done.returncode, done.stdout)


def pytest_outcome(output: str) -> str | None:
    """``"572 passed, 2 skipped"`` from pytest's output, or ``None`` when there is none."""
    found = _PYTEST_SUMMARY.findall(output)
    return found[-1] if found else None


def command_row(
    benchmark: str, case: str, runs: Sequence[Run], goal: Goal, describe: str = ""
) -> Result:
    """One row for repeated runs of a command; a failed run fails the goal, whatever its time."""
    timing = summarise([run.seconds * 1e6 for run in runs])
    failed = [run for run in runs if run.returncode != 0]
    judged = goal.judge(timing.median_us / 1e6)
    if failed:
        tail = " / ".join(failed[-1].output.strip().splitlines()[-3:])
        judged = {
            "goal": goal.words,
            "met": False,
            "missed_by": f"{len(failed)} of {len(runs)} runs failed "
            f"(exit {failed[-1].returncode}): {tail[-300:]}",
        }
    return Result(
        benchmark=benchmark,
        case=case,
        median_us=timing.median_us,
        spread_pct=timing.spread_pct,
        runs=len(runs),
        measured=describe or None,
        **judged,  # type: ignore[arg-type]
    )


def run(lint_rounds: int = 5, make: str = "make", cwd: Path = REPO) -> list[Result]:
    global NOTES
    lint_runs = [run_command([make, "lint-rules"], cwd) for _ in range(lint_rounds)]
    rows = [
        command_row(
            "make lint-rules",
            "render check, promtool check + unit tests, lint",
            lint_runs,
            LINT_RULES_GOAL,
        )
    ]
    if os.environ.get(SKIP_ENV, "").strip() in ("1", "true", "yes"):
        NOTES = f"{_BASE_NOTES} `make test` was skipped in this run ({SKIP_ENV}=1)."
        return rows
    NOTES = _BASE_NOTES
    test_run = run_command([make, "test"], cwd)
    rows.append(
        command_row(
            "make test",
            "ruff, mypy, generate --check, the whole pytest suite on every core",
            [test_run],
            MAKE_TEST_GOAL,
            pytest_outcome(test_run.output) or "",
        )
    )
    return rows


if __name__ == "__main__":
    from tools.bench.common import print_results

    sys.exit(print_results(run))
