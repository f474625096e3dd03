"""The rule-evaluation benchmark's reading of Prometheus's own metrics and its busy share."""

from __future__ import annotations

from tools.bench import rules

EXPOSITION = """\
# HELP prometheus_rule_group_last_duration_seconds The duration of the last rule group evaluation.
# TYPE prometheus_rule_group_last_duration_seconds gauge
prometheus_rule_group_last_duration_seconds{rule_group="/r/alerts.yml;narra_forge_recording"} 0.003
prometheus_rule_group_last_duration_seconds{rule_group="/r/slo_rules.yml;narra_forge_slo_sli"} 0.06
prometheus_rule_group_interval_seconds{rule_group="/r/alerts.yml;narra_forge_recording"} 15
prometheus_rule_group_interval_seconds{rule_group="/r/slo_rules.yml;narra_forge_slo_sli"} 60
"""


def test_each_groups_value_is_read_by_its_file_and_name():
    assert rules._samples(EXPOSITION, "prometheus_rule_group_last_duration_seconds") == {
        "/r/alerts.yml;narra_forge_recording": 0.003,
        "/r/slo_rules.yml;narra_forge_slo_sli": 0.06,
    }


def test_the_busy_share_adds_each_groups_time_over_its_own_interval():
    groups = {
        "/r/alerts.yml;narra_forge_recording": (15.0, [0.002, 0.003, 0.004]),
        "/r/slo_rules.yml;narra_forge_slo_sli": (60.0, [0.06, 0.05, 0.07]),
    }
    rows = rules._rows("after", groups)
    total = rows[-1]
    # 3 ms every 15 s is 0.02%; 60 ms every minute is 0.1%: busy 0.12% of the time.
    assert total.measured == "busy 0.120% of the time"
    assert total.met is True
    assert rows[0].case == "after: narra_forge_recording (every 15 s)"
    assert rows[0].runs == 3
