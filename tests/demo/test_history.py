"""The history `make demo` writes before Prometheus starts (tools/demo/stack.py, ``History``).

The history itself is checked on real servers in tests/e2e/test_demo.py; here, what the runner
asks of the backfill and when it asks nothing.
"""

from __future__ import annotations

from pathlib import Path

from tools.demo.stack import DEFAULT_PORTS, History, Stack, StackOptions, parse_args


def stack(tmp_path: Path, **options: object) -> Stack:
    return Stack(
        StackOptions(data_dir=tmp_path, ports=dict.fromkeys(DEFAULT_PORTS, 0), **options)  # type: ignore[arg-type]
    )


def test_make_demo_writes_six_hours_of_history_by_default():
    assert parse_args([]).backfill_days == 0.25
    assert parse_args(["--backfill-days", "0"]).backfill_days == 0


def test_the_history_is_the_demo_own_workload_and_ends_where_it_starts(tmp_path: Path):
    demo = stack(tmp_path, scenario="cost_spike", backfill_days=7)
    argv = History(demo).argv(end=1_767_225_600.25)
    assert "--days=7" in argv
    assert f"--data-dir={tmp_path / 'prometheus'}" in argv
    # Up to the moment the backfill starts: before Prometheus's first sample, never after it.
    assert "--end=1767225600.250" in argv
    # The same series as the live scrape, of the same scenario.
    assert f"--instance={demo.address('simulator')}" in argv
    assert "--scenario=cost_spike" in argv
    # The demo's rules, seed and load are the backfill's defaults: nothing more is passed.
    assert not [arg for arg in argv if arg.startswith(("--rules", "--seed", "--pipelines"))]


def test_other_rules_and_loads_are_passed_on(tmp_path: Path):
    rules = tmp_path / "alerts.yml"
    demo = stack(tmp_path, alerts_file=rules, slo_rules_file=None, pipelines_per_hour=120.0)
    argv = History(demo).argv(end=0)
    assert f"--rules={rules}" in argv
    assert "--pipelines-per-hour=120" in argv


def test_no_history_into_a_tsdb_that_holds_data(tmp_path: Path):
    # Prometheus drops the write-ahead log's samples older than a new block's end: writing
    # history into a used TSDB would lose the last hours of the previous run.
    (tmp_path / "prometheus" / "wal").mkdir(parents=True)
    (tmp_path / "prometheus" / "wal" / "00000000").write_bytes(b"x")
    lines: list[str] = []
    history = History(stack(tmp_path), out=lines.append)
    history.begin()
    history.wait()  # nothing to wait for
    assert len(lines) == 1
    assert "none written" in lines[0]
    assert "already holds data (last written 0 min ago)" in lines[0]
    assert sorted(p.name for p in (tmp_path / "prometheus").iterdir()) == ["wal"]


def test_backfill_days_0_writes_nothing_and_says_nothing(tmp_path: Path):
    lines: list[str] = []
    history = History(stack(tmp_path, backfill_days=0), out=lines.append)
    history.begin()
    history.wait()
    assert lines == []
    assert not (tmp_path / "prometheus").exists()
