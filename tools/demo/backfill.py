"""Write days of NARRA_FORGE history into a Prometheus data directory, without waiting for it.

    python -m tools.demo.backfill --days 30 --data-dir .data/prometheus
    python -m tools.demo.backfill --days 30 --step 15 --instances 3 --block-hours 24

The workload of ``tools/demo/workload.py`` runs on a virtual clock (an asyncio loop whose time jumps
to the next timer instead of sleeping) through the real ``MetricsCollector``; every ``--step``
seconds of virtual time the registry is written out as OpenMetrics samples with timestamps, as
if Prometheus had scraped it (``tools/demo/snapshot.py``). ``promtool tsdb create-blocks-from
openmetrics`` writes every block; what is ours is how its input is produced and fed:

* one generator process per app instance (``--instances``), one chunk file per block;
* the chunks of every instance for one block joined into one file, so each block range gets one
  block for all instances (promtool 2.42 re-reads its input once per block it writes, so a file
  covers exactly one block);
* up to ``--jobs`` promtool imports at once while the next chunks are generated, generation at
  most ``CHUNKS_AHEAD`` chunks ahead (a bound on the disk used).

Then a temporary Prometheus serves the raw blocks and the recording rules are evaluated over the
same range by its own engine (``query_range``), each group at its own interval, and imported
the same way. Rules that read other rules (the SLO windows read the 5-minute SLO rates) are
computed a level at a time, the reader restarted in between so that it serves the level below.

Size: the workload exposes about 800 series per instance; at a 15 s step a day is 5,760
snapshots, 4.7 million samples. The default step, 120 s, keeps every ``rate(...[5m])`` fed
(two or three samples a window) at an eighth of the samples.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import math
import multiprocessing
import os
import queue
import re
import selectors
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NamedTuple

from prometheus_client import CollectorRegistry

from narra_forge.monitoring import MetricsCollector
from tools._repo import REPO, BinaryNotFoundError, find_command
from tools.config import JOB
from tools.demo.net import free_port
from tools.demo.processes import Process
from tools.demo.progress import Progress
from tools.demo.snapshot import FastSnapshotWriter, SnapshotWriter, escape
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


class Importer:
    """Runs ``promtool tsdb create-blocks-from openmetrics`` on finished chunk files, up to
    ``jobs`` at a time (one import keeps about one core busy)."""

    def __init__(
        self, promtool: list[str], data_dir: Path, jobs: int, block_seconds: int = BLOCK_SECONDS
    ) -> None:
        if 86400 % block_seconds or block_seconds % BLOCK_SECONDS:
            raise ValueError(f"blocks of {block_seconds} s: whole two-hour blocks in a day wanted")
        self.promtool = promtool
        self.data_dir = data_dir
        self.jobs = max(1, jobs)
        #: Each input file covers one such block: promtool re-reads a file once per block.
        self.block_seconds = block_seconds
        self.running: list[tuple[subprocess.Popen[bytes], Path, Callable[[], None]]] = []
        self.blocks = 0

    def poll(self) -> None:
        """Reap the imports that finished; a failed one raises with promtool's own words (and
        leaves its input in place, to be looked at)."""
        for entry in list(self.running):
            process, path, done = entry
            if process.poll() is None:
                continue
            self.running.remove(entry)
            stderr = process.stderr.read() if process.stderr else b""
            if process.returncode != 0:
                raise RuntimeError(
                    f"promtool tsdb create-blocks-from openmetrics {path} failed "
                    f"(exit {process.returncode}): {stderr.decode(errors='replace')[-2000:]}"
                )
            path.unlink()
            self.blocks += 1
            done()

    def submit(self, path: Path, done: Callable[[], None] = lambda: None) -> None:
        """Start importing ``path`` once a job is free; ``done()`` runs when it is imported."""
        while True:
            self.poll()
            if len(self.running) < self.jobs:
                break
            time.sleep(0.02)
        argv = [*self.promtool, "tsdb", "create-blocks-from", "openmetrics", "--quiet"]
        argv.append(f"--max-block-duration={self.block_seconds // 3600}h")
        process = subprocess.Popen(
            [*argv, str(path), str(self.data_dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.running.append((process, path, done))

    def wait(self) -> None:
        while self.running:
            self.poll()
            time.sleep(0.02)

    def stop(self) -> None:
        for process, _, _ in self.running:
            process.kill()
            process.wait()
        self.running = []


@dataclass
class Chunk:
    path: Path
    out: IO[str]
    block_end: float


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
    on_chunk: Callable[[Path, int], None],
    fast: bool = True,
    block_seconds: int = BLOCK_SECONDS,
) -> int:
    """Run the workload from ``start`` to ``end`` (epoch seconds) into one OpenMetrics file per
    two-hour block, ``on_chunk(path, samples written so far)`` as each is finished; returns the
    samples written.
    ``fast=False`` snapshots through ``registry.collect()`` (the same lines, 15x slower)."""
    registry = CollectorRegistry()
    target = {"job": JOB, "instance": instance}
    writer: SnapshotWriter | FastSnapshotWriter | None = None
    chunk: Chunk | None = None

    def next_chunk(now: float) -> Chunk:
        block_end = (math.floor((start + now) / block_seconds) + 1) * block_seconds - start
        path = chunk_dir / f"chunk-{int(start + block_end)}-{_slug(instance)}.om"
        return Chunk(path, path.open("w", buffering=1 << 20), block_end)

    def close(current: Chunk) -> None:
        current.out.write("# EOF\n")
        current.out.close()
        on_chunk(current.path, writer.samples if writer is not None else 0)

    def snapshot(now: float) -> None:
        nonlocal chunk, writer
        if writer is None:  # the collector registers its families at the first snapshot
            writer = (FastSnapshotWriter if fast else SnapshotWriter)(registry, target)
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
    return writer.samples if writer is not None else 0


def _slug(instance: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", instance)


@dataclass(frozen=True)
class Workload:
    """One app instance's simulated history: what a generator process is given."""

    instance: str
    seed: int
    scenario: str
    pipelines_per_hour: float
    start: float
    end: float
    step: float
    block_seconds: int = BLOCK_SECONDS


def _generate_in_worker(workload: Workload, chunk_dir: Path, finished: Any, permits: Any) -> None:
    """A generator process: chunk files of one instance, at most ``permits`` not yet imported.
    Each finished chunk is put on ``finished`` as (instance, path, samples so far, virtual
    seconds covered); the last message carries None for a path."""

    def on_chunk(path: Path, samples: int) -> None:
        block_end = float(path.name.split("-")[1])
        finished.put((workload.instance, str(path), samples, block_end - workload.start))
        permits.acquire()  # wait while too many of our chunks are queued for promtool

    try:
        total = generate(
            start=workload.start,
            end=workload.end,
            step=workload.step,
            scenario=workload.scenario,
            seed=workload.seed,
            pipelines_per_hour=workload.pipelines_per_hour,
            instance=workload.instance,
            chunk_dir=chunk_dir,
            on_chunk=on_chunk,
            block_seconds=workload.block_seconds,
        )
        finished.put((workload.instance, None, total, workload.end - workload.start))
    except BaseException as error:  # the parent reports it; a worker's traceback is lost
        finished.put((workload.instance, None, -1, f"{type(error).__name__}: {error}"))
        raise


#: Chunks a generator may have written ahead of promtool: bounds the disk the backfill uses
#: (a chunk of one instance at 15 s is about 50 MB).
CHUNKS_AHEAD = 3


def generate_and_import(
    workloads: list[Workload],
    work_dir: Path,
    importer: Importer,
    progress: Progress | None = None,
) -> int:
    """Generate every instance's history in its own process and import it block by block:
    the chunks of one block, from every instance, go to promtool as one file (one TSDB block
    per block range, not one per instance). Returns the samples written.

    ``progress`` counts what promtool has imported, the slower half: generation runs at most
    ``CHUNKS_AHEAD`` chunks ahead of it.
    """
    # One instance: a thread (this process mostly sleeps, and a process would spend a second
    # or more starting and importing before its first sample: most of a short backfill).
    # Several: a process each, the cores working side by side.
    alone = len(workloads) == 1
    context: Any = threading if alone else multiprocessing.get_context("spawn")
    finished = queue.Queue() if alone else context.Queue()
    permits = {w.instance: context.Semaphore(CHUNKS_AHEAD) for w in workloads}
    workers = [
        (threading.Thread if alone else context.Process)(
            target=_generate_in_worker,
            args=(w, work_dir, finished, permits[w.instance]),
            name=f"backfill {w.instance}",
            daemon=True,
        )
        for w in workloads
    ]
    for worker in workers:
        worker.start()
    first = workloads[0]
    waiting: dict[int, dict[str, tuple[Path, int]]] = {}  # block end -> instance -> chunk
    written = {w.instance: 0 for w in workloads}
    imported = Imported()

    def import_block(block_end: int, chunks: dict[str, tuple[Path, int]]) -> None:
        merged = _merge(
            {i: path for i, (path, _) in chunks.items()}, work_dir / f"block-{block_end}.om"
        )
        block_start = block_end - first.block_seconds
        seconds = min(block_end, first.end) - max(block_start, first.start)
        samples = sum(count for _, count in chunks.values())
        release = _releaser([permits[i] for i in chunks])

        def done() -> None:
            release()
            imported.add(seconds, samples)

        importer.submit(merged, done)

    running = {w.instance for w in workloads}
    try:
        while running:
            if progress is not None:
                progress.update(imported.seconds, imported.samples)
            try:
                instance, path, count, seconds = finished.get(timeout=0.5)
            except queue.Empty:
                importer.poll()
                dead = [w.name for w in workers if getattr(w, "exitcode", None) not in (None, 0)]
                if dead:
                    raise RuntimeError(f"generator process died: {', '.join(dead)}") from None
                continue
            if count < 0:
                raise RuntimeError(f"generating {instance} failed: {seconds}")
            if path is None:
                running.discard(instance)
            elif path:
                block_end = int(Path(path).name.split("-")[1])
                chunk = (Path(path), count - written[instance])
                written[instance] = count
                waiting.setdefault(block_end, {})[instance] = chunk
                if len(waiting[block_end]) == len(workloads):
                    import_block(block_end, waiting.pop(block_end))
        while importer.running:
            importer.poll()
            if progress is not None:
                progress.update(imported.seconds, imported.samples)
            time.sleep(0.05)
    finally:
        for worker in workers:
            if isinstance(worker, threading.Thread):
                continue  # a daemon: it ends with its last chunk or with the process
            if worker.is_alive():
                worker.kill()
            worker.join()
    return sum(written.values())


@dataclass
class Imported:
    """History promtool has imported so far: seconds of it, and samples."""

    seconds: float = 0.0
    samples: int = 0

    def add(self, seconds: float, samples: int) -> None:
        self.seconds += seconds
        self.samples += samples


def _releaser(semaphores: list[Any]) -> Callable[[], None]:
    def release() -> None:
        for semaphore in semaphores:
            semaphore.release()

    return release


def _merge(chunks: dict[str, Path], out: Path) -> Path:
    """One file of several instances' chunks (each without its ``# EOF``)."""
    if len(chunks) == 1:
        return next(iter(chunks.values())).rename(out)
    with out.open("wb") as merged:
        for path in chunks.values():
            with path.open("rb") as part:
                shutil.copyfileobj(part, merged, 1 << 22)
            merged.seek(merged.tell() - len(b"# EOF\n"))
            merged.truncate()
            path.unlink()
        merged.write(b"# EOF\n")
    return out


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


class Record(NamedTuple):
    """A recording rule as the backfill evaluates it."""

    name: str
    expr: str
    #: The labels the rule sets.
    labels: dict[str, str]
    #: Its group's evaluation interval in seconds.
    interval: float


def load_records(rule_files: list[Path], default_interval: float = 15.0) -> list[Record]:
    """Every recording rule, in file order; a group without ``interval`` is evaluated at
    ``default_interval`` (prometheus.yml's evaluation_interval)."""
    import yaml

    return [
        Record(
            rule["record"],
            rule["expr"],
            {k: str(v) for k, v in (rule.get("labels") or {}).items()},
            _seconds(group["interval"]) if "interval" in group else default_interval,
        )
        for path in rule_files
        for group in yaml.safe_load(path.read_text()).get("groups", [])
        for rule in group.get("rules", [])
        if "record" in rule
    ]


def _seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    parts = re.findall(r"(\d+)(ms|s|m|h|d)", duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"not a Prometheus duration: {duration!r}")
    return sum(int(n) * units[u] for n, u in parts)


def record_levels(records: list[Record]) -> list[list[Record]]:
    """Records grouped so that each reads only raw series and records of earlier levels."""
    names = {record.name for record in records}
    level: dict[str, int] = {}
    for name, expr, *_ in records:  # a rule reads only rules above it
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


def _rule_lines(url: str, record: Record, start: float, end: float, step: float) -> list[str]:
    """One rule over [start, end) at its interval (never finer than the samples), as lines."""
    lines = []
    every = max(record.interval, step)
    first = math.ceil(start / every) * every  # aligned, as a group's evaluations are
    for series in _query_range(url, record.expr, first, end - 1e-3, every):
        labels = {k: v for k, v in series["metric"].items() if k != "__name__"}
        labels.update(record.labels)  # as Prometheus records it: the rule's labels win
        inner = ",".join(f'{k}="{escape(v)}"' for k, v in sorted(labels.items()))
        prefix = f"{record.name}{{{inner}}} "
        lines += [f"{prefix}{value} {stamp}\n" for stamp, value in series["values"]]
    return lines


def rules_with_query_range(
    url: str,
    records: list[Record],
    start: float,
    end: float,
    step: float,
    work_dir: Path,
    importer: Importer,
    progress: Callable[[float, int], None] = lambda fraction, samples: None,
) -> int:
    """The same evaluation as promtool's (each rule at its interval, by Prometheus's own engine
    through query_range, ``importer.jobs`` queries at a time), written as OpenMetrics per two-hour
    block and imported like the raw samples: one block per two hours for all the rules, not one
    per rule. Returns the samples written."""
    written = 0
    windows = list(_windows(start, end, importer.block_seconds))
    with ThreadPoolExecutor(max_workers=importer.jobs) as pool:
        for done, (window_start, window_end) in enumerate(windows):
            chunks: dict[int, list[str]] = {}
            evaluations = [
                pool.submit(_rule_lines, url, record, window_start, window_end, step)
                for record in records
            ]
            for evaluation in evaluations:
                for line in evaluation.result():
                    stamp = float(line.rsplit(" ", 1)[1])
                    block = math.floor(stamp / importer.block_seconds)
                    chunks.setdefault(block, []).append(line)
            for block, lines in sorted(chunks.items()):
                path = work_dir / f"rules-{block}.om"
                # Within a block the samples of one series must be in time order: they are,
                # because each series' values came in order and series do not interleave.
                path.write_text("".join(lines) + "# EOF\n")
                written += len(lines)
                importer.submit(path)
            progress((done + 1) / len(windows), written)
    importer.wait()
    return written


def _windows(start: float, end: float, block_seconds: int) -> Iterator[tuple[float, float]]:
    """[start, end) by day, on block boundaries (a window's lines fill whole blocks)."""
    window_start = start
    while window_start < end:
        boundary = math.floor(window_start / block_seconds) * block_seconds + 86400
        window_end = min(boundary, end)
        yield window_start, window_end
        window_start = window_end


def instance_names(first: str, count: int) -> list[str]:
    """``count`` instance labels: ``first``, then the same host on the next ports
    (127.0.0.1:8000, 127.0.0.1:8001, ...), as several app processes on one host are scraped."""
    host, _, port = first.rpartition(":")
    if count == 1:
        return [first]
    if not host or not port.isdigit():
        raise ValueError(f"--instance {first!r}: host:port wanted to number {count} instances")
    return [f"{host}:{int(port) + index}" for index in range(count)]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=7.0, help="history to write (7)")
    parser.add_argument("--data-dir", type=Path, default=REPO / ".data" / "prometheus")
    parser.add_argument("--step", type=float, default=120.0, help="seconds between samples (120)")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="healthy")
    parser.add_argument("--seed", type=int, default=1, help="of the first instance (next: +1)")
    parser.add_argument("--pipelines-per-hour", type=float, default=60.0, help="per instance")
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
        "--instances",
        type=int,
        default=1,
        help="app instances, each its own workload (seed +1 each) on the next port (1)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="promtool imports and rule queries at a time (the machine's cores)",
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
        "--rules-only",
        action="store_true",
        help="only the recording rules, over raw samples already in --data-dir (a second pass"
        " after --no-rules, e.g. once the rules changed)",
    )
    parser.add_argument(
        "--rules-with-promtool",
        action="store_true",
        help="evaluate the rules with `promtool tsdb create-blocks-from rules` (one block per"
        " rule and two hours: 18x the blocks, several times slower over weeks)",
    )
    parser.add_argument(
        "--block-hours",
        type=int,
        default=2,
        choices=(2, 4, 6, 8, 12, 24),
        help="hours per TSDB block written (2, as Prometheus writes them; 24: fewer, larger"
        " blocks, as a long-running server has after compaction)",
    )
    parser.add_argument(
        "--rule-step",
        type=float,
        default=None,
        help="evaluate each rule group no more often than every this many seconds (default:"
        " --step). Over weeks, a 30-day SLO window evaluated every minute reads the whole month"
        " at each evaluation: hours of CPU that a live server spreads over the month",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)
    if args.days <= 0 or args.step < 1:
        parser.error("--days must be > 0 and --step >= 1 second")
    if args.no_rules and args.rules_only:
        parser.error("--no-rules and --rules-only leave nothing to do")
    # Rules never evaluate more often than there are samples.
    args.rule_step = max(args.step, args.rule_step or args.step)
    if args.instances < 1 or args.jobs < 1:
        parser.error("--instances and --jobs must be at least 1")
    try:
        args.instance_names = instance_names(args.instance, args.instances)
    except ValueError as error:
        parser.error(str(error))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rule_files: list[Path] = args.rules or list(DEFAULT_RULES)
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
    workloads = [
        Workload(
            name,
            args.seed + index,
            args.scenario,
            args.pipelines_per_hour,
            start,
            end,
            args.step,
            args.block_hours * 3600,
        )
        for index, name in enumerate(args.instance_names)
    ]
    args.data_dir.mkdir(parents=True, exist_ok=True)
    quiet = io.StringIO() if args.quiet else None
    with tempfile.TemporaryDirectory(prefix="narra-forge-backfill-") as tmp:
        work_dir = Path(tmp)
        importer = Importer(promtool, args.data_dir, args.jobs, args.block_hours * 3600)
        try:
            if not args.rules_only:
                _backfill_raw(args, workloads, work_dir, importer, quiet)
            if not args.no_rules:
                _backfill_rules(args, rule_files, start, end, work_dir, importer, quiet)
        finally:
            importer.stop()
    return 0


def _backfill_raw(
    args: argparse.Namespace,
    workloads: list[Workload],
    work_dir: Path,
    importer: Importer,
    quiet: io.StringIO | None,
) -> None:
    label = f"backfill {args.days:g} d x {len(workloads)} instance(s) at {args.step:g} s"
    progress = Progress(
        label, workloads[0].end - workloads[0].start, unit="samples", stream=quiet, heartbeat=True
    )
    samples = generate_and_import(workloads, work_dir, importer, progress)
    seconds = progress.finish()
    print(
        f"backfill: {samples:,} samples, {importer.blocks} blocks, {args.days:g} days of "
        f"{len(workloads)} instance(s) at {args.step:g}s steps in {seconds:.0f}s "
        f"({samples / max(seconds, 1e-9):,.0f} samples/s) -> {args.data_dir}",
        flush=True,
    )


def _backfill_rules(
    args: argparse.Namespace,
    rule_files: list[Path],
    start: float,
    end: float,
    work_dir: Path,
    importer: Importer,
    quiet: io.StringIO | None,
) -> None:
    names = ", ".join(path.name for path in rule_files)
    began = time.monotonic()
    if args.rules_with_promtool:
        # promtool evaluates every rule against the raw blocks only: rules reading other
        # rules (the SLO windows) come out empty this way.
        reader, url = _start_reader(args.data_dir, work_dir)
        try:
            blocks = sum(
                rules_with_promtool(url, rule_file, start, end, args.step, work_dir, args.data_dir)
                for rule_file in rule_files
            )
        finally:
            reader.stop()
        print(
            f"backfill: recording rules of {names}: {blocks} blocks in "
            f"{time.monotonic() - began:.0f}s",
            flush=True,
        )
        return
    levels = record_levels(load_records(rule_files))
    progress = Progress(
        f"recording rules of {names}", len(levels), unit="samples", stream=quiet, heartbeat=True
    )
    samples = 0
    for index, level in enumerate(levels):

        def advance(part: float, written: int, level: int = index, before: int = samples) -> None:
            progress.update(level + part, before + written)

        # A fresh reader per level: it loads the blocks of the level below.
        reader, url = _start_reader(args.data_dir, work_dir)
        try:
            samples += rules_with_query_range(
                url, level, start, end, args.rule_step, work_dir, importer, advance
            )
        finally:
            reader.stop()
        progress.update(index + 1, samples)
    seconds = progress.finish()
    print(
        f"backfill: recording rules of {names}: {samples:,} samples in {len(levels)} levels in "
        f"{seconds:.0f}s",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
