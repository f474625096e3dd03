"""A JSON log line with five bound keys, and a filtered-out debug call, three ways.

* ours: ``configure_logging(json_output=True)`` + ``get_logger(name, **five_keys)``; its line
  also carries ``logger`` and a UTC timestamp, and its processor chain renders tracebacks;
* structlog's fastest documented configuration (structlog.org, "Performance"): filtering bound
  logger, orjson, ``BytesLoggerFactory``, cached loggers;
* the standard library with a JSON formatter (a ``LoggerAdapter`` carrying the five keys).

Every case writes to ``/dev/null`` through a real file; before timing, each case's line is
checked to be one JSON object holding the five keys, so a broken configuration cannot look fast.

    python -m tools.bench.logging_bench
"""

from __future__ import annotations

import io
import json
import logging
import os
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import orjson
import structlog

from tools.bench.common import Goal, Result, compare, measure_interleaved

TITLE = "Logging: a JSON line with five bound keys; a filtered-out debug call"
NOTES = (
    "Goals: our JSON line within 1.2x of structlog's fastest documented configuration "
    "(measured in the same run), and a filtered-out debug call under 1 µs. Our line carries "
    "more than the fastest configuration's (a `logger` key, a UTC timestamp, structured "
    "tracebacks when there is an exception)."
)

BOUND = {
    "job_id": "job_5f1c2a",
    "production_type": "novel",
    "genre": "fantasy",
    "agent_id": "a06_sequential_generator",
    "model": "gpt-4o",
}
OURS = "ours (configure_logging + get_logger)"
OURS_LAZY = "ours, logger made before configure_logging"
FASTEST = "structlog fastest documented config"
STDLIB = "stdlib logging + JSON formatter"


class JsonFormatter(logging.Formatter):
    """The kind of JSON formatter an application without structlog writes."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "event": record.getMessage(),
            "level": record.levelname.lower(),
            "timestamp": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(),
            "logger": record.name,
        }
        line.update(getattr(record, "context", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line)


def _ours(stream: Any) -> tuple[Any, Any]:
    from narra_forge.monitoring import logs

    logs._configured = False  # a logger made "at import time", before configuration
    lazy = logs.get_logger("narra_forge.bench", **BOUND)
    logs.configure_logging(level="INFO", json_output=True, stream=stream)
    return logs.get_logger("narra_forge.bench", **BOUND), lazy


def _fastest(binary_stream: Any) -> Any:
    # structlog.org/en/stable/performance.html, as documented.
    structlog.configure(
        cache_logger_on_first_use=True,
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.format_exc_info,
            structlog.processors.TimeStamper(fmt="iso", utc=False),
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        logger_factory=structlog.BytesLoggerFactory(binary_stream),
    )
    return structlog.get_logger().bind(**BOUND)


def _stdlib(stream: Any) -> Any:
    logger = logging.getLogger("narra_forge.bench.stdlib")
    logger.propagate = False
    logger.handlers[:] = []
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return logging.LoggerAdapter(logger, {"context": BOUND})


def _check_lines(loggers: dict[str, Any]) -> None:
    """Each case, pointed at a buffer, must print one JSON line with the bound keys."""
    for name, make in loggers.items():
        buffer = io.BytesIO()
        text = io.TextIOWrapper(buffer, encoding="utf-8", write_through=True)
        logger = make(text, buffer)
        logger.info("agent_step_finished", duration_s=1.23) if name != STDLIB else logger.info(
            "agent_step_finished"
        )
        logger.debug("api_request_prepared", prompt_length=1800) if name != STDLIB else (
            logger.debug("api_request_prepared")
        )
        lines = buffer.getvalue().decode().splitlines()
        if len(lines) != 1:
            raise RuntimeError(f"{name}: expected one line, got {lines!r}")
        line = json.loads(lines[0])
        missing = set(BOUND) - set(line)
        if missing or line.get("event") != "agent_step_finished":
            raise RuntimeError(f"{name}: line lacks {sorted(missing)} or its event: {line}")


def run() -> list[Result]:
    restore = _save_logging_state()
    try:
        _check_lines(
            {
                OURS: lambda text, _binary: _ours(text)[0],
                FASTEST: lambda _text, binary: _fastest(binary),
                STDLIB: lambda text, _binary: _stdlib(text),
            }
        )
        with open(os.devnull, "w") as text_sink, open(os.devnull, "wb") as binary_sink:
            ours, lazy = _ours(text_sink)
            lazy.info("warm_up")  # first use binds and caches it, as in an application
            fastest = _fastest(binary_sink)
            stdlib = _stdlib(text_sink)
            lines: dict[str, Callable[[], object]] = {
                OURS: lambda: ours.info("agent_step_finished", duration_s=1.23),
                OURS_LAZY: lambda: lazy.info("agent_step_finished", duration_s=1.23),
                FASTEST: lambda: fastest.info("agent_step_finished", duration_s=1.23),
                STDLIB: lambda: stdlib.info("agent_step_finished", extra={"duration_s": 1.23}),
            }
            debug: dict[str, Callable[[], object]] = {
                OURS: lambda: ours.debug("api_request_prepared", prompt_length=1800),
                FASTEST: lambda: fastest.debug("api_request_prepared", prompt_length=1800),
                STDLIB: lambda: stdlib.debug("api_request_prepared", extra={"prompt_length": 1800}),
            }
            line_timings = measure_interleaved(lines, number=2000, rounds=15)
            debug_timings = measure_interleaved(debug, number=20000, rounds=15)
    finally:
        restore()
    within = Goal("<= 1.2x structlog fastest", "<=", 1.2, "x")
    under_1us = Goal("< 1 µs", "<", 1.0, " µs")
    return compare(
        "JSON line, 5 bound keys",
        line_timings,
        baseline=FASTEST,
        goals={OURS: within, OURS_LAZY: within},
    ) + compare(
        "filtered-out debug call",
        debug_timings,
        baseline=FASTEST,
        goals={OURS: under_1us},
        goal_of="median_us",
    )


def _save_logging_state() -> Callable[[], None]:
    from narra_forge.monitoring import logs

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level

    def restore() -> None:
        structlog.reset_defaults()
        root.handlers[:] = handlers
        root.setLevel(level)
        logging.captureWarnings(False)
        logs._configured = False

    return restore


if __name__ == "__main__":
    from tools.bench.common import print_results

    sys.exit(print_results(run))
