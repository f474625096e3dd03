"""Logs: the application's JSON log lines in Loki, by level and agent, linked to their traces.

Reads the Loki datasource chosen in the ``loki`` variable (`--profile logs`: Grafana Alloy
ships the lines with the labels service, level and agent). job_id and trace_id are fields of
the line, not labels: the "Line contains" box finds a job or a trace, and the Loki
datasource's derived field turns each line's trace_id into a link to Tempo.
"""

from __future__ import annotations

from tools.config import DASHBOARDS, LOG_SELECTOR
from tools.grafana.builders import (
    JSON,
    Grid,
    LokiQuery,
    Threshold,
    Unit,
    dashboard,
    logs,
    loki_datasource_variable,
    loki_label_variable,
    textbox_variable,
    timeseries,
)
from tools.prometheus.thresholds import Thresholds, as_number

BOARD = DASHBOARDS["logs"]

#: The application's lines, narrowed by the agent and level picked above.
STREAM = f'{{{LOG_SELECTOR}, agent=~"$agent", level=~"$level"}}'
#: Grafana's interval for Loki ranges: follows the zoom like $__rate_interval does for PromQL.
WINDOW = "[$__auto]"
FAILED = f'{{{LOG_SELECTOR}, level="error"}} |= "pipeline_failed" | json | event="pipeline_failed"'


def build(thresholds: Thresholds) -> JSON:
    per_second = float(thresholds["agent_error_lines_high"]["per_second"])
    burst = thresholds["pipeline_failed_burst"]

    grid = Grid()
    grid.row("Volume")
    grid.add(
        timeseries(
            "Log lines by level",
            "Lines per interval written by the application, by level, for the selected agents "
            "and levels. A jump in error or warning lines with steady info lines is a problem "
            "worth opening in the panel below; a drop of every level to zero means the app "
            "stopped logging or Alloy stopped shipping (check http://localhost:12345).",
            Unit.COUNT,
            [LokiQuery(f"sum by (level) (count_over_time({STREAM}{WINDOW}))", "{{level}}")],
            stack=True,
            bars=True,
            decimals=0,
        ),
        12,
        8,
    )
    grid.add(
        timeseries(
            "Error lines by agent",
            "level=error lines per second of each agent. The dashed line is AgentErrorLinesHigh's "
            f"limit ({as_number(per_second)} per second over 5 minutes, for "
            f"{thresholds['agent_error_lines_high']['for']}). It also counts errors the agent "
            "logged and handled, which the agent error metrics never see.",
            Unit.PER_SECOND,
            [
                LokiQuery(
                    f'sum by (agent) (rate({{{LOG_SELECTOR}, level="error", agent=~"$agent", '
                    f'agent!=""}}{WINDOW}))',
                    "{{agent}}",
                )
            ],
            threshold=Threshold(per_second),
            no_value="no error lines",
        ),
        12,
        8,
    )
    grid.add(
        timeseries(
            "pipeline_failed events",
            "pipeline_failed lines per interval, by the error type the line names (every agent: "
            f"the line is written by the pipeline). PipelineFailedBurst warns at "
            f"{as_number(burst['count'])} within {burst['window']}; the lines below carry the "
            "job_id of each failure.",
            Unit.COUNT,
            [
                LokiQuery(
                    f"sum by (error_type) (count_over_time({FAILED} {WINDOW}))", "{{error_type}}"
                )
            ],
            bars=True,
            decimals=0,
            no_value="no failed pipelines",
        ),
        24,
        7,
    )

    grid.row("Lines")
    grid.add(
        logs(
            "Log lines (JSON)",
            "The lines as the application wrote them, newest first, for the selected agents and "
            'levels, containing the text in "Line contains" (a job_id or trace_id finds every '
            "line of that job or trace). Expand a line for its fields; its trace_id links to "
            "the trace in Tempo (--profile tracing).",
            LokiQuery(f'{STREAM} |= "$search"', max_lines=1000),
        ),
        24,
        14,
    )

    return dashboard(
        board=BOARD,
        description=(
            "The application's JSON log lines in Loki (docker compose --profile logs), linked to "
            "their traces."
        ),
        tags=["logs"],
        datasources=[loki_datasource_variable()],
        variables=[
            loki_label_variable("agent", "Agent", f"{{{LOG_SELECTOR}}}"),
            loki_label_variable("level", "Level", f"{{{LOG_SELECTOR}}}"),
            textbox_variable(
                "search",
                "Line contains",
                "Text the line must contain, e.g. a job_id or trace_id; empty for every line.",
            ),
        ],
        grid=grid,
        time_from="now-1h",
    )
