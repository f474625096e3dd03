"""The thresholds file: the guide's defaults, and clear errors for a malformed file."""

import copy

import pytest
import yaml

from tools.prometheus.thresholds import (
    DEFAULT_PATH,
    ThresholdsError,
    duration_seconds,
    load_thresholds,
    parse_thresholds,
)


def test_defaults_are_the_monitoring_guides_numbers():
    t = load_thresholds()
    assert t["pipeline_duration_high"] == {"seconds": 1800, "for": "5m"}
    assert t["pipeline_error_rate_high"] == {"ratio": 0.10, "for": "5m"}
    assert t["cost_budget_warning"] == {"usd_per_hour": 10, "for": "5m"}
    assert t["quality_score_low"] == {"floor": 0.85, "for": "10m"}
    assert t["api_error_rate_high"] == {"ratio": 0.05, "for": "5m"}


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("pipeline_error_rate_high", "ratio", 10, "pipeline_error_rate_high.ratio: a ratio"),
        ("quality_score_low", "for", "ten minutes", "quality_score_low.for: expected a Prometheus"),
        (
            "cost_budget_warning",
            "usd_per_hour",
            "10$",
            "cost_budget_warning.usd_per_hour: expected",
        ),
        ("cost_budget_warning", "usd_per_hour", -1, "must be greater than 0"),
        ("api_error_rate_high", "typo", 1, "api_error_rate_high: unknown keys ['typo']"),
    ],
)
def test_a_bad_value_is_named(section, key, value, message):
    data = copy.deepcopy(yaml.safe_load(DEFAULT_PATH.read_text()))
    data[section][key] = value
    with pytest.raises(ThresholdsError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_thresholds(data, "thresholds.yml")


def test_a_missing_section_is_named():
    data = yaml.safe_load(DEFAULT_PATH.read_text())
    del data["target_down"]
    with pytest.raises(ThresholdsError, match="section 'target_down' is missing"):
        parse_thresholds(data, "thresholds.yml")


def test_durations_convert_to_seconds():
    assert duration_seconds("1h30m") == 5400
    assert duration_seconds("15s") == 15
    with pytest.raises(ValueError, match="not a Prometheus duration"):
        duration_seconds("5 minutes")
