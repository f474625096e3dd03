"""Lint the Prometheus configuration and rules: what `make lint-rules` runs.

    python -m tools.prometheus.lint            # every step below; exit 1 on any finding
    PROMTOOL=/opt/prometheus/promtool python -m tools.prometheus.lint

Steps, each printed with its result:
1. The rule files equal a fresh render of their sources: ``alerts.yml`` of
   ``monitoring/thresholds.yml``, ``slo_rules.yml`` of ``monitoring/slos.yml``.
2. ``promtool check config`` on ``prometheus.yml`` (it also checks the rule and target files).
3. ``promtool check rules`` on each rule file.
4. ``promtool test rules`` on every ``monitoring/prometheus/tests/*.test.yml``, in parallel.
5. The HA pair's ``prometheus-ha.yml`` (``tools/prometheus/ha.py``): current with
   ``prometheus.yml``, ``promtool check config``, and its HA shape (``cluster`` and ``replica``
   external labels, ``replica`` dropped before alerts and remote_write, every Alertmanager a
   target, both replicas scraped).
6. The catalogue lint, offline, with the shared PromQL checker
   (``tools/prometheus/promql_check.py``): metrics and labels exist, counters are only read
   through rate/increase, quantiles sum by le, range windows hold four scrapes, annotations
   template only labels the expression returns, names, severities, categories and
   annotations follow docs/alerting.md, runbooks exist, every recording rule is used, every
   alert and recording rule has promtool tests (in the test files that load its rule file).
6. The Loki ruler rules (``tools/loki/lint.py``): current, every LogQL expression parsed by
   Grafana's grammar, bounded stream labels, the same alert conventions.

Every finding names the file, the rule and the metric or label. promtool is taken from
``PROMTOOL``, else from PATH, else run from the ``prom/prometheus`` image with docker or podman
(version from ``.env``); without any of them the lint stops with a message saying how to get one.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tools._repo import REPO, BinaryNotFoundError, inside, shown, which
from tools.config import DASHBOARDS
from tools.generate import stale_files
from tools.prometheus import ha, render, slos
from tools.prometheus.alerts import CATEGORIES, SEVERITIES
from tools.prometheus.promql_check import (
    Series,
    analyse,
    catalogue_series,
    prometheus_series,
)
from tools.prometheus.thresholds import duration_seconds

PROMETHEUS_DIR = REPO / "monitoring" / "prometheus"
CONFIG = PROMETHEUS_DIR / "prometheus.yml"
HA_CONFIG = REPO / ha.OUTPUT
RULES = PROMETHEUS_DIR / "alerts.yml"
SLO_RULES = PROMETHEUS_DIR / "slo_rules.yml"
#: Every rule file prometheus.yml loads (tests/prometheus/test_prometheus_config.py checks that).
RULE_FILES: tuple[Path, ...] = (RULES, SLO_RULES)
TESTS_DIR = PROMETHEUS_DIR / "tests"
RUNBOOKS_DIR = REPO / "docs" / "runbooks"
DASHBOARDS_DIR = REPO / "monitoring" / "grafana" / "dashboards"

REQUIRED_ANNOTATIONS = ("summary", "description", "runbook_url", "dashboard_url")
#: Rule-group keys both Prometheus 2.42 and 3.x accept (3.x added `labels` and `query_offset`).
PORTABLE_GROUP_KEYS = frozenset({"name", "interval", "limit", "rules"})
RECORDING_NAME = re.compile(r"^[a-zA-Z0-9_]*:[a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z0-9_]+$")
ALERT_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")
#: Sloth's names (``slo:sli_error:ratio_rate5m``, ``sloth_slo_info``) are a published contract:
#: Sloth's dashboards select them, so they keep Sloth's spelling and the `level` rule does not
#: apply (their level is the SLO, carried in the sloth_* labels).
SLOTH_NAME = re.compile(r"^(slo:[a-z0-9_]+:[a-z0-9_]+|sloth_slo_info)$")
#: `$labels.x`, `.Labels.x` and `index $labels "x"` in a Go template.
TEMPLATE_LABEL = re.compile(
    r"(?:\$labels|\.Labels)\.([a-zA-Z_][a-zA-Z0-9_]*)"
    r"|index\s+(?:\$labels|\.Labels)\s+\"([^\"]+)\""
)
#: Recording rules read by dashboard variables (``label_values``), which hold no ``expr``:
#: the SLOs dashboard lists the SLOs from sloth_slo_info, as Sloth's own dashboards do.
READ_BY_VARIABLES = frozenset({"sloth_slo_info"})
#: Names that are not this file's business when searching dashboards for a recording rule.
_NAME_CHARS = r"[a-zA-Z0-9_:]"


class PromtoolNotFoundError(RuntimeError):
    """No promtool to run; the message says how to get one."""


# ------------------------------------------------------------------------------ promtool


def _env_file_value(key: str, path: Path = REPO / ".env") -> str | None:
    """A value of the compose ``.env`` file, where every image version is pinned."""
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() == key:
            return value.strip().strip("'\"") or None
    return None


def _engine_works(engine: str) -> bool:
    try:
        return subprocess.run([engine, "info"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@dataclass(frozen=True)
class Promtool:
    """How to run promtool: a binary, or a container engine with the prom/prometheus image."""

    argv: tuple[str, ...]
    #: Set when promtool runs in a container: paths must be mounted to be seen.
    container: bool = False

    @classmethod
    def find(cls, env: Mapping[str, str] | None = None) -> Promtool:
        env = os.environ if env is None else env
        try:
            command = which("promtool", env)
        except BinaryNotFoundError as error:
            raise PromtoolNotFoundError(str(error)) from error
        if command:
            return cls(tuple(command))
        for name in ("docker", "podman"):
            engine = shutil.which(name, path=env.get("PATH"))
            if engine and _engine_works(engine):
                version = _env_file_value("PROMETHEUS_VERSION") or "v3.5.0"
                image = env.get("PROMTOOL_IMAGE") or f"prom/prometheus:{version}"
                argv = (engine, "run", "--rm", "--network=none", "--entrypoint=promtool")
                return cls((*argv, f"--workdir={REPO}", image), container=True)
        raise PromtoolNotFoundError(
            "promtool not found. Install it with `make setup` (Debian's prometheus package), "
            "point PROMTOOL at a binary (PROMTOOL=/path/to/promtool make lint-rules), or run "
            "where docker or podman can start the prom/prometheus image."
        )

    def command(self, args: Sequence[str], files: Iterable[Path] = ()) -> list[str]:
        if not self.container:
            return [*self.argv, *args]
        # The repository and the folder of every file outside it, read-only, at the same path.
        folders = {REPO, *(p.resolve().parent for p in files if not inside(p, REPO))}
        mounts = [f"--volume={folder}:{folder}:ro" for folder in sorted(folders)]
        *engine_run, image = self.argv
        return [*engine_run, *mounts, image, *args]

    def run(self, args: Sequence[str], files: Iterable[Path] = ()) -> tuple[bool, str]:
        # A bound for a hung promtool only: an SLO test file takes 10-20 s of CPU, which on a
        # machine whose cores are all busy can be several minutes of wall time.
        result = subprocess.run(
            self.command(args, files), capture_output=True, text=True, timeout=900
        )
        return result.returncode == 0, (result.stdout + result.stderr).strip()


def promtool_test_rules(promtool: Promtool, test_files: Sequence[Path]) -> list[str]:
    """Run every test file (one promtool each, in parallel); a finding per failing file."""
    workers = max(1, min(len(test_files), os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        results = list(
            pool.map(lambda f: (f, promtool.run(["test", "rules", str(f)], [f])), test_files)
        )
    return [f"{shown(f)}: promtool test rules failed:\n{out}" for f, (ok, out) in results if not ok]


# ------------------------------------------------------------------------------ rule files


@dataclass(frozen=True)
class Rule:
    group: str
    kind: str  # "alert" or "recording rule"
    name: str
    body: Mapping[str, Any]

    @property
    def expr(self) -> str:
        return str(self.body.get("expr", ""))


def load_rules(path: Path) -> tuple[dict[str, Any], list[str]]:
    """Parse a rule file; the findings say what makes it unusable."""
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        return {}, [f"{shown(path)}: cannot read rules: {error}"]
    if not isinstance(document, dict) or not isinstance(document.get("groups"), list):
        return {}, [f"{shown(path)}: expected a mapping with a `groups` list"]
    return document, []


def iter_rules(document: Mapping[str, Any]) -> Iterator[Rule]:
    for group in document.get("groups", []):
        for body in group.get("rules") or []:
            if "alert" in body:
                yield Rule(group["name"], "alert", str(body["alert"]), body)
            else:
                yield Rule(group["name"], "recording rule", str(body.get("record")), body)


def scrape_interval_seconds(config: Path = CONFIG) -> float:
    """The longest scrape interval of the config: range windows must hold four of them."""
    data = yaml.safe_load(config.read_text()) or {}
    default = (data.get("global") or {}).get("scrape_interval", "1m")
    intervals = [default] + [
        job["scrape_interval"]
        for job in data.get("scrape_configs") or []
        if "scrape_interval" in job
    ]
    return max(duration_seconds(interval) for interval in intervals)


def dashboard_exprs(folder: Path) -> dict[str, list[str]]:
    """Every `expr` of every dashboard JSON in ``folder``, by file name."""
    found: dict[str, list[str]] = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:

        def walk(node: object, out: list[str]) -> None:
            if isinstance(node, dict):
                for key, value in node.items():
                    if key == "expr" and isinstance(value, str):
                        out.append(value)
                    else:
                        walk(value, out)
            elif isinstance(node, list):
                for item in node:
                    walk(item, out)

        exprs: list[str] = []
        walk(json.loads(path.read_text()), exprs)
        found[path.name] = exprs
    return found


def _dashboard_uids(folder: Path) -> set[str]:
    uids = set()
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        uid = json.loads(path.read_text()).get("uid")
        if isinstance(uid, str):
            uids.add(uid)
    return uids


def _mentions(text: str, name: str) -> bool:
    return re.search(rf"(?<!{_NAME_CHARS}){re.escape(name)}(?!{_NAME_CHARS})", text) is not None


def _level_matches(level: str, labels: frozenset[str]) -> bool:
    """Does the ``level`` of ``level:metric:operations`` list exactly the labels kept?"""
    if not labels:
        return level == ""
    if len(labels) > 5:
        return True  # too many to name; not worth checking
    return any(level == "_".join(order) for order in itertools.permutations(sorted(labels)))


def _template_labels(text: str) -> set[str]:
    return {a or b for a, b in TEMPLATE_LABEL.findall(text)}


@dataclass
class LintContext:
    """Where the lint looks; tests point these at temporary folders."""

    rules_path: Path = RULES
    runbooks_dir: Path = RUNBOOKS_DIR
    dashboards_dir: Path = DASHBOARDS_DIR
    tests_dir: Path | None = TESTS_DIR
    min_range_seconds: float = 60.0


def lint_rules(ctx: LintContext) -> list[str]:
    """The catalogue lint of one rule file; each finding names the file, the rule and the
    metric or label."""
    document, problems = load_rules(ctx.rules_path)
    if problems:
        return problems
    where = shown(ctx.rules_path)
    findings: list[str] = []

    for group in document["groups"]:
        extra = sorted(set(group) - PORTABLE_GROUP_KEYS)
        if extra:
            findings.append(
                f"{where}: group {group.get('name')}: keys {extra} are not accepted by "
                "Prometheus 2.42; keep to name, interval, limit, rules"
            )

    rules = list(iter_rules(document))
    known: dict[str, Series] = {**catalogue_series(), **prometheus_series()}
    recorded: list[Rule] = [r for r in rules if r.kind == "recording rule"]
    selected_by: dict[str, set[str]] = {}  # rule name -> names its expression selects

    def check_expr(rule: Rule) -> frozenset[str] | str | None:
        result = analyse(rule.expr, known, ctx.min_range_seconds)
        for finding in result.findings:
            findings.append(f"{where}: {rule.kind} {rule.name}: {finding}")
        selected_by[rule.name] = result.selected
        return result.labels

    # Recording rules in file order: each may read the ones above it.
    for rule in recorded:
        labels = check_expr(rule)
        # Labels a rule sets (`labels:`) are on its output too: Sloth's sloth_* labels.
        if isinstance(labels, frozenset):
            labels = labels | frozenset(rule.body.get("labels") or {})
        if SLOTH_NAME.match(rule.name):
            pass
        elif not RECORDING_NAME.match(rule.name):
            findings.append(
                f"{where}: recording rule {rule.name}: name is not level:metric:operations "
                "(e.g. production_type:narra_forge_pipeline_duration_seconds:p95_5m)"
            )
        elif isinstance(labels, frozenset) and not _level_matches(rule.name.split(":")[0], labels):
            kept = ", ".join(sorted(labels)) or "(none)"
            findings.append(
                f"{where}: recording rule {rule.name}: level {rule.name.split(':')[0]!r} does "
                f"not list the labels the expression keeps: {kept}"
            )
        kept_labels = labels if isinstance(labels, frozenset) else frozenset()
        known[rule.name] = Series(kept_labels, counter=False, origin="recording rule")

    uids = _dashboard_uids(ctx.dashboards_dir)
    for rule in (r for r in rules if r.kind == "alert"):
        findings.extend(
            f"{where}: alert {rule.name}: {m}" for m in _alert_problems(rule, ctx, uids)
        )
        labels = check_expr(rule)
        findings.extend(
            f"{where}: alert {rule.name}: {m}" for m in _template_problems(rule, labels)
        )

    findings.extend(_unused_recording_rules(where, recorded, rules, selected_by, ctx))
    if ctx.tests_dir is not None:
        findings.extend(_untested(where, document, rules, ctx.tests_dir, ctx.rules_path.name))
    return findings


def _alert_problems(rule: Rule, ctx: LintContext, dashboard_uids: set[str]) -> list[str]:
    problems = []
    if not ALERT_NAME.match(rule.name):
        problems.append("alert names are CamelCase (e.g. PipelineErrorRateHigh)")
    labels = rule.body.get("labels") or {}
    severity = labels.get("severity")
    if severity not in SEVERITIES:
        problems.append(f"label severity is {severity!r}; use one of {', '.join(SEVERITIES)}")
    category = labels.get("category")
    if category not in CATEGORIES:
        problems.append(f"label category is {category!r}; use one of {', '.join(CATEGORIES)}")
    annotations = rule.body.get("annotations") or {}
    for key in REQUIRED_ANNOTATIONS:
        if not str(annotations.get(key, "")).strip():
            problems.append(f"annotation {key} is missing")
    if "{{" in str(annotations.get("summary", "")):
        problems.append("annotation summary is templated; keep it a short static sentence")
    runbook = str(annotations.get("runbook_url", ""))
    if runbook:
        if not runbook.startswith(("http://", "https://")):
            problems.append(f"runbook_url {runbook!r} is not an absolute URL")
        if not runbook.endswith(f"docs/runbooks/{rule.name}.md"):
            problems.append(f"runbook_url {runbook!r} does not end in docs/runbooks/{rule.name}.md")
        if not (ctx.runbooks_dir / f"{rule.name}.md").is_file():
            problems.append(f"runbook {shown(ctx.runbooks_dir / f'{rule.name}.md')} does not exist")
    dashboard = str(annotations.get("dashboard_url", ""))
    if dashboard:
        uid = dashboard.rstrip("/").rsplit("/d/", 1)[-1] if "/d/" in dashboard else None
        if not dashboard.startswith(("http://", "https://")) or uid is None:
            problems.append(f"dashboard_url {dashboard!r} is not an absolute <grafana>/d/<uid> URL")
        elif uid not in {board.uid for board in DASHBOARDS.values()}:
            problems.append(
                f"dashboard_url points to uid {uid!r}, not a NARRA_FORGE dashboard "
                "(tools/config.py)"
            )
        elif dashboard_uids and uid not in dashboard_uids:
            problems.append(
                f"dashboard_url points to uid {uid!r}, but no dashboard under "
                f"{shown(ctx.dashboards_dir)} has that uid"
            )
    return problems


def _template_problems(rule: Rule, labels: frozenset[str] | str | None) -> list[str]:
    """Labels templated in annotations (or alert labels) that the expression does not return."""
    if not isinstance(labels, frozenset):
        return []  # unknown (or a scalar): nothing to compare with
    problems = []
    fields = {
        **{f"annotation {k}": v for k, v in (rule.body.get("annotations") or {}).items()},
        **{f"label {k}": v for k, v in (rule.body.get("labels") or {}).items()},
    }
    for field_name, text in fields.items():
        for label in sorted(_template_labels(str(text)) - labels):
            returned = ", ".join(sorted(labels)) or "(none)"
            problems.append(
                f'{field_name} uses label "{label}", which the expression does not return '
                f"(it returns: {returned}); it would render empty"
            )
    return problems


def _unused_recording_rules(
    where: str,
    recorded: Sequence[Rule],
    rules: Sequence[Rule],
    selected_by: Mapping[str, set[str]],
    ctx: LintContext,
) -> list[str]:
    dashboards = dashboard_exprs(ctx.dashboards_dir)
    problems = []
    for rule in recorded:
        users = [other.name for other in rules if rule.name in selected_by.get(other.name, set())]
        if users or rule.name in READ_BY_VARIABLES:
            continue
        if any(_mentions(expr, rule.name) for exprs in dashboards.values() for expr in exprs):
            continue
        looked = (
            f"no dashboard under {shown(ctx.dashboards_dir)}"
            if dashboards
            else ("no dashboard (none present)")
        )
        problems.append(
            f"{where}: recording rule {rule.name}: unused: no alert, no other rule and {looked} "
            "reads it"
        )
    return problems


def _loads(test: Mapping[str, Any], rule_file: str) -> bool:
    """Does a promtool test file load a rule file of this name?"""
    return any(Path(str(path)).name == rule_file for path in test.get("rule_files") or [])


def _untested(
    where: str,
    document: Mapping[str, Any],
    rules: Sequence[Rule],
    tests_dir: Path,
    rule_file: str = "alerts.yml",
) -> list[str]:
    """Every alert group has its test file; every alert fires and stays silent in a test;
    every recording rule is checked by a promql_expr_test. Only the test files that load
    ``rule_file`` count: another rule file's tests cannot test these rules."""
    problems = []
    firing: set[str] = set()
    silent: set[str] = set()
    expr_tests: list[str] = []
    test_files = sorted(tests_dir.glob("*.test.yml")) if tests_dir.is_dir() else []
    recording_groups = [
        g["name"] for g in document["groups"] if any("record" in r for r in g.get("rules") or [])
    ]
    for path in test_files:
        data = yaml.safe_load(path.read_text()) or {}
        if not _loads(data, rule_file):
            continue
        order = data.get("group_eval_order") or []
        if recording_groups and (not order or order[0] not in recording_groups):
            problems.append(
                f"{shown(path)}: group_eval_order does not start with the recording rules "
                f"({recording_groups[0]}): promtool evaluates groups in random order otherwise, "
                "and alerts would see recording rules one evaluation late, at random"
            )
        for test in data.get("tests") or []:
            for case in test.get("alert_rule_test") or []:
                (firing if case.get("exp_alerts") else silent).add(str(case.get("alertname")))
            expr_tests += [str(case.get("expr", "")) for case in test.get("promql_expr_test") or []]
    for group in document["groups"]:
        has_alerts = any("alert" in r for r in group.get("rules") or [])
        if not has_alerts:
            continue
        expected = tests_dir / f"{group['name'].removeprefix('narra_forge_')}.test.yml"
        if not expected.is_file():
            problems.append(
                f"{where}: group {group['name']}: no promtool test file {shown(expected)}"
            )
    for rule in rules:
        if rule.kind == "alert":
            if rule.name not in firing:
                problems.append(
                    f"{where}: alert {rule.name}: no promtool test where it fires "
                    f"(alert_rule_test with exp_alerts) under {shown(tests_dir)}"
                )
            if rule.name not in silent and rule.name != "Watchdog":
                problems.append(
                    f"{where}: alert {rule.name}: no promtool test where it stays silent "
                    f"(exp_alerts: []) under {shown(tests_dir)}"
                )
        elif not any(_mentions(expr, rule.name) for expr in expr_tests):
            problems.append(
                f"{where}: recording rule {rule.name}: no promql_expr_test checks its value "
                f"under {shown(tests_dir)}"
            )
    return problems


# ------------------------------------------------------------------------------ the steps


def rules_are_current() -> list[str]:
    """The rule files against a fresh render: the drift check of `make check-generated`, on
    those files alone, so a user's CI running only `make lint-rules` still catches a hand edit."""
    return stale_files({**render.outputs(), **slos.outputs()})


def main(argv: list[str] | None = None) -> int:
    del argv  # no options: the paths are the repository's
    failed = False

    def step(title: str, findings: list[str], started: float) -> None:
        nonlocal failed
        status = "ok" if not findings else f"{len(findings)} finding(s)"
        print(f"{title}: {status} ({time.monotonic() - started:.1f}s)")
        for finding in findings:
            print(f"  {finding}")
        failed = failed or bool(findings)

    started = time.monotonic()
    step("rule files are current", rules_are_current(), started)

    try:
        promtool = Promtool.find()
    except PromtoolNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"promtool: {' '.join(promtool.argv)}")

    started = time.monotonic()
    ok, out = promtool.run(["check", "config", str(CONFIG)], [CONFIG])
    step("promtool check config", [] if ok else [f"{shown(CONFIG)}:\n{out}"], started)

    started = time.monotonic()
    findings = []
    for rule_file in RULE_FILES:
        ok, out = promtool.run(["check", "rules", str(rule_file)], [rule_file])
        findings += [] if ok else [f"{shown(rule_file)}:\n{out}"]
    step("promtool check rules", findings, started)

    started = time.monotonic()
    test_files = sorted(TESTS_DIR.glob("*.test.yml"))
    findings = promtool_test_rules(promtool, test_files)
    if not test_files:
        findings = [f"{shown(TESTS_DIR)}: no *.test.yml files"]
    step(f"promtool test rules ({len(test_files)} files)", findings, started)

    started = time.monotonic()
    findings = stale_files(ha.outputs())
    if not findings:
        ok, out = promtool.run(["check", "config", str(HA_CONFIG)], [HA_CONFIG])
        findings = [] if ok else [f"{shown(HA_CONFIG)}:\n{out}"]
        findings += ha.problems(yaml.safe_load(HA_CONFIG.read_text()) or {}, shown(HA_CONFIG))
    step("HA pair: prometheus-ha.yml current, promtool check config, HA shape", findings, started)

    started = time.monotonic()
    findings = []
    for rule_file in RULE_FILES:
        context = LintContext(rule_file, min_range_seconds=4 * scrape_interval_seconds())
        findings += lint_rules(context)
    step("catalogue lint", findings, started)

    # Imported here: tools.loki.lint reuses this module's rule checks.
    from tools.loki import lint as loki_lint
    from tools.loki.logql import LogQLParserError

    started = time.monotonic()
    try:
        loki_findings = loki_lint.lint()
    except LogQLParserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    step("Loki rules (LogQL, Grafana's grammar)", loki_findings, started)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
