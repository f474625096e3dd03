"""Sentry events carry their own job's context: sentry-sdk's real client and HTTP transport,
posting to a local DSN endpoint (tests/package/sentry_endpoint.py) over real HTTP.

Jobs run as the application runs them: concurrently under ``asyncio.gather``, in threads, one
after another on a reused pool thread; context comes from ``set_context``/``set_tag`` inside the
job, from ``bind_context(...)``, and from ``track_pipeline``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sentry_sdk
from prometheus_client import CollectorRegistry

from narra_forge.monitoring import (
    MetricsCollector,
    bind_context,
    capture_exception,
    init_sentry,
    set_context,
    set_tag,
)

from .sentry_endpoint import SentryEndpoint

REPO = Path(__file__).resolve().parents[2]


class JobFailed(RuntimeError):
    pass


@pytest.fixture
def endpoint() -> Iterator[SentryEndpoint]:
    # Context another test set outside any job (test_sentry.py) would look like a leak here.
    sentry_sdk.get_isolation_scope().clear()
    sentry_sdk.get_current_scope().clear()
    with SentryEndpoint() as server:
        init_sentry(server.dsn, environment="test")
        yield server
        sentry_sdk.flush()
    sentry_sdk.init(dsn=None)  # a disabled client for the next test


@pytest.fixture
def metrics(registry: CollectorRegistry) -> MetricsCollector:
    return MetricsCollector(registry)


def by_message(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for event in events:
        (exception,) = event["exception"]["values"]
        assert exception["value"] not in found, f"{exception['value']} sent twice"
        found[exception["value"]] = event
    return found


def received(endpoint: SentryEndpoint, count: int) -> dict[str, dict[str, Any]]:
    sentry_sdk.flush()
    return by_message(endpoint.wait_for(count))


async def job(metrics: MetricsCollector, job_id: str, genre: str, pause: float) -> None:
    """One pipeline: documented context calls, a failure it handles and reports."""
    async with metrics.track_pipeline("novel", genre):
        with bind_context(job_id=job_id):
            set_context("pipeline", {"job_id": job_id, "genre": genre})
            set_tag("agent_id", f"agent_of_{job_id}")
            await asyncio.sleep(pause)  # the other job sets its context meanwhile
            try:
                raise JobFailed(f"failure in {job_id}")
            except JobFailed as error:
                capture_exception(error)


def test_jobs_under_asyncio_gather_each_send_their_own_context(
    endpoint: SentryEndpoint, metrics: MetricsCollector
) -> None:
    async def main() -> None:
        await asyncio.gather(
            job(metrics, "job_A", "fantasy", 0.2), job(metrics, "job_B", "horror", 0.0)
        )

    asyncio.run(main())
    events = received(endpoint, 2)
    for job_id, genre in (("job_A", "fantasy"), ("job_B", "horror")):
        event = events[f"failure in {job_id}"]
        assert event["contexts"]["pipeline"] == {"job_id": job_id, "genre": genre}
        assert event["tags"]["agent_id"] == f"agent_of_{job_id}"
        assert event["tags"]["job_id"] == job_id  # from bind_context
        assert event["tags"]["genre"] == genre  # from track_pipeline
        assert event["tags"]["production_type"] == "novel"


def test_context_of_a_finished_job_does_not_reach_later_events(
    endpoint: SentryEndpoint, metrics: MetricsCollector
) -> None:
    asyncio.run(job(metrics, "job_done", "fantasy", 0.0))
    try:
        raise JobFailed("unrelated, after the job")
    except JobFailed as error:
        capture_exception(error)
    later = received(endpoint, 2)["unrelated, after the job"]
    assert "pipeline" not in later.get("contexts", {})
    assert "log_context" not in later.get("contexts", {})
    assert not {"job_id", "agent_id", "genre"} & set(later.get("tags", {}))


def thread_job(metrics: MetricsCollector, job_id: str, barrier: threading.Barrier | None) -> None:
    with metrics.track_pipeline("short_story", "mystery"), bind_context(job_id=job_id):
        set_context("pipeline", {"job_id": job_id})
        if barrier is not None:
            barrier.wait(timeout=30)  # both jobs have set their context before either reports
        try:
            raise JobFailed(f"failure in {job_id}")
        except JobFailed as error:
            capture_exception(error)


def test_jobs_in_threads_each_send_their_own_context(
    endpoint: SentryEndpoint, metrics: MetricsCollector
) -> None:
    barrier = threading.Barrier(2)
    threads = [
        threading.Thread(target=thread_job, args=(metrics, name, barrier))
        for name in ("job_T1", "job_T2")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # And one after another on the same pool thread: nothing of the first reaches the second.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(thread_job, metrics, "job_P1", None).result(timeout=60)
        pool.submit(thread_job, metrics, "job_P2", None).result(timeout=60)

        def unrelated() -> None:
            try:
                raise JobFailed("unrelated, on the pool thread")
            except JobFailed as error:
                capture_exception(error)

        pool.submit(unrelated).result(timeout=60)
    events = received(endpoint, 5)
    for job_id in ("job_T1", "job_T2", "job_P1", "job_P2"):
        event = events[f"failure in {job_id}"]
        assert event["contexts"]["pipeline"] == {"job_id": job_id}
        assert event["tags"]["job_id"] == job_id
    assert "pipeline" not in events["unrelated, on the pool thread"].get("contexts", {})


def test_bound_context_reaches_sentry(endpoint: SentryEndpoint) -> None:
    with bind_context(job_id="job_9", user_tier="pro", attempt=2, spec={"words": 2000}):
        try:
            raise JobFailed("with bound context")
        except JobFailed as error:
            capture_exception(error)
    event = received(endpoint, 1)["with bound context"]
    assert event["contexts"]["log_context"] == {
        "job_id": "job_9",
        "user_tier": "pro",
        "attempt": 2,
        "spec": {"words": 2000},
    }
    # Scalars are tags too, so an event is found by the ids its log lines carry.
    assert event["tags"]["job_id"] == "job_9"
    assert event["tags"]["attempt"] == "2"
    assert "spec" not in event["tags"]


# What docs/instrumentation.md shows, run as the application runs: an asyncio job that reports
# its failure with its context, then re-raises it, uncaught (sentry-sdk's excepthook sees it).
DOCUMENTED_PATTERN = textwrap.dedent(
    """
    import asyncio, os
    from narra_forge.monitoring import (
        MetricsCollector, bind_context, capture_exception, init_sentry, set_context,
    )

    init_sentry(os.environ["SENTRY_DSN"], environment="test", shutdown_timeout=60)
    metrics = MetricsCollector()

    async def produce(job_id):
        async with metrics.track_pipeline("novel", "fantasy"):
            with bind_context(job_id=job_id):
                set_context("pipeline", {"job_id": job_id, "genre": "fantasy"})
                try:
                    raise RuntimeError(f"agent failed in {job_id}")
                except Exception as error:
                    capture_exception(error)
                    raise

    async def main():
        await asyncio.gather(produce("job_1"), produce("job_2"))

    asyncio.run(main())
    """
)


def test_the_documented_capture_and_raise_pattern_sends_one_event_per_error() -> None:
    with SentryEndpoint() as server:
        env = {**os.environ, "SENTRY_DSN": server.dsn}
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(REPO / "src"), env.get("PYTHONPATH")])
        )
        done = subprocess.run(
            [sys.executable, "-c", DOCUMENTED_PATTERN],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 1, done.stderr  # the error still ends the program
        assert "RuntimeError: agent failed in job_1" in done.stderr
        # The process has exited after flushing: every event it sent has been received.
        events = by_message(server.wait_for(2))
    assert set(events) == {"agent failed in job_1", "agent failed in job_2"}
    for job_id in ("job_1", "job_2"):
        event = events[f"agent failed in {job_id}"]
        assert event["contexts"]["pipeline"]["job_id"] == job_id
        assert event["tags"]["job_id"] == job_id
