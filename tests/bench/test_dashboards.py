"""The dashboard benchmark sends what Grafana sends, and reuses the history it built."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tools.bench import dashboards as bench
from tools.bench.dashboards import (
    BackfillParams,
    align,
    dashboard_requests,
    grafana_interval,
    query_step,
    rate_interval,
    round_interval,
)
from tools.demo import backfill
from tools.prometheus.recording import recording_rules, rollups
from tools.prometheus.thresholds import load_thresholds

END = 1_767_225_600.0  # 2026-01-01T00:00:00Z
DAY = 86_400.0


@pytest.mark.parametrize(
    ("raw_seconds", "rounded"),
    [
        (0.0149, 0.01),  # under 15 ms: 10 ms
        (3.6, 5.0),  # 1 h over 1,000 points
        (86.4, 60.0),  # 24 h over 1,000 points: 1 m
        (604.8, 600.0),  # 7 d: 10 m
        (2592.0, 1800.0),  # 30 d: 30 m
        (235.6, 300.0),  # 30 d over 11,000 points: 5 m
        (9 * DAY, 7 * DAY),  # 3 weeks and more are a week until 6 weeks
    ],
)
def test_round_interval_matches_grafanas_table(raw_seconds, rounded):
    assert round_interval(raw_seconds) == rounded


def test_interval_step_and_rate_interval_follow_grafanas_rules():
    # 24 h on a 1,000-pixel panel with a 15 s scrape: 1m step, 1m15s rate window.
    assert grafana_interval(DAY, 15, 1000) == 60
    assert rate_interval(60, 15) == 75
    # 1 h: range / points is 5 s, the scrape interval is the floor; the rate window 4 scrapes.
    assert grafana_interval(3600, 15, 1000) == 15
    assert rate_interval(15, 15) == 60
    # 30 d of two-minute samples: 30 m step, 32 m rate window.
    assert grafana_interval(30 * DAY, 120, 1000) == 1800
    assert rate_interval(1800, 120) == 1920
    # Never more than 11,000 points: a 1 s interval over 30 days becomes a 5 m step.
    assert query_step(1, 30 * DAY) == 300
    assert align(END + 59, 60) == END


def panel(title: str, expr: str, *, interval: str | None = None, instant: bool = False) -> dict:
    target = {"expr": expr, "refId": "A", **({"instant": True} if instant else {})}
    return {"title": title, "targets": [target], **({"interval": interval} if interval else {})}


def small_dashboard() -> dict:
    return {
        "uid": "bench-test",
        "templating": {"list": []},
        "panels": [
            panel("Rate", "sum(rate(narra_forge_api_calls_total[$__rate_interval]))"),
            panel("Daily", "sum(increase(narra_forge_cost_usd_total[$__interval]))", interval="1d"),
            panel(
                "Range total", "sum(increase(narra_forge_cost_usd_total[$__range]))", instant=True
            ),
            panel("Rule", ":narra_forge_cost_usd:increase1h * 24"),
        ],
    }


def test_requests_carry_grafanas_step_window_and_aligned_range():
    requests = {
        r.panel: r
        for r in dashboard_requests(
            small_dashboard(), range_seconds=7 * DAY, end=END + 100, scrape=15, raw=False
        )
    }
    rate = requests["Rate"]
    assert (rate.step, rate.instant) == (600, False)
    assert rate.expr == "sum(rate(narra_forge_api_calls_total[10m15s]))"
    assert rate.start == align(END + 100 - 7 * DAY, 600)
    assert rate.end == END  # rounded down to the step
    assert rate.form() == {
        "query": rate.expr,
        "start": f"{rate.start:.3f}",
        "end": f"{END:.3f}",
        "step": "600",
    }
    daily = requests["Daily"]  # the panel's min interval raises its step
    assert daily.step == DAY
    assert daily.expr == "sum(increase(narra_forge_cost_usd_total[1d]))"
    total = requests["Range total"]
    assert total.instant
    assert total.expr == "sum(increase(narra_forge_cost_usd_total[7d]))"
    assert total.form() == {"query": total.expr, "time": f"{END + 100:.3f}"}
    assert requests["Rule"].expr == ":narra_forge_cost_usd:increase1h * 24"


def test_the_raw_variant_spells_out_every_recording_rule():
    records = {rule.record for rule in (*recording_rules(load_thresholds()), *rollups())}
    boards = bench._load_dashboards()
    assert len(boards) == 6
    rule_reads = 0
    for board in boards.values():
        shipped = dashboard_requests(board, range_seconds=30 * DAY, end=END, scrape=120, raw=False)
        raw = dashboard_requests(board, range_seconds=30 * DAY, end=END, scrape=120, raw=True)
        assert [r.panel for r in shipped] == [r.panel for r in raw]
        for request in raw:
            names = set(re.findall(r"[A-Za-z_:][\w:]*", request.expr))
            assert not names & records, request
            assert request.step >= 120
            if not request.instant:
                assert (request.end - request.start) / request.step <= 11_000
        rule_reads += sum(bool(set(re.findall(r"[\w:]+", r.expr)) & records) for r in shipped)
    assert rule_reads > 20  # the shipped dashboards do read the recording rules


def test_the_cache_key_names_every_parameter(tmp_path: Path):
    rules = tmp_path / "alerts.yml"
    rules.write_text(
        "groups:\n- name: r\n  rules:\n  - record: a:b:c\n    expr: sum(x)\n"
        "  - alert: A\n    expr: a:b:c > 1\n"
    )
    digest = bench.rules_digest(rules)
    key = BackfillParams().key(digest)
    for part in ("30d", "step15s", "healthy", "seed1", "60ph", "x3", "end1767225600", "blocks24h"):
        assert part in key
        assert part in BackfillParams().raw_key()
    assert "uncompacted" in key
    assert key.endswith(f"rules{digest}-every60s")  # the rules' step in the history, when not 15 s
    assert BackfillParams(rule_step=15).key(digest).endswith(digest)
    assert BackfillParams(rule_step=300).raw_key() == BackfillParams().raw_key()
    assert BackfillParams(step=120).rules_every == 120  # never finer than the samples
    assert BackfillParams(seed=2).key(digest) != key
    assert BackfillParams(compact=True).key(digest) != key
    assert BackfillParams(instances=1).key(digest) != key
    assert BackfillParams(seed=2).raw_key() != BackfillParams().raw_key()
    rules.write_text(rules.read_text().replace("a:b:c > 1", "a:b:c > 2"))
    assert bench.rules_digest(rules) == digest  # an alert's edit keeps the history
    rules.write_text(rules.read_text().replace("sum(x)", "sum(y)"))
    assert bench.rules_digest(rules) != digest  # a recording rule's edit does not


def test_a_tiny_history_is_built_once_then_served_and_measured(tmp_path: Path, monkeypatch):
    params = BackfillParams(days=0.25, step=60, instances=2, block_hours=2)
    history = bench.ensure_history(params, tmp_path, log=lambda _: None)
    assert not history.cached
    assert history.path.parent == tmp_path
    assert not list(tmp_path.glob("*.partial"))
    # The raw samples are cached on their own: a change of the rules reuses them.
    assert (tmp_path / params.raw_key() / bench.MARKER).is_file()
    held = bench.storage(history.path / "data")
    assert held.samples > 2 * 6 * 60 * 500  # two instances, 6 h a minute apart, 500+ series
    assert 0.1 < held.bytes_per_sample < 4
    marker = json.loads((history.path / bench.MARKER).read_text())
    assert marker["params"]["days"] == 0.25

    def no_backfill(argv):
        raise AssertionError(f"backfilled again: {argv}")

    monkeypatch.setattr(backfill, "main", no_backfill)
    rows = bench.run(
        params, rounds=1, ranges=(("1 h", 3600.0), ("6 h", 6 * 3600.0)), cache=tmp_path
    )
    assert "reused from the cache" in bench.NOTES
    # 6 dashboards and the rule-reading panels of each (5 read rules), their total and the
    # rule-reading panels of all, rules and raw, two ranges.
    assert len(rows) == 2 * (6 + 5 + 2) * 2
    only = [r for r in rows if "panel queries that read recording rules" in r.benchmark]
    assert len(only) == 4
    assert all("on rules" not in r.benchmark or r.goal is None for r in rows)
    assert re.search(r"only the \d+ panel queries", only[0].benchmark)
    assert only[1].ratio is not None
    overview = next(r for r in rows if r.benchmark == "6 h: pipeline_overview")
    queries, answered = map(int, re.findall(r"\d+", overview.measured or ""))
    # 13 panel queries, the exemplars-only target, 5 of the By instance row.
    assert queries == 19
    assert "MiB resident" in bench.NOTES
    assert "2 app instance(s)" in bench.NOTES
    assert answered >= 10  # six hours of healthy traffic fill most panels
    raw = next(
        r for r in rows if r.benchmark == "6 h: all five dashboards" and r.case == bench.RAW_CASE
    )
    assert raw.ratio is not None
    assert raw.ratio > 0
    assert all(r.goal is None for r in rows)  # the goals are set at 30 days
    # Checked before any backfill: this history does not exist and is never built.
    with pytest.raises(ValueError, match=r"range 1 d is longer than the 0\.1 days"):
        bench.run(BackfillParams(days=0.1), rounds=1, ranges=(("1 d", DAY),), cache=tmp_path)


def test_a_query_prometheus_refuses_names_its_panel(tmp_path: Path):
    data = tmp_path / "empty"
    data.mkdir()
    server = bench.Server(data, tmp_path / "logs")
    try:
        broken = bench.Request("Broken panel", "sum(rate(x[5m])", False, END - 3600, END, 60)
        with pytest.raises(RuntimeError, match=r'panel "Broken panel": .*parse error'):
            server.send(broken)
        empty = bench.Request("Empty", "up", True, END, END, 60)
        assert server.send(empty) == []
    finally:
        server.stop()
