"""tools/bench/longterm.py on a tiny input against the real VictoriaMetrics and Prometheus: a
quarter of an hour of the workload goes through the whole measurement, and deduplication keeps
one replica's samples (the client itself: tests/bench/test_remote_write.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.bench import longterm


def test_a_quarter_hour_goes_through_the_whole_measurement(tmp_path: Path):
    workload = longterm.Workload(hours=0.25)
    measured = longterm.measure(workload, tmp_path)
    # Both replicas' samples went in, one copy was kept.
    assert measured.store.samples == pytest.approx(2 * measured.replica_samples, rel=0.01)
    assert measured.store_rows == pytest.approx(measured.replica_samples, rel=0.05)
    # The workload exposes hundreds of series; each 15 s read adds one sample to each.
    assert measured.series > 500
    reads = workload.hours * 3600 / longterm.SCRAPE_SECONDS
    # (Series appear as the workload first uses a label value, so some miss the first reads.)
    assert measured.series * reads / 2 < measured.replica_samples <= measured.series * (reads + 1)
    assert measured.prometheus_bytes > 0
    assert measured.store_bytes > 0
    rows = longterm.results(workload, measured)
    assert [row.met for row in rows] == [None, True, None]
    assert "B/sample" in (rows[0].measured or "")


def test_a_file_renamed_while_the_store_is_measured_is_not_an_error(tmp_path: Path, monkeypatch):
    (tmp_path / "part").write_bytes(b"x" * 10)
    (tmp_path / "txn.tmp").write_bytes(b"y" * 5)
    real_lstat = longterm.os.lstat

    def vanishing(path, *args, **kwargs):  # the store renamed it after the listing
        if str(path).endswith("txn.tmp"):
            raise FileNotFoundError(path)
        return real_lstat(path, *args, **kwargs)

    monkeypatch.setattr(longterm.os, "lstat", vanishing)
    assert longterm.directory_bytes(tmp_path) == 10
