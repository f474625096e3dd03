"""A local Sentry DSN endpoint: sentry-sdk's real HTTP transport posts envelopes to it.

It speaks the part of Sentry's ingestion API the SDK uses (``POST /api/<project>/envelope/``,
gzip or plain bodies) and keeps every event item, so a test reads what Sentry would have stored.
Run it in the test process (``SentryEndpoint()``, a context manager) or as a script (``python
tests/package/sentry_endpoint.py``: prints its DSN, then one JSON event per line on stdout).
"""

from __future__ import annotations

import gzip
import json
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def parse_envelope(body: bytes) -> list[tuple[dict[str, Any], bytes]]:
    """The items of an envelope: (item header, payload bytes)."""
    lines = body.split(b"\n", 1)
    rest = lines[1] if len(lines) > 1 else b""
    items = []
    while rest.strip():
        header_line, _, rest = rest.partition(b"\n")
        header = json.loads(header_line)
        length = header.get("length")
        if length is None:
            payload, _, rest = rest.partition(b"\n")
        else:
            payload, rest = rest[:length], rest[length + 1 :]
        items.append((header, payload))
    return items


class SentryEndpoint:
    def __init__(self, echo: bool = False) -> None:
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._echo = echo
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                endpoint._receive(self.path, body)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def dsn(self) -> str:
        return f"http://public@127.0.0.1:{self._server.server_address[1]}/1"

    def _receive(self, path: str, body: bytes) -> None:
        if not path.endswith("/envelope/"):
            return
        for header, payload in parse_envelope(body):
            if header.get("type") == "event":
                event = json.loads(payload)
                with self._lock:
                    self.events.append(event)
                if self._echo:
                    print(json.dumps(event), flush=True)

    def wait_for(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        """The events once at least ``count`` arrived (polling), or fail naming what came."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.events) >= count:
                    return list(self.events)
            time.sleep(0.05)
        raise AssertionError(f"{len(self.events)} Sentry events after {timeout:g}s, {count} wanted")

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> SentryEndpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    server = SentryEndpoint(echo=True)
    print(server.dsn, flush=True)
    try:
        sys.stdin.read()  # until the parent closes our stdin
    finally:
        server.close()
