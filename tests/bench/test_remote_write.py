"""tools/bench/remote_write.py, the remote_write client of the long-term benchmark: the formats
on worked examples, and what it writes read back exactly from the real VictoriaMetrics and
Prometheus (the receivers it is measured against)."""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterator

import pytest

from tools._repo import find_command
from tools.bench.remote_write import (
    Series,
    encode_labels,
    post,
    snappy_block,
    varint,
    write_request,
)
from tools.demo.net import free_port, http_get
from tools.demo.processes import Process


def test_varint_and_snappy_literals_follow_the_formats():
    assert varint(1) == b"\x01"
    assert varint(300) == b"\xac\x02"
    # Length prefix, then one literal element per 64 KiB piece with its length minus one.
    assert snappy_block(b"abc") == b"\x03" + bytes([2 << 2]) + b"abc"
    long = bytes(range(256)) * 300  # 76,800 bytes: two pieces
    block = snappy_block(long)
    assert block[:3] == varint(len(long))
    assert block[3:6] == bytes([61 << 2]) + (65535).to_bytes(2, "little")
    assert len(block) == 3 + 3 + 65536 + 3 + (len(long) - 65536)


def _query(url: str, expr: str, at: float) -> list[dict]:
    params = urllib.parse.urlencode({"query": expr, "time": f"{at:.3f}"})
    status, body = http_get(f"{url}/api/v1/query?{params}")
    assert status == 200, body
    return json.loads(body)["data"]["result"]


@pytest.fixture(scope="module")
def receivers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    work = tmp_path_factory.mktemp("receivers")
    config = work / "empty.yml"
    config.write_text("global: {}\n")
    ports = {"prometheus": free_port(), "victoriametrics": free_port()}
    processes = [
        Process(
            "prometheus",
            [
                *find_command("prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={work / 'prometheus'}",
                f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
                "--web.enable-remote-write-receiver",
            ],
            work / "prometheus.log",
        ),
        Process(
            "victoriametrics",
            [
                *find_command("victoria-metrics"),
                f"-httpListenAddr=127.0.0.1:{ports['victoriametrics']}",
                f"-storageDataPath={work / 'vm'}",
                "-search.latencyOffset=0s",
                "-search.disableCache",
            ],
            work / "vm.log",
        ),
    ]
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    try:
        processes[0].wait_ready(f"{urls['prometheus']}/-/ready", timeout=60)
        processes[1].wait_ready(f"{urls['victoriametrics']}/health", timeout=60)
        yield urls
    finally:
        for process in processes:
            process.stop()


@pytest.mark.parametrize("receiver", ["prometheus", "victoriametrics"])
def test_samples_written_by_the_client_are_read_back_exactly(
    receivers: dict[str, str], receiver: str
):
    now = int(time.time()) - 120
    labels = {"__name__": "bench_probe_total", "job": "j", "long": "x" * 300}
    series = Series(encode_labels(labels), bytearray())
    for step in range(5):
        series.add(0.5 + step, (now + 15 * step) * 1000)
    post(f"{receivers[receiver]}/api/v1/write", write_request([series]))
    # VictoriaMetrics makes rows searchable after a buffer flush (about a second).
    deadline = time.monotonic() + 30
    result = _query(receivers[receiver], "bench_probe_total[2m]", now + 60)
    while not result and time.monotonic() < deadline:
        time.sleep(0.5)
        result = _query(receivers[receiver], "bench_probe_total[2m]", now + 60)
    assert len(result) == 1
    assert result[0]["metric"] == {k: v for k, v in labels.items()}
    assert [float(v) for _, v in result[0]["values"]] == [0.5, 1.5, 2.5, 3.5, 4.5]
    assert [int(t) for t, _ in result[0]["values"]] == [now + 15 * s for s in range(5)]
