"""A local OpenAI-compatible HTTP server for tests that drive the real ``openai`` SDK.

Real sockets on 127.0.0.1 (a free port), one thread per connection, HTTP/1.1 keep-alive as the
SDK's connection pool expects. Each request takes the next scripted ``Reply`` (or the default
one when the script is empty): a JSON body with any status and headers (429 with
``Retry-After``, 500 ...), a server-sent-event stream sent in chunks (optionally slow, or cut
off mid-stream by closing the socket), or a delay longer than the client's timeout.

    with OpenAIServer() as server:
        server.script(Reply.error(429, retry_after="0.01"), Reply.json(chat_completion()))
        client = openai.OpenAI(base_url=server.url, api_key="test")
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    """What the server answers to one request."""

    status: int = 200
    body: Mapping[str, Any] | None = None
    #: Server-sent events: (event name or None, JSON data or the literal "[DONE]").
    events: Sequence[tuple[str | None, Any]] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    #: Seconds to wait before answering (longer than the client's timeout: a timeout).
    delay: float = 0.0
    #: Seconds between two events of a stream.
    gap: float = 0.0
    #: Close the connection after this many events, without ending the stream.
    drop_after: int | None = None

    @classmethod
    def json(cls, body: Mapping[str, Any], **kwargs: Any) -> Reply:
        return cls(body=body, **kwargs)

    @classmethod
    def error(cls, status: int, *, retry_after: str | None = None, **kwargs: Any) -> Reply:
        headers = {"retry-after": retry_after} if retry_after is not None else {}
        kind = "rate_limit_exceeded" if status == 429 else "server_error"
        body = {"error": {"message": f"test error {status}", "type": kind, "code": kind}}
        return cls(status=status, body=body, headers=headers, **kwargs)

    @classmethod
    def stream(cls, events: Sequence[tuple[str | None, Any]], **kwargs: Any) -> Reply:
        return cls(events=events, **kwargs)


@dataclass(frozen=True)
class Received:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body are separate writes: without TCP_NODELAY the second one waits for the
    # client's delayed ACK (40 ms a request).
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet test output

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else {}
        headers = {key.lower(): value for key, value in self.headers.items()}
        owner = self.server.owner
        reply = owner._next(Received(self.path, body, headers))
        if reply.delay:
            time.sleep(reply.delay)
        try:
            if reply.events:
                self._stream(reply)
            else:
                self._json(reply)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (its timeout): nothing to do

    def _json(self, reply: Reply) -> None:
        data = json.dumps(reply.body or {}).encode()
        self.send_response(reply.status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _stream(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.flush()
        for index, (event, data) in enumerate(reply.events):
            if reply.drop_after is not None and index >= reply.drop_after:
                # Cut off mid-body: the chunked stream never gets its terminating chunk.
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if index and reply.gap:
                time.sleep(reply.gap)
            text = data if isinstance(data, str) else json.dumps(data)
            lines = (f"event: {event}\n" if event else "") + f"data: {text}\n\n"
            self._chunk(lines.encode())
        self._chunk(b"")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: OpenAIServer


class OpenAIServer:
    """The server; ``url`` is the ``base_url`` to give the client."""

    def __init__(self, default: Reply | None = None) -> None:
        self.default = default or Reply.json(chat_completion())
        self.received: list[Received] = []
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, in order (then the default)."""
        with self._lock:
            self._script.extend(replies)

    def _next(self, received: Received) -> Reply:
        with self._lock:
            self.received.append(received)
            return self._script.popleft() if self._script else self.default

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> OpenAIServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- bodies, as OpenAI sends them ------------------------------------------------------------


def chat_usage(
    prompt: int = 100,
    completion: int = 20,
    cached: int | None = None,
    reasoning: int | None = None,
    details: bool = True,
) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if details:
        usage["prompt_tokens_details"] = {"cached_tokens": cached, "audio_tokens": 0}
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning, "audio_tokens": 0}
    else:
        usage["prompt_tokens_details"] = None
        usage["completion_tokens_details"] = None
    return usage


def chat_completion(
    model: str = "gpt-4o", usage: dict[str, Any] | None = None, text: str = "Once upon a time"
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": chat_usage() if usage is None else usage,
    }


def chat_stream(
    model: str = "gpt-4o", words: Sequence[str] = ("Once", " upon", " a time"), usage: Any = None
) -> list[tuple[str | None, Any]]:
    """Chunks as OpenAI streams them: a role chunk, content chunks, a finish chunk, then (with
    ``stream_options={"include_usage": True}``) a usage chunk with no choices, then [DONE]."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-test",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    events: list[tuple[str | None, Any]] = [(None, chunk({"role": "assistant", "content": ""}))]
    events += [(None, chunk({"content": word})) for word in words]
    events.append((None, chunk({}, "stop")))
    if usage is not None:
        final = chunk({})
        final["choices"], final["usage"] = [], usage
        events.append((None, final))
    events.append((None, "[DONE]"))
    return events


def responses_usage(
    input_tokens: int = 200, output_tokens: int = 80, cached: Any = 50, reasoning: Any = 30
) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens_details": {"reasoning_tokens": reasoning},
    }


def response(model: str = "gpt-5", usage: Any = None, status: str = "completed") -> dict[str, Any]:
    return {
        "id": "resp_test",
        "object": "response",
        "created_at": 1_700_000_000,
        "model": model,
        "status": status,
        "output": [
            {
                "type": "message",
                "id": "msg_test",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": "Once upon a time", "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": responses_usage() if usage is None else usage,
    }


def responses_stream(
    model: str = "gpt-5", words: Sequence[str] = ("Once", " upon"), usage: Any = None
) -> list[tuple[str | None, Any]]:
    """Responses API events: created, output text deltas, completed (which carries usage)."""
    started = response(model, status="in_progress")
    started["usage"] = None
    events: list[tuple[str | None, Any]] = [
        (
            "response.created",
            {"type": "response.created", "sequence_number": 0, "response": started},
        )
    ]
    for number, word in enumerate(words, start=1):
        delta = {
            "type": "response.output_text.delta",
            "sequence_number": number,
            "item_id": "msg_test",
            "output_index": 0,
            "content_index": 0,
            "delta": word,
            "logprobs": [],
        }
        events.append(("response.output_text.delta", delta))
    done = {
        "type": "response.completed",
        "sequence_number": len(words) + 1,
        "response": response(model, usage=usage),
    }
    events.append(("response.completed", done))
    return events
