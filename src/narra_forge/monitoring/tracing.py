"""Optional OpenTelemetry spans, trace ids for log lines, and trace ids for exemplars.

Nothing here imports OpenTelemetry. Tracing is on when the application has imported
``opentelemetry.trace`` (every TracerProvider set-up does, the SDK's included), found in
``sys.modules`` at the moment a tracker starts: an app without the ``[otel]`` extra, or with it
installed and unused, pays one dictionary lookup per tracker and nothing else. Spans go to the
global tracer provider unless a collector was given its own (``MetricsCollector(
tracer_provider=...)``), and start as children of the application's current span, so W3C trace
context that the app extracted (or its own spans) is honoured.

Names and attributes follow the OpenTelemetry GenAI semantic conventions (development status):
``invoke_workflow {production_type}`` for a pipeline, ``invoke_agent {agent_id}`` for an agent,
``chat {model}`` for an API call; see docs/instrumentation.md, "Tracing".

Monitoring never breaks the pipeline: every call into OpenTelemetry is guarded, and a failure is
counted in ``narra_forge_instrumentation_errors_total{reason="internal_error"}`` and dropped.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, MutableMapping
from typing import Any

from narra_forge.monitoring._version import __version__

#: The module whose presence in ``sys.modules`` turns tracing on.
OTEL_TRACE = "opentelemetry.trace"
#: The instrumentation scope of every span this package creates.
SCOPE = "narra_forge.monitoring"
#: ``gen_ai.provider.name`` of every span: NARRA_FORGE calls OpenAI models.
PROVIDER = "openai"

_MODULES = sys.modules


class TraceSource:
    """Where one collector's spans come from: a tracer, resolved on first use.

    ``provider`` is an OpenTelemetry ``TracerProvider`` or ``None`` for the global one (a
    ``ProxyTracer`` until the app sets it, which then delegates: resolving it early is safe).
    ``on_error`` counts a failure of OpenTelemetry; it must not raise.
    """

    __slots__ = ("_context", "_kinds", "_on_error", "_provider", "_status", "_trace", "_tracer")

    def __init__(self, provider: object | None, on_error: Callable[[Exception], None]) -> None:
        self._provider = provider
        self._on_error = on_error
        self._tracer: Any = None
        self._trace: Any = None
        self._context: Any = None
        self._kinds: tuple[Any, Any] = (None, None)
        self._status: Any = None

    def _resolve(self) -> Any:
        trace = _MODULES.get(OTEL_TRACE)
        if trace is None:
            return None
        # Imported by opentelemetry.trace itself: these imports find loaded modules.
        from opentelemetry import context
        from opentelemetry.trace.status import Status, StatusCode

        self._trace = trace
        self._context = context
        self._kinds = (trace.SpanKind.INTERNAL, trace.SpanKind.CLIENT)
        self._status = (Status, StatusCode.ERROR)
        tracer = trace.get_tracer(SCOPE, __version__, tracer_provider=self._provider)
        self._tracer = tracer
        return tracer

    def start(self, name: str, attributes: dict[str, Any], client: bool, attach: bool) -> Any:
        """Start a span under the current one; returns ``(span, token)`` (token ``None`` unless
        ``attach``: the span became the current one) or ``None`` when there is nothing to
        trace into (no tracer provider set: the no-op tracer's invalid span)."""
        try:
            tracer = self._tracer
            if tracer is None:
                tracer = self._resolve()
                if tracer is None:
                    return None
            span = tracer.start_span(
                name, kind=self._kinds[client], attributes=attributes, record_exception=False
            )
            if not span.get_span_context().is_valid:
                return None
            token = None
            if attach:
                token = self._context.attach(self._trace.set_span_in_context(span))
            return span, token
        except Exception as error:
            self._on_error(error)
            return None

    def finish(
        self, handle: Any, error: BaseException | None, error_type: str | None = None
    ) -> None:
        """End a span from ``start``: on ``error`` (or an ``error_type`` without an exception,
        an HTTP status) with ``error.type`` and status ERROR; then detach it if attached."""
        try:
            span, token = handle
            try:
                if error is not None or error_type is not None:
                    fail(self, span, error, error_type)
                span.end()
            finally:
                if token is not None:
                    self._context.detach(token)
        except Exception as failure:
            self._on_error(failure)


def fail(
    source: TraceSource, span: Any, error: BaseException | None, error_type: str | None
) -> None:
    """Mark ``span`` failed: ``error.type`` is the exception's qualified class name (what the
    conventions ask for an exception) or ``error_type`` (an HTTP status code); the bounded
    ``error_type`` label of the metrics goes to ``narra_forge.error_type`` for the link."""
    if error is not None:
        cls = type(error)
        module = cls.__module__
        name = cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"
        span.set_attribute("error.type", error_type or name)
        description = f"{cls.__qualname__}: {error}"[:200]
    else:
        span.set_attribute("error.type", error_type)
        description = f"HTTP {error_type}"
    status, error_code = source._status
    span.set_status(status(error_code, description))


#: The last trace id formatted, and its exemplar: the spans of one pipeline share a trace, so
#: an agent's and its API calls' observations reuse one dict. One tuple, replaced whole, so a
#: thread never pairs a trace id with another trace's text.
_last_exemplar: tuple[int, dict[str, str]] = (0, {})


def exemplar_of(span: Any) -> dict[str, str] | None:
    """``{"trace_id": <32 hex>}`` for a sampled span (what a histogram observation links to),
    else ``None``: an unsampled trace is stored nowhere, an exemplar pointing at it would lead
    to nothing. The dict is shared: callers must not change it."""
    global _last_exemplar
    try:
        context = span.get_span_context()
        if context.trace_flags & 1:
            trace_id = context.trace_id
            last = _last_exemplar
            if last[0] == trace_id:
                return last[1]
            exemplar = {"trace_id": f"{trace_id:032x}"}
            _last_exemplar = (trace_id, exemplar)
            return exemplar
    except Exception:  # an exemplar is best effort; the observation still counts
        pass
    return None


def current_exemplar() -> dict[str, str] | None:
    """``{"trace_id": ...}`` of the current sampled span, for an observation made outside a
    tracker (``record_time_to_first_token``); ``None`` without one."""
    ids = current_ids()
    return None if ids is None else {"trace_id": ids[0]}


def current_ids() -> tuple[str, str] | None:
    """The current span's ``(trace_id, span_id)`` in lowercase hex, when OpenTelemetry is
    loaded and the current span is valid and sampled; else ``None``."""
    trace = _MODULES.get(OTEL_TRACE)
    if trace is None:
        return None
    try:
        context = trace.get_current_span().get_span_context()
        if context.is_valid and context.trace_flags & 1:
            return f"{context.trace_id:032x}", f"{context.span_id:016x}"
    except Exception:  # a log line is never lost to tracing
        pass
    return None


def add_trace_ids(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: ``trace_id`` and ``span_id`` of the current sampled span, if any.

    Absent outside spans (never zeros), and a value the caller set itself is kept.
    """
    if OTEL_TRACE in _MODULES:
        ids = current_ids()
        if ids is not None:
            event_dict.setdefault("trace_id", ids[0])
            event_dict.setdefault("span_id", ids[1])
    return event_dict


__all__ = ["OTEL_TRACE", "PROVIDER", "SCOPE", "TraceSource", "add_trace_ids", "exemplar_of"]
