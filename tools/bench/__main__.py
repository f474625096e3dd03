"""Run every registered benchmark and write bench/results.md (``make bench``).

    python -m tools.bench                      # all of them
    python -m tools.bench tools.bench.logging_bench --out /tmp/results.md

A benchmark module exposes ``TITLE``, ``NOTES`` and ``run() -> list[Result]``; register it by
adding its module name to ``BENCHMARKS``. Timings are measured, reported and compared with their
goals here, never asserted in tests: they depend on the machine.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from tools.bench.common import Result, render_table

BENCHMARKS: tuple[str, ...] = (
    "tools.bench.instrumentation",
    "tools.bench.logging_bench",
)

REPO = Path(__file__).resolve().parents[2]
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


def machine_description() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    packages = ", ".join(
        f"{name} {_version(name)}"
        for name in ("narra-forge-monitoring", "prometheus-client", "structlog", "orjson")
    )
    return "\n".join(
        [
            f"- Date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
            f"- CPU: {_cpu_model()}, {os.cpu_count()} logical CPUs; load average at start {load}",
            f"- System: {platform.platform()}",
            f"- Python: {platform.python_implementation()} {platform.python_version()}",
            f"- Packages: {packages}",
        ]
    )


def render(sections: list[tuple[str, str, list[Result]]], seconds: float) -> str:
    parts = [
        "# Benchmark results",
        "",
        "<!-- Written by `make bench` (python -m tools.bench); re-run it to refresh. -->",
        "",
        machine_description(),
        "",
        "Each row is the median per-call time over interleaved rounds (cases that are compared "
        "run in turn within every round); spread is half the interquartile range. Numbers from "
        "a shared or busy machine move by tens of percent; ratios measured in the same run move "
        "much less.",
        "",
    ]
    for title, notes, rows in sections:
        parts += [f"## {title}", "", notes, "", render_table(rows), ""]
    missed = [row for _, _, rows in sections for row in rows if row.met is False]
    verdict = (
        "Every goal was met in this run."
        if not missed
        else "Goals missed in this run: " + "; ".join(f"{r.benchmark}: {r.case}" for r in missed)
    )
    parts += [f"{verdict} Total time: {seconds:.0f} s.", ""]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="benchmark modules (default: all registered)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="markdown file to write")
    args = parser.parse_args(argv)
    unknown = [name for name in args.modules if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {unknown}; registered: {', '.join(BENCHMARKS)}")
    started = time.perf_counter()
    sections = []
    for name in args.modules or BENCHMARKS:
        module = importlib.import_module(name)
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows = module.run()
        sections.append((module.TITLE, module.NOTES, rows))
        print(render_table(rows), file=sys.stderr, flush=True)
    text = render(sections, time.perf_counter() - started)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
