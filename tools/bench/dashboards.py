"""What opening a dashboard costs Prometheus, with the recording rules and without them.

On 30 days of backfilled history (``tools/demo/backfill.py``: the workload model through the real
``MetricsCollector``, loaded with promtool, recording rules evaluated over the same range), a real
Prometheus serves each of the five dashboards' full set of panel queries, sent as Grafana sends
them:

* the queries of ``tools/grafana/queries.py`` (``panel_queries``) with variables at their
  defaults (All) and the interval macros computed the way Grafana computes them (below);
* range panels through ``POST /api/v1/query_range`` with start and end aligned to the step,
  instant panels (stat, bar gauge) through ``POST /api/v1/query`` at the end of the range;
* once as shipped (panels read recording rules) and once with every recording rule spelled out
  into its expression (``expand_recording_rules``): what the panels would cost without the rules.

Grafana's rules, as its Prometheus data source applies them (grafana/grafana,
``packages/grafana-data/src/datetime/rangeutil.ts`` and ``pkg/promlib/models/query.go``):
``$__interval`` = ``roundInterval(range / maxDataPoints)``, at least the panel's min interval or
else the data source's scrape interval; the query's step is that, at least
``roundInterval(range / 11000)``; ``$__rate_interval`` = ``max($__interval + scrape, 4 * scrape)``.
``maxDataPoints`` is the panel's width in pixels: 1,000 here.

The history is built once and cached under ``.data/bench/`` keyed by its parameters (and the
recording rules it holds), then compacted by a Prometheus with the block sizes a 30-day
retention gives (3-day blocks), so the queries read the TSDB a production server would have
rather than 720 two-hour blocks.

    python -m tools.bench dashboards
"""

from __future__ import annotations

import gc
import hashlib
import json
import math
import os
import shutil
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from tools._repo import REPO, find_command, shown
from tools.bench.common import Goal, Result, Timing, summarise
from tools.demo import backfill
from tools.demo.net import free_port, http_get
from tools.demo.processes import Process
from tools.grafana.dashboards import DASHBOARDS, DIRECTORY
from tools.grafana.queries import (
    expand_recording_rules,
    iter_panels,
    load_dashboard,
    panel_intervals,
    panel_queries,
    prometheus_duration,
)

TITLE = "Dashboards: every panel query of a dashboard, recording rules vs raw series"
CACHE = REPO / ".data" / "bench"
#: Both rule files: the SLO dashboard reads slo_rules.yml's records.
RULES: tuple[Path, ...] = (
    REPO / "monitoring" / "prometheus" / "alerts.yml",
    REPO / "monitoring" / "prometheus" / "slo_rules.yml",
)

#: Grafana's panel width in pixels, which is its default maxDataPoints.
MAX_DATA_POINTS = 1000
#: Grafana caps a query at 11,000 points (pkg/promlib, safeResolution).
SAFE_RESOLUTION = 11_000
#: Blocks a Prometheus with 30 days of retention compacts into (10% of the retention).
MAX_BLOCK_DURATION = "3d"
RANGES: tuple[tuple[str, float], ...] = (
    ("24 h", 86_400),
    ("7 d", 7 * 86_400),
    ("30 d", 30 * 86_400),
)
#: The range the goals are set at.
GOAL_RANGE = "30 d"
LOAD_GOAL = Goal("< 1 s", "<", 1.0, "s")
#: For the panels that read recording rules (a panel without one sends the same query twice).
SPEEDUP_GOAL = Goal(">= 10x recording rules", ">=", 10.0, "x")
RULES_CASE = "recording rules (as shipped)"
RAW_CASE = "raw series (rules expanded)"


@dataclass(frozen=True)
class BackfillParams:
    """What the cached history depends on; its key names every one of them."""

    days: float = 30.0
    #: Seconds between samples: the shipped scrape interval.
    step: float = 15.0
    scenario: str = "healthy"
    seed: int = 1
    pipelines_per_hour: float = 60.0
    #: App instances, each its own workload (its own seed) and ``instance`` label.
    instances: int = 3
    #: 2026-01-01T00:00:00Z, on a day boundary; fixed so the cache can be reused.
    end: float = 1_767_225_600.0
    #: Hours per block promtool writes. 24: a month in 30 blocks, close to the 54-hour blocks a
    #: 30-day server compacts into, without minutes of compaction; 2: Prometheus's own size.
    block_hours: int = 24
    #: Let Prometheus compact the blocks as a 30-day server would (``MAX_BLOCK_DURATION``).
    compact: bool = False
    #: Seconds between evaluations of the recording rules in the history: a group evaluates
    #: every max(its interval, this, ``step``). 60: over 30 days, evaluating every 15 s is hours
    #: of CPU on two cores (the 30-day SLO windows read the whole month at each evaluation).
    rule_step: float = 60.0

    @property
    def rules_every(self) -> float:
        return max(self.step, self.rule_step)

    def raw_key(self) -> str:
        """The raw samples alone: the same whatever the recording rules are."""
        return (
            f"raw-{self.days:g}d-step{self.step:g}s-{self.scenario}-seed{self.seed}"
            f"-{self.pipelines_per_hour:g}ph-x{self.instances}-end{int(self.end)}"
            f"-blocks{self.block_hours}h"
        )

    def key(self, rules_digest: str) -> str:
        compaction = f"compact{MAX_BLOCK_DURATION}" if self.compact else "uncompacted"
        every = "" if self.rules_every == self.step else f"-every{self.rules_every:g}s"
        return f"tsdb-{self.raw_key()[4:]}-{compaction}-rules{rules_digest}{every}"

    def backfill_argv(self) -> list[str]:
        return [
            f"--days={self.days:g}",
            f"--step={self.step:g}",
            f"--scenario={self.scenario}",
            f"--seed={self.seed}",
            f"--pipelines-per-hour={self.pipelines_per_hour:g}",
            f"--instances={self.instances}",
            f"--end={self.end:.0f}",
            f"--block-hours={self.block_hours}",
        ]


@dataclass(frozen=True)
class History:
    """A data directory ready to serve, and how it was made."""

    path: Path
    params: BackfillParams
    backfill_seconds: float
    compaction_seconds: float
    cached: bool


# -- Grafana's intervals -----------------------------------------------------------------------

#: Grafana's roundInterval (rangeutil.ts): (upper bound, rounded value), in milliseconds.
_ROUNDING: tuple[tuple[float, float], ...] = (
    (10, 1),
    (15, 10),
    (35, 20),
    (75, 50),
    (150, 100),
    (350, 200),
    (750, 500),
    (1500, 1000),
    (3500, 2000),
    (7500, 5000),
    (12500, 10000),
    (17500, 15000),
    (25000, 20000),
    (45000, 30000),
    (90000, 60000),
    (210000, 120000),
    (450000, 300000),
    (750000, 600000),
    (1050000, 900000),
    (1500000, 1200000),
    (2700000, 1800000),
    (5400000, 3600000),
    (9000000, 7200000),
    (16200000, 10800000),
    (32400000, 21600000),
    (86400000, 43200000),
    (604800000, 86400000),
    (1814400000, 604800000),
    (3628800000, 2592000000),
)


def round_interval(seconds: float) -> float:
    """Grafana's ``roundInterval``: a raw interval to the nearest "nice" one, in seconds."""
    millis = seconds * 1000
    for bound, rounded in _ROUNDING:
        if millis < bound:
            return rounded / 1000
    return 31_536_000.0  # a year


def grafana_interval(range_seconds: float, low_limit: float, max_data_points: int) -> float:
    """``$__interval``: the range over the panel's points, rounded, at least ``low_limit``."""
    return max(round_interval(range_seconds / max_data_points), low_limit)


def query_step(interval: float, range_seconds: float) -> float:
    """The step Grafana sends: the interval, but never more than 11,000 points."""
    return max(interval, round_interval(range_seconds / SAFE_RESOLUTION))


def rate_interval(interval: float, scrape: float) -> float:
    """``$__rate_interval``: one interval plus a scrape, and at least four scrapes."""
    return max(interval + scrape, 4 * scrape)


def align(timestamp: float, step: float) -> float:
    """Grafana rounds start and end down to a multiple of the step (AlignTimeRange)."""
    return math.floor(timestamp / step) * step


@dataclass(frozen=True)
class Request:
    """One HTTP request Grafana sends for one panel target."""

    panel: str
    expr: str
    instant: bool
    start: float
    end: float
    step: float

    def form(self) -> dict[str, str]:
        if self.instant:
            return {"query": self.expr, "time": f"{self.end:.3f}"}
        return {
            "query": self.expr,
            "start": f"{self.start:.3f}",
            "end": f"{self.end:.3f}",
            "step": f"{self.step:g}",
        }


def dashboard_requests(
    dashboard: Mapping[str, Any] | Path,
    *,
    range_seconds: float,
    end: float,
    scrape: float,
    raw: bool,
    max_data_points: int = MAX_DATA_POINTS,
    expand: Callable[[str], str] = expand_recording_rules,
) -> list[Request]:
    """Every request of one dashboard for a range ending at ``end``, as Grafana sends them."""
    board = load_dashboard(dashboard)
    by_title: dict[str, Mapping[str, Any]] = {}
    for panel in iter_panels(board):
        title = str(panel.get("title", ""))
        if title in by_title and by_title[title].get("interval") != panel.get("interval"):
            raise ValueError(f"{board.get('uid')}: two panels titled {title!r} differ in interval")
        by_title[title] = panel
    interval = grafana_interval(range_seconds, scrape, max_data_points)
    durations = {
        "interval": prometheus_duration(interval),
        "rate_interval": "0s",  # panel_intervals takes the larger of this and Grafana's rule
        "range_": prometheus_duration(range_seconds),
        "scrape_interval": prometheus_duration(scrape),
    }
    requests = []
    for query in panel_queries(board, **durations):  # type: ignore[arg-type]  # str durations only
        # The panel's min interval raises its step. (Grafana lets a min interval below the
        # scrape interval lower it too; no dashboard here has one.)
        own = panel_intervals(by_title[query.panel_title], **durations)
        step = query_step(own.interval, range_seconds)
        expr = expand(query.expr) if raw else query.expr
        requests.append(
            Request(
                panel=query.panel_title,
                expr=expr,
                instant=query.instant,
                start=align(end - range_seconds, step),
                end=end if query.instant else align(end, step),
                step=step,
            )
        )
    return requests


# -- Prometheus -------------------------------------------------------------------------------


def prometheus_args(
    data_dir: Path, config: Path, port: int, max_block: str = MAX_BLOCK_DURATION
) -> list[str]:
    """``max_block``: compact up to that size, as a 30-day server does; the block size of an
    uncompacted history keeps Prometheus from compacting it while it is measured."""
    return [
        *find_command("prometheus"),
        f"--config.file={config}",
        f"--storage.tsdb.path={data_dir}",
        f"--web.listen-address=127.0.0.1:{port}",
        # Keep all of it: retention counts from the newest sample, and the history is fixed.
        "--storage.tsdb.retention.time=3650d",
        f"--storage.tsdb.max-block-duration={max_block}",
    ]


class Server:
    """A Prometheus over a data directory, on a free port, with no targets and no rules."""

    def __init__(self, data_dir: Path, work_dir: Path, max_block: str = MAX_BLOCK_DURATION) -> None:
        work_dir.mkdir(parents=True, exist_ok=True)
        config = work_dir / "prometheus-bench.yml"
        config.write_text("global:\n  scrape_interval: 1m\n")
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.process = Process(
            "prometheus (bench)",
            prometheus_args(data_dir, config, port, max_block),
            work_dir / "prometheus-bench.log",
        )
        try:
            self.process.wait_ready(f"{self.url}/-/ready", timeout=300)
        except BaseException:
            self.process.stop()
            raise

    def metric(self, name: str) -> float | None:
        status, body = http_get(f"{self.url}/metrics")
        if status != 200:
            return None
        for line in body.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    def send(self, request: Request) -> list[Any]:
        """The result of one query; a failed query raises, naming the panel and the query."""
        path = "/api/v1/query" if request.instant else "/api/v1/query_range"
        data = urllib.parse.urlencode(request.form()).encode()
        http = urllib.request.Request(
            self.url + path,
            data=data,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        try:
            with urllib.request.urlopen(http, timeout=300) as response:
                payload = json.loads(response.read())
        except urllib.error.HTTPError as error:
            body = error.read()
            try:
                payload = json.loads(body)
            except ValueError:
                payload = {"error": f"HTTP {error.code}: {body[:300]!r}"}
        if payload.get("status") != "success":
            raise RuntimeError(
                f'panel "{request.panel}": {payload.get("error", payload)}; query: {request.expr}'
            )
        return payload["data"]["result"]

    def stop(self) -> None:
        self.process.stop()


def compact(data_dir: Path, work_dir: Path, timeout: float = 1800) -> float:
    """Let Prometheus compact the backfilled blocks; returns the seconds it took.

    Prometheus compacts a minute after it starts; its loop counts the next trigger only after
    that compaction returned, so a second trigger means the first compaction is done.
    """
    began = time.monotonic()
    server = Server(data_dir, work_dir)
    try:
        while time.monotonic() - began < timeout:
            if not server.process.alive():
                raise RuntimeError(
                    f"Prometheus died while compacting:\n{server.process.log_tail()}"
                )
            if (server.metric("prometheus_tsdb_compactions_triggered_total") or 0) >= 2:
                failed = server.metric("prometheus_tsdb_compactions_failed_total") or 0
                if failed:
                    raise RuntimeError(f"{failed:g} compactions failed; see {work_dir}")
                return time.monotonic() - began
            time.sleep(2)
    finally:
        server.stop()
    raise RuntimeError(f"compaction of {data_dir} did not finish within {timeout:g} s")


def _rule_files(rules: Path | Sequence[Path]) -> tuple[Path, ...]:
    return (rules,) if isinstance(rules, Path) else tuple(rules)


def rules_digest(rules: Path | Sequence[Path] = RULES) -> str:
    """A short hash of the recording rules the history holds (alerts do not matter)."""
    records = [
        (rule["record"], rule["expr"])
        for path in _rule_files(rules)
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups", [])
        for rule in group.get("rules", [])
        if "record" in rule
    ]
    return hashlib.sha256(json.dumps(records).encode()).hexdigest()[:12]


MARKER = "bench-history.json"


def ensure_history(
    params: BackfillParams,
    cache: Path = CACHE,
    rules: Path | Sequence[Path] = RULES,
    log: Callable[[str], None] = print,
) -> History:
    """The cached history for ``params``, built first if missing: the raw samples (cached on
    their own, so a change of the recording rules does not generate them again), then a
    hard-linked copy of them with the recording rules evaluated over it, then compacted if
    ``params.compact``."""
    target = cache / params.key(rules_digest(rules))
    marker = target / MARKER
    if marker.is_file():
        made = json.loads(marker.read_text())
        return History(target, params, made["backfill_seconds"], made["compaction_seconds"], True)
    raw, raw_seconds = _raw_history(params, cache, log)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)  # an interrupted earlier attempt
    partial.mkdir(parents=True)
    # Blocks are never modified in place (compaction writes new ones): links are safe to share.
    shutil.copytree(raw / "data", partial / "data", copy_function=os.link)
    log(f"recording rules over the {params.days:g} days (once for these rules; cached afterwards)")
    began = time.monotonic()
    code = backfill.main(
        [
            *params.backfill_argv(),
            "--rules-only",
            *(f"--rules={path}" for path in _rule_files(rules)),
            f"--rule-step={params.rules_every:g}",
            f"--data-dir={partial / 'data'}",
        ]
    )
    if code != 0:
        raise RuntimeError(f"tools.demo.backfill --rules-only exited with {code}")
    backfill_seconds = raw_seconds + time.monotonic() - began
    compaction_seconds = 0.0
    if params.compact:
        log("compacting the backfilled blocks with Prometheus")
        compaction_seconds = compact(partial / "data", partial / "logs")
    (partial / MARKER).write_text(
        json.dumps(
            {
                "params": asdict(params),
                "rules": [str(path) for path in _rule_files(rules)],
                "backfill_seconds": backfill_seconds,
                "compaction_seconds": compaction_seconds,
                "created": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            },
            indent=2,
        )
    )
    partial.rename(target)
    return History(target, params, backfill_seconds, compaction_seconds, False)


def _raw_history(
    params: BackfillParams, cache: Path, log: Callable[[str], None]
) -> tuple[Path, float]:
    """The raw samples of ``params`` (built if missing) and the seconds building them took."""
    target = cache / params.raw_key()
    marker = target / MARKER
    if marker.is_file():
        return target, json.loads(marker.read_text())["backfill_seconds"]
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    log(
        f"backfilling {params.days:g} days of {params.instances} instance(s) at "
        f"{params.step:g} s into {shown(partial)} (once; cached afterwards)"
    )
    began = time.monotonic()
    code = backfill.main([*params.backfill_argv(), "--no-rules", f"--data-dir={partial / 'data'}"])
    if code != 0:
        raise RuntimeError(f"tools.demo.backfill exited with {code}")
    seconds = time.monotonic() - began
    (partial / MARKER).write_text(
        json.dumps({"params": asdict(params), "backfill_seconds": seconds}, indent=2)
    )
    partial.rename(target)
    return target, seconds


# -- the benchmark ----------------------------------------------------------------------------


def _load_dashboards() -> dict[str, dict[str, Any]]:
    """Short name (file stem) -> dashboard, for the five committed dashboards on Prometheus
    (the Logs dashboard reads Loki: nothing for Prometheus to serve)."""
    boards = {
        Path(module.BOARD.file).stem: dict(load_dashboard(REPO / DIRECTORY / module.BOARD.file))
        for module in DASHBOARDS
    }
    return {name: board for name, board in boards.items() if panel_queries(board)}


def _answered(results: Sequence[Any]) -> bool:
    return any(series.get("values") or series.get("value") for series in results)


@dataclass
class _Case:
    """One dashboard in one variant: its requests, and each request's time in every round."""

    requests: list[Request]
    #: rounds[r][i]: microseconds of request i in round r.
    rounds: list[list[float]]
    with_data: int = 0


def _time_requests(server: Server, case: _Case) -> list[Any]:
    times, results = [], []
    for request in case.requests:
        began = time.perf_counter()
        results.append(server.send(request))
        times.append((time.perf_counter() - began) * 1e6)
    case.rounds.append(times)
    return results


def measure_range(
    server: Server,
    dashboards: Mapping[str, Mapping[str, Any]],
    *,
    label: str,
    range_seconds: float,
    end: float,
    scrape: float,
    rounds: int,
    goals: bool,
) -> list[Result]:
    """Rows for one time range: each dashboard with rules and raw, all five together, and the
    panels that read recording rules alone (where the rules' effect is not diluted by panels
    that have none).

    Every round sends each dashboard's requests in turn, both variants (interleaved, as the
    common helper does), and times each request; a dashboard's time in a round is the sum. The
    first round is a warm-up whose answers are checked: every query must succeed, and the row
    says how many returned data (a query over an empty TSDB is fast and proves nothing).
    """
    cases: dict[tuple[str, str], _Case] = {}
    for name, board in dashboards.items():
        for variant, raw in ((RULES_CASE, False), (RAW_CASE, True)):
            requests = dashboard_requests(
                board, range_seconds=range_seconds, end=end, scrape=scrape, raw=raw
            )
            cases[name, variant] = _Case(requests, [])
    for round_index in range(1 + rounds):
        for case in cases.values():
            gc.collect()
            results = _time_requests(server, case)
            if round_index == 0:
                case.with_data = sum(_answered(result) for result in results)
                case.rounds.clear()  # the warm-up round is not counted

    # Which requests of each dashboard read a recording rule: those the expansion changed.
    reads_rules: dict[str, frozenset[int]] = {
        name: frozenset(
            i
            for i, (shipped, raw) in enumerate(
                zip(cases[name, RULES_CASE].requests, cases[name, RAW_CASE].requests, strict=True)
            )
            if shipped.expr != raw.expr
        )
        for name in dashboards
    }

    def total(variant: str, names: Sequence[str], rule_panels_only: bool = False) -> Timing:
        """Per-round sums over some dashboards' requests: the spread is that of whole rounds."""
        return summarise(
            [
                sum(
                    t
                    for name in names
                    for i, t in enumerate(cases[name, variant].rounds[r])
                    if not rule_panels_only or i in reads_rules[name]
                )
                for r in range(rounds)
            ]
        )

    rows = []
    for name in dashboards:
        answered = {
            variant: f"{len(cases[name, variant].requests)} queries, "
            f"{cases[name, variant].with_data} with data"
            for variant in (RULES_CASE, RAW_CASE)
        }
        rows += _pair(
            f"{label}: {name}",
            total(RULES_CASE, [name]),
            total(RAW_CASE, [name]),
            answered,
            load_goal=goals,
        )
        if reads_rules[name]:
            rows += _pair(
                f"{label}: {name}, its {len(reads_rules[name])} panel queries on rules",
                total(RULES_CASE, [name], rule_panels_only=True),
                total(RAW_CASE, [name], rule_panels_only=True),
                speedup_goal=goals,
            )
    names = list(dashboards)
    rows += _pair(f"{label}: all five dashboards", total(RULES_CASE, names), total(RAW_CASE, names))
    count = sum(len(indices) for indices in reads_rules.values())
    rows += _pair(
        f"{label}: only the {count} panel queries that read recording rules",
        total(RULES_CASE, names, rule_panels_only=True),
        total(RAW_CASE, names, rule_panels_only=True),
        speedup_goal=goals,
    )
    return rows


def _pair(
    benchmark: str,
    rules: Timing,
    raw: Timing,
    answered: Mapping[str, str] | None = None,
    *,
    load_goal: bool = False,
    speedup_goal: bool = False,
) -> list[Result]:
    answered = answered or {}
    speedup = raw.median_us / rules.median_us if rules.median_us else math.inf
    return [
        Result(
            benchmark=benchmark,
            case=RULES_CASE,
            median_us=rules.median_us,
            spread_pct=rules.spread_pct,
            runs=len(rules.rounds),
            measured=answered.get(RULES_CASE),
            **(LOAD_GOAL.judge(rules.median_us / 1e6) if load_goal else {}),  # type: ignore[arg-type]
        ),
        Result(
            benchmark=benchmark,
            case=RAW_CASE,
            median_us=raw.median_us,
            spread_pct=raw.spread_pct,
            runs=len(raw.rounds),
            ratio=speedup,
            baseline="recording rules",
            measured=answered.get(RAW_CASE),
            **(SPEEDUP_GOAL.judge(speedup) if speedup_goal else {}),  # type: ignore[arg-type]
        ),
    ]


@dataclass(frozen=True)
class Storage:
    """What the history's blocks hold and weigh, from their meta.json and files."""

    blocks: int
    samples: int
    #: Series of the largest block: the series one day (or block) holds.
    series_per_block: int
    chunk_bytes: int
    total_bytes: int

    @property
    def bytes_per_sample(self) -> float:
        return self.chunk_bytes / self.samples if self.samples else math.nan


def storage(data_dir: Path) -> Storage:
    metas = [json.loads(path.read_text()) for path in data_dir.glob("*/meta.json")]
    chunks = sum(f.stat().st_size for f in data_dir.glob("*/chunks/*") if f.is_file())
    total = sum(f.stat().st_size for f in data_dir.glob("*/**/*") if f.is_file())
    return Storage(
        blocks=len(metas),
        samples=sum(m["stats"]["numSamples"] for m in metas),
        series_per_block=max((m["stats"]["numSeries"] for m in metas), default=0),
        chunk_bytes=chunks,
        total_bytes=total,
    )


def notes(history: History | None = None, memory_bytes: float | None = None) -> str:
    text = (
        "Time to run one dashboard's full set of panel queries, one after another (a browser "
        "runs a few at a time: the wall time it shows is lower, the work Prometheus does the "
        "same). Each row is Grafana's requests for that range: `query_range` for graphs, "
        "`query` for stat and bar-gauge panels, step and `$__rate_interval` computed as "
        "Grafana computes them (1,000 points per panel). Raw = the same panels with every "
        "recording rule spelled out into its expression; its ratio is raw / rules. Goals at "
        "30 days: each dashboard under 1 s with its recording rules, and the panel queries that "
        'read recording rules at least 10x faster than raw (the rows "its N panel queries on '
        'rules"; a panel that reads no rule sends the same query in both variants).'
    )
    if history is not None:
        p = history.params
        made = "reused from the cache" if history.cached else "built in this run"
        blocks = (
            f"{MAX_BLOCK_DURATION} blocks after compaction"
            if p.compact
            else (f"{p.block_hours} h blocks as promtool wrote them")
        )
        held = storage(history.path / "data")
        text += (
            f"\n\nHistory: {p.days:g} days of {p.instances} app instance(s) running the "
            f"`{p.scenario}` workload ({p.pipelines_per_hour:g} pipelines an hour each, seeds "
            f"{p.seed}-{p.seed + p.instances - 1}) sampled every {p.step:g} s, so Grafana's "
            f"scrape interval here is {p.step:g} s; {blocks}; {made} (`{shown(history.path)}`). "
            f"Building it took {history.backfill_seconds:.0f} s (raw samples and recording "
            f"rules) and compaction {history.compaction_seconds:.0f} s. "
            f"It holds {held.samples:,} samples in {held.blocks} blocks "
            f"({held.series_per_block:,} series in the largest), "
            f"{held.total_bytes / 2**30:.2f} GiB on disk: "
            f"{held.bytes_per_sample:.2f} bytes per sample in chunks."
        )
        if p.rules_every != p.step:
            text += (
                f" Its recording rules were evaluated every {p.rules_every:g} s (or their group's "
                f"interval if longer), not every {p.step:g} s as a live server does: over a "
                "month, the 30-day SLO windows evaluated every minute read the whole month at "
                "each evaluation. A panel reading a rule finds the same number of points at "
                "these ranges (Grafana's step is longer), but fewer samples under a range "
                "function: the rule rows are a little optimistic there."
            )
        if memory_bytes is not None:
            text += (
                f" The Prometheus serving it used {memory_bytes / 2**20:,.0f} MiB resident "
                "after the last round of queries."
            )
    return text


NOTES = notes()


def run(
    params: BackfillParams | None = None,
    *,
    rounds: int = 5,
    ranges: Sequence[tuple[str, float]] = RANGES,
    cache: Path = CACHE,
) -> list[Result]:
    """Rows for every range; ``NOTES`` then describes the history they were measured on."""
    global NOTES
    params = params or BackfillParams()
    too_long = [label for label, seconds in ranges if seconds > params.days * 86_400]
    if too_long:  # before minutes of backfill, not after
        raise ValueError(f"range {too_long[0]} is longer than the {params.days:g} days of history")
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    history = ensure_history(params, cache, log=log)
    NOTES = notes(history)
    dashboards = _load_dashboards()
    max_block = MAX_BLOCK_DURATION if params.compact else f"{params.block_hours}h"
    server = Server(history.path / "data", history.path / "logs", max_block)
    rows: list[Result] = []
    try:
        for label, seconds in ranges:
            log(f"dashboards over {label} ...")
            rows += measure_range(
                server,
                dashboards,
                label=label,
                range_seconds=seconds,
                end=params.end,
                scrape=params.step,
                rounds=rounds,
                goals=label == GOAL_RANGE,
            )
        NOTES = notes(history, server.metric("process_resident_memory_bytes"))
    finally:
        server.stop()
    return rows


#: ``make bench-quick``: a day of the same three instances at 15 s (built in about a minute,
#: then cached), the 24-hour view: the rules-over-raw ratios without the 30-day history.
#: Two-hour blocks: twelve imports to share the cores (one day block would be one import).
#: Rules every 15 s, as live: over one day that takes seconds.
QUICK = BackfillParams(days=1.0, block_hours=2, rule_step=15.0)


def run_quick() -> list[Result]:
    return run(QUICK, rounds=3, ranges=(("24 h", 86_400.0),))


def main(argv: Sequence[str] | None = None) -> int:
    """Other histories than make bench's, e.g. the sample density of a 15 s scrape:

    python -m tools.bench.dashboards --days 2 --step 15 --ranges 24h
    """
    import argparse

    from tools.bench.common import render_table

    names = {label.replace(" ", ""): (label, seconds) for label, seconds in RANGES}
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--days", type=float, default=BackfillParams.days)
    parser.add_argument("--step", type=float, default=BackfillParams.step, help="sample spacing")
    parser.add_argument(
        "--rule-step",
        type=float,
        default=BackfillParams.rule_step,
        help="seconds between rule evaluations in the history (at least --step)",
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--ranges", default=",".join(names), help=f"comma-separated, of {', '.join(names)}"
    )
    args = parser.parse_args(argv)
    unknown = [r for r in args.ranges.split(",") if r not in names]
    if unknown:
        parser.error(f"unknown range {unknown}; choose from {', '.join(names)}")
    params = BackfillParams(days=args.days, step=args.step, rule_step=args.rule_step)
    try:
        rows = run(params, rounds=args.rounds, ranges=[names[r] for r in args.ranges.split(",")])
    except ValueError as error:
        parser.error(str(error))
    print(NOTES)
    print(render_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
