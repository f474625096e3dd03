"""Structured logging: JSON lines in production, readable console output in development.

One call at start-up, ``configure_logging(level="INFO", json_output=True)``, sets up both
worlds so they print the same shape:

* structlog loggers (``get_logger``) take the fast path: structlog's filtering bound logger
  (a call below the level is a bare ``return None``), loggers cached on first use, orjson when
  installed, and bytes written straight to the stream's binary buffer (``BytesLogger``).
* standard-library loggers (third-party libraries, ``warnings``) reach a ``ProcessorFormatter``
  on the root logger that renders them with the same processors.

A JSON line holds ``event``, ``level``, ``timestamp`` (ISO 8601, UTC), ``logger``, the context
bound with ``get_logger(..., **context)`` or ``bind_context(...)``, and the call's own keys;
inside a sampled OpenTelemetry span, ``trace_id`` and ``span_id`` (32 and 16 lowercase hex).
``exc_info=True`` adds ``exception``: a structured traceback *without local variables*, which
may hold API keys or prompts.
"""

from __future__ import annotations

import contextlib
import decimal
import enum
import json
import logging
import sys
import time as _time_module
import uuid
from collections.abc import Iterator, Mapping
from datetime import date, datetime, time, timedelta, timezone
from typing import IO, Any, TextIO, cast

import structlog
from structlog.contextvars import bound_contextvars, clear_contextvars
from structlog.processors import ExceptionRenderer
from structlog.tracebacks import ExceptionDictTransformer
from structlog.typing import EventDict, Processor

from narra_forge.monitoring.sentry import isolated
from narra_forge.monitoring.tracing import add_trace_ids

try:  # optional: several times faster JSON, and bytes out without an encode step
    import orjson
except ImportError:  # pragma: no cover - exercised where orjson is not installed
    orjson = None  # type: ignore[assignment]

_configured = False


_UTC = timezone.utc
_time_ns = _time_module.time_ns
#: The current second and its text (``2025-06-02T09:14:03``), formatted once per second; one
#: tuple, replaced whole, so a thread never pairs a second with another second's text.
_second: tuple[int, str] = (-1, "")


def _timestamp() -> str:
    """Now, UTC, ISO 8601 with microseconds and ``Z`` (a third of ``isoformat()``'s cost)."""
    global _second
    number, nanos = divmod(_time_ns(), 1_000_000_000)
    cached = _second
    if cached[0] != number:
        cached = _second = (
            number,
            datetime.fromtimestamp(number, _UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        )
    return f"{cached[1]}.{nanos // 1000:06d}Z"


#: structlog's method names that are not level names (``add_log_level`` maps them the same way).
_LEVEL_OF_METHOD = {"warn": "warning", "exception": "error"}
#: orjson renders natively only what it renders exactly as ``_plain`` does (str, int, float,
#: bool, None, dict with str keys, list, tuple, UUID, Enum); datetimes, dataclasses and
#: subclasses of builtins go through ``_plain`` (its ``default``), so a line is the same JSON
#: with and without orjson.
_ORJSON_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
    if orjson is not None
    else 0
)
#: Containers nested deeper than this inside a line's value are cut and written as
#: ``"<too deep>"``: the standard library would hit Python's recursion limit. It is the depth
#: orjson renders at most inside a line's object (measured with orjson 3.13: 253 levels),
#: so that a deep value is the same with and without orjson.
MAX_DEPTH = 253
_CYCLE = "<cycle>"
_TOO_DEEP = "<too deep>"
_JSON_NATIVE = (str, int, float, bool, type(None))


def _text(value: str) -> str:
    """A str that encodes to UTF-8 (lone surrogates become ``?``), as a plain ``str``."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace").decode("utf-8")
    return str.__str__(value)


def _iso(value: datetime | time) -> str:
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _repr(value: object) -> str:
    try:
        return _text(repr(value))
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


def _key(key: object, active: set[int], depth: int) -> str:
    """What a dictionary key becomes: JSON object keys are strings."""
    if isinstance(key, str):
        return _text(key)
    if key is None or isinstance(key, bool):
        return "null" if key is None else ("true" if key else "false")
    plain = _plain(key, active, depth)
    if isinstance(plain, str):
        return plain
    return json.dumps(plain, ensure_ascii=False, separators=(",", ":"))


def _plain(value: Any, active: set[int], depth: int) -> Any:
    """``value`` as JSON-native data (str, int, finite float, bool, None, dict, list).

    The one definition of what a value becomes in a log line (docs/instrumentation.md, "What a
    value becomes"); it never raises. ``active`` holds the ids of the containers being
    converted, so a structure that contains itself is written with ``"<cycle>"`` at the point
    where it loops.
    """
    kind = type(value)
    if kind is str:
        return _text(value)
    if kind is int or kind is bool or value is None:
        return value
    if kind is float:
        return value if value - value == 0.0 else None  # NaN and +-inf are not JSON: null
    try:
        if isinstance(value, enum.Enum):
            return _plain(value.value, active, depth)
        if isinstance(value, (datetime, time)):
            return _iso(value)
        if isinstance(value, (date, uuid.UUID, decimal.Decimal, timedelta)):
            return str(value)
        if isinstance(value, str):
            return _text(value)
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            return _plain(float(value), active, depth)
        if isinstance(value, (dict, list, tuple, set, frozenset)):
            if id(value) in active:
                return _CYCLE
            if depth >= MAX_DEPTH:
                return _TOO_DEEP
            active.add(id(value))
            try:
                if isinstance(value, dict):
                    return {
                        _key(k, active, depth + 1): _plain(v, active, depth + 1)
                        for k, v in list(value.items())
                    }
                return [_plain(item, active, depth + 1) for item in list(value)]
            finally:
                active.discard(id(value))
        structlog_method = getattr(value, "__structlog__", None)
        if structlog_method is not None and not isinstance(value, type):
            return _plain(structlog_method(), active, depth)
    except RecursionError:
        return _TOO_DEEP
    except Exception:
        pass
    return _repr(value)


def _default(value: Any) -> Any:
    """orjson's ``default``: what it does not render natively, rendered as ``_plain`` does.

    Containers it did not take natively (subclasses of dict and list, named tuples, sets) are
    refused: ``_plain`` must see them from the line's root to find cycles and count depth."""
    if isinstance(value, (dict, list, tuple, set, frozenset)):
        raise TypeError("a container subclass: rendered without orjson")
    return _plain(value, set(), 0)


def _last_resort(obj: Any, error: BaseException) -> bytes:
    """The line written when even ``_plain`` failed: event, level, timestamp and the error."""
    line: dict[str, Any] = {"event": "<unrepresentable event>"}
    if isinstance(obj, Mapping):
        for name in ("event", "level", "timestamp", "logger"):
            if name in obj:
                line[name] = _repr(obj[name]) if type(obj[name]) is not str else _text(obj[name])
    line["logging_error"] = _repr(error)
    return json.dumps(line, ensure_ascii=False).encode("utf-8")


def _dumps(obj: Any) -> bytes:
    """One JSON document for an event dictionary; never raises, never writes NaN/Infinity."""
    if orjson is not None:
        try:
            return orjson.dumps(obj, default=_default, option=_ORJSON_OPTIONS)
        except Exception:  # an integer beyond 64 bits, a non-string key, a cycle, a surrogate
            pass
    try:
        return json.dumps(
            # Depth -1: the line's own object is not counted in MAX_DEPTH.
            _plain(obj, set(), -1),
            ensure_ascii=False,
            allow_nan=False,
            separators=(",", ":"),
        ).encode("utf-8")
    except Exception as error:
        return _last_resort(obj, error)


#: Structured tracebacks, never with locals (``dict_tracebacks`` would include them).
_structured_exception = ExceptionRenderer(ExceptionDictTransformer(show_locals=False))


def _level_time_exception(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """``level``, ``timestamp`` (UTC) and a structured ``exception``, in one step.

    One processor instead of three because every call pays for each processor.
    """
    event_dict["level"] = _LEVEL_OF_METHOD.get(method_name, method_name)
    event_dict["timestamp"] = _timestamp()
    if "exc_info" in event_dict:
        return _structured_exception(logger, method_name, event_dict)
    return event_dict


def _render_bytes(_: Any, __: str, event_dict: EventDict) -> bytes:
    return _dumps(event_dict)


def _render_str(_: Any, __: str, event_dict: EventDict) -> str:
    return _dumps(event_dict).decode()


def _level_number(level: str | int) -> int:
    if isinstance(level, bool):
        raise ValueError(f"configure_logging: level must be a level name or number, got {level!r}")
    if isinstance(level, int):
        return level
    if isinstance(level, str):
        number = logging.getLevelName(level.strip().upper())
        if isinstance(number, int):
            return number
    raise ValueError(
        f"configure_logging: unknown level {level!r}; use DEBUG, INFO, WARNING, ERROR or CRITICAL"
    )


def _drop_formatter_leftovers(_: Any, __: str, event_dict: EventDict) -> EventDict:
    # Another handler's Formatter may already have set record.message / record.asctime, which
    # ExtraAdder would then copy as if the caller had passed them in ``extra``.
    event_dict.pop("message", None)
    event_dict.pop("asctime", None)
    return event_dict


class _RootHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The one handler ``configure_logging`` owns on the root logger (replaced on each call)."""

    narra_forge_monitoring = True

    def format(self, record: logging.LogRecord) -> str:
        try:
            return super().format(record)
        except Exception as error:
            # A message its arguments do not fit (``log.info("%d items", "x")``) would make the
            # logging module print "--- Logging error ---" to stderr and lose the line: write
            # the raw message instead, with its arguments and the error as fields.
            message = record.msg if type(record.msg) is str else _repr(record.msg)
            record.msg, record.args = _text(message), None
            record.logging_error = _repr(error)
            try:
                return super().format(record)
            except Exception:
                return _last_resort({"event": record.msg}, error).decode("utf-8")


def configure_logging(
    level: str | int = "INFO",
    json_output: bool = False,
    *,
    stream: IO[str] | None = None,
    colors: bool | None = None,
) -> None:
    """Configure structlog and the standard library's root logger. Safe to call again.

    ``stream`` is a text stream (default: ``sys.stdout`` at the time of the call). ``colors``
    applies to console output; ``None`` means colours when the stream is a terminal.
    Loggers used before a later call keep the configuration they were first used with
    (structlog caches them); create loggers after configuring, or at import time via
    ``get_logger`` which stays lazy until first use.
    """
    global _configured
    number = _level_number(level)
    out = sys.stdout if stream is None else stream
    buffer = getattr(out, "buffer", None)

    if json_output:
        if buffer is not None:
            with contextlib.suppress(Exception):
                out.flush()  # what was printed before goes out before the first JSON line
            factory: Any = structlog.BytesLoggerFactory(buffer)
            renderer: Processor = _render_bytes
        else:
            factory = structlog.WriteLoggerFactory(cast(TextIO, out))
            renderer = _render_str
        processors: list[Processor] = [
            structlog.contextvars.merge_contextvars,
            add_trace_ids,
            _level_time_exception,
            renderer,
        ]
        foreign_tail: list[Processor] = [_level_time_exception, _render_str]
    else:
        use_colors = colors if colors is not None else bool(getattr(out, "isatty", bool)())
        console = structlog.dev.ConsoleRenderer(
            colors=use_colors,
            # plain_traceback never prints locals (rich's and better-exceptions' would).
            exception_formatter=structlog.dev.plain_traceback,
        )
        factory = structlog.WriteLoggerFactory(cast(TextIO, out))
        stamp = structlog.processors.TimeStamper(fmt="iso", utc=True)
        processors = [
            structlog.contextvars.merge_contextvars,
            add_trace_ids,
            structlog.processors.add_log_level,
            stamp,
            console,
        ]
        foreign_tail = [structlog.stdlib.add_log_level, stamp, console]

    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(number),
        context_class=dict,
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            add_trace_ids,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.ExtraAdder(),
            _drop_formatter_leftovers,
        ],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *foreign_tail],
    )
    handler = _RootHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for existing in list(root.handlers):
        # Matched by attribute, not class: after importlib.reload the class is a new object.
        if getattr(existing, "narra_forge_monitoring", False):
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(number)
    logging.captureWarnings(True)  # warnings.warn(...) comes out as a log line too
    _configured = True


class _LazyLogger:
    """A logger created before ``configure_logging`` (typically at import time).

    structlog's own lazy proxy cannot carry a ``logger`` key (it is a parameter name of
    ``wrap_logger``), so this one binds on first use. Once logging is configured it copies the
    bound logger's public attributes onto itself, so later calls cost what the bound logger's
    cost: no proxy step per call.
    """

    def __init__(self, name: str | None, context: dict[str, Any]) -> None:
        self.__dict__["_lazy_spec"] = (name, context)

    def _resolve(self) -> Any:
        bound = self.__dict__.get("_bound")
        if bound is not None:
            return bound
        name, context = self.__dict__["_lazy_spec"]
        bound = structlog.get_logger(name).bind(**context)
        if _configured or structlog.is_configured():
            for attribute in dir(bound):
                if not attribute.startswith("_"):
                    self.__dict__[attribute] = getattr(bound, attribute)
            self.__dict__["_bound"] = bound
        return bound

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        return getattr(self._resolve(), attribute)

    def __repr__(self) -> str:
        name, context = self.__dict__["_lazy_spec"]
        return f"<narra_forge lazy logger {name!r} {context!r}>"


def get_logger(name: str | None = None, **context: Any) -> Any:
    """A structlog logger whose lines carry ``logger=name`` and the given context.

    After ``configure_logging`` it is the bound logger itself; before, a lazy logger that picks
    up the configuration on first use (so module-level ``log = get_logger(__name__)`` is safe).
    """
    if name is not None:
        context = {"logger": name, **context}
    if _configured:
        return structlog.get_logger(name).bind(**context)
    return _LazyLogger(name, context)


@contextlib.contextmanager
def bind_context(**values: Any) -> Iterator[None]:
    """Bind keys (``job_id`` ...) to every line logged inside the block, in this thread or task
    and in the asyncio tasks it creates; restored on exit.

    With Sentry initialised, the block also runs in its own Sentry isolation scope, and events
    captured inside carry the bound keys (see ``narra_forge.monitoring.sentry``)."""
    with bound_contextvars(**values), isolated():
        yield


def clear_context() -> None:
    """Forget every key bound with ``bind_context`` in the current context."""
    clear_contextvars()


__all__ = ["bind_context", "clear_context", "configure_logging", "get_logger"]
