"""A local notification receiver: prints what Alertmanager sends and keeps it for tests.

    python -m tools.demo.receiver --port 9095

Any ``POST`` is recorded: Alertmanager's webhook format (``/webhook/<receiver>``) and the JSON
that its Slack and PagerDuty integrations send when the native stack points their URLs here
(``/slack/<receiver>``, ``/pagerduty/<receiver>``). ``GET /received`` returns everything
recorded so far as a JSON list of ``{"path", "received_at", "body"}``; ``DELETE /received``
forgets it; ``GET /-/healthy`` answers 200. With ``--smtp-port`` it is also a mail server
(aiosmtpd) that records each email as ``{"path": "/smtp", "body": {"from", "to", "subject",
"text"}}``. Stands in for Slack, PagerDuty, a mail server and a dead-man's switch, which cannot
be reached from here.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tools.demo.net import free_port

#: Bodies larger than this are refused: the receiver must not be a way to fill the memory.
MAX_BODY_BYTES = 1_000_000


class Store:
    """The notifications received, in arrival order (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[dict[str, Any]] = []

    def add(self, item: dict[str, Any]) -> None:
        with self._lock:
            self._items.append(item)

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def summarise(path: str, body: Any) -> list[str]:
    """One human line per alert (webhook) or message (Slack, PagerDuty)."""
    if isinstance(body, dict) and isinstance(body.get("alerts"), list):
        lines = []
        for alert in body["alerts"]:
            labels = alert.get("labels", {})
            annotations = alert.get("annotations", {})
            lines.append(
                f"{path}: [{alert.get('status', '?').upper()}] {labels.get('alertname', '?')}"
                f" severity={labels.get('severity', '?')}: {annotations.get('summary', '')}"
            )
        return lines
    if isinstance(body, dict) and "attachments" in body:  # Slack
        titles = [a.get("title", "") for a in body["attachments"] if isinstance(a, dict)]
        return [f"{path}: slack message: {' | '.join(titles) or body.get('text', '')}"]
    if isinstance(body, dict) and "event_action" in body:  # PagerDuty Events API v2
        summary = body.get("payload", {}).get("summary", "")
        return [f"{path}: pagerduty {body['event_action']}: {summary}"]
    return [f"{path}: {json.dumps(body)[:200]}"]


def make_handler(store: Store, quiet: bool) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "narra-forge-receiver"

        def log_message(self, format: str, *args: object) -> None:
            pass  # the access log would drown the notifications

        def reply(self, status: int, payload: object) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/received":
                self.reply(200, store.all())
            elif self.path in ("/-/healthy", "/-/ready"):
                self.reply(200, {"status": "ok"})
            else:
                self.reply(404, {"error": f"no such path {self.path}; try /received"})

        def do_DELETE(self) -> None:
            if self.path == "/received":
                store.clear()
                self.reply(200, {"status": "cleared"})
            else:
                self.reply(404, {"error": f"no such path {self.path}"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self.reply(413, {"error": f"body of {length} bytes is over {MAX_BODY_BYTES}"})
                return
            raw = self.rfile.read(length)
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
            store.add({"path": self.path, "received_at": time.time(), "body": body})
            if not quiet:
                for line in summarise(self.path, body):
                    print(f"receiver: {line}", flush=True)
            # PagerDuty's Events API answers 202 with a JSON body; the others accept any 2xx.
            self.reply(202 if self.path.startswith("/pagerduty") else 200, {"status": "success"})

    return Handler


class MailHandler:
    """aiosmtpd handler: every message accepted and recorded (no authentication offered)."""

    def __init__(self, store: Store, quiet: bool) -> None:
        self.store = store
        self.quiet = quiet

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        part = message.get_body(preferencelist=("plain", "html"))
        body = {
            "from": envelope.mail_from,
            "to": list(envelope.rcpt_tos),
            "subject": str(message.get("Subject", "")),
            "text": part.get_content() if part is not None else "",
        }
        self.store.add({"path": "/smtp", "received_at": time.time(), "body": body})
        if not self.quiet:
            print(
                f"receiver: /smtp: email to {', '.join(body['to'])}: {body['subject']}", flush=True
            )
        return "250 Message accepted for delivery"


class Receiver:
    """The HTTP server in a background thread; ``with Receiver(port) as r: r.url``.

    ``smtp_port`` (0 for a free one) also starts the mail server; ``None`` does not.
    """

    def __init__(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        quiet: bool = False,
        smtp_port: int | None = None,
    ) -> None:
        self.store = Store()
        self.server = ThreadingHTTPServer((host, port), make_handler(self.store, quiet))
        self.server.daemon_threads = True
        self.host = host
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.smtp: Any = None
        if smtp_port is not None:
            from aiosmtpd.controller import Controller  # in [demo] and [dev]

            if smtp_port == 0:
                smtp_port = free_port(host)
            self.smtp = Controller(MailHandler(self.store, quiet), hostname=host, port=smtp_port)
        self.smtp_port = smtp_port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def smtp_address(self) -> str | None:
        return None if self.smtp_port is None else f"{self.host}:{self.smtp_port}"

    def start(self) -> Receiver:
        if self.smtp is not None:
            self.smtp.start()
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self.smtp is not None:
            self.smtp.stop()

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=9095, help="port to listen on (9095)")
    parser.add_argument("--smtp-port", type=int, help="also accept email on this port")
    parser.add_argument("--quiet", action="store_true", help="record without printing")
    args = parser.parse_args(argv)
    try:
        receiver = Receiver(args.port, args.host, args.quiet, smtp_port=args.smtp_port)
        receiver.start()
    except OSError as error:
        print(
            f"receiver: cannot listen on {args.host}:{args.port} (or SMTP {args.smtp_port}):"
            f" {error}; choose another port with --port / --smtp-port",
            file=sys.stderr,
        )
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    mail = f", SMTP on {receiver.smtp_address}" if receiver.smtp_address else ""
    print(
        f"receiver: listening on {receiver.url}{mail} (GET /received lists notifications)",
        flush=True,
    )
    stop.wait()
    receiver.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
