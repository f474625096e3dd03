"""What Prometheus itself costs at production density, read from Prometheus's own metrics.

    python -m tools.bench capacity
    python -m tools.bench.capacity --days 1 --observe 240

For one and for three app instances: a day of history is backfilled up to now (15 s samples,
the recording rules included), then a real Prometheus with the shipped rule files scrapes that
many live simulators every 15 s and is read every few seconds: resident memory, head series,
and every rule group's evaluation time against its interval. Three instances minus one, halved,
is what one more instance costs; docs/operations.md turns it into a capacity table.

The simulators run 60x faster than real time so that every series of the workload exists
within the first minute (series, not sample values, are what memory follows). The SLO windows
longer than the history (3 and 30 days) read one day of records here: their evaluation is
measured on 30 days by the rules benchmark, where it does not depend on the scrape density.
"""

from __future__ import annotations

import math
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tools._repo import find_command
from tools.bench.common import Goal, Result
from tools.bench.rules import _samples
from tools.config import JOB
from tools.demo import backfill
from tools.demo.net import free_port, http_get
from tools.demo.processes import Process
from tools.prometheus.lint import RULE_FILES

TITLE = "Capacity: Prometheus's memory, head series and rule evaluation at a 15 s scrape"
BUSY_GOAL = Goal("< 1% of the interval", "<", 1.0, "%")
OBSERVE_SECONDS = 240.0
POLL_SECONDS = 5.0
INSTANCES: tuple[int, ...] = (1, 3)


@dataclass
class Observed:
    """What one Prometheus reported about itself while it scraped ``instances`` apps."""

    instances: int
    memory: list[float] = field(default_factory=list)
    head_series: list[float] = field(default_factory=list)
    intervals: dict[str, float] = field(default_factory=dict)
    #: group -> evaluation timestamp -> seconds it took
    evaluations: dict[str, dict[float, float]] = field(default_factory=dict)
    backfill_seconds: float = 0.0

    def busy(self) -> dict[str, float]:
        """Median evaluation time over interval, per group."""
        return {
            group: statistics.median(seen.values()) / self.intervals[group]
            for group, seen in self.evaluations.items()
            if group in self.intervals and seen
        }


def consecutive_free_ports(count: int) -> int:
    """The first of ``count`` free consecutive ports (the backfill numbers instances so)."""
    for _ in range(50):
        first = free_port()
        if first + count > 65535:
            continue
        try:
            for port in range(first, first + count):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise RuntimeError(f"no {count} consecutive free ports found")


def _config(ports: list[int], rule_files: Sequence[Path]) -> str:
    targets = ", ".join(f'"127.0.0.1:{port}"' for port in ports)
    files = "".join(f"  - {path.resolve()}\n" for path in rule_files)
    return (
        "global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\n"
        f"rule_files:\n{files}"
        f"scrape_configs:\n  - job_name: {JOB}\n    static_configs:\n"
        f"      - targets: [{targets}]\n"
    )


def observe(
    instances: int, work_dir: Path, days: float, seconds: float = OBSERVE_SECONDS
) -> Observed:
    first = consecutive_free_ports(instances)
    ports = list(range(first, first + instances))
    data = work_dir / "data"
    seen = Observed(instances)
    began = time.monotonic()
    argv = ["--days", f"{days:g}", "--step", "15", "--instances", str(instances), "--quiet"]
    code = backfill.main([*argv, "--instance", f"127.0.0.1:{first}", "--data-dir", str(data)])
    if code != 0:
        raise RuntimeError(f"tools.demo.backfill exited with {code}")
    seen.backfill_seconds = time.monotonic() - began
    config = work_dir / "prometheus.yml"
    config.write_text(_config(ports, RULE_FILES))
    apps = [
        Process(
            f"simulator :{port}",
            [
                sys.executable,
                "-m",
                "tools.demo.simulator",
                f"--port={port}",
                f"--seed={index + 1}",
                "--speed=60",
            ],
            work_dir / f"simulator-{port}.log",
        )
        for index, port in enumerate(ports)
    ]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    prometheus = Process(
        "prometheus (capacity)",
        [
            *find_command("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=30d",
        ],
        work_dir / "prometheus.log",
    )
    try:
        prometheus.wait_ready(f"{url}/-/ready", timeout=600)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            status, body = http_get(f"{url}/metrics", timeout=30)
            if status == 200:
                _read(body.decode(), seen)
    finally:
        prometheus.stop()
        for app in apps:
            app.stop()
    return seen


def _read(text: str, seen: Observed) -> None:
    for line in text.splitlines():
        if line.startswith("process_resident_memory_bytes "):
            seen.memory.append(float(line.split()[1]))
        elif line.startswith("prometheus_tsdb_head_series "):
            seen.head_series.append(float(line.split()[1]))
    seen.intervals.update(_samples(text, "prometheus_rule_group_interval_seconds"))
    last = _samples(text, "prometheus_rule_group_last_duration_seconds")
    stamps = _samples(text, "prometheus_rule_group_last_evaluation_timestamp_seconds")
    for group, took in last.items():
        if stamps.get(group, 0) > 0:  # a group that has not run yet reports 0
            seen.evaluations.setdefault(group, {})[stamps[group]] = took


def rows(observed: list[Observed]) -> list[Result]:
    out: list[Result] = []
    for seen in observed:
        case = f"{seen.instances} app instance(s)"
        out.append(
            Result(
                "capacity: resident memory at the end",
                case,
                math.nan,  # a reading, not a timing
                None,
                measured=f"{seen.memory[-1] / 2**20:,.0f} MiB "
                f"(peak {max(seen.memory) / 2**20:,.0f} MiB)",
                runs=len(seen.memory),
            )
        )
        out.append(
            Result(
                "capacity: head series at the end",
                case,
                math.nan,  # a reading, not a timing
                None,
                measured=f"{seen.head_series[-1]:,.0f}",
                runs=len(seen.head_series),
            )
        )
    largest = observed[-1]
    busy = largest.busy()
    for group, share in sorted(busy.items()):
        out.append(
            Result(
                f"capacity: rule group at {largest.instances} instance(s)",
                f"{group.split(';')[-1]} (every {largest.intervals[group]:g} s)",
                statistics.median(largest.evaluations[group].values()) * 1e6,
                None,
                measured=f"{share * 100:.3f}% of its interval",
                runs=len(largest.evaluations[group]),
            )
        )
    out.append(
        Result(
            f"capacity: rule group at {largest.instances} instance(s)",
            f"all {len(busy)} groups",
            sum(statistics.median(largest.evaluations[g].values()) for g in busy) * 1e6,
            None,
            measured=f"busy {sum(busy.values()) * 100:.3f}% of the time",
            **BUSY_GOAL.judge(sum(busy.values()) * 100),  # type: ignore[arg-type]
        )
    )
    if len(observed) >= 2:
        low, high = observed[0], observed[-1]
        more = high.instances - low.instances
        out.append(
            Result(
                "capacity: one more app instance",
                f"({high.instances} - {low.instances}) / {more}",
                math.nan,
                None,
                measured=f"{(high.head_series[-1] - low.head_series[-1]) / more:,.0f} head "
                f"series, {(high.memory[-1] - low.memory[-1]) / more / 2**20:,.0f} MiB resident",
            )
        )
    return out


def notes(days: float, seconds: float) -> str:
    return (
        f"Per case: {days:g} day(s) of history at 15 s backfilled up to now, then a Prometheus "
        f"with alerts.yml and slo_rules.yml scraping the live simulators every 15 s, read every "
        f"{POLL_SECONDS:g} s for {seconds:g} s. Memory is `process_resident_memory_bytes` at "
        "the end of the observation (a head of minutes, not the 2-3 hours a long-running "
        "server holds: each series' head chunks add about 1-2 KiB over those hours); rule "
        "evaluation is the median of `prometheus_rule_group_last_duration_seconds` over the "
        "evaluations seen, against `prometheus_rule_group_interval_seconds`."
    )


NOTES = notes(1.0, OBSERVE_SECONDS)


def run(days: float = 1.0, seconds: float = OBSERVE_SECONDS) -> list[Result]:
    global NOTES
    observed = []
    for instances in INSTANCES:
        print(f"capacity: {instances} instance(s) for {seconds:g} s ...", file=sys.stderr)
        work = Path(tempfile.mkdtemp(prefix="narra-forge-capacity-"))
        try:
            observed.append(observe(instances, work, days, seconds))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    NOTES = notes(days, seconds)
    return rows(observed)


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    from tools.bench.common import render_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=1.0, help="history before the scrape (1)")
    parser.add_argument("--observe", type=float, default=OBSERVE_SECONDS, help="seconds per case")
    args = parser.parse_args(argv)
    result = run(args.days, args.observe)
    print(NOTES)
    print(render_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
