"""The promtool unit tests cover every rule group and can fail. That every file passes is
asserted by tests/prometheus/test_lint.py, which runs `make lint-rules` whole."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tools._repo import REPO
from tools.prometheus.lint import TESTS_DIR, Promtool
from tools.prometheus.thresholds import DEFAULT_PATH

TEST_FILES = sorted(TESTS_DIR.glob("*.test.yml"))


def test_there_is_a_test_file_per_rule_group():
    groups = [
        g["name"] for g in yaml.safe_load((TESTS_DIR.parent / "alerts.yml").read_text())["groups"]
    ]
    expected = {f"{name.removeprefix('narra_forge_')}.test.yml" for name in groups}
    # The SLO alert groups (narra_forge_slo_<slo>) of slo_rules.yml, and the 30-day budget.
    slo_groups = yaml.safe_load((TESTS_DIR.parent / "slo_rules.yml").read_text())["groups"]
    expected |= {
        f"{g['name'].removeprefix('narra_forge_')}.test.yml"
        for g in slo_groups
        if any("alert" in rule for rule in g["rules"])
    }
    expected.add("slo_budget.test.yml")
    assert {path.name for path in TEST_FILES} == expected


# Every file passing `promtool test rules` is asserted once, by the whole `make lint-rules` in
# tests/prometheus/test_lint.py (its step 4 runs each of these files and names a failing one with
# promtool's output): the SLO files take 10-20 s of CPU each, too much to run twice.


def render_into(folder: Path, **changes: dict[str, object]) -> None:
    """alerts.yml rendered from changed thresholds, with the test files beside it."""
    data = yaml.safe_load(DEFAULT_PATH.read_text())
    for section, values in changes.items():
        data[section].update(values)
    thresholds = folder / "thresholds.yml"
    thresholds.write_text(yaml.safe_dump(data))
    shutil.copytree(TESTS_DIR, folder / "tests")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.prometheus.render",
            "--thresholds",
            str(thresholds),
            "--out",
            str(folder / "alerts.yml"),
        ],
        cwd=REPO,
        check=True,
        capture_output=True,
    )


def test_a_threshold_moved_away_from_the_guides_makes_the_unit_tests_fail(tmp_path):
    render_into(tmp_path, pipeline_error_rate_high={"ratio": 0.25})
    test_file = tmp_path / "tests" / "pipeline.test.yml"
    ok, output = Promtool.find().run(["test", "rules", str(test_file)], [test_file])
    assert not ok
    # the 20% story no longer pages, and the annotation now says 25%
    assert "alertname: PipelineErrorRateHigh" in output
    assert "20% of pipelines fail for 15 minutes" in output


def test_a_for_shortened_below_a_spike_makes_the_spike_test_page(tmp_path):
    render_into(tmp_path, api_error_rate_high={"for": "2m"})
    test_file = tmp_path / "tests" / "api.test.yml"
    ok, output = Promtool.find().run(["test", "rules", str(test_file)], [test_file])
    assert not ok
    assert "30 errors in one minute (a spike shorter than `for`)" in output
