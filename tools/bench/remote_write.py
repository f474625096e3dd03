"""Prometheus remote_write 1.0, sent from Python: what the long-term benchmark replays history with.

Prometheus remote-writes only what it scrapes from now on, so 24 hours of history cannot go
through it in a few minutes. This client sends the same protocol it speaks (a protobuf
``WriteRequest``, snappy block-compressed, ``X-Prometheus-Remote-Write-Version: 0.1.0``) to
any receiver: VictoriaMetrics' ``/api/v1/write``, Prometheus's own with
``--web.enable-remote-write-receiver``, Mimir, Thanos Receive.

No protobuf or snappy library is needed: the five messages are encoded by hand (field tags
below), and the snappy stream is made of literal elements only, which every snappy decoder
reads (it is just not compressed; on the loopback that costs nothing measurable).
"""

from __future__ import annotations

import struct
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

#: Literal element lengths above 60 bytes take 1 to 4 extra bytes; 64 KiB pieces need 2.
_SNAPPY_PIECE = 1 << 16


def varint(value: int) -> bytes:
    """Protobuf's base-128 varint of a non-negative integer."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return bytes([tag]) + varint(len(payload)) + payload


def encode_labels(labels: Mapping[str, str]) -> bytes:
    """The ``labels`` fields of a TimeSeries, sorted by name as the protocol requires."""
    return b"".join(
        _field(0x0A, _field(0x0A, name.encode()) + _field(0x12, value.encode()))
        for name, value in sorted(labels.items())
    )


def encode_sample(value: float, timestamp_ms: int) -> bytes:
    """A Sample: double value (field 1), int64 timestamp in milliseconds (field 2)."""
    return _field(0x12, b"\x09" + struct.pack("<d", value) + b"\x10" + varint(timestamp_ms))


@dataclass
class Series:
    """One series of a request: its encoded labels and its encoded samples."""

    labels: bytes
    samples: bytearray

    def add(self, value: float, timestamp_ms: int) -> None:
        self.samples += encode_sample(value, timestamp_ms)


def write_request(series: Iterable[Series]) -> bytes:
    """A WriteRequest of the series that hold samples."""
    return b"".join(_field(0x0A, s.labels + bytes(s.samples)) for s in series if s.samples)


def snappy_block(data: bytes) -> bytes:
    """``data`` in snappy's block format, as literal elements (valid, uncompressed)."""
    out = bytearray(varint(len(data)))
    for start in range(0, len(data), _SNAPPY_PIECE):
        piece = data[start : start + _SNAPPY_PIECE]
        n = len(piece) - 1
        if n < 60:
            out.append(n << 2)
        elif n < 256:
            out += bytes([60 << 2, n])
        else:
            out += bytes([61 << 2]) + n.to_bytes(2, "little")
        out += piece
    return bytes(out)


class RemoteWriteError(RuntimeError):
    """The receiver refused a request; the message has its answer."""


def post(url: str, body: bytes, timeout: float = 120.0) -> float:
    """Send one snappy-compressed WriteRequest; returns the seconds the receiver took."""
    request = urllib.request.Request(url, data=snappy_block(body), method="POST")
    request.add_header("Content-Encoding", "snappy")
    request.add_header("Content-Type", "application/x-protobuf")
    request.add_header("X-Prometheus-Remote-Write-Version", "0.1.0")
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as error:
        raise RemoteWriteError(f"{url}: HTTP {error.code}: {error.read()[:500]!r}") from error
    return time.perf_counter() - started
