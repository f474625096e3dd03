"""SLOs: how much of each error budget is left, and how fast it burns.

Every query reads the Sloth-compatible rules of ``monitoring/prometheus/slo_rules.yml``
(``tools/prometheus/slos.py``), selected by ``sloth_slo``, so this dashboard and Sloth's
published ones show the same numbers.
"""

from __future__ import annotations

from tools.config import DASHBOARDS
from tools.grafana.builders import (
    JSON,
    Grid,
    Query,
    Threshold,
    Unit,
    dashboard,
    query_variable,
    stat,
    timeseries,
)
from tools.prometheus.slos import ALERT_WINDOWS, WINDOWS
from tools.prometheus.thresholds import Thresholds, as_number

BOARD = DASHBOARDS["slo"]

SLO = 'sloth_slo=~"$sloth_slo"'
#: A burn rate of 1 spends the budget in exactly the period: above it the budget runs out early.
SUSTAINABLE = Threshold(1, bad="above")
#: Budget left: below 0 it is overspent.
OVERSPENT = Threshold(0, bad="below")


def burn_rate(window: str) -> str:
    """The burn rate over one window: its error ratio / the SLO's error budget."""
    return (
        f"slo:sli_error:ratio_rate{window}{{{SLO}}}"
        f" / on (sloth_id) group_left slo:error_budget:ratio{{{SLO}}}"
    )


def _pairs() -> str:
    """'14.4 over 1h and 5m, 6 over 6h and 30m (page); ...' from the alerts' own windows."""
    parts = []
    for (sloth_severity, _), pairs in ALERT_WINDOWS.items():
        said = ", ".join(f"{as_number(p.factor)} over {p.long} and {p.short}" for p in pairs)
        parts.append(f"{said} ({sloth_severity})")
    return "; ".join(parts)


def build(thresholds: Thresholds) -> JSON:
    del thresholds  # the SLOs come from monitoring/slos.yml, through the rules
    grid = Grid()
    grid.row("Error budgets")
    grid.add(
        stat(
            "Error budget remaining (30 days)",
            "Share of each SLO's 30-day error budget not yet spent: 100% is a clean month, 0% "
            "means the month's budget is gone, below 0 it is overspent. While it is low, ship "
            "risky changes more carefully.",
            Unit.RATIO,
            Query(f"slo:period_error_budget_remaining:ratio{{{SLO}}}", "{{sloth_slo}}"),
            threshold=OVERSPENT,
            decimals=1,
        ),
        12,
        6,
    )
    grid.add(
        stat(
            "Objective",
            "Each SLO's objective: the share of good events it promises over its period "
            "(monitoring/slos.yml).",
            Unit.RATIO,
            Query(f"slo:objective:ratio{{{SLO}}}", "{{sloth_slo}}", instant=True),
            decimals=1,
        ),
        6,
        6,
    )
    grid.add(
        stat(
            "Burn rate now (5m)",
            "How fast each budget burns over the last 5 minutes, in multiples of the pace that "
            "spends it in exactly 30 days: 1 is on budget, above 1 (red) spends it early. Alone "
            "it is noisy; the alerts pair it with a longer window.",
            Unit.COUNT,
            Query(f"slo:current_burn_rate:ratio{{{SLO}}}", "{{sloth_slo}}"),
            threshold=SUSTAINABLE,
            decimals=1,
        ),
        6,
        6,
    )

    grid.row("Over time")
    grid.add(
        timeseries(
            "Error budget remaining over the period",
            "Each SLO's budget left over the 30 days before each point. A steady slope down is "
            "a slow leak (the ticket's 3-day window sees it); a cliff is an incident (the page's "
            "1-hour window). The dashed line is 0: the budget is spent.",
            Unit.RATIO,
            [Query(f"slo:period_error_budget_remaining:ratio{{{SLO}}}", "{{sloth_slo}}")],
            threshold=OVERSPENT,
            decimals=1,
            min_value=None,
        ),
        12,
        8,
    )
    grid.add(
        timeseries(
            "Burn rate per window",
            "The burn rate over every window the alerts read, for the selected SLOs. An alert "
            f"needs a long and a short window above its factor at once: {_pairs()}. The dashed "
            "line is 1, the pace that spends the budget in exactly 30 days.",
            Unit.COUNT,
            [Query(burn_rate(window), "{{sloth_slo}} " + window) for window in WINDOWS],
            threshold=SUSTAINABLE,
            decimals=2,
        ),
        12,
        8,
    )
    grid.add(
        timeseries(
            "Good events against the objective (1h)",
            "Share of good events over the hour before each point, with each SLO's objective "
            "as a line of its own: below its objective line, an SLO spends budget faster than "
            "it earns it.",
            Unit.RATIO,
            [
                Query(f"1 - slo:sli_error:ratio_rate1h{{{SLO}}}", "{{sloth_slo}}"),
                Query(f"slo:objective:ratio{{{SLO}}}", "{{sloth_slo}} objective"),
            ],
            decimals=2,
            min_value=None,
            max_value=1,
        ),
        12,
        8,
    )
    grid.add(
        timeseries(
            "Events",
            "Events per minute behind each SLO over the 5 minutes before each point: all of "
            "them and the bad ones. No alert fires while an alert's long window holds fewer "
            "than the SLO's min_events (monitoring/slos.yml): thin traffic stays quiet.",
            Unit.PER_MINUTE,
            [
                Query(f"slo:sli_events:rate5m{{{SLO}}} * 60", "{{sloth_slo}} all"),
                Query(f"slo:sli_bad_events:rate5m{{{SLO}}} * 60", "{{sloth_slo}} bad"),
            ],
            decimals=1,
        ),
        12,
        8,
    )
    grid.add(
        stat(
            "Period",
            "Days of history each error budget counts (slo:time_period:days).",
            Unit.COUNT,
            Query(f"slo:time_period:days{{{SLO}}}", "{{sloth_slo}}", instant=True),
            decimals=0,
            graph=False,
        ),
        24,
        4,
    )

    return dashboard(
        board=BOARD,
        description="Error budgets of the NARRA_FORGE SLOs: what is left and how fast it burns.",
        tags=["slo"],
        variables=[query_variable("sloth_slo", "SLO", "sloth_slo_info")],
        grid=grid,
        time_from="now-7d",
    )
