"""The tooling benchmark times real commands and never calls a failing one fast enough."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tools.bench import tooling
from tools.bench.tooling import command_row, pytest_outcome, run_command


@pytest.mark.parametrize(
    ("output", "outcome"),
    [
        (
            "...\n=================== 572 passed in 224.83s (0:03:44) ===================\n",
            "572 passed",
        ),
        ("== 1 failed, 571 passed, 2 skipped in 10.50s ==\n", "1 failed, 571 passed, 2 skipped"),
        ("ruff: 3 errors\nmake: *** [test] Error 1\n", None),
    ],
)
def test_pytests_outcome_is_read_from_its_last_line(output, outcome):
    assert pytest_outcome(output) == outcome


def test_a_command_is_run_to_completion_with_its_output_and_exit_code(tmp_path):
    done = run_command(
        [
            sys.executable,
            "-c",
            "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)",
        ],
        cwd=tmp_path,
    )
    assert done.returncode == 3
    assert "out" in done.output
    assert "err" in done.output
    assert done.seconds > 0


def test_a_failing_command_misses_its_goal_however_fast_it_was():
    runs = [tooling.Run(1.0, 0, ""), tooling.Run(1.2, 2, "collected\nE   boom\nmake: *** Error 2")]
    row = command_row("make lint-rules", "all", runs, tooling.LINT_RULES_GOAL)
    assert row.runs == 2
    assert not row.met
    assert "1 of 2 runs failed (exit 2)" in (row.missed_by or "")
    assert "E   boom" in (row.missed_by or "")
    passing = command_row("make lint-rules", "all", runs[:1], tooling.LINT_RULES_GOAL)
    assert passing.met
    assert passing.spread_pct is None  # a single run has no spread


def fake_repository(tmp_path: Path) -> Path:
    (tmp_path / "Makefile").write_text(
        "lint-rules:\n\t@echo linted\ntest:\n\t@echo '==== 3 passed, 1 skipped in 0.01s ===='\n"
    )
    return tmp_path


def test_make_test_is_timed_unless_skipped(tmp_path, monkeypatch):
    repo = fake_repository(tmp_path)
    monkeypatch.delenv(tooling.SKIP_ENV, raising=False)
    rows = tooling.run(lint_rounds=2, cwd=repo)
    assert [row.benchmark for row in rows] == ["make lint-rules", "make test"]
    assert rows[0].runs == 2
    assert rows[1].measured == "3 passed, 1 skipped"
    assert all(row.met for row in rows)
    assert "skipped" not in tooling.NOTES

    monkeypatch.setenv(tooling.SKIP_ENV, "1")
    rows = tooling.run(lint_rounds=1, cwd=repo)
    assert [row.benchmark for row in rows] == ["make lint-rules"]
    assert "`make test` was skipped in this run (BENCH_SKIP_MAKE_TEST=1)" in tooling.NOTES
