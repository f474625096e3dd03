"""The healthy stack: everything is scraped, recorded, queryable, and only Watchdog fires."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from narra_forge.monitoring.catalogue import METRICS
from tests.cpu_hog import cpu_hog
from tests.e2e.conftest import RunningStack, wait_for
from tests.e2e.guide_queries import QUERIES_DOC, guide_path, normalised, promql_queries
from tools.demo.net import http_get
from tools.grafana.queries import panel_queries
from tools.prometheus.recording import recording_rules, rollups
from tools.prometheus.thresholds import load_thresholds

#: The dashboards on Prometheus (the Logs dashboard reads Loki, which the native stack lacks).
DASHBOARDS = [
    path
    for path in sorted(Path("monitoring/grafana/dashboards").glob("*.json"))
    if panel_queries(path)
]


def has_finite_value(result: list[dict]) -> bool:
    return any(math.isfinite(float(series["value"][1])) for series in result)


def test_every_target_is_up(healthy: RunningStack):
    def all_up():
        result = healthy.prometheus.query("up")
        jobs = {s["metric"]["job"]: s["value"][1] for s in result}
        return jobs if jobs and set(jobs.values()) == {"1"} and len(jobs) == 3 else None

    jobs = wait_for("every target up", all_up, timeout=30)
    assert set(jobs) == {"narra_forge", "prometheus", "alertmanager"}


#: Series that exist only once something is wrong: a healthy platform never has them. The
#: unpriced_model scenario's test (test_scenarios.py) sees them in Prometheus.
ONLY_WHEN_SOMETHING_IS_WRONG = frozenset({"narra_forge_instrumentation_errors_total"})


def test_every_catalogue_metric_is_in_prometheus(healthy: RunningStack):
    def missing():
        return [
            series
            for metric in METRICS
            for series in metric.series_names
            if series not in ONLY_WHEN_SOMETHING_IS_WRONG
            and not healthy.prometheus.query(f'{series}{{job="narra_forge"}}')
        ]

    wait_for("every catalogue series", lambda: not missing() or None, timeout=60)


def test_every_recording_rule_returns_a_series(healthy: RunningStack, test_alerts: Path):
    records = [rule.record for rule in (*recording_rules(load_thresholds()), *rollups())]
    # The test rule file has the same recording rules as the shipped one (thresholds differ,
    # and the rollups run every 5 s instead of 5 minutes).
    assert all(record in test_alerts.read_text() for record in records)

    def empty():
        return [r for r in records if not has_finite_value(healthy.prometheus.query(r))]

    wait_for("a finite value from every recording rule", lambda: not empty() or None)


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=lambda p: p.stem)
def test_every_dashboard_panel_query_runs_and_returns_data(healthy: RunningStack, dashboard: Path):
    queries = panel_queries(dashboard, rate_interval="1m", range_="1h")
    assert queries, f"{dashboard} has no panel queries"
    # Wait until the workload has produced everything once (rules, retries, canary model).
    test_every_recording_rule_returns_a_series(healthy, _alerts_of(healthy))
    problems = []
    for query in queries:
        # An exemplars-only target draws nothing: its answer is the exemplars Grafana asks for.
        ask = healthy.prometheus.exemplars if query.exemplars_only else healthy.prometheus.query
        try:
            result = ask(query.expr)
        except AssertionError as error:
            problems.append(f'panel "{query.panel_title}" {query.ref_id}: error: {error}')
            continue
        if not result and not query.may_be_empty:
            what = "no exemplars" if query.exemplars_only else "no data"
            problems.append(f'panel "{query.panel_title}" {query.ref_id}: {what}: {query.expr}')
    assert not problems, f"{dashboard.name}:\n" + "\n".join(problems)


def _alerts_of(stack: RunningStack) -> Path:
    return stack.stack.options.alerts_file


def test_every_query_of_docs_queries_md_returns_data(healthy: RunningStack):
    queries = promql_queries(QUERIES_DOC.read_text())
    assert len(queries) >= 20
    test_every_recording_rule_returns_a_series(healthy, _alerts_of(healthy))
    empty = [
        f"{q.title}: {q.expr}"
        for q in queries
        if not any(name in q.expr for name in ONLY_WHEN_SOMETHING_IS_WRONG)
        and not has_finite_value(healthy.prometheus.query(q.expr))
    ]
    assert not empty, "queries of docs/queries.md without data:\n" + "\n".join(empty)


def test_every_query_of_the_monitoring_guide_returns_data(healthy: RunningStack):
    guide = guide_path()
    if guide is None:
        pytest.skip("MONITORING_GUIDE.md not beside the checkout; docs/queries.md is tested")
    queries = promql_queries(guide.read_text())
    assert len(queries) >= 13, f"expected the guide's 13 queries in {guide}"
    test_every_recording_rule_returns_a_series(healthy, _alerts_of(healthy))
    empty = [
        f"{q.title}: {q.expr}"
        for q in queries
        if not any(name in q.expr for name in ONLY_WHEN_SOMETHING_IS_WRONG)
        and not has_finite_value(healthy.prometheus.query(q.expr))
    ]
    assert not empty, f"queries of {guide} without data:\n" + "\n".join(empty)


def test_docs_queries_md_keeps_every_query_of_the_guide():
    guide = guide_path()
    if guide is None:
        pytest.skip("MONITORING_GUIDE.md not beside the checkout")
    ours = normalised(QUERIES_DOC.read_text())
    missing = [q.title for q in promql_queries(guide.read_text()) if normalised(q.expr) not in ours]
    assert not missing, f"guide queries missing from {QUERIES_DOC}: {missing}"


def test_watchdog_reaches_the_heartbeat_receiver(healthy: RunningStack):
    alerts = wait_for(
        "Watchdog at /webhook/heartbeat",
        lambda: [
            a
            for a in healthy.receiver.webhook_alerts("/webhook/heartbeat")
            if a["labels"]["alertname"] == "Watchdog"
        ],
        timeout=60,
    )
    watchdog = alerts[0]
    assert watchdog["status"] == "firing"
    assert watchdog["labels"]["severity"] == "info"
    assert watchdog["labels"]["category"] == "meta"
    assert watchdog["annotations"]["runbook_url"].endswith("docs/runbooks/Watchdog.md")


def test_healthy_scenario_fires_nothing_but_watchdog(healthy: RunningStack):
    # Long enough for any alert's 10 s `for` to elapse more than twice over after the workload
    # produced every series (the recording rules have values).
    test_every_recording_rule_returns_a_series(healthy, _alerts_of(healthy))
    time.sleep(30)
    # ALERTS keeps a sample for every evaluation at which an alert was pending or firing:
    # nothing but Watchdog has fired, ever, since the stack started. (Pending is allowed: in
    # the first seconds, before the first scrape, NarraForgeTargetDown's absent(up) and
    # JobsStuck are true, and their `for` is what keeps such a start from paging anyone.)
    fired = healthy.prometheus.query(
        "count by (alertname) (count_over_time("
        'ALERTS{alertstate="firing",alertname!="Watchdog"}[1h]))'
    )
    assert not fired, f"healthy scenario fired {[r['metric'] for r in fired]}"
    active = {a["labels"]["alertname"] for a in healthy.prometheus.alerts()}
    assert active == {"Watchdog"}, f"active alerts: {sorted(active)}"
    notified = {
        alert["labels"].get("alertname")
        for item in healthy.receiver.received()
        if item["path"].startswith("/webhook/")
        for alert in item["body"].get("alerts", [])
    }
    assert notified == {"Watchdog"}
    others = [
        (item["path"], [a.get("title") for a in item["body"].get("attachments", [])])
        for item in healthy.receiver.received()
        if "webhook" not in item["path"]
    ]
    assert not others, f"healthy scenario notified {others}"


# Twice fifty at once: the second round meets the first's connections closing. More rounds
# only repeat it, at 10 s of parsing each (tests/package/test_scrape_under_load.py goes further).
ROUNDS = 2


def test_simulator_metrics_answer_fifty_concurrent_scrapers(healthy: RunningStack):
    url = f"{healthy.simulator_url}/metrics"
    results: list[tuple[int, int]] = []
    failures: list[str] = []
    lock = threading.Lock()

    start = threading.Barrier(50)

    def scraper() -> None:
        start.wait(timeout=120)  # all fifty at once, as at the start of a scrape interval
        for _ in range(ROUNDS):
            try:
                status, body = http_get(url, timeout=30)
                families = list(text_string_to_metric_families(body.decode()))
                names = {f.name for f in families}
            except Exception as error:  # any failure is what this test reports
                with lock:
                    failures.append(repr(error))
                continue
            with lock:
                results.append((status, len(names)))

    # Monitoring is needed most when the machine is busy: every core spins meanwhile.
    with cpu_hog():
        threads = [threading.Thread(target=scraper) for _ in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
    assert not failures, f"{len(failures)} of {50 * ROUNDS} failed: {failures[:5]}"
    assert len(results) == 50 * ROUNDS
    assert {status for status, _ in results} == {200}
    # Every scrape was a whole exposition: all catalogue families in each one.
    assert min(count for _, count in results) >= len(METRICS)
    # And Prometheus kept scraping it meanwhile.
    assert healthy.prometheus.query('up{job="narra_forge"} == 1')
