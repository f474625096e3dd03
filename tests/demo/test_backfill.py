"""How the backfill orders the recording rules: a rule is computed after the rules it reads."""

from __future__ import annotations

from tools.demo.backfill import DEFAULT_RULES, load_records, record_levels


def test_rules_that_read_rules_come_a_level_after_them():
    levels = record_levels(load_records(list(DEFAULT_RULES)))
    level_of = {name: index for index, level in enumerate(levels) for name, _, _ in level}
    # alerts.yml's rules read raw series only; the SLO windows read the 5m SLO rates; the burn
    # rates read the windows; the budget left reads the period's burn rate.
    assert level_of[":narra_forge_pipeline_failures:ratio_rate5m"] == 0
    assert level_of["slo:sli_events:rate5m"] == 0
    assert level_of["slo:sli_error:ratio_rate30d"] == 1
    assert level_of["slo:period_burn_rate:ratio"] == 2
    assert level_of["slo:period_error_budget_remaining:ratio"] == 3
    assert len(levels) == 4


def test_each_record_keeps_the_labels_its_rule_sets():
    records = load_records(list(DEFAULT_RULES))
    slo = [labels for name, _, labels in records if name == "slo:sli_error:ratio_rate1h"]
    assert {labels["sloth_slo"] for labels in slo} == {
        "pipeline-success",
        "api-success",
        "pipeline-latency",
        "quality",
    }
    assert all(labels["sloth_window"] == "1h" for labels in slo)
