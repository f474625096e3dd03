"""The shared benchmark helpers: goals say by how much they were missed; the table renders."""

from __future__ import annotations

import pytest

from tools.bench import __main__ as bench_main
from tools.bench.common import (
    Goal,
    Result,
    Timing,
    compare,
    format_seconds,
    render_table,
    summarise,
)


def test_an_upper_limit_is_met_or_says_how_far_over_it_went():
    goal = Goal("<= 1,500 series", "<=", 1500, " series")
    assert goal.met(1500)
    assert goal.missed_by(1500) is None
    assert not goal.met(1800)
    assert goal.missed_by(1800) == "1,800 series, 20% over 1,500 series"


def test_a_strict_limit_fails_on_the_limit_itself():
    goal = Goal("< 1 s", "<", 1.0, "s")
    assert not goal.met(1.0)
    assert goal.missed_by(1.35) == "1.35 s, 35% over 1 s"


def test_a_lower_limit_says_how_many_times_short_it_fell():
    goal = Goal(">= 5x recording rules", ">=", 5.0, "x")
    assert goal.met(5.0)
    assert goal.missed_by(2.5) == "2.50x, 5.00x wanted (2.00x short)"
    assert goal.judge(7.0) == {"goal": ">= 5x recording rules", "met": True, "missed_by": None}


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (2.5e-7, "250 ns"),
        (1.5e-5, "15 µs"),
        (0.0123, "12.3 ms"),
        (3.75, "3.75 s"),
        (1234, "1,234 s"),
    ],
)
def test_times_are_shown_in_the_unit_that_suits_them(seconds, shown):
    assert format_seconds(seconds) == shown


def test_spread_is_half_the_iqr_half_the_range_or_absent():
    assert summarise([10.0]).spread_pct is None
    assert summarise([9.0, 11.0]).spread_pct == pytest.approx(10.0)  # (11 - 9) / 2 / 10
    many = summarise([8.0, 9.0, 10.0, 11.0, 12.0])
    assert many.median_us == 10.0
    # Quartiles (exclusive method) 8.5 and 11.5: half the IQR is 1.5, 15% of the median.
    assert many.spread_pct == pytest.approx(15.0)
    with pytest.raises(ValueError, match="no samples"):
        summarise([])


def test_compare_judges_ratios_or_medians():
    timings = {
        "ours": Timing(2.0, 5.0, (2.0,) * 4),
        "theirs": Timing(1.0, 5.0, (1.0,) * 4),
    }
    by_ratio = compare(
        "b", timings, baseline="theirs", goals={"ours": Goal("<= 1.2x", "<=", 1.2, "x")}
    )
    ours = next(r for r in by_ratio if r.case == "ours")
    assert ours.ratio == 2.0
    assert not ours.met
    assert ours.missed_by == "2.00x, 67% over 1.20x"
    by_time = compare(
        "b",
        timings,
        baseline="theirs",
        goals={"ours": Goal("< 3 µs", "<", 3.0, " µs")},
        goal_of="median_us",
    )
    assert next(r for r in by_time if r.case == "ours").met


def test_the_table_has_one_line_per_row_and_sizes_every_miss():
    rows = [
        Result("exposition", "generate_latest", 11_400.0, 23.4, runs=15, measured="845 series"),
        Result(
            "30 d: cost_tracking",
            "raw | expanded",
            4_200_000.0,
            None,
            ratio=3.0,
            baseline="recording rules",
            runs=1,
            goal=">= 5x",
            met=False,
            missed_by="3.00x, 5.00x wanted (1.67x short)",
        ),
    ]
    lines = render_table(rows).splitlines()
    assert lines[0].startswith("| benchmark | case | median | spread | runs |")
    assert len(lines) == 4
    assert "| 11.4 ms | ±23.4% | 15 |" in lines[2]
    assert "845 series" in lines[2]
    # A pipe inside a cell is escaped, so the row keeps its nine cells.
    assert "raw \\| expanded" in lines[3]
    assert "| 4.2 s | n/a | 1 | 3.00x recording rules |" in lines[3]
    assert lines[3].endswith("| >= 5x | **no**: 3.00x, 5.00x wanted (1.67x short) |")


def test_a_benchmark_is_chosen_by_its_short_or_full_name(monkeypatch):
    monkeypatch.setattr(bench_main, "BENCHMARKS", ("tools.bench.dashboards", "tools.bench.tooling"))
    assert bench_main.resolve("dashboards") == "tools.bench.dashboards"
    assert bench_main.resolve("tools.bench.tooling") == "tools.bench.tooling"
    with pytest.raises(ValueError, match="unknown benchmark 'dashboard'; registered: dashboards"):
        bench_main.resolve("dashboard")


def test_a_full_run_writes_results_and_a_partial_run_leaves_them(monkeypatch, tmp_path, capsys):
    results = tmp_path / "results.md"
    monkeypatch.setattr(bench_main, "DEFAULT_OUT", results)
    monkeypatch.setattr(bench_main, "REPO", tmp_path)
    monkeypatch.setattr(bench_main, "BENCHMARKS", ("tests.bench.tiny_bench", "tests.bench.absent"))
    assert bench_main.main(["tiny_bench"]) == 0
    assert not results.exists()
    assert "results.md left as it was" in capsys.readouterr().err

    monkeypatch.setattr(bench_main, "BENCHMARKS", ("tests.bench.tiny_bench",))
    assert bench_main.main([]) == 0
    text = results.read_text()
    assert text.startswith("# Benchmark results")
    assert "load average at start" in text
    assert "- Load average at the end: " in text
    assert "## Tiny" in text
    assert "| tiny | fast | 500 ms | ±2.0% | 5 |" in text
    assert "Goals missed in this run: tiny: slow (1.5 s, 50% over 1 s)." in text

    other = tmp_path / "other.md"
    assert bench_main.main(["tiny_bench", "--out", str(other)]) == 0
    assert "## Tiny" in other.read_text()
