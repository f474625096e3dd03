"""What evaluating the rules costs Prometheus on a month of history, before and after the SLOs.

    python -m tools.bench rules                 # 30 days (make bench)
    python -m tools.bench.rules --days 3        # a shorter history, for a quick look

A history of the healthy workload is backfilled up to now (``tools/demo/backfill.py``, the
recording rules of both rule files included, so the SLO windows have 5-minute records to sum),
compacted as a 30-day Prometheus compacts it. Then a real Prometheus runs on a hard-linked copy
of it twice: with ``alerts.yml`` alone (before) and with ``alerts.yml`` and ``slo_rules.yml``
(after), evaluating every 15 s as shipped. Its own ``prometheus_rule_group_last_duration_seconds``
is read every few seconds for a few minutes; each group's row is the median of the distinct
evaluations seen. Goal: all groups together busy under 1% of the time, i.e. the sum over groups
of (evaluation time / group interval) under 0.01.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tools._repo import shown
from tools.bench.common import Goal, Result, format_seconds
from tools.bench.dashboards import CACHE, BackfillParams, History, ensure_history, prometheus_args
from tools.demo.net import free_port, http_get
from tools.demo.processes import Process
from tools.prometheus.lint import RULE_FILES, RULES

#: The history this benchmark has always run on: one instance, a sample every 120 s, compacted.
#: It must end now (rules evaluate at the wall clock), so it is built afresh each run, and at
#: production density that would be 400 M samples a run: tools/bench/capacity.py measures the
#: rule groups at 15 s with three instances over the windows that density changes.
SPARSE = BackfillParams(step=120.0, instances=1, block_hours=2, compact=True)

TITLE = "Rules: evaluation time of every rule group on the history, before and after the SLOs"
LOAD_GOAL = Goal("< 1% of the interval", "<", 1.0, "%")
#: How long each case runs, and how often the metrics are read.
OBSERVE_SECONDS = 180.0
POLL_SECONDS = 5.0
CASES: tuple[tuple[str, tuple[Path, ...]], ...] = (
    ("before: alerts.yml", (RULES,)),
    ("after: alerts.yml + slo_rules.yml", RULE_FILES),
)


def _samples(body: str, name: str) -> dict[str, float]:
    """``rule_group`` label -> value of one metric family in Prometheus's own exposition."""
    found = {}
    for line in body.splitlines():
        if line.startswith(name + "{"):
            labels, value = line[len(name) + 1 :].rsplit("} ", 1)
            group = labels.split('rule_group="', 1)[1].split('"', 1)[0]
            found[group] = float(value)
    return found


def observe(
    history: History,
    rule_files: Sequence[Path],
    work_dir: Path,
    seconds: float = OBSERVE_SECONDS,
) -> dict[str, Any]:
    """Per group: interval (s) and the evaluation times (s) seen while Prometheus ran."""
    data = work_dir / "data"
    shutil.rmtree(work_dir, ignore_errors=True)
    # Hard links: the blocks are immutable, and what this Prometheus writes or compacts away
    # does not touch the cached history.
    shutil.copytree(history.path / "data", data, copy_function=os.link)
    for stale in ("wal", "chunks_head", "lock"):
        target = data / stale
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    config = work_dir / "prometheus.yml"
    files = "".join(f"  - {path.resolve()}\n" for path in rule_files)
    config.write_text(f"global:\n  evaluation_interval: 15s\nrule_files:\n{files}")
    port = free_port()
    process = Process(
        "prometheus (rules bench)", prometheus_args(data, config, port), work_dir / "log"
    )
    url = f"http://127.0.0.1:{port}"
    durations: dict[str, dict[str, float]] = {}
    intervals: dict[str, float] = {}
    try:
        process.wait_ready(f"{url}/-/ready", timeout=600)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            status, body = http_get(f"{url}/metrics", timeout=30)
            if status != 200:
                continue
            text = body.decode()
            intervals.update(_samples(text, "prometheus_rule_group_interval_seconds"))
            last = _samples(text, "prometheus_rule_group_last_duration_seconds")
            stamps = _samples(text, "prometheus_rule_group_last_evaluation_timestamp_seconds")
            for group, seconds in last.items():
                if stamps.get(group, 0) > 0:  # a group that has not run yet reports 0
                    durations.setdefault(group, {})[str(stamps[group])] = seconds
    finally:
        process.stop()
        shutil.rmtree(data, ignore_errors=True)
    return {
        group: (intervals[group], list(seen.values()))
        for group, seen in durations.items()
        if group in intervals
    }


def _rows(case: str, groups: dict[str, Any]) -> list[Result]:
    rows = []
    busy = 0.0
    for group, (interval, seconds) in sorted(groups.items()):
        median = statistics.median(seconds)
        busy += median / interval
        rows.append(
            Result(
                "rules",
                f"{case}: {group.split(';')[-1]} (every {interval:g} s)",
                median * 1e6,
                None,
                measured=f"{median / interval * 100:.3f}% of its interval",
                runs=len(seconds),
            )
        )
    rows.append(
        Result(
            "rules",
            f"{case}: all {len(groups)} groups",
            sum(statistics.median(s) for _, s in groups.values()) * 1e6,
            None,
            measured=f"busy {busy * 100:.3f}% of the time",
            **LOAD_GOAL.judge(busy * 100),  # type: ignore[arg-type]
        )
    )
    return rows


def notes(history: History | None = None) -> str:
    text = (
        "Prometheus's own `prometheus_rule_group_last_duration_seconds` per rule group, on a "
        "backfilled history of the healthy workload ending now, evaluated every 15 s (the SLO "
        "SLI and metadata groups every minute, as shipped). Median of the distinct evaluations "
        f"seen over {OBSERVE_SECONDS:g} s per case. Busy share = evaluation time / group "
        "interval, summed over groups; goal under 1%. The backfilled SLO records are spaced by "
        "the backfill step, not a minute: the 30-day window of a live Prometheus holds up to "
        "twice the samples read here."
    )
    if history is not None:
        p = history.params
        text += (
            f"\n\nHistory: {p.days:g} days at {p.step:g} s steps ({p.pipelines_per_hour:g} "
            f"pipelines an hour), `{shown(history.path)}`; backfill {history.backfill_seconds:.0f}"
            f" s, compaction {history.compaction_seconds:.0f} s."
        )
    return text


NOTES = notes()


def run(
    params: BackfillParams | None = None,
    cache: Path = CACHE,
    seconds: float = OBSERVE_SECONDS,
) -> list[Result]:
    global NOTES
    # Up to now, on the minute: the rules evaluate at the wall clock's time.
    params = params or dataclasses.replace(SPARSE, end=math.floor(time.time() / 60) * 60)
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    history = ensure_history(params, cache, rules=RULE_FILES, log=log)
    NOTES = notes(history)
    rows: list[Result] = []
    for case, rule_files in CASES:
        log(f"rules bench: {case} for {seconds:g} s ...")
        groups = observe(history, rule_files, history.path / "rules-bench", seconds)
        rows += _rows(case, groups)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    from tools.bench.common import render_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=SPARSE.days)
    parser.add_argument("--step", type=float, default=SPARSE.step)
    parser.add_argument("--no-compact", action="store_true", help="keep the two-hour blocks")
    parser.add_argument(
        "--observe", type=float, default=OBSERVE_SECONDS, help="seconds per case (180)"
    )
    args = parser.parse_args(argv)
    params = dataclasses.replace(
        SPARSE,
        days=args.days,
        step=args.step,
        end=math.floor(time.time() / 60) * 60,
        compact=not args.no_compact,
    )
    rows = run(params, seconds=args.observe)
    print(NOTES)
    print(render_table(rows))
    for row in rows:
        print(f"{row.case}: {format_seconds(row.median_us / 1e6)} {row.measured or ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
