"""Write days of NARRA_FORGE history into a Prometheus data directory, without waiting for it.

    python -m tools.demo.backfill --days 30 --data-dir .data/prometheus

The workload of ``tools/demo/workload.py`` runs on a virtual clock (an asyncio loop whose time jumps
to the next timer instead of sleeping) through the real ``MetricsCollector``; every ``--step``
seconds of virtual time the registry is written out as OpenMetrics samples with timestamps, as
if Prometheus had scraped it. The samples go to one file per two-hour TSDB block, each loaded by
``promtool tsdb create-blocks-from openmetrics`` while the next one is generated (promtool
2.42 re-reads its whole input once per two-hour block, so one big file would be read 360 times
for 30 days). Then a temporary Prometheus serves the raw blocks and ``promtool tsdb
create-blocks-from rules`` computes the recording rules over the same range. Rules that read
other rules (the SLO windows read the 5-minute SLO rates) are computed a level at a time, the
reader restarted in between so that it serves the level below.

Size: the workload exposes about 800 series; at the default 60 s step, 30 days are 43,200
snapshots, some 35 million samples. 60 s keeps every ``rate(...[5m])`` of the rules and
dashboards well fed (five samples a window) and is a quarter of the samples of a 15 s scrape.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from prometheus_client import CollectorRegistry

from narra_forge.monitoring import MetricsCollector
from tools._repo import REPO, BinaryNotFoundError, find_command
from tools.config import JOB
from tools.demo.net import free_port
from tools.demo.processes import Process
from tools.demo.workload import SCENARIOS, Env, NullLog, arrivals

DEFAULT_RULES = (
    REPO / "monitoring" / "prometheus" / "alerts.yml",
    REPO / "monitoring" / "prometheus" / "slo_rules.yml",
)
#: promtool writes two-hour blocks; a chunk file per block is read exactly once.
BLOCK_SECONDS = 2 * 3600


class VirtualClock:
    """Seconds since the start of the backfill.

    Counted from 0, not from the epoch: near 1.8e9 a float cannot add a microsecond, and a timer
    due a microsecond from now would never come due.
    """

    def __init__(self) -> None:
        self.now = 0.0


class _JumpingSelector(selectors.SelectSelector):
    """Instead of waiting ``timeout`` seconds for I/O, move the virtual clock forward."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__()
        self.clock = clock

    def select(self, timeout: float | None = None) -> list[Any]:
        if timeout is None:
            raise RuntimeError("virtual-time loop has nothing scheduled: it would wait forever")
        self.clock.now += timeout
        return super().select(0)


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose ``time()`` is the virtual clock: ``asyncio.sleep`` costs nothing."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__(_JumpingSelector(clock))
        self.clock = clock
        self._clock_resolution = 1e-6  # timers within a microsecond of now are due now

    def time(self) -> float:
        return self.clock.now


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _format_value(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(float(value)) if value != int(value) else str(int(value))


class SnapshotWriter:
    """Writes a registry's samples with a timestamp, as OpenMetrics text lines."""

    def __init__(self, registry: CollectorRegistry, target_labels: dict[str, str]) -> None:
        self.registry = registry
        self.target = "".join(f'{k}="{_escape(v)}",' for k, v in target_labels.items())
        self._prefixes: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}
        self.samples = 0

    def _prefix(self, name: str, labels: dict[str, str]) -> str:
        key = (name, tuple(labels.items()))
        prefix = self._prefixes.get(key)
        if prefix is None:
            inner = self.target + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            prefix = self._prefixes[key] = f"{name}{{{inner.rstrip(',')}}} "
        return prefix

    def write(self, out: IO[str], timestamp: float) -> None:
        stamp = f" {timestamp:.3f}\n"
        lines = [self._prefix("up", {}) + "1" + stamp]
        for family in self.registry.collect():
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue
                lines.append(
                    self._prefix(sample.name, sample.labels) + _format_value(sample.value) + stamp
                )
        out.writelines(lines)
        self.samples += len(lines)


@dataclass
class Chunk:
    path: Path
    out: IO[str]
    block_end: float


class BlockLoader:
    """Feeds finished chunk files to promtool, one at a time, while the next is generated."""

    def __init__(self, promtool: list[str], data_dir: Path) -> None:
        self.promtool = promtool
        self.data_dir = data_dir
        self.running: tuple[subprocess.Popen[bytes], Path] | None = None
        self.blocks = 0

    def wait(self) -> None:
        if self.running is None:
            return
        process, path = self.running
        _, stderr = process.communicate()
        self.running = None
        if process.returncode != 0:
            raise RuntimeError(
                f"promtool tsdb create-blocks-from openmetrics {path} failed "
                f"(exit {process.returncode}): {stderr.decode(errors='replace')[-2000:]}"
            )
        path.unlink()
        self.blocks += 1

    def load(self, path: Path) -> None:
        self.wait()
        self.running = (
            subprocess.Popen(
                [
                    *self.promtool,
                    "tsdb",
                    "create-blocks-from",
                    "openmetrics",
                    "--quiet",
                    str(path),
                    str(self.data_dir),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            ),
            path,
        )


def simulate(
    *,
    span: float,
    step: float,
    scenario: str,
    seed: int,
    pipelines_per_hour: float,
    registry: CollectorRegistry,
    on_snapshot: Callable[[float], None],
) -> None:
    """Run the workload for ``span`` virtual seconds into ``registry``; every ``step`` seconds
    call ``on_snapshot(seconds since the start)``, as a scrape would come."""
    clock = VirtualClock()
    collector = MetricsCollector(registry=registry, clock=lambda: clock.now)

    async def snapshots() -> None:
        while clock.now <= span:
            on_snapshot(clock.now)
            await asyncio.sleep(step)

    async def main() -> None:
        env = Env(
            collector=collector,
            sleep=asyncio.sleep,
            log=NullLog(),  # a log line per pipeline over days would be gigabytes
            scenario=SCENARIOS[scenario],
            seed=seed,
        )
        work = asyncio.ensure_future(
            arrivals(env, pipelines_per_hour, max_concurrent=8, until=lambda: clock.now > span)
        )
        await snapshots()
        pending = {work} | (asyncio.all_tasks() - {asyncio.current_task()})
        for task in pending:
            task.cancel()
        # Let the pipelines in flight unwind (their trackers record the cancellation).
        await asyncio.gather(*pending, return_exceptions=True)

    loop = VirtualTimeLoop(clock)
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()


def generate(
    *,
    start: float,
    end: float,
    step: float,
    scenario: str,
    seed: int,
    pipelines_per_hour: float,
    instance: str,
    chunk_dir: Path,
    on_chunk: Callable[[Path], None],
) -> int:
    """Run the workload from ``start`` to ``end`` (epoch seconds); returns samples written."""
    registry = CollectorRegistry()
    writer = SnapshotWriter(registry, {"job": JOB, "instance": instance})
    chunk: Chunk | None = None

    def next_chunk(now: float) -> Chunk:
        block_end = (math.floor((start + now) / BLOCK_SECONDS) + 1) * BLOCK_SECONDS - start
        path = chunk_dir / f"chunk-{int(start + block_end)}.om"
        return Chunk(path, path.open("w", buffering=1 << 20), block_end)

    def close(current: Chunk) -> None:
        current.out.write("# EOF\n")
        current.out.close()
        on_chunk(current.path)

    def snapshot(now: float) -> None:
        nonlocal chunk
        if chunk is None or now >= chunk.block_end:
            if chunk is not None:
                close(chunk)
            chunk = next_chunk(now)
        writer.write(chunk.out, start + now)

    simulate(
        span=end - start,  # the virtual clock counts from 0
        step=step,
        scenario=scenario,
        seed=seed,
        pipelines_per_hour=pipelines_per_hour,
        registry=registry,
        on_snapshot=snapshot,
    )
    if chunk is not None:
        close(chunk)
    return writer.samples


def recording_rules_file(rules: Path, out: Path) -> Path:
    """The recording-rule groups of ``rules`` alone (promtool ignores alerts, but says so)."""
    import yaml

    document = yaml.safe_load(rules.read_text())
    groups = []
    for group in document.get("groups", []):
        recorded = [r for r in group.get("rules", []) if "record" in r]
        if recorded:
            groups.append({**group, "rules": recorded})
    out.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return out


def _start_reader(data_dir: Path, work_dir: Path) -> tuple[Process, str]:
    """A temporary Prometheus serving the raw blocks (no scraping, no rules)."""
    port = free_port()
    config = work_dir / "prometheus-backfill.yml"
    config.write_text("global:\n  evaluation_interval: 1m\n")
    prometheus = Process(
        "prometheus (rule backfill)",
        [
            *find_command("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={data_dir}",
            f"--web.listen-address=127.0.0.1:{port}",
            # Keep what was just written: the default 15d retention would delete older blocks.
            "--storage.tsdb.retention.time=3650d",
        ],
        work_dir / "prometheus-backfill.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        prometheus.wait_ready(f"{url}/-/ready", timeout=120)
    except BaseException:
        prometheus.stop()
        raise
    return prometheus, url


def rules_with_promtool(
    url: str, rules: Path, start: float, end: float, step: float, work_dir: Path, data_dir: Path
) -> int:
    """``promtool tsdb create-blocks-from rules``: one block per rule and two hours."""
    output = work_dir / "rule-blocks"
    only_recording = recording_rules_file(rules, work_dir / "recording.yml")
    result = subprocess.run(
        [
            *find_command("promtool"),
            "tsdb",
            "create-blocks-from",
            "rules",
            "--quiet",
            f"--url={url}",
            f"--start={int(start)}",
            f"--end={int(end)}",
            f"--eval-interval={int(step)}s",
            f"--output-dir={output}",
            str(only_recording),
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"promtool create-blocks-from rules failed: {result.stderr[-2000:]}")
    blocks = [p for p in output.iterdir() if p.is_dir()] if output.exists() else []
    for block in blocks:
        shutil.move(str(block), str(data_dir / block.name))
    return len(blocks)


def _query_range(url: str, expr: str, start: float, end: float, step: float) -> list[Any]:
    query = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{url}/api/v1/query_range?{query}", timeout=300) as response:
        payload = json.loads(response.read())
    if payload.get("status") != "success":
        raise RuntimeError(f"query_range {expr!r} failed: {payload}")
    return payload["data"]["result"]


Record = tuple[str, str, dict[str, str]]


def load_records(rule_files: list[Path]) -> list[Record]:
    """(name, expression, labels the rule sets) of every recording rule, in file order."""
    import yaml

    return [
        (rule["record"], rule["expr"], {k: str(v) for k, v in (rule.get("labels") or {}).items()})
        for path in rule_files
        for group in yaml.safe_load(path.read_text()).get("groups", [])
        for rule in group.get("rules", [])
        if "record" in rule
    ]


def record_levels(records: list[Record]) -> list[list[Record]]:
    """Records grouped so that each reads only raw series and records of earlier levels."""
    names = {name for name, _, _ in records}
    level: dict[str, int] = {}
    for name, expr, _ in records:  # a rule reads only rules above it
        reads = [
            other
            for other in names
            if other in level and re.search(rf"(?<![\w:]){re.escape(other)}(?![\w:])", expr)
        ]
        level[name] = max(level.get(name, 0), 1 + max((level[r] for r in reads), default=-1))
    levels: list[list[Record]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for record in records:
        levels[level[record[0]]].append(record)
    return levels


def rules_with_query_range(
    url: str,
    records: list[Record],
    start: float,
    end: float,
    step: float,
    work_dir: Path,
    loader: BlockLoader,
) -> int:
    """The same evaluation as promtool's (each rule at every step, by Prometheus's own
    engine through query_range), written as OpenMetrics per two-hour block and loaded like the
    raw samples: one block per two hours for all the rules, not one per rule. Returns blocks."""
    before = loader.blocks
    day = 86400.0
    window_start = float(math.floor(start / BLOCK_SECONDS) * BLOCK_SECONDS)
    while window_start < end:
        window_end = min(window_start + day, end)
        chunks: dict[int, list[str]] = {}
        for record, expr, rule_labels in records:
            first = max(start, window_start)
            for series in _query_range(url, expr, first, window_end - 1e-3, step):
                labels = {k: v for k, v in series["metric"].items() if k != "__name__"}
                labels.update(rule_labels)  # as Prometheus records it: the rule's labels win
                inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
                prefix = f"{record}{{{inner}}} "
                for stamp, value in series["values"]:
                    block = math.floor(float(stamp) / BLOCK_SECONDS)
                    chunks.setdefault(block, []).append(f"{prefix}{value} {stamp}\n")
        for block, lines in sorted(chunks.items()):
            path = work_dir / f"rules-{block}.om"
            # Within a block the samples of one series must be in time order: they are,
            # because each series' values came in order and series do not interleave.
            path.write_text("".join(lines) + "# EOF\n")
            loader.load(path)
        window_start = window_end
    loader.wait()
    return loader.blocks - before


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=7.0, help="history to write (7)")
    parser.add_argument("--data-dir", type=Path, default=REPO / ".data" / "prometheus")
    parser.add_argument("--step", type=float, default=120.0, help="seconds between samples (120)")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="healthy")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pipelines-per-hour", type=float, default=60.0)
    parser.add_argument(
        "--end",
        type=float,
        help="epoch seconds of the last sample (default: the start of the current 2h block,"
        " so the history never overlaps what a running Prometheus is writing now)",
    )
    parser.add_argument(
        "--instance",
        default="127.0.0.1:8000",
        help="instance label; the default continues the demo simulator's own series",
    )
    parser.add_argument(
        "--rules",
        type=Path,
        action="append",
        help="a rule file whose recording rules to compute (repeatable; default alerts.yml and"
        " slo_rules.yml)",
    )
    parser.add_argument("--no-rules", action="store_true", help="skip the recording rules")
    parser.add_argument(
        "--rules-with-promtool",
        action="store_true",
        help="evaluate the rules with `promtool tsdb create-blocks-from rules` (one block per"
        " rule and two hours: 18x the blocks, several times slower over weeks)",
    )
    args = parser.parse_args(argv)
    rule_files: list[Path] = args.rules or list(DEFAULT_RULES)
    if args.days <= 0 or args.step < 1:
        parser.error("--days must be > 0 and --step >= 1 second")
    try:
        promtool = find_command("promtool")
    except BinaryNotFoundError as error:
        print(f"error: {error}")
        return 2
    end = (
        args.end
        if args.end is not None
        else math.floor(time.time() / BLOCK_SECONDS) * BLOCK_SECONDS
    )
    start = end - args.days * 86400
    args.data_dir.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="narra-forge-backfill-") as tmp:
        work_dir = Path(tmp)
        loader = BlockLoader(promtool, args.data_dir)
        samples = generate(
            start=start,
            end=end,
            step=args.step,
            scenario=args.scenario,
            seed=args.seed,
            pipelines_per_hour=args.pipelines_per_hour,
            instance=args.instance,
            chunk_dir=work_dir,
            on_chunk=loader.load,
        )
        loader.wait()
        raw_seconds = time.monotonic() - began
        print(
            f"backfill: {samples:,} samples, {loader.blocks} blocks, {args.days:g} days at "
            f"{args.step:g}s steps in {raw_seconds:.0f}s -> {args.data_dir}"
        )
        if not args.no_rules:
            rule_blocks = 0
            if args.rules_with_promtool:
                # promtool evaluates every rule against the raw blocks only: rules reading
                # other rules (the SLO windows) come out empty this way.
                reader, url = _start_reader(args.data_dir, work_dir)
                try:
                    for rule_file in rule_files:
                        rule_blocks += rules_with_promtool(
                            url, rule_file, start, end, args.step, work_dir, args.data_dir
                        )
                finally:
                    reader.stop()
            else:
                for level in record_levels(load_records(rule_files)):
                    # A fresh reader per level: it loads the blocks of the level below.
                    reader, url = _start_reader(args.data_dir, work_dir)
                    try:
                        rule_blocks += rules_with_query_range(
                            url, level, start, end, args.step, work_dir, loader
                        )
                    finally:
                        reader.stop()
            names = ", ".join(path.name for path in rule_files)
            print(
                f"backfill: recording rules of {names}: {rule_blocks} blocks in "
                f"{time.monotonic() - began - raw_seconds:.0f}s"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
