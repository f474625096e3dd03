"""Run every registered benchmark and write bench/results.md (``make bench``).

    python -m tools.bench                      # all of them
    python -m tools.bench dashboards           # one of them (short or full module name)
    python -m tools.bench logging_bench --out /tmp/results.md

A benchmark module exposes ``TITLE``, ``NOTES`` and ``run() -> list[Result]``; register it by
adding its module name to ``BENCHMARKS``. ``BENCH_SKIP_MAKE_TEST=1`` leaves the whole test suite
out of the tooling benchmark, for quick runs. Timings are measured, reported and compared with their
goals here, never asserted in tests: they depend on the machine.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from tools._repo import REPO, which
from tools.bench.common import Result, render_table

BENCHMARKS: tuple[str, ...] = (
    "tools.bench.instrumentation",
    "tools.bench.openai_calls",
    "tools.bench.tracing",
    "tools.bench.logging_bench",
    "tools.bench.exposition",
    "tools.bench.dashboards",
    "tools.bench.longterm",
    "tools.bench.rules",
    "tools.bench.capacity",
    "tools.bench.tooling",
)

DEFAULT_OUT = REPO / "bench" / "results.md"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _binary_version(name: str) -> str:
    """``prometheus 2.42.0`` from ``name --version``, or that it is missing."""
    command = which(name)
    if command is None:
        return f"{name} not installed"
    path = command[0]
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return f"{name} (version unknown)"
    first = (done.stdout or done.stderr).splitlines()[:1]
    words = first[0].split() if first else []
    version = words[words.index("version") + 1] if "version" in words[:-1] else "?"
    return f"{name} {version}"


def _load() -> str:
    """The 1, 5 and 15 minute load averages (other work on the machine skews timings)."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"


def machine_description() -> str:
    load = _load()
    packages = ", ".join(
        f"{name} {_version(name)}"
        for name in ("narra-forge-monitoring", "prometheus-client", "structlog", "orjson")
    )
    return "\n".join(
        [
            f"- Date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
            f"- Binaries: {_binary_version('prometheus')}, {_binary_version('promtool')}",
            f"- CPU: {_cpu_model()}, {os.cpu_count()} logical CPUs; load average at start {load}",
            f"- System: {platform.platform()}",
            f"- Python: {platform.python_implementation()} {platform.python_version()}",
            f"- Packages: {packages}",
        ]
    )


def render(
    sections: list[tuple[str, str, list[Result]]], seconds: float, machine: str | None = None
) -> str:
    """The whole results file; ``machine`` is the description taken when the run started."""
    parts = [
        "# Benchmark results",
        "",
        "<!-- Written by `make bench` (python -m tools.bench); re-run it to refresh. -->",
        "",
        machine or machine_description(),
        f"- Load average at the end: {_load()}",
        "",
        "Each row is the median time of one call (or of one dashboard load, one command) over "
        "interleaved rounds: cases that are compared run in turn within every round. Spread is "
        "half the interquartile range (half the range under four runs; n/a for a single run). "
        "Numbers from a shared or busy machine move by tens of percent; ratios measured in the "
        "same run move much less. A missed goal says by how much.",
        "",
    ]
    for title, notes, rows in sections:
        parts += [f"## {title}", "", notes, "", render_table(rows), ""]
    missed = [row for _, _, rows in sections for row in rows if row.met is False]
    verdict = (
        "Every goal was met in this run."
        if not missed
        else "Goals missed in this run: "
        + "; ".join(f"{r.benchmark}: {r.case} ({r.missed_by})" for r in missed)
        + "."
    )
    parts += [f"{verdict} Total time: {seconds:.0f} s.", ""]
    return "\n".join(parts)


def resolve(name: str) -> str:
    """A registered module from its full name (``tools.bench.dashboards``) or its last part."""
    for module in BENCHMARKS:
        if name in (module, module.rsplit(".", 1)[1]):
            return module
    short = ", ".join(module.rsplit(".", 1)[1] for module in BENCHMARKS)
    raise ValueError(f"unknown benchmark {name!r}; registered: {short}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="benchmark modules (default: all registered)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="the modules with a quick variant (run_quick: no 30-day history), e.g. for CI;"
        " prints the tables, writes only with --out",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help=f"markdown file to write (default: {DEFAULT_OUT.relative_to(REPO)} when every "
        "benchmark runs; a partial run only prints its tables unless given --out)",
    )
    args = parser.parse_args(argv)
    try:
        selected = [resolve(name) for name in args.modules] or list(BENCHMARKS)
    except ValueError as error:
        parser.error(str(error))
    if args.quick:
        selected = [
            name for name in selected if hasattr(importlib.import_module(name), "run_quick")
        ]
    # A partial run must not replace the committed results of every benchmark with its own.
    out = args.out or (DEFAULT_OUT if selected == list(BENCHMARKS) and not args.quick else None)
    started = time.perf_counter()
    machine = machine_description()  # the load average before the benchmarks add their own
    sections = []
    for name in selected:
        module = importlib.import_module(name)
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows = module.run_quick() if args.quick else module.run()
        sections.append((module.TITLE, module.NOTES, rows))
        print(render_table(rows), file=sys.stderr, flush=True)
    text = render(sections, time.perf_counter() - started, machine)
    if out is None:
        print(f"partial run: {DEFAULT_OUT.relative_to(REPO)} left as it was", file=sys.stderr)
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
