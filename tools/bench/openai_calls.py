"""What ``instrument_openai`` adds to one OpenAI call: instrumented client against a plain one.

Both are real ``openai.OpenAI`` clients (``max_retries=0``) talking to the same local
OpenAI-compatible server, started in a subprocess so that its work does not share the
benchmark's interpreter lock. The two clients alternate within every round. Three calls:

* a non-streaming chat completion answered at once (what the instrumentation costs, in µs);
* the same call answered after 50 ms, a fast real call (what that cost is relative to it);
* a streamed chat completion of 20 chunks and a usage chunk (per-chunk work included).

On a busy machine the socket round trip moves by more than the instrumentation costs, so the
non-streaming and streamed calls are measured once more with the server's same bytes served
in-process by ``httpx2.MockTransport`` (httpx's own transport for that; the SDK runs
unchanged): no network and no server, only the client's own work, instrumented or not.
Even that moves by more than 50 µs between rounds when other work shares the machine, so the
instrumentation layer is also timed alone: the same wrappers ``instrument_openai`` installs,
around a stand-in for the SDK that returns an already parsed response at once.

    python -m tools.bench.openai_calls            # print the rows
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tools.bench.common import Goal, Result, Timing, compare, measure_interleaved, summarise

TITLE = "Instrumentation: one OpenAI call through instrument_openai"
NOTES = (
    "Instrumented = `instrument_openai(openai.OpenAI(...))`, plain = the same client "
    "uninstrumented, both called inside `track_agent` and against one local OpenAI-compatible "
    "server (a subprocess), alternating in every round. Added = the median over rounds of "
    "instrumented minus plain within the round. Goals: under 50 µs added per non-streaming "
    "call, and under 2% of a call that takes 50 ms."
)

PLAIN = "plain openai client"
INSTRUMENTED = "instrument_openai"
ADDED_GOAL = Goal("< 50 µs added", "<", 50e-6, "s")
SLOW_GOAL = Goal("< 1.02x plain", "<", 1.02, "x")
#: Seconds the server waits before answering a request for model ``SLOW_MODEL``.
SLOW_SECONDS = 0.05
SLOW_MODEL = "gpt-4o-mini"
STREAM_CHUNKS = 20

_USAGE = {
    "prompt_tokens": 1200,
    "completion_tokens": 800,
    "total_tokens": 2000,
    "prompt_tokens_details": {"cached_tokens": 600},
    "completion_tokens_details": {"reasoning_tokens": 0},
}


def _completion(model: str) -> bytes:
    message = {"role": "assistant", "content": "Once upon a time"}
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": _USAGE,
    }
    return json.dumps(body).encode()


def _stream(model: str) -> bytes:
    def chunk(delta: dict[str, Any], choices: bool = True) -> str:
        body: dict[str, Any] = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": None}] if choices else [],
        }
        if not choices:
            body["usage"] = _USAGE
        return f"data: {json.dumps(body)}\n\n"

    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": f" word{n}"}) for n in range(STREAM_CHUNKS)]
    events += [chunk({}, choices=False), "data: [DONE]\n\n"]
    return "".join(events).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as two writes: without TCP_NODELAY the second waits for the
    # client's delayed ACK, and every call would take 40 ms more.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["content-length"])))
        model = request["model"]
        if model == SLOW_MODEL:
            time.sleep(SLOW_SECONDS)
        streamed = request.get("stream") is True
        body = _stream(model) if streamed else _completion(model)
        self.send_response(200)
        self.send_header("content-type", "text/event-stream" if streamed else "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _serve() -> None:
    """The server process: prints its port, then serves until killed."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


def _start_server() -> tuple[subprocess.Popen[str], str]:
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(repo), env.get("PYTHONPATH")]))
    process = subprocess.Popen(
        [sys.executable, "-m", "tools.bench.openai_calls", "--serve"],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    port = process.stdout.readline().strip()
    if not port.isdigit():
        process.kill()
        raise RuntimeError("the benchmark's OpenAI-compatible server did not start")
    return process, f"http://127.0.0.1:{port}/v1"


def _in_process(request: Any) -> Any:
    """The server's answer, served by httpx2.MockTransport in this process."""
    import httpx2

    body = json.loads(request.content)
    streamed = body.get("stream") is True
    content = _stream(body["model"]) if streamed else _completion(body["model"])
    kind = "text/event-stream" if streamed else "application/json"
    return httpx2.Response(200, content=content, headers={"content-type": kind})


def _cases(
    url: str | None, model: str, stream: bool, metrics: Any = None
) -> dict[str, Callable[[], object]]:
    """Plain and instrumented calls to the server at ``url``, or in-process when ``None``;
    ``metrics`` is the collector they record into (default: one on a registry of its own)."""
    import httpx2
    import openai
    from prometheus_client import CollectorRegistry

    from narra_forge.monitoring import MetricsCollector, instrument_openai

    def client() -> openai.OpenAI:
        if url is None:
            local = httpx2.Client(transport=httpx2.MockTransport(_in_process))
            return openai.OpenAI(
                base_url="http://bench/v1", api_key="bench", max_retries=0, http_client=local
            )
        return openai.OpenAI(base_url=url, api_key="bench", max_retries=0)

    metrics = metrics or MetricsCollector(CollectorRegistry())
    plain = client()
    instrumented = instrument_openai(client(), metrics)
    messages = [{"role": "user", "content": "Write the next scene."}]
    options: dict[str, Any] = {"model": model, "messages": messages}
    if stream:
        options.update(stream=True, stream_options={"include_usage": True})

    def call(client: openai.OpenAI) -> object:
        result = client.chat.completions.create(**options)
        return list(result) if stream else result

    def in_agent(client: openai.OpenAI) -> Callable[[], object]:
        def step() -> object:  # both inside an agent: only the client differs
            with metrics.track_agent("a06_sequential_generator", "gpt-4o"):
                return call(client)

        return step

    return {PLAIN: in_agent(plain), INSTRUMENTED: in_agent(instrumented)}


def _added(benchmark: str, timings: dict[str, Timing], goal: Goal | None) -> Result:
    """The median over rounds of (instrumented - plain) within the round: the two ran back to
    back, so a round's drift cancels out, which a difference of two medians would not do."""
    pairs = zip(timings[INSTRUMENTED].rounds, timings[PLAIN].rounds, strict=True)
    added = summarise([instrumented - plain for instrumented, plain in pairs])
    quartiles = abs(added.spread_pct * added.median_us) / 100 if added.spread_pct else 0.0
    return Result(
        benchmark=benchmark,
        case="added by instrument_openai",
        median_us=added.median_us,
        spread_pct=None,
        runs=len(added.rounds),
        measured=f"{added.median_us:+.1f} µs per call (±{quartiles:.1f} µs between rounds)",
        **(goal.judge(added.median_us / 1e6) if goal else {}),  # type: ignore[arg-type]
    )


def _layer_cases() -> dict[str, Callable[[], object]]:
    """The wrappers of one non-streaming call with the SDK's own work left out."""
    import openai
    from prometheus_client import CollectorRegistry

    from narra_forge.monitoring import MetricsCollector
    from narra_forge.monitoring.openai_client import _wrap_method, _wrap_send

    metrics = MetricsCollector(CollectorRegistry())
    completion = openai.types.chat.ChatCompletion.model_validate_json(_completion("gpt-4o"))

    class Sent:  # what the SDK's _send_request returns, as far as the wrapper reads it
        status_code = 200

    def send(request: object, *, stream: bool) -> Sent:
        return Sent()

    def sdk(send: Callable[..., Sent]) -> Callable[..., object]:
        def create(**kwargs: Any) -> object:  # the SDK's create: one attempt, then the response
            send(None, stream=False)
            return completion

        return create

    plain = sdk(send)
    instrumented = _wrap_method(metrics, sdk(_wrap_send(metrics, send)), "chat_completions")
    messages = [{"role": "user", "content": "Write the next scene."}]

    def in_agent(create: Callable[..., object]) -> Callable[[], object]:
        def step() -> object:
            with metrics.track_agent("a06_sequential_generator", "gpt-4o"):
                return create(model="gpt-4o", messages=messages)

        return step

    return {PLAIN: in_agent(plain), INSTRUMENTED: in_agent(instrumented)}


def _measure(cases: dict[str, Callable[[], object]], number: int, rounds: int) -> dict[str, Timing]:
    """``measure_interleaved`` with each case first in half of the rounds: on a busy machine
    the case that runs second in a round is not always at a disadvantage, nor at an advantage."""
    first = measure_interleaved(cases, number=number, rounds=rounds // 2 + 1)
    second = measure_interleaved(dict(reversed(cases.items())), number=number, rounds=rounds // 2)
    return {name: summarise([*first[name].rounds, *second[name].rounds]) for name in cases}


def run() -> list[Result]:
    process, url = _start_server()
    try:
        rows: list[Result] = []
        fast = _measure(_cases(url, "gpt-4o", False), number=40, rounds=41)
        rows += compare("non-streaming call", fast, baseline=PLAIN)
        rows.append(_added("non-streaming call", fast, ADDED_GOAL))
        slow = _measure(_cases(url, SLOW_MODEL, False), number=4, rounds=11)
        rows += compare("50 ms call", slow, baseline=PLAIN, goals={INSTRUMENTED: SLOW_GOAL})
        streamed = _measure(_cases(url, "gpt-4o", True), number=20, rounds=41)
        rows += compare(f"stream of {STREAM_CHUNKS} chunks", streamed, baseline=PLAIN)
        rows.append(_added(f"stream of {STREAM_CHUNKS} chunks", streamed, None))
        local = _measure(_cases(None, "gpt-4o", False), number=100, rounds=41)
        rows += compare("non-streaming call, in-process", local, baseline=PLAIN)
        rows.append(_added("non-streaming call, in-process", local, ADDED_GOAL))
        local = _measure(_cases(None, "gpt-4o", True), number=40, rounds=41)
        rows += compare(f"stream of {STREAM_CHUNKS} chunks, in-process", local, baseline=PLAIN)
        rows.append(_added(f"stream of {STREAM_CHUNKS} chunks, in-process", local, None))
        layer = _measure(_layer_cases(), number=2000, rounds=21)
        rows += compare("instrumentation layer alone (SDK stand-in)", layer, baseline=PLAIN)
        rows.append(_added("instrumentation layer alone (SDK stand-in)", layer, ADDED_GOAL))
        return rows
    finally:
        process.kill()
        process.wait(timeout=30)


def main(argv: list[str]) -> int:
    if argv == ["--serve"]:
        _serve()
        return 0
    from tools.bench.common import render_table

    print(render_table(run()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
