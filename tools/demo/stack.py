"""Run the whole monitoring stack natively: `make demo`.

    python -m tools.demo.stack [--scenario healthy] [--prometheus-port 9090] ...

Starts, in this order, each waiting for the previous one to be ready: the local notification
receiver, Alertmanager (before Prometheus: Prometheus drops a notification meant for an
Alertmanager it has not discovered yet), the workload simulator, Prometheus, and Grafana when a
Grafana binary is installed. They run the repository's own prometheus.yml, alerts.yml,
slo_rules.yml,
alertmanager.yml and templates; only addresses are rewritten, into copies under ``.data/``
(see ``tools/demo/native_config.py``). Prints the URLs, runs until Ctrl-C or SIGTERM, then stops
everything it started, each child with its whole process group.

Each port has a flag and an environment variable (``--prometheus-port`` or
``NARRA_FORGE_PROMETHEUS_PORT``...); a port that is taken is reported with both.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from tools._repo import REPO, BinaryNotFoundError, find_command, which
from tools.alertmanager.config import (
    LOCAL_COPY_HEADER,
    dump_config,
    load_config,
    local_copy,
    write_placeholder_secrets,
)
from tools.demo.native_config import (
    Addresses,
    Timing,
    prometheus_config,
    write_files,
)
from tools.demo.net import free_port, port_is_free
from tools.demo.processes import Process, StartError, python_module
from tools.demo.workload import SCENARIOS

DEFAULT_DATA_DIR = REPO / ".data"
GRAFANA_DIR = REPO / "monitoring" / "grafana"

#: Service -> default port. The simulator stands in for the app on the app's usual port.
DEFAULT_PORTS: Mapping[str, int] = {
    "receiver": 9095,
    # The receiver's mail server: Alertmanager's email integration (cost alerts) sends there.
    "mail": 9025,
    "alertmanager": 9093,
    "simulator": 8000,
    "prometheus": 9090,
    "grafana": 3000,
}

#: Same retention as docker-compose.monitoring.yml: a month of history for the dashboards.
RETENTION = "30d"

#: History written before a fresh Prometheus starts (empty TSDB), so that every query and panel
#: answers as soon as Prometheus is ready instead of minutes later. Six hours: the default time
#: range of four of the dashboards, and a few seconds of backfill (docs/demo.md, "History").
DEFAULT_HISTORY_DAYS = 0.25


class PortTakenError(RuntimeError):
    """One or more ports are in use; the message says which and how to choose others."""


def port_flag(service: str) -> str:
    return f"--{service}-port"


def port_env(service: str) -> str:
    return f"NARRA_FORGE_{service.upper().replace('-', '_')}_PORT"


def find_grafana() -> str | None:
    command = which("grafana")
    return command[0] if command else None


@dataclass
class StackOptions:
    data_dir: Path = DEFAULT_DATA_DIR
    #: Port per service; 0 picks a free one (the tests do).
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    scenario: str = "healthy"
    speed: float = 60.0
    pipelines_per_hour: float = 60.0
    seed: int = 1
    alerts_file: Path = REPO / "monitoring" / "prometheus" / "alerts.yml"
    #: The error budgets and burn-rate alerts; None runs without them.
    slo_rules_file: Path | None = REPO / "monitoring" / "prometheus" / "slo_rules.yml"
    timing: Timing = field(default_factory=Timing)
    #: None: start Grafana when a binary is found; False: never.
    grafana: bool | None = None
    #: Show the receiver's lines (each notification) on this terminal.
    echo_receiver: bool = False
    simulator_args: tuple[str, ...] = ()
    #: Days of history written by tools/demo/backfill.py before Prometheus starts, when its
    #: TSDB is empty (``supervise`` with ``History``: the demo only; 0: none).
    backfill_days: float = DEFAULT_HISTORY_DAYS


class Stack:
    """The native processes of one stack; ``start()`` in order, ``stop()`` in reverse.

    ``tools/demo/ha.py`` subclasses it: the class attributes below and ``order``, ``_argv``,
    ``write_configs`` and ``banner`` are what an HA stack changes.
    """

    default_ports: ClassVar[Mapping[str, int]] = DEFAULT_PORTS
    binaries: ClassVar[tuple[str, ...]] = ("prometheus", "alertmanager")
    #: The file of monitoring/prometheus/ that Prometheus runs (a native copy of it).
    prometheus_config_name: ClassVar[str] = "prometheus.yml"

    def __init__(self, options: StackOptions) -> None:
        self.options = options
        self.data_dir = options.data_dir.resolve()
        self.config_dir = self.data_dir / "config"
        self.log_dir = self.data_dir / "logs"
        #: The simulator's spans, when no OTEL_EXPORTER_OTLP_ENDPOINT takes them.
        self.trace_file = self.data_dir / "traces" / "spans.jsonl"
        self.grafana_binary = find_grafana() if options.grafana is not False else None
        defaults = self.default_ports
        services = [s for s in defaults if s != "grafana" or self.grafana_binary]
        self.ports = {s: (options.ports.get(s, defaults[s]) or free_port()) for s in services}
        self.processes: dict[str, Process] = {}
        self.addresses = Addresses(
            prometheus=self.address("prometheus"),
            alertmanager=self.address("alertmanager"),
            simulator=self.address("simulator"),
            receiver=self.address("receiver"),
            grafana=self.address("grafana") if self.grafana_binary else None,
            others=self.other_addresses(),
        )

    def other_addresses(self) -> dict[str, str]:
        """Addresses of the services only a subclass runs, for the Prometheus config copy."""
        return {}

    def address(self, service: str) -> str:
        return f"127.0.0.1:{self.ports[service]}"

    def url(self, service: str) -> str:
        return f"http://{self.address(service)}"

    # -- checks and configs ------------------------------------------------------------------

    def check_ports(self) -> None:
        taken = [s for s, port in self.ports.items() if not port_is_free(port)]
        if taken:
            lines = [
                f"  {s}: port {self.ports[s]} is in use; choose another with "
                f"{port_flag(s)} PORT (or {port_env(s)}=PORT)"
                for s in taken
            ]
            raise PortTakenError(
                "cannot start: a port is taken (another stack, or a Prometheus/Alertmanager/"
                "Grafana already running?)\n" + "\n".join(lines)
            )

    def check_binaries(self) -> None:
        for name in self.binaries:
            try:
                find_command(name)
            except BinaryNotFoundError as error:
                raise StartError(str(error)) from error

    def write_configs(self) -> None:
        secrets = self.config_dir / "secrets"
        write_placeholder_secrets(secrets)
        write_files(
            self.config_dir / "prometheus",
            prometheus_config(
                self.addresses,
                self.options.alerts_file,
                self.options.timing,
                config_name=self.prometheus_config_name,
                slo_rules_file=self.options.slo_rules_file,
            ),
        )
        alertmanager = local_copy(
            load_config(),
            receiver_url=self.url("receiver"),
            smtp_smarthost=self.address("mail"),
            secrets_dir=secrets,
            timings=self.options.timing.route_timings(),
        )
        (self.config_dir / "alertmanager.yml").write_text(
            LOCAL_COPY_HEADER + dump_config(alertmanager)
        )
        if self.grafana_binary:
            self._write_grafana_provisioning()

    def _write_grafana_provisioning(self) -> None:
        source = GRAFANA_DIR / "provisioning"
        target = self.config_dir / "grafana" / "provisioning"
        rewrites = {
            "http://prometheus:9090": self.url("prometheus"),
            "http://alertmanager:9093": self.url("alertmanager"),
            "/var/lib/grafana/dashboards": str(GRAFANA_DIR / "dashboards"),
        }
        for path in source.rglob("*.y*ml"):
            text = path.read_text()
            for old, new in {**rewrites, **self.grafana_rewrites()}.items():
                text = text.replace(old, new)
            if "http://victoriametrics:" in text:
                # The long-term datasource, when no VictoriaMetrics runs (make demo): leaving
                # it out beats a datasource that always fails.
                continue
            out = target / path.relative_to(source)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text)

    # -- processes ---------------------------------------------------------------------------

    def _argv(self, service: str) -> tuple[list[str], str]:
        """argv and readiness URL of a service."""
        o = self.options
        if service == "receiver":
            argv = python_module(
                "tools.demo.receiver",
                f"--port={self.ports[service]}",
                f"--smtp-port={self.ports['mail']}",
            )
            return argv, f"{self.url(service)}/-/healthy"
        if service == "alertmanager":
            # No gossip: a single Alertmanager, and no second port (9094) to collide on.
            return self.alertmanager_argv(service, ["--cluster.listen-address="])
        if service == "simulator":
            argv = python_module(
                "tools.demo.simulator",
                f"--scenario={o.scenario}",
                f"--port={self.ports[service]}",
                f"--speed={o.speed:g}",
                f"--pipelines-per-hour={o.pipelines_per_hour:g}",
                f"--seed={o.seed}",
                f"--trace-file={self.trace_file}",
                *o.simulator_args,
            )
            return argv, f"{self.url(service)}/metrics"
        if service == "prometheus":
            return self.prometheus_argv(service)
        if service == "grafana":
            assert self.grafana_binary
            argv = [self.grafana_binary]
            if Path(self.grafana_binary).name == "grafana":
                argv.append("server")
            homepath = "/usr/share/grafana"
            if Path(homepath).is_dir():
                argv.append(f"--homepath={homepath}")
            return argv, f"{self.url(service)}/api/health"
        raise ValueError(f"unknown service {service!r}")

    def alertmanager_argv(self, service: str, cluster: list[str]) -> tuple[list[str], str]:
        """An Alertmanager on this stack's one config; ``cluster``: its gossip flags."""
        argv = [
            *find_command("alertmanager"),
            f"--config.file={self.config_dir / 'alertmanager.yml'}",
            f"--storage.path={self.data_dir / service}",
            f"--web.listen-address={self.address(service)}",
            f"--web.external-url={self.url(service)}",
            *cluster,
        ]
        return argv, f"{self.url(service)}/-/ready"

    def prometheus_argv(self, service: str, *extra: str) -> tuple[list[str], str]:
        """A Prometheus on the native copy of ``prometheus_config_name``."""
        config = self.config_dir / "prometheus" / self.prometheus_config_name
        argv = [
            *find_command("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={self.data_dir / service}",
            f"--storage.tsdb.retention.time={RETENTION}",
            f"--web.listen-address={self.address(service)}",
            f"--web.external-url={self.url(service)}",
            "--web.enable-lifecycle",
            # Keeps the exemplars (trace ids) of scraped histograms: /api/v1/query_exemplars,
            # and Grafana's exemplar markers on the latency panels.
            "--enable-feature=exemplar-storage",
            *extra,
        ]
        if self.options.timing.resend_delay:
            argv.append(f"--rules.alert.resend-delay={self.options.timing.resend_delay}")
        return argv, f"{self.url(service)}/-/ready"

    def grafana_rewrites(self) -> dict[str, str]:
        """Container URLs of the provisioning files that a subclass's services answer."""
        return {}

    def _env(self, service: str) -> dict[str, str]:
        if service != "grafana":
            return {}
        return {
            "GF_SERVER_HTTP_ADDR": "127.0.0.1",
            "GF_SERVER_HTTP_PORT": str(self.ports["grafana"]),
            "GF_PATHS_DATA": str(self.data_dir / "grafana"),
            "GF_PATHS_LOGS": str(self.log_dir),
            "GF_PATHS_PROVISIONING": str(self.config_dir / "grafana" / "provisioning"),
            "GF_SECURITY_ADMIN_PASSWORD": os.environ.get("GF_SECURITY_ADMIN_PASSWORD", "admin"),
            "GF_USERS_ALLOW_SIGN_UP": "false",
        }

    def start_service(self, service: str, timeout: float = 60.0) -> Process:
        argv, ready_url = self._argv(service)
        process = Process(
            service,
            argv,
            self.log_dir / f"{service}.log",
            env=self._env(service),
            cwd=REPO,
            echo=service == "receiver" and self.options.echo_receiver,
        )
        self.processes[service] = process
        process.wait_ready(ready_url, timeout=timeout)
        return process

    def stop_service(self, service: str) -> None:
        process = self.processes.pop(service, None)
        if process is not None:
            process.stop()

    def restart_service(self, service: str) -> Process:
        self.stop_service(service)
        return self.start_service(service)

    def order(self) -> list[str]:
        return [
            s
            for s in ("receiver", "alertmanager", "simulator", "prometheus", "grafana")
            if s in self.ports
        ]

    def start(
        self,
        before: Callable[[str], None] | None = None,
        report: Callable[[str], None] | None = None,
    ) -> None:
        """Start every service in order, each once the previous one answers. ``before(service)``
        runs just before a service starts (the demo waits there for its history before
        Prometheus; it may raise ``StartError``); ``report`` gets a line per service ready."""
        self.check_binaries()
        self.check_ports()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.write_configs()
        try:
            for service in self.order():
                if before is not None:
                    before(service)
                began = time.monotonic()
                self.start_service(service)
                if report is not None:
                    report(f"  {service} ready ({time.monotonic() - began:.1f}s)")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for service in reversed(list(self.processes)):
            self.stop_service(service)

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def survivors(self, service: str) -> list[str]:
        """The running services that stand in for ``service`` if it dies (none: it is fatal)."""
        return []

    def traces_target(self) -> str:
        """Where the simulator's spans go, as the banner shows it."""
        endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        if endpoint:
            return f"{endpoint}  (OTLP/HTTP, from OTEL_EXPORTER_OTLP_ENDPOINT)"
        return f"{self.trace_file}  (one span per line; grep a trace_id)"

    def dead(self) -> list[Process]:
        return [p for p in self.processes.values() if not p.alive()]

    def banner(self) -> str:
        rows = [
            ("Prometheus", f"{self.url('prometheus')}  (alerts: /alerts, targets: /targets)"),
            ("Alertmanager", self.url("alertmanager")),
            ("Simulator /metrics", f"{self.url('simulator')}/metrics"),
            ("Traces", self.traces_target()),
            ("Receiver", f"{self.url('receiver')}/received  (notifications, as JSON)"),
            ("Mail (SMTP)", f"{self.address('mail')}  (emails appear at /received too)"),
        ]
        if "grafana" in self.ports:
            rows.insert(0, ("Grafana", f"{self.url('grafana')}  (admin/admin)"))
        width = max(len(name) for name, _ in rows)
        lines = [f"  {name:<{width}}  {url}" for name, url in rows]
        scenario = SCENARIOS[self.options.scenario]
        fires = ", ".join(scenario.fires) or "nothing but Watchdog"
        lines += [
            "",
            f"  scenario {scenario.name}: {scenario.description}",
            f"  expected alerts: {fires} (after their `for` durations)",
            f"  data and logs: {self.data_dir}",
        ]
        if "grafana" not in self.ports:
            lines += [
                "",
                "  No Grafana binary found. To see the dashboards, in an existing Grafana:",
                f"    1. add a Prometheus data source with URL {self.url('prometheus')}",
                "    2. Dashboards > New > Import, upload each file of",
                f"       {GRAFANA_DIR / 'dashboards'}/*.json, pick that data source",
            ]
        return "\n".join(lines)


def _port_default(service: str, defaults: Mapping[str, int] = DEFAULT_PORTS) -> int:
    raw = os.environ.get(port_env(service))
    if raw is None:
        return defaults[service]
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"error: {port_env(service)}={raw!r} is not a port number") from None


def add_common_arguments(
    parser: argparse.ArgumentParser,
    defaults: Mapping[str, int] = DEFAULT_PORTS,
    data_dir: Path = DEFAULT_DATA_DIR,
) -> None:
    """The workload, data and port options every native stack takes (``make demo``,
    ``make demo-ha``): a flag and an environment variable per port."""
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="healthy")
    parser.add_argument("--speed", type=float, default=60.0, help="simulated s per wall s (60)")
    parser.add_argument("--pipelines-per-hour", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data-dir", type=Path, default=data_dir)
    parser.add_argument("--no-grafana", action="store_true", help="do not start Grafana")
    for service in defaults:
        parser.add_argument(
            port_flag(service),
            type=int,
            default=_port_default(service, defaults),
            help=f"port of {service} ({defaults[service]}; env {port_env(service)})",
        )


def common_options(
    args: argparse.Namespace, defaults: Mapping[str, int] = DEFAULT_PORTS
) -> dict[str, object]:
    """``StackOptions`` keyword arguments from the options of ``add_common_arguments``."""
    return {
        "data_dir": args.data_dir,
        "ports": {s: getattr(args, f"{s.replace('-', '_')}_port") for s in defaults},
        "scenario": args.scenario,
        "speed": args.speed,
        "pipelines_per_hour": args.pipelines_per_hour,
        "seed": args.seed,
        "grafana": False if args.no_grafana else None,
        "echo_receiver": True,
    }


def parse_args(argv: list[str] | None) -> StackOptions:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser)
    parser.add_argument(
        "--backfill-days",
        type=float,
        default=DEFAULT_HISTORY_DAYS,
        help="days of history written before Prometheus starts, when its data directory is "
        f"empty ({DEFAULT_HISTORY_DAYS:g}: six hours; 0: none; tools/demo/backfill.py)",
    )
    args = parser.parse_args(argv)
    if args.backfill_days < 0:
        parser.error("--backfill-days must be >= 0")
    return StackOptions(
        **common_options(args),  # type: ignore[arg-type]
        backfill_days=args.backfill_days,
    )


def describe_days(days: float) -> str:
    """``0.25`` -> ``6 hours``, ``7`` -> ``7 days``."""
    if days < 1:
        hours = days * 24
        return f"{hours:g} hour{'' if hours == 1 else 's'}"
    return f"{days:g} day{'' if days == 1 else 's'}"


def describe_age(seconds: float) -> str:
    """``90`` -> ``2 min``, ``7200`` -> ``2.0 h``."""
    if seconds < 3600:
        return f"{max(seconds, 0) / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


class History:
    """The recent past a fresh demo starts with, so its dashboards are alive at once.

    ``begin()`` starts ``tools/demo/backfill.py`` in a thread: it writes the last
    ``backfill_days`` of the stack's own workload (scenario, simulator address) into the empty
    TSDB while the receiver, Alertmanager and the simulator start; ``wait()`` is called before
    Prometheus starts. The history ends when the backfill begins, so it is over before
    Prometheus writes its first sample: Prometheus 2.42 refuses samples older than the end of
    its newest block (the head's minimum valid time), and when it opens a TSDB it drops the
    write-ahead log's samples older than that end. So blocks must never reach into what the
    live Prometheus writes, and a TSDB that already holds data gets no history (the last hours
    of the previous run live in its write-ahead log and would be lost).
    """

    def __init__(self, stack: Stack, out: Callable[[str], None] | None = None) -> None:
        self.stack = stack
        self.days = stack.options.backfill_days
        self.tsdb = stack.data_dir / "prometheus"
        self.out = out or (lambda line: print(line, flush=True))
        self.end: float | None = None
        self.seconds: float | None = None
        self._thread: threading.Thread | None = None
        self._code = 0
        self._error: BaseException | None = None

    def argv(self, end: float) -> list[str]:
        """The backfill's command line: the stack's workload, up to ``end``."""
        options = self.stack.options
        argv = [
            f"--days={self.days:g}",
            f"--data-dir={self.tsdb}",
            f"--end={end:.3f}",
            f"--instance={self.stack.address('simulator')}",
            f"--scenario={options.scenario}",
        ]
        # Options beyond the backfill's stable interface, passed only when they differ from
        # its defaults (the demo's own rules, seed and load are those defaults).
        from tools.demo import backfill

        rules = [options.alerts_file]
        if options.slo_rules_file is not None:
            rules.append(options.slo_rules_file)
        if [path.resolve() for path in rules] != [
            path.resolve() for path in backfill.DEFAULT_RULES
        ]:
            argv += [f"--rules={path}" for path in rules]
        if options.seed != 1:
            argv.append(f"--seed={options.seed}")
        if options.pipelines_per_hour != 60.0:
            argv.append(f"--pipelines-per-hour={options.pipelines_per_hour:g}")
        return argv

    def begin(self) -> None:
        if not self.days:
            return
        if self.tsdb.is_dir() and any(self.tsdb.iterdir()):
            written = [path.stat().st_mtime for path in self.tsdb.rglob("*") if path.is_file()]
            age = time.time() - max(written, default=time.time())
            self.out(
                f"history: none written, {self.tsdb} already holds data (last written "
                f"{describe_age(age)} ago): Prometheus continues it, and the panels fill as the "
                f"simulator runs; for a fresh history, stop and remove {self.tsdb}"
            )
            return
        self.end = time.time()
        self.out(
            f"history: writing the last {describe_days(self.days)} of the "
            f"{self.stack.options.scenario} workload into {self.tsdb} while the others start "
            "(BACKFILL_DAYS=0 skips it, BACKFILL_DAYS=7 writes a week)"
        )
        self._thread = threading.Thread(
            target=self._run, args=(self.argv(self.end),), name="history", daemon=True
        )
        self._thread.start()

    def _run(self, argv: list[str]) -> None:
        from tools.demo import backfill

        began = time.monotonic()
        try:
            self._code = backfill.main(argv)
        except BaseException as error:  # reported by wait(), in the main thread
            self._error = error
        self.seconds = time.monotonic() - began

    def join(self) -> None:
        """Wait for the backfill to finish (it leaves nothing running behind it)."""
        if self._thread is not None:
            self._thread.join()

    def wait(self) -> None:
        """Wait for the history; ``StartError`` when it could not be written."""
        if self._thread is None:
            return
        self.join()
        self._thread = None
        if self._error is not None or self._code:
            reason = repr(self._error) if self._error is not None else f"exit {self._code}"
            raise StartError(
                f"history: the backfill failed ({reason}); BACKFILL_DAYS=0 starts without it"
            )
        assert self.end is not None
        assert self.seconds is not None
        self.out(
            f"history: written in {self.seconds:.1f}s, up to "
            f"{time.strftime('%H:%M:%S', time.localtime(self.end))}; Prometheus goes on from there"
        )


def supervise(stack: Stack, title: str, history: History | None = None) -> int:
    """Start ``stack``, print its banner, run until Ctrl-C/SIGTERM or a child's death, stop it.

    A taken port or a missing binary stops everything before anything starts (exit 2).
    ``history``: written into the empty TSDB before Prometheus starts (``make demo``).
    """
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    began = time.monotonic()

    def before(service: str) -> None:
        if service.startswith("prometheus") and history is not None:
            history.wait()

    try:
        stack.check_binaries()
        stack.check_ports()
        if history is not None:
            history.begin()
        print("starting: " + ", ".join(stack.order()), flush=True)
        try:
            stack.start(before=before, report=lambda line: print(line, flush=True))
        finally:
            if history is not None:
                history.join()  # a failed start never leaves the backfill running
    except (PortTakenError, StartError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        f"{title} is running (started in {time.monotonic() - began:.0f}s):\n" + stack.banner(),
        flush=True,
    )
    print("\nPress Ctrl-C to stop everything.\n", flush=True)
    code = 0
    while not stop.wait(1.0):
        fatal = []
        for process in stack.dead():
            survivors = stack.survivors(process.name)
            if survivors:
                # A replica or a peer: the stack is built to lose one, so show it working on.
                print(
                    f"warning: {process.name} exited (code {process.popen.returncode}); "
                    f"{', '.join(survivors)} carry on. Last lines of {process.log_path}:\n"
                    f"{process.log_tail(5)}",
                    file=sys.stderr,
                    flush=True,
                )
                stack.stop_service(process.name)
                continue
            print(
                f"error: {process.name} exited (code {process.popen.returncode}); "
                f"last lines of {process.log_path}:\n{process.log_tail()}",
                file=sys.stderr,
            )
            fatal.append(process)
        if fatal:
            code = 1
            break
    print("stopping...", flush=True)
    stack.stop()
    print("stopped; nothing left running. Data kept in", stack.data_dir, flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    stack = Stack(parse_args(argv))
    return supervise(stack, "NARRA_FORGE monitoring demo", History(stack))


if __name__ == "__main__":
    sys.exit(main())
