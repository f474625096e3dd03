"""Error budgets: ``monitoring/slos.yml`` -> ``monitoring/prometheus/slo_rules.yml``.

    python -m tools.prometheus.slos            # write the rule file (make generate does too)

Each SLO becomes Sloth-compatible recording rules (the names and labels of Sloth's generated
rules, so Sloth's published Grafana dashboards read them unchanged) and one burn-rate alert in
two severities, after the Google SRE workbook ("Alerting on SLOs", multiwindow, multi-burn-rate):

=========  ===========  ============  =====================================================
severity   long/short   burn rate     budget spent when it fires
=========  ===========  ============  =====================================================
page       1h / 5m      > 14.4        2% of the 30-day budget in one hour
page       6h / 30m     > 6           5% in six hours
ticket     1d / 2h      > 3           10% in a day
ticket     3d / 6h      > 1           10% in three days: on course to spend it all
=========  ===========  ============  =====================================================

How the windows are computed (what keeps the 30-day window cheap): per SLO, two recording rules
sum the raw series once, into the bad and the total events per second over 5 minutes
(``slo:sli_bad_events:rate5m``, ``slo:sli_events:rate5m``). Every longer window divides sums of
those two single series over the window (``sum_over_time``): one series per side instead of
every raw label combination, and the ratio is weighted by traffic. Sloth's "optimized" mode
averages the 5m *ratios* instead, which lets a quiet night with one failure weigh as much as a
busy afternoon; summing the rates before dividing does not. Each 5m rate sample covers the
5 minutes before it, so a window of length w really sees w + 5m with soft edges: invisible for
the 1h-30d windows the alerts and the budget read, and the 5m window itself is exact.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from narra_forge.monitoring.catalogue import BY_NAME
from tools._repo import REPO, shown
from tools.generate import write_outputs
from tools.prometheus.alerts import AlertRule, Links
from tools.prometheus.recording import bucket_matcher
from tools.prometheus.render import alert_entry, dump
from tools.prometheus.thresholds import as_duration, as_number, as_percent, duration_seconds

DEFAULT_PATH = REPO / "monitoring" / "slos.yml"
OUTPUT = Path("monitoring/prometheus/slo_rules.yml")

SERVICE = "narra_forge"
SLI_GROUP = "narra_forge_slo_sli"
META_GROUP = "narra_forge_slo_meta"
#: The SLI and metadata groups run once a minute, not every 15 s: a 5-minute rate moves little
#: in a minute, the alerts' shortest window is 5m, and the 30-day sums read a quarter of the
#: samples. It is also what makes the event count of a window exact to compute: each sample of
#: ``slo:sli_events:rate5m`` stands for this many seconds of traffic.
SLO_GROUP_INTERVAL = "1m"

#: Every window of ``slo:sli_error:ratio_rate<window>``, as Sloth writes them.
WINDOWS: tuple[str, ...] = ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d")


@dataclass(frozen=True)
class BurnRateWindow:
    """One pair of the SRE workbook: both windows must burn faster than ``factor``."""

    long: str
    short: str
    factor: float


#: (sloth_severity, Prometheus severity) -> its two window pairs.
ALERT_WINDOWS: Mapping[tuple[str, str], tuple[BurnRateWindow, BurnRateWindow]] = {
    ("page", "critical"): (BurnRateWindow("1h", "5m", 14.4), BurnRateWindow("6h", "30m", 6)),
    ("ticket", "warning"): (BurnRateWindow("1d", "2h", 3), BurnRateWindow("3d", "6h", 1)),
}
#: The lowest burn rate that pages: one bad event alone must stay under it (min_events).
LOWEST_PAGE_FACTOR = min(w.factor for w in ALERT_WINDOWS[("page", "critical")])

#: SLO name -> alert name (the issue fixes them; CamelCase with API as people write it).
ALERT_NAMES: Mapping[str, str] = {
    "pipeline-success": "PipelineSuccessBudgetBurn",
    "api-success": "APISuccessBudgetBurn",
    "pipeline-latency": "PipelineLatencyBudgetBurn",
    "quality": "QualityBudgetBurn",
}

_NAME = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")
_SELECTOR = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?$")
_MATCHERS = re.compile(r"^\{.*\}$")


class SLOError(ValueError):
    """The SLO file is malformed; the message names the file and the key."""


@dataclass(frozen=True)
class SLO:
    name: str
    description: str
    objective: float
    period: str
    min_events: int
    #: PromQL: bad events per second over 5 minutes, summed over every label.
    bad_rate5m: str
    #: PromQL: all events per second over 5 minutes.
    total_rate5m: str

    @property
    def sloth_id(self) -> str:
        return f"{SERVICE}-{self.name}"

    @property
    def budget(self) -> float:
        """The error budget as a ratio; rounded so 1 - 0.99 reads 0.01, not 0.010000000000000009."""
        return round(1 - self.objective, 10)

    @property
    def labels(self) -> dict[str, str]:
        return {"sloth_id": self.sloth_id, "sloth_service": SERVICE, "sloth_slo": self.name}

    @property
    def selector(self) -> str:
        return ", ".join(f'{k}="{v}"' for k, v in self.labels.items())

    @property
    def alert(self) -> str:
        return ALERT_NAMES[self.name]


# ------------------------------------------------------------------------------ loading


def _metric(where: str, selector: object, kind: str) -> tuple[str, str]:
    """A ``name{matchers}`` selector of a catalogue metric of ``kind``: (name, matchers)."""
    if not isinstance(selector, str) or not (match := _SELECTOR.match(selector.strip())):
        raise SLOError(
            f'{where}: expected a series selector like name{{label="x"}}, got {selector!r}'
        )
    name, matchers = match.group(1), match.group(2) or ""
    sample = BY_NAME.get(name)
    if sample is None or sample.type != kind:
        known = sorted(m.name for m in BY_NAME.values() if m.type == kind)
        raise SLOError(f"{where}: {name} is not a {kind} of the catalogue; one of {known}")
    return name, matchers


def _events(where: str, data: object) -> tuple[str, str]:
    """(bad, total) rates over 5m for an ``events`` section."""
    if not isinstance(data, dict):
        raise SLOError(f"{where} is missing or not a mapping")
    kind = data.get("kind")
    if kind == "ratio":
        _expect_keys(where, data, {"kind", "bad", "total"})
        bad, bad_m = _metric(f"{where}.bad", data.get("bad"), "counter")
        total, total_m = _metric(f"{where}.total", data.get("total"), "counter")
        bad_rate = f"sum(rate({bad}{bad_m}[5m]))"
        total_rate = f"sum(rate({total}{total_m}[5m]))"
        # A labelled counter has no series before its first increment (no failure yet): then
        # the bad rate is 0 wherever there is traffic, and absent, like the total, where none.
        return f"{bad_rate} or 0 * {total_rate}", total_rate
    if kind == "histogram":
        _expect_keys(where, data, {"kind", "metric", "le", "bad", "selector"}, {"selector"})
        name, _ = _metric(f"{where}.metric", data.get("metric"), "histogram")
        selector = data.get("selector", "")
        if not isinstance(selector, str) or (selector and not _MATCHERS.match(selector)):
            raise SLOError(
                f'{where}.selector: expected matchers like {{label="x"}}, got {selector!r}'
            )
        le = data.get("le")
        if isinstance(le, bool) or not isinstance(le, (int, float)):
            raise SLOError(f"{where}.le: expected a bucket boundary (a number), got {le!r}")
        try:
            le_regex = bucket_matcher(BY_NAME[name], float(le))
        except ValueError as error:
            raise SLOError(f"{where}.le: {error}") from error
        inner = selector.strip()[1:-1].strip() if selector else ""
        bucket_matchers = ", ".join(m for m in (inner, f'le=~"{le_regex}"') if m)
        count = f"sum(rate({name}_count{selector}[5m]))"
        # Prometheus 3 writes le="1800.0" where 2.x wrote le="1800": the regex takes both.
        bucket = f"sum(rate({name}_bucket{{{bucket_matchers}}}[5m]))"
        side = data.get("bad")
        if side == "above":
            return f"{count} - {bucket}", count
        if side == "at_or_below":
            return bucket, count
        raise SLOError(f"{where}.bad: expected above or at_or_below, got {side!r}")
    raise SLOError(f"{where}.kind: expected ratio or histogram, got {kind!r}")


def _expect_keys(
    where: str,
    data: Mapping[str, object],
    known: set[str],
    optional: frozenset[str] | set[str] = frozenset(),
) -> None:
    extra = sorted(set(data) - known)
    if extra:
        raise SLOError(f"{where}: unknown keys {extra}; known: {sorted(known)}")
    missing = sorted(known - optional - set(data))
    if missing:
        raise SLOError(f"{where}: missing keys {missing}")


def _slo(source: str, name: object, data: object, defaults: Mapping[str, Any]) -> SLO:
    where = f"{source}: slos.{name}"
    if not isinstance(name, str) or not _NAME.match(name):
        raise SLOError(f"{where}: names are lowercase words joined by '-', like pipeline-success")
    if name not in ALERT_NAMES:
        raise SLOError(f"{where}: no alert name for this SLO; add it to ALERT_NAMES in {__name__}")
    if not isinstance(data, dict):
        raise SLOError(f"{where} is not a mapping")
    _expect_keys(
        where,
        data,
        {"description", "objective", "period", "min_events", "events"},
        {"period", "min_events"},
    )
    description = data.get("description")
    if not isinstance(description, str) or not description.strip():
        raise SLOError(f"{where}.description: expected a sentence")
    objective = data.get("objective")
    if (
        isinstance(objective, bool)
        or not isinstance(objective, (int, float))
        or not math.isfinite(objective)
        or not 0 < objective < 1
    ):
        raise SLOError(
            f"{where}.objective: a fraction between 0 and 1 (0.99 = 99%), got {objective!r}"
        )
    period = data.get("period", defaults["period"])
    if period != "30d":
        raise SLOError(
            f"{where}.period: only 30d is supported (the alert windows are the SRE workbook's "
            f"for a 30-day budget), got {period!r}"
        )
    min_events = data.get("min_events", defaults["min_events"])
    if isinstance(min_events, bool) or not isinstance(min_events, int) or min_events < 1:
        raise SLOError(f"{where}.min_events: a whole number of events >= 1, got {min_events!r}")
    budget = round(1 - objective, 10)
    if 1 / min_events >= LOWEST_PAGE_FACTOR * budget:
        least = math.floor(1 / (LOWEST_PAGE_FACTOR * budget)) + 1
        raise SLOError(
            f"{where}.min_events: {min_events} lets one bad event page (1/{min_events} = "
            f"{as_percent(round(1 / min_events, 6))} is not under {as_number(LOWEST_PAGE_FACTOR)} "
            f"times the {as_percent(budget)} budget); use at least {least}"
        )
    bad, total = _events(f"{where}.events", data.get("events"))
    return SLO(name, description.strip(), float(objective), period, min_events, bad, total)


def parse_slos(data: object, source: str) -> tuple[SLO, ...]:
    """Validate an already-parsed SLO document."""
    if not isinstance(data, dict):
        raise SLOError(f"{source}: expected a mapping with `defaults` and `slos`")
    _expect_keys(source, data, {"defaults", "slos"}, {"defaults"})
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise SLOError(f"{source}: defaults is not a mapping")
    keys = {"period", "min_events"}
    _expect_keys(f"{source}: defaults", defaults, keys, keys)
    merged = {"period": "30d", "min_events": 20, **defaults}
    slos = data.get("slos")
    if not isinstance(slos, dict) or not slos:
        raise SLOError(f"{source}: slos is missing, empty or not a mapping")
    return tuple(_slo(source, name, body, merged) for name, body in slos.items())


def load_slos(path: Path = DEFAULT_PATH) -> tuple[SLO, ...]:
    """Read and validate an SLO file; ``SLOError`` names what is wrong."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise SLOError(f"{path}: cannot read SLOs: {error}") from error
    return parse_slos(data, shown(path))


# ------------------------------------------------------------------------------ rules


@dataclass(frozen=True)
class Record:
    record: str
    expr: str
    labels: Mapping[str, str]


def _window_seconds(window: str) -> int:
    return int(duration_seconds(window))


def sli_records(slo: SLO) -> tuple[Record, ...]:
    """The SLI group of one SLO, in evaluation order (each rule reads only rules above it)."""
    sel = slo.selector
    five = {**slo.labels, "sloth_window": "5m"}
    records = [
        Record("slo:sli_bad_events:rate5m", slo.bad_rate5m, five),
        Record("slo:sli_events:rate5m", slo.total_rate5m, five),
        Record(
            "slo:sli_error:ratio_rate5m",
            f"slo:sli_bad_events:rate5m{{{sel}}} / slo:sli_events:rate5m{{{sel}}}",
            five,
        ),
    ]
    for window in WINDOWS[1:]:
        records.append(
            Record(
                f"slo:sli_error:ratio_rate{window}",
                f"sum_over_time(slo:sli_bad_events:rate5m{{{sel}}}[{window}])\n"
                f"/ sum_over_time(slo:sli_events:rate5m{{{sel}}}[{window}])",
                {**slo.labels, "sloth_window": window},
            )
        )
    return tuple(records)


def meta_records(slo: SLO) -> tuple[Record, ...]:
    """Sloth's metadata rules: objective, budget, period, burn rates, budget remaining, info."""
    sel = slo.selector
    on = "on (sloth_id, sloth_slo, sloth_service) group_left"
    period_days = _window_seconds(slo.period) // 86400
    return (
        Record("slo:objective:ratio", f"vector({as_number(slo.objective)})", slo.labels),
        Record("slo:error_budget:ratio", f"vector({as_number(slo.budget)})", slo.labels),
        Record("slo:time_period:days", f"vector({period_days})", slo.labels),
        Record(
            "slo:current_burn_rate:ratio",
            f"slo:sli_error:ratio_rate5m{{{sel}}}\n/ {on}\nslo:error_budget:ratio{{{sel}}}",
            slo.labels,
        ),
        Record(
            "slo:period_burn_rate:ratio",
            f"slo:sli_error:ratio_rate{slo.period}{{{sel}}}\n/ {on}\n"
            f"slo:error_budget:ratio{{{sel}}}",
            slo.labels,
        ),
        Record(
            "slo:period_error_budget_remaining:ratio",
            f"1 - slo:period_burn_rate:ratio{{{sel}}}",
            slo.labels,
        ),
        Record(
            "sloth_slo_info",
            "vector(1)",
            {
                **slo.labels,
                # What Sloth's own rules carry: its dashboards list SLOs and objectives from it.
                "sloth_mode": "cli-gen-prom",
                "sloth_objective": f"{slo.objective * 100:.10g}",
                "sloth_spec": "prometheus/v1",
                "sloth_version": "narra_forge",
            },
        ),
    )


def _pair_expr(slo: SLO, pair: BurnRateWindow, interval: str = SLO_GROUP_INTERVAL) -> str:
    """Both windows burn faster than the factor, and the long one holds min_events events.

    The value is the long window's burn rate (error ratio / budget), which the description
    shows. ``max without (sloth_window)`` drops the one label that differs between windows.
    """
    sel = slo.selector
    budget = as_number(slo.budget)
    factor = as_number(pair.factor)

    def burn(window: str) -> str:
        return (
            f"max without (sloth_window) (slo:sli_error:ratio_rate{window}{{{sel}}}) / {budget}"
            f" > {factor}"
        )

    # Events in the long window: the per-second rates, each standing for one group interval.
    # Not avg_over_time * window: on a short history that extrapolates 20 minutes of traffic to
    # a whole day, and the guard would let a young Prometheus alert on a handful of events.
    events = (
        f"max without (sloth_window) (sum_over_time(slo:sli_events:rate5m{{{sel}}}[{pair.long}]))"
        f" * {_window_seconds(interval)} >= {slo.min_events}"
    )
    return f"(\n  {burn(pair.long)}\n  and {burn(pair.short)}\n  and {events}\n)"


def _describe_events(slo: SLO) -> str:
    """The SLO's description as the middle of a sentence: 'Finished ...' -> 'finished ...'."""
    text = slo.description.rstrip(".")
    first = text.split()[0]
    # Lower the first word only when it is an ordinary word ("Finished"), not a name ("OpenAI").
    return text[0].lower() + text[1:] if first[1:].islower() else text


def alert_rules(slo: SLO, interval: str = SLO_GROUP_INTERVAL) -> tuple[AlertRule, ...]:
    """The page and the ticket of one SLO: one alert name, two severities."""
    rules = []
    period = as_duration(slo.period)
    for (sloth_severity, severity), (first, second) in ALERT_WINDOWS.items():
        spent = round(first.factor * _window_seconds(first.long) / _window_seconds(slo.period), 6)
        rules.append(
            AlertRule(
                alert=slo.alert,
                expr=f"{_pair_expr(slo, first, interval)}\nor\n{_pair_expr(slo, second, interval)}",
                for_=None,  # the short window is the confirmation; `for` would only delay it
                severity=severity,
                category="slo",
                summary=f"The {slo.name} SLO burns its error budget too fast ({sloth_severity})",
                description=(
                    f"Objective: {as_percent(slo.objective)} of {_describe_events(slo)}, over "
                    f"{period}. The error budget ({as_percent(slo.budget)} of them) is being "
                    'spent {{ $value | printf "%.1f" }} times as fast as the pace that uses '
                    f"it up in exactly {period}: over the last {as_duration(first.long)} and "
                    f"still in the last {as_duration(first.short)} ({sloth_severity} above "
                    f"{as_number(first.factor)}), or over the last {as_duration(second.long)} "
                    f"and still in the last {as_duration(second.short)} ({sloth_severity} above "
                    f"{as_number(second.factor)}). At {as_number(first.factor)} times, "
                    f"{as_duration(first.long)} spends {as_percent(spent)} of the {period} budget."
                ),
                dashboard="slo",
                labels=(("slo", slo.name), ("sloth_severity", sloth_severity)),
            )
        )
    return tuple(rules)


def slo_records(slos: tuple[SLO, ...]) -> tuple[Record, ...]:
    """Every recording rule of the SLOs, in evaluation order (for the dashboard lint)."""
    return tuple(r for make in (sli_records, meta_records) for slo in slos for r in make(slo))


def alert_group_name(slo: SLO) -> str:
    return f"narra_forge_slo_{slo.name.replace('-', '_')}"


def rules_document(
    slos: tuple[SLO, ...], links: Links, interval: str = SLO_GROUP_INTERVAL
) -> dict[str, Any]:
    """The rule file as data: SLI records, then metadata, then one alert group per SLO.

    ``interval`` is the SLI and metadata groups' (the end-to-end tests use 1s, to see records
    within seconds); the alerts' event count follows it.
    """

    def records(make: Any) -> list[dict[str, Any]]:
        return [
            {"record": r.record, "expr": r.expr, "labels": dict(r.labels)}
            for slo in slos
            for r in make(slo)
        ]

    return {
        "groups": [
            {"name": SLI_GROUP, "interval": interval, "rules": records(sli_records)},
            {"name": META_GROUP, "interval": interval, "rules": records(meta_records)},
            *(
                {
                    "name": alert_group_name(slo),
                    "rules": [alert_entry(rule, links) for rule in alert_rules(slo, interval)],
                }
                for slo in slos
            ),
        ]
    }


def render(
    slos: tuple[SLO, ...],
    links: Links,
    source: Path = DEFAULT_PATH,
    interval: str = SLO_GROUP_INTERVAL,
) -> str:
    header = (
        f"# Generated by `make generate` (tools/prometheus/slos.py) from {shown(source)}.\n"
        "# Do not edit: change that file and run `make generate`. Sloth-compatible SLO rules and\n"
        "# burn-rate alerts; docs/alerting.md explains them, tests/slo_*.test.yml test them.\n"
    )
    return header + dump(rules_document(slos, links, interval))


def outputs() -> dict[Path, str]:
    """For tools/generate.py: slo_rules.yml from the committed slos.yml."""
    return {OUTPUT: render(load_slos(DEFAULT_PATH), Links(), DEFAULT_PATH)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slos", type=Path, default=DEFAULT_PATH, help="SLO file")
    parser.add_argument("--out", type=Path, default=REPO / OUTPUT, help="rule file to write")
    parser.add_argument(
        "--group-interval",
        default=SLO_GROUP_INTERVAL,
        help=f"interval of the SLI groups ({SLO_GROUP_INTERVAL}; the end-to-end tests use 1s)",
    )
    args = parser.parse_args(argv)
    try:
        duration_seconds(args.group_interval)
        text = render(load_slos(args.slos), Links(), args.slos, args.group_interval)
    except (SLOError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    write_outputs({args.out.resolve(): text})
    return 0


if __name__ == "__main__":
    sys.exit(main())
