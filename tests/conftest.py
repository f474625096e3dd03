"""Suite-wide hooks: how the tests are spread over pytest-xdist workers.

`make test` runs ``pytest -n auto`` with ``--dist loadgroup`` (pyproject.toml): tests go one by
one to whichever worker is free, except the tests of a shared server, which all go to one
worker, so that the server starts once and no test waits for a second copy of it. xdist
hands out the largest groups first, then the tests one by one in collection order, where the
tests marked ``heavy`` (a minute or more of CPU) come first.

xdist's own grouping (the ``xdist_group`` mark) renames node ids, which pytest 9 no longer
allows, so the groups are made here by test file: the scheduler runs in the controller, which
sees node ids only. Every worker checks at collection that each test using a shared server is
in a file of that server's group, so the table below cannot fall behind the tests.
"""

from __future__ import annotations

from typing import Any

import pytest

#: Fixtures (module, package or session scope) that start servers several tests read, and the
#: files of the tests that use them, directly or through another fixture.
SHARED_SERVERS: dict[str, tuple[str, ...]] = {
    # tests/e2e/conftest.py: one native stack per simulator scenario, started together.
    "stacks": (
        "tests/e2e/test_alerting.py",
        "tests/e2e/test_healthy.py",
        "tests/e2e/test_scenarios.py",
        "tests/e2e/test_traces.py",
    ),
    # tests/e2e/test_ha.py: two Prometheus replicas, three Alertmanagers, VictoriaMetrics.
    "ha_run": ("tests/e2e/test_ha.py",),
    # tests/bench/test_remote_write.py: a Prometheus and a VictoriaMetrics receiving writes.
    "receivers": ("tests/bench/test_remote_write.py",),
}
#: The group (the fixture's name) of each of those files.
GROUP_OF_FILE = {path: name for name, paths in SHARED_SERVERS.items() for path in paths}


def _file(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The tests marked `heavy` first: spread over workers, each starts at once rather than
    # last, alone on a worker while the others have finished.
    items.sort(key=lambda item: item.get_closest_marker("heavy") is None)
    for item in items:
        for name in SHARED_SERVERS.keys() & set(getattr(item, "fixturenames", ())):
            if GROUP_OF_FILE.get(_file(item.nodeid)) != name:
                raise pytest.UsageError(
                    f"{item.nodeid} uses the shared server `{name}`: add {_file(item.nodeid)} "
                    f"to SHARED_SERVERS[{name!r}] in tests/conftest.py, so that its tests run in "
                    "the worker that started it"
                )


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getoption("dist") != "loadgroup":
        return None  # another --dist asked for on the command line: xdist's own
    from xdist.scheduler import LoadScopeScheduling

    class SharedServerScheduling(LoadScopeScheduling):
        """One work unit per test, and one per group of SHARED_SERVERS. xdist hands out the
        largest units first: the end-to-end stacks start at once, beside everything else."""

        def _split_scope(self, nodeid: str) -> str:
            return GROUP_OF_FILE.get(_file(nodeid), nodeid)

    return SharedServerScheduling(config, log)
