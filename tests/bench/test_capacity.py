"""The capacity benchmark reads Prometheus's own numbers about scraping live app instances."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.conftest import require_binaries
from tools.bench import capacity


@pytest.mark.timeout(900)  # a backfill, two simulators and a Prometheus: slow on a busy host
def test_prometheus_reports_the_series_of_every_instance_and_times_every_rule_group(
    tmp_path: Path,
):
    require_binaries()
    seen = capacity.observe(2, tmp_path, days=0.02, seconds=30)
    # Two instances of the workload (~800 series each once every agent ran: sped up 60x, most
    # have within 30 s even on a busy host), the recording rules' series and Prometheus's own.
    assert seen.head_series[-1] > 2 * 400
    assert seen.head_series[-1] >= seen.head_series[0]
    assert seen.memory[-1] > 20 * 2**20
    busy = seen.busy()
    # Every group of alerts.yml and slo_rules.yml was evaluated and timed at least once.
    assert len(busy) > 8
    assert all(0 < share < 1 for share in busy.values())


def test_the_rows_say_what_one_more_instance_costs():
    one = capacity.Observed(1, memory=[100 * 2**20], head_series=[1_000.0])
    three = capacity.Observed(3, memory=[140 * 2**20], head_series=[2_700.0])
    three.intervals = {"alerts.yml;narra_forge_api": 15.0, "slo_rules.yml;sloth-slo-sli": 60.0}
    three.evaluations = {
        "alerts.yml;narra_forge_api": {1.0: 0.003, 2.0: 0.006, 3.0: 0.009},
        "slo_rules.yml;sloth-slo-sli": {1.0: 0.06},
    }
    rows = capacity.rows([one, three])
    more = next(r for r in rows if r.benchmark == "capacity: one more app instance")
    assert more.measured == "850 head series, 20 MiB resident"
    total = rows[-2]
    assert total.case == "all 2 groups"
    # 6 ms every 15 s is 0.04%, 60 ms every minute 0.1%: busy 0.14% of the time.
    assert total.measured == "busy 0.140% of the time"
    assert total.met is True
    assert re.search(r"narra_forge_api \(every 15 s\)", " ".join(r.case for r in rows))
