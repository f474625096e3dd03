"""The tracing benchmark measures what it says: the traced step makes spans, exemplars and log
ids, the untraced one none of them."""

from __future__ import annotations

import io
import json

from prometheus_client.openmetrics.exposition import generate_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from tools.bench import tracing
from tools.bench.common import Timing

PAIRS = [("a01_brief_interpreter", "gpt-4o")]


def test_only_the_traced_step_makes_spans_exemplars_and_log_ids():
    out = io.StringIO()
    built = tracing.cases(out, PAIRS)
    built.steps[tracing.UNTRACED]()
    untraced_line = json.loads(out.getvalue().splitlines()[-1])
    built.provider.force_flush()
    assert built.exported == []
    built.steps[tracing.TRACED]()
    traced_line = json.loads(out.getvalue().splitlines()[-1])
    assert built.provider.force_flush()
    assert len(built.exported) == 2  # invoke_agent and chat
    assert "trace_id" not in untraced_line
    assert len(traced_line["trace_id"]) == 32
    text = generate_latest(built.registry).decode()
    exemplars = [
        s.exemplar
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.exemplar is not None
    ]
    assert {e.labels["trace_id"] for e in exemplars} == {traced_line["trace_id"]}
    assert len(exemplars) == 2  # agent duration, API call duration
    built.provider.shutdown()


def test_added_time_is_the_median_of_per_round_differences():
    timings = {
        tracing.UNTRACED: Timing(20.0, 1.0, (20.0, 22.0, 18.0)),
        tracing.TRACED: Timing(40.0, 1.0, (39.0, 44.0, 37.0)),
    }
    row = tracing.added(timings)
    assert row.median_us == 19.0  # differences 19, 22, 19
    assert row.met is True
    slow = {**timings, tracing.TRACED: Timing(60.0, 1.0, (60.0, 62.0, 58.0))}
    assert tracing.added(slow).met is False


def test_a_tiny_measurement_gives_the_three_rows():
    rows = tracing.measure(io.StringIO(), PAIRS, number=2, rounds=2)
    assert [row.case for row in rows] == [
        tracing.UNTRACED,
        tracing.TRACED,
        tracing.BARE,
        "added by tracing",
    ]
    assert rows[1].ratio is not None
