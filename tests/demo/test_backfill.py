"""How the backfill orders the recording rules: a rule is computed after the rules it reads."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tools._repo import BinaryNotFoundError, find_command
from tools.demo.backfill import (
    DEFAULT_RULES,
    Importer,
    _windows,
    instance_names,
    load_records,
    parse_args,
    record_levels,
)


def test_rules_that_read_rules_come_a_level_after_them():
    levels = record_levels(load_records(list(DEFAULT_RULES)))
    level_of = {r.name: index for index, level in enumerate(levels) for r in level}
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
    slo = [r.labels for r in records if r.name == "slo:sli_error:ratio_rate1h"]
    assert {labels["sloth_slo"] for labels in slo} == {
        "pipeline-success",
        "api-success",
        "pipeline-latency",
        "quality",
    }
    assert all(labels["sloth_window"] == "1h" for labels in slo)


def test_each_group_is_evaluated_at_its_own_interval():
    records = load_records(list(DEFAULT_RULES))
    interval = {record.name: record.interval for record in records}
    assert interval[":narra_forge_pipeline_failures:ratio_rate5m"] == 15  # global default
    assert interval["slo:sli_error:ratio_rate30d"] == 60  # the SLO groups say 1m


def test_several_instances_are_the_same_host_on_the_next_ports():
    assert instance_names("127.0.0.1:8000", 3) == [
        "127.0.0.1:8000",
        "127.0.0.1:8001",
        "127.0.0.1:8002",
    ]
    assert instance_names("app", 1) == ["app"]
    with pytest.raises(ValueError, match="host:port"):
        instance_names("app", 2)


def test_rule_windows_are_at_most_a_day_and_end_on_block_boundaries():
    start, end = 1_767_225_600 - 2 * 86400 - 3600, 1_767_225_600  # from 23:00, two days later
    for block in (7200, 86400):
        windows = list(_windows(start, end, block))
        assert windows[0][0] == start
        assert windows[-1][1] == end
        assert all(a[1] == b[0] for a, b in itertools.pairwise(windows))
        assert all(0 < high - low <= 86400 for low, high in windows)
        assert all(high % block == 0 for _, high in windows)  # each fills whole blocks
    assert next(iter(_windows(start, end, 86400))) == (start, start + 3600)  # to midnight


def test_a_bad_chunk_stops_the_backfill_with_promtools_reason_and_the_file(tmp_path: Path):
    try:
        promtool = find_command("promtool")
    except BinaryNotFoundError:
        pytest.skip("promtool is not installed (make setup)")
    bad = tmp_path / "block-1.om"
    bad.write_text('up{job="x"} not-a-number 1767225600\n# EOF\n')
    importer = Importer(promtool, tmp_path / "data", jobs=1)
    importer.submit(bad)
    with pytest.raises(RuntimeError, match=r"create-blocks-from openmetrics .*block-1\.om failed"):
        importer.wait()
    assert bad.exists()  # kept, to be looked at


def test_bad_arguments_are_refused_by_name():
    with pytest.raises(SystemExit):
        main_with_error(["--instances", "0"])
    with pytest.raises(ValueError, match="whole two-hour blocks"):
        Importer(["promtool"], Path("."), jobs=1, block_seconds=3600 * 5)


def test_the_rules_step_in_the_history_is_never_finer_than_the_samples():
    assert parse_args(["--step", "15"]).rule_step == 15
    assert parse_args(["--step", "15", "--rule-step", "60"]).rule_step == 60
    assert parse_args(["--step", "120", "--rule-step", "60"]).rule_step == 120


def main_with_error(argv: list[str]) -> None:
    parse_args(argv)
