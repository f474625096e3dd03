"""Long-term storage: the same hours of the workload in VictoriaMetrics (both replicas, deduped)
and in Prometheus's own TSDB (one replica), in one run.

    python -m tools.bench longterm              # 24 h of the demo's load (60 pipelines an hour)
    python -m tools.bench.longterm --hours 2    # a quick look

What runs: the workload model of ``tools/demo/workload.py`` on a virtual clock
(``backfill.simulate``), read every 7.5 s of virtual time (timestamps 0-20 ms late, as real
scrapes are), as two replicas scraping every 15 s
half an interval apart would read it: even reads are replica a's samples, odd ones replica b's,
each series labelled as ``prometheus-ha.yml`` writes it (``cluster``, ``monitor``; ``replica``
dropped). Every half hour of virtual time the batch goes out by remote_write
(``tools/bench/remote_write.py``; Prometheus cannot remote-write history) to:

- VictoriaMetrics 1.79 (Debian), ``-dedup.minScrapeInterval=15s``, both replicas' batches:
  the pair's traffic;
- Prometheus 2.42 (Debian) with ``--web.enable-remote-write-receiver``, replica a's batch only:
  what one replica's own TSDB stores.

Measured: samples accepted per second of request time (the receivers' ingest rate, not the
Python encoding), then, once both have persisted everything (Prometheus: a snapshot, which
writes its head as a block; VictoriaMetrics: flush and a forced merge, which applies the
deduplication), bytes on disk per sample kept, the rows VictoriaMetrics kept against one
replica's samples, and each server's resident memory at the end. The live pair writes far
more slowly than this replay: ``series / 15 s`` samples a second per replica.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry

from tools._repo import find_command
from tools.bench.common import Goal, Result, print_results, render_table
from tools.bench.remote_write import Series, encode_labels, post, write_request
from tools.config import JOB
from tools.demo.backfill import simulate
from tools.demo.net import free_port, http_get, http_post
from tools.demo.processes import Process
from tools.prometheus import ha

TITLE = "Long-term storage: VictoriaMetrics (both replicas) vs Prometheus's TSDB"
NOTES = (
    "The same hours of the demo's workload (60 pipelines an hour, the healthy scenario), read as "
    "two replicas scraping every 15 s half an interval apart, sent by remote_write: both "
    "replicas to VictoriaMetrics (deduplicating at 15 s), replica a alone to a Prometheus that "
    "stores it in its own TSDB. Time is the receivers' request time; bytes per sample are on "
    "disk once each has persisted everything (Prometheus: snapshot with the head; "
    "VictoriaMetrics: flush and forced merge), per sample of one replica. "
    "docs/operations.md (High availability, sizing) reads these rows."
)
SCRAPE_SECONDS = 15.0
#: A real scrape's timestamp is a few milliseconds off the interval (more on a busy host); a
#: virtual clock's never is, and perfectly regular timestamps compress to almost nothing.
SCRAPE_JITTER_MS = 20
#: Virtual seconds of samples per remote_write request (one request per replica and store).
BATCH_SECONDS = 1800.0
#: VictoriaMetrics has kept one copy when its rows are at most this many times one replica's.
DEDUP_GOAL = Goal("rows kept <= 1.05 x one replica's samples", "<=", 1.05, "x")


@dataclass(frozen=True)
class Workload:
    hours: float = 24.0
    seed: int = 1
    pipelines_per_hour: float = 60.0
    scenario: str = "healthy"


@dataclass
class Sink:
    """A receiver of remote_write and what it was sent."""

    name: str
    url: str
    samples: int = 0
    seconds: float = 0.0

    def send(self, body: bytes, samples: int) -> None:
        self.seconds += post(self.url, body)
        self.samples += samples


@dataclass
class Replicas:
    """Two replicas' pending samples: per replica, per series."""

    external: Mapping[str, str]
    pending: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], Series]] = field(
        default_factory=lambda: {"a": {}, "b": {}}
    )
    counts: dict[str, int] = field(default_factory=lambda: {"a": 0, "b": 0})
    series: set[tuple[str, tuple[tuple[str, str], ...]]] = field(default_factory=set)

    def scrape(self, replica: str, registry: CollectorRegistry, timestamp_ms: int) -> None:
        pending = self.pending[replica]
        added = 0
        for family in registry.collect():
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue
                key = (sample.name, tuple(sorted(sample.labels.items())))
                series = pending.get(key)
                if series is None:
                    labels = {"__name__": sample.name, **sample.labels, **self.external}
                    series = pending[key] = Series(encode_labels(labels), bytearray())
                    self.series.add(key)
                series.add(float(sample.value), timestamp_ms)
                added += 1
        up = ("up", ())
        if up not in pending:
            labels = {"__name__": "up", **self.external}
            pending[up] = Series(encode_labels(labels), bytearray())
            self.series.add(up)
        pending[up].add(1.0, timestamp_ms)
        self.counts[replica] += added + 1

    def take(self, replica: str) -> tuple[bytes, int]:
        """The pending samples of a replica as one request body, and how many they are."""
        body = write_request(self.pending[replica].values())
        count = self.counts[replica]
        for series in self.pending[replica].values():
            series.samples = bytearray()
        self.counts[replica] = 0
        return body, count


def replay(workload: Workload, end: float, to_a: list[Sink], to_b: list[Sink]) -> int:
    """Simulate ``workload.hours`` ending at ``end``; send replica a's samples to ``to_a`` and
    b's to ``to_b``, a batch every half hour. Returns the number of distinct series."""
    span = workload.hours * 3600
    start = end - span
    registry = CollectorRegistry()
    external = {"job": JOB, "instance": "127.0.0.1:8000", "cluster": ha.CLUSTER}
    external["monitor"] = "narra-forge"
    replicas = Replicas(external)
    sent_until = 0.0
    reads = 0
    jitters = random.Random(workload.seed)

    def flush() -> None:
        for replica, sinks in (("a", to_a), ("b", to_b)):
            body, count = replicas.take(replica)
            if count:
                for sink in sinks:
                    sink.send(body, count)

    def snapshot(now: float) -> None:
        nonlocal sent_until, reads
        replica = "a" if reads % 2 == 0 else "b"
        reads += 1
        jitter = jitters.randint(0, SCRAPE_JITTER_MS)
        replicas.scrape(replica, registry, int((start + now) * 1000) + jitter)
        if now - sent_until >= BATCH_SECONDS:
            flush()
            sent_until = now

    simulate(
        span=span,
        step=SCRAPE_SECONDS / 2,
        scenario=workload.scenario,
        seed=workload.seed,
        pipelines_per_hour=workload.pipelines_per_hour,
        registry=registry,
        on_snapshot=snapshot,
    )
    flush()
    return len(replicas.series)


def directory_bytes(path: Path) -> int:
    """Bytes of the files under ``path`` (each hard-linked file once)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                stat = os.lstat(os.path.join(root, name))
            except FileNotFoundError:
                # A live store renames its temporary files (VictoriaMetrics' txn/*.tmp) between
                # the listing and the stat: the data is counted under its final name.
                continue
            if (stat.st_dev, stat.st_ino) not in seen:
                seen.add((stat.st_dev, stat.st_ino))
                total += stat.st_size
    return total


def resident_bytes(process: Process) -> int:
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def metric_sum(url: str, name: str, where: Callable[[str], bool] = lambda _: True) -> float:
    _, body = http_get(f"{url}/metrics")
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in body.decode().splitlines()
        if line.startswith(name) and line[len(name)] in " {" and where(line)
    )


def wait(what: str, probe: Callable[[], bool], timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(0.5)
    raise RuntimeError(f"gave up after {timeout:g}s waiting for {what}")


@dataclass(frozen=True)
class Measured:
    series: int
    replica_samples: int
    prometheus: Sink
    store: Sink
    prometheus_bytes: int
    store_bytes: int
    store_rows: float
    prometheus_rss: int
    store_rss: int
    simulate_seconds: float


def measure(workload: Workload, work_dir: Path) -> Measured:
    prometheus_port, store_port = free_port(), free_port()
    empty = work_dir / "prometheus.yml"
    empty.write_text("global: {}\n")
    prometheus_data, store_data = work_dir / "prometheus", work_dir / "victoriametrics"
    prometheus = Process(
        "prometheus",
        [
            *find_command("prometheus"),
            f"--config.file={empty}",
            f"--storage.tsdb.path={prometheus_data}",
            "--storage.tsdb.retention.time=3650d",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
            "--web.enable-remote-write-receiver",
            "--web.enable-admin-api",
        ],
        work_dir / "prometheus.log",
    )
    store = Process(
        "victoriametrics",
        [
            *find_command("victoria-metrics"),
            f"-httpListenAddr=127.0.0.1:{store_port}",
            f"-storageDataPath={store_data}",
            "-retentionPeriod=100y",
            f"-dedup.minScrapeInterval={SCRAPE_SECONDS:g}s",
        ],
        work_dir / "victoriametrics.log",
    )
    try:
        prometheus_url = f"http://127.0.0.1:{prometheus_port}"
        store_url = f"http://127.0.0.1:{store_port}"
        prometheus.wait_ready(f"{prometheus_url}/-/ready", timeout=60)
        store.wait_ready(f"{store_url}/health", timeout=60)
        to_prometheus = Sink("prometheus", f"{prometheus_url}/api/v1/write")
        to_store = Sink("victoriametrics", f"{store_url}/api/v1/write")
        started = time.perf_counter()
        # An hour before now: nothing of it is in the receivers' "too recent" windows.
        series = replay(workload, time.time() - 3600, [to_prometheus, to_store], [to_store])
        simulate_seconds = time.perf_counter() - started - to_prometheus.seconds - to_store.seconds
        status, body = http_post(f"{prometheus_url}/api/v1/admin/tsdb/snapshot")
        if status != 200:
            raise RuntimeError(f"Prometheus snapshot: HTTP {status}: {body[:300]!r}")
        snapshot = prometheus_data / "snapshots" / json.loads(body)["data"]["name"]
        http_get(f"{store_url}/internal/force_flush")
        http_get(f"{store_url}/internal/force_merge")
        wait(
            "VictoriaMetrics' merges",
            lambda: (
                metric_sum(store_url, "vm_active_merges") == 0
                and metric_sum(store_url, "vm_pending_rows") == 0
            ),
        )
        rows = metric_sum(store_url, "vm_rows", lambda line: 'type="storage/' in line)
        return Measured(
            series=series,
            replica_samples=to_prometheus.samples,
            prometheus=to_prometheus,
            store=to_store,
            prometheus_bytes=directory_bytes(snapshot),
            store_bytes=directory_bytes(store_data),
            store_rows=rows,
            prometheus_rss=resident_bytes(prometheus),
            store_rss=resident_bytes(store),
            simulate_seconds=simulate_seconds,
        )
    finally:
        prometheus.stop()
        store.stop()


def results(workload: Workload, m: Measured) -> list[Result]:
    hours = f"{workload.hours:g} h"
    one = m.replica_samples
    prometheus_bps = m.prometheus_bytes / one
    store_bps = m.store_bytes / one
    kept = m.store_rows / one
    mb = 1 / 1e6
    return [
        Result(
            benchmark="longterm",
            case=f"Prometheus TSDB, replica a, {hours}",
            median_us=m.prometheus.seconds * 1e6,
            spread_pct=None,
            runs=1,
            measured=(
                f"{m.series:,} series, {one:,} samples, "
                f"{one / m.prometheus.seconds:,.0f} samples/s, "
                f"{m.prometheus_bytes * mb:.1f} MB = {prometheus_bps:.2f} B/sample on disk, "
                f"RSS {m.prometheus_rss * mb:.0f} MB"
            ),
        ),
        Result(
            benchmark="longterm",
            case=f"VictoriaMetrics, both replicas, dedup {SCRAPE_SECONDS:g} s, {hours}",
            median_us=m.store.seconds * 1e6,
            spread_pct=None,
            runs=1,
            measured=(
                f"{m.store.samples:,} samples in, {m.store.samples / m.store.seconds:,.0f} "
                f"samples/s, {m.store_rows:,.0f} rows kept ({kept:.3f}x one replica), "
                f"{m.store_bytes * mb:.1f} MB = {store_bps:.2f} B/sample kept "
                f"({store_bps / prometheus_bps:.2f}x Prometheus), RSS {m.store_rss * mb:.0f} MB"
            ),
            **DEDUP_GOAL.judge(kept),  # type: ignore[arg-type]
        ),
        Result(
            benchmark="longterm",
            case=f"workload simulation, {hours} at 7.5 s (not a store)",
            median_us=m.simulate_seconds * 1e6,
            spread_pct=None,
            runs=1,
            measured="Python: the model, the registry reads and the encoding",
        ),
    ]


def run(workload: Workload = Workload()) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="narra-forge-longterm-") as work:
        return results(workload, measure(workload, Path(work)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0)
    args = parser.parse_args(argv)
    if args.hours == 24.0:
        return print_results(run)
    print(render_table(run(Workload(hours=args.hours))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
