"""Simulate a NARRA_FORGE workload and serve its metrics, for the demo and the end-to-end tests.

    python -m tools.demo.simulator --scenario healthy --port 8000 --speed 60

Runs pipelines of the ten agents (``tools/demo/workload.py``) through the real ``MetricsCollector``
and the real structured logging (JSON lines on stdout), and serves ``/metrics``. ``--speed 60``
runs a twenty-minute novel in twenty seconds while the metrics record twenty minutes; pipelines
arrive at ``--pipelines-per-hour`` of wall time, so spend per hour and error ratios stay what
the platform would really show. Scenarios (``--list-scenarios``) each trigger their alerts.

Traced (``--trace-file``, or ``OTEL_EXPORTER_OTLP_ENDPOINT``): every pipeline, agent and API call
is a span (``tools/demo/tracing.py``), its log lines carry ``trace_id``/``span_id`` and the
duration histograms its trace id as exemplar. Span times are wall time: at ``--speed 60`` a
twenty-minute novel is a twenty-second trace, while the histograms record twenty minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

from narra_forge.monitoring import (
    MetricsCollector,
    configure_logging,
    get_logger,
    start_metrics_server,
)
from tools.demo.workload import SCENARIOS, Env, arrivals, expose_series

DEFAULT_PIPELINES_PER_HOUR = 60.0


def scaled_clock(speed: float) -> Callable[[], float]:
    """A monotonic clock that runs ``speed`` times faster than the wall."""
    origin = time.monotonic()
    return lambda: origin + (time.monotonic() - origin) * speed


async def run(
    scenario: str,
    speed: float,
    pipelines_per_hour: float,
    max_concurrent: int,
    seed: int,
    duration: float | None,
    collector: MetricsCollector,
) -> None:
    log = get_logger("narra_forge.simulator", scenario=scenario)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if duration is not None:
        loop.call_later(duration, stop.set)

    async def sleep(simulated_seconds: float) -> None:
        await asyncio.sleep(simulated_seconds / speed)

    env = Env(
        collector=collector,
        sleep=sleep,
        log=log,
        scenario=SCENARIOS[scenario],
        seed=seed,
        speed=speed,
    )
    expose_series(collector, env.scenario)
    work = asyncio.ensure_future(arrivals(env, pipelines_per_hour, max_concurrent, stop.is_set))
    await stop.wait()
    # Stop at once: pipelines in flight are cancelled (and counted as such), as a real
    # deployment's would be; waiting for a simulated novel to finish would delay the tests.
    work.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await work
    for task in asyncio.all_tasks() - {asyncio.current_task()}:
        task.cancel()
    log.info("simulator_stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Scenarios: "
        + "; ".join(
            f"{s.name}: {s.description} Fires {', '.join(s.fires) or 'nothing but Watchdog'}."
            for s in SCENARIOS.values()
        ),
    )
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="healthy")
    parser.add_argument("--host", default="127.0.0.1", help="address /metrics listens on")
    parser.add_argument("--port", type=int, default=8000, help="port of /metrics (8000)")
    parser.add_argument(
        "--speed", type=float, default=60.0, help="simulated seconds per wall second (60)"
    )
    parser.add_argument(
        "--pipelines-per-hour",
        type=float,
        default=DEFAULT_PIPELINES_PER_HOUR,
        help=f"arrival rate in wall time ({DEFAULT_PIPELINES_PER_HOUR:g})",
    )
    parser.add_argument("--max-concurrent", type=int, default=8, help="pipelines at once (8)")
    parser.add_argument("--seed", type=int, default=1, help="same seed, same workload (1)")
    parser.add_argument("--duration", type=float, help="stop after this many wall seconds")
    parser.add_argument("--log-level", default="INFO", help="INFO, DEBUG (every segment), ...")
    parser.add_argument(
        "--trace-file",
        type=Path,
        help="trace, writing spans to this JSON-lines file (unless OTEL_EXPORTER_OTLP_ENDPOINT "
        "is set: then spans go there)",
    )
    parser.add_argument("--list-scenarios", action="store_true", help="describe the scenarios")
    args = parser.parse_args(argv)
    if args.list_scenarios:
        for s in SCENARIOS.values():
            print(f"{s.name:18} {s.description}\n{'':18} fires: {', '.join(s.fires) or '-'}")
        return 0
    if args.speed <= 0 or args.pipelines_per_hour <= 0 or args.max_concurrent < 1:
        parser.error("--speed and --pipelines-per-hour must be > 0, --max-concurrent >= 1")

    configure_logging(level=args.log_level.upper(), json_output=True)
    log = get_logger("narra_forge.simulator")
    provider = None
    traces = None
    if args.trace_file is not None or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        # Imported only when tracing: the simulator also runs where the [otel] extra is not.
        from tools.demo.tracing import setup_tracing

        provider, traces = setup_tracing(args.trace_file)
    collector = MetricsCollector(clock=scaled_clock(args.speed))
    # The package never raises here (an app keeps running without /metrics); the simulator
    # exists only to be scraped, so it stops and says why.
    server = start_metrics_server(port=args.port, addr=args.host)
    if not server.running:
        print(
            f"simulator: cannot serve /metrics on {args.host}:{args.port}: {server.error}; "
            "choose another port with --port",
            file=sys.stderr,
        )
        return 2
    log.info(
        "simulator_started",
        scenario=args.scenario,
        metrics_url=f"http://{args.host}:{args.port}/metrics",
        speed=args.speed,
        pipelines_per_hour=args.pipelines_per_hour,
        seed=args.seed,
        traces=traces,
    )
    try:
        asyncio.run(
            run(
                args.scenario,
                args.speed,
                args.pipelines_per_hour,
                args.max_concurrent,
                args.seed,
                args.duration,
                collector,
            )
        )
    finally:
        if provider is not None:
            provider.shutdown()  # the last batch of spans is written before the process ends
    return 0


if __name__ == "__main__":
    sys.exit(main())
