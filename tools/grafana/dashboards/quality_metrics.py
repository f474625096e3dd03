"""Quality Metrics: are the narratives good, by the validators' scores."""

from __future__ import annotations

from narra_forge.monitoring.catalogue import BY_NAME
from tools.config import DASHBOARDS
from tools.grafana.builders import (
    FROM_ROLLUPS,
    JSON,
    Grid,
    Query,
    Threshold,
    Unit,
    bargauge,
    dashboard,
    gauge,
    heatmap,
    over_range,
    query_variable,
    stat,
    timeseries,
)
from tools.prometheus.recording import (
    SCORE_BUCKET_ROLLUP,
    SCORE_COUNT_ROLLUP,
    SCORE_SUM_ROLLUP,
    bucket_matcher,
)
from tools.prometheus.thresholds import Thresholds

BOARD = DASHBOARDS["quality"]

SCORE = "narra_forge_quality_score"
AVERAGE = "metric_type:narra_forge_quality_score:avg1h"
#: Score buckets per metric type over 5 minutes, production types summed away.
BUCKETS = 'metric_type_le:narra_forge_quality_score_bucket:increase5m{metric_type=~"$metric_type"}'
#: Said on the panels that read BUCKETS: the production type filter cannot apply to them.
EVERY_TYPE = (
    "Every production type: the production type filter does not apply, because the recording "
    "rule that keeps this panel fast over 30 days sums production types away."
)
FILTER = 'production_type=~"$production_type", metric_type=~"$metric_type"'
COHERENCE = 'metric_type="coherence", production_type=~"$production_type"'
#: Scores come one per narrative and dimension: too sparse for 1-minute windows.
SPARSE_STEP = "5m"


def floor_bucket(floor: float) -> float:
    """The score bucket a "below the floor" count can use: the floor, or the boundary under it."""
    candidates = [bound for bound in BY_NAME[SCORE].buckets if bound <= floor]
    if not candidates:
        raise ValueError(
            f"quality floor {floor:g} is below the lowest bucket of {SCORE} "
            f"({BY_NAME[SCORE].buckets[0]:g}); no panel can count scores under it"
        )
    return max(candidates)


def build(thresholds: Thresholds) -> JSON:
    floor = float(thresholds["quality_score_low"]["floor"])
    at_floor = Threshold(floor, bad="below")
    bucket = floor_bucket(floor)
    bucket_note = "" if bucket == floor else f" (the bucket boundary nearest under {floor:g})"
    at_or_under = f'le=~"{bucket_matcher(BY_NAME[SCORE], bucket)}", {FILTER}'

    grid = Grid()
    grid.row("Scores")
    grid.add(
        gauge(
            "Average coherence score (last hour)",
            "Average coherence score over the last hour, every production type: the number "
            f"QualityScoreLow warns on below {floor:g} (red zone). When it drops, read the "
            "coherence validator's (a07) findings in the logs of recent jobs and check whether a "
            "model or prompt changed.",
            Unit.SCORE,
            Query(f'{AVERAGE}{{metric_type="coherence"}}'),
            threshold=at_floor,
            min_value=0,
            max_value=1,
            decimals=2,
        ),
        6,
        7,
    )
    grid.add(
        stat(
            "Average coherence score (time range)",
            "Average coherence score over the whole time range picked above, for the selected "
            "production types." + FROM_ROLLUPS,
            Unit.SCORE,
            Query(
                f"sum({over_range(SCORE_SUM_ROLLUP, COHERENCE)})"
                f" / sum({over_range(SCORE_COUNT_ROLLUP, COHERENCE)})",
                instant=True,
            ),
            threshold=at_floor,
            decimals=3,
        ),
        6,
        7,
    )
    grid.add(
        stat(
            f"Scores at or under {bucket:g} (time range)",
            f"Share of scores at or under {bucket:g}{bucket_note} over the time range, for the "
            "selected production types and metric types. A rising share with a steady average "
            "means a tail of bad narratives: look at those jobs rather than at the model."
            + FROM_ROLLUPS,
            Unit.RATIO,
            Query(
                f"sum({over_range(SCORE_BUCKET_ROLLUP, at_or_under)})"
                f" / sum({over_range(SCORE_COUNT_ROLLUP, FILTER)})",
                instant=True,
            ),
            decimals=1,
        ),
        6,
        7,
    )
    grid.add(
        bargauge(
            "Score distribution (time range)",
            "How many scores fell in each bucket over the time range (selected production types "
            "and metric types). Most narratives should land in the top buckets; a second peak "
            "lower down is a class of briefs the pipeline handles badly." + FROM_ROLLUPS,
            Unit.COUNT,
            Query(
                f"sum by (le) ({over_range(SCORE_BUCKET_ROLLUP, FILTER)})",
                "{{le}}",
                instant=True,
                format="heatmap",
            ),
            decimals=0,
        ),
        6,
        7,
    )

    grid.row("Trends")
    grid.add(
        timeseries(
            "Average score per metric type",
            "Average score per dimension (coherence, logic, psychology, temporal) over the hour "
            "before each point, every production type. The dashed line is the QualityScoreLow "
            f"floor ({floor:g}), which the alert applies to coherence.",
            Unit.SCORE,
            [Query(AVERAGE, "{{metric_type}}")],
            threshold=at_floor,
            decimals=2,
            max_value=1,
        ),
        12,
        8,
    )
    grid.add(
        timeseries(
            "Average coherence by production type",
            "Average coherence score per selected production type in each step (at least 5 "
            "minutes, since scores arrive one per narrative). A type that falls behind the "
            f"others under the floor ({floor:g}) needs its own prompts looked at.",
            Unit.SCORE,
            [
                Query(
                    f"sum by (production_type) (rate({SCORE}_sum"
                    '{metric_type="coherence", production_type=~"$production_type"}'
                    "[$__rate_interval]))"
                    f" / sum by (production_type) (rate({SCORE}_count"
                    '{metric_type="coherence", production_type=~"$production_type"}'
                    "[$__rate_interval]))",
                    "{{production_type}}",
                )
            ],
            threshold=at_floor,
            decimals=2,
            max_value=1,
            interval=SPARSE_STEP,
        ),
        12,
        8,
    )
    grid.add(
        heatmap(
            "Quality score distribution over time",
            "Scores of the selected metric types as a heatmap: each cell counts the scores in "
            "one bucket during the 5 minutes before that point. Cells sliding down over time are "
            f"a gradual quality loss that an average hides for a while. {EVERY_TYPE}",
            Query(f"sum by (le) ({BUCKETS})", "{{le}}", format="heatmap"),
            y_unit=Unit.SCORE,
            interval=SPARSE_STEP,
        ),
        12,
        8,
    )
    grid.add(
        timeseries(
            "Median and 10th percentile score",
            "Median and 10th percentile of the scores of the selected metric types over the 5 "
            "minutes before each point, from the score histogram. The 10th percentile is the "
            f"worst tenth of narratives: it falls first when some briefs go wrong. {EVERY_TYPE}",
            Unit.SCORE,
            [
                Query(f"histogram_quantile({q}, sum by (le) ({BUCKETS}))", label)
                for q, label in ((0.5, "median"), (0.1, "10th percentile"))
            ],
            threshold=at_floor,
            decimals=2,
            max_value=1,
            interval=SPARSE_STEP,
        ),
        12,
        8,
    )

    return dashboard(
        board=BOARD,
        description="Are the narratives good, by the validators' scores.",
        tags=["quality"],
        variables=[
            query_variable("production_type", "Production type", "narra_forge_quality_score_count"),
            query_variable("metric_type", "Metric type", "narra_forge_quality_score_count"),
        ],
        grid=grid,
        time_from="now-24h",
    )
