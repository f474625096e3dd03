"""``instrument_openai``: metrics for every request an OpenAI SDK client makes.

    client = instrument_openai(openai.AsyncOpenAI(), metrics)
    with metrics.track_agent("a06_sequential_generator", "gpt-4o"):
        response = await client.chat.completions.create(model="gpt-4o", messages=...)

Where it hooks, and why there. Two seams of the client instance, nothing global:

* ``client._send_request(request, stream=...)``: the SDK's retry loop (``request()`` in
  ``openai/_base_client.py``) calls it exactly once per HTTP attempt, its own retries included,
  after the request is built and before the status is checked; it raises the transport's own
  exceptions (timeouts, dropped connections) and returns every response, 429 and 5xx included.
  It is the method the SDK itself overrides for authentication and providers, so it is kept as
  an extension point. The alternatives see less: httpx event hooks never see a timeout or a
  refused connection, a transport wrapper misses the proxy transports httpx mounts from the
  environment, and wrapping ``create`` alone sees one call where the SDK sent three requests.
* ``create`` and ``parse`` of ``chat.completions`` and ``responses`` (instance attributes over
  the bound methods): they know the request's model and whether it streams, and return the
  parsed response (usage) or the SDK's ``Stream`` (first chunk, final usage, end of the body).
  The SDK's own helpers (``chat.completions.stream``, ``responses.stream``) call ``create``
  through the same attribute, so they are covered too.

A context variable carries the call from the second seam to the first, so concurrent calls in
threads and asyncio tasks never see each other's attempts. ``copy``/``with_options`` return an
instrumented copy. Anything unexpected inside the instrumentation is swallowed and counted
(``narra_forge_instrumentation_errors_total{reason="internal_error"}``): the caller always gets
the SDK's own result or exception, unchanged.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

from narra_forge.monitoring.catalogue import BY_NAME, UNATTRIBUTED
from narra_forge.monitoring.collector import CURRENT_AGENT, MetricsCollector
from narra_forge.monitoring.errors import classify_exception, classify_status
from narra_forge.monitoring.guard import InstrumentationError
from narra_forge.monitoring.tracing import OTEL_TRACE, exemplar_of
from narra_forge.monitoring.usage import usage_counts

ClientT = TypeVar("ClientT")

#: The model label of a request that names no model (a Responses prompt template decides it).
NO_MODEL = "unknown"

#: Attribute set on an instrumented client: instrumenting it again changes nothing.
_MARK = "_narra_forge_monitoring"
#: The metric an internal error of this module is counted under (the call it failed to record).
_INTERNAL_METRIC = BY_NAME["narra_forge_api_calls_total"].name
_TOKENS = BY_NAME["narra_forge_tokens_used_total"].name
#: The methods wrapped, by resource path; a method the SDK lacks is skipped.
_METHODS: tuple[tuple[str, str], ...] = (
    ("chat.completions", "create"),
    ("chat.completions", "parse"),
    ("responses", "create"),
    ("responses", "parse"),
)

_MODULES = sys.modules

_CALL: contextvars.ContextVar[_Call | None] = contextvars.ContextVar(
    "narra_forge_monitoring_openai_call", default=None
)


class _Call:
    """One ``create``/``parse`` call: one or more HTTP attempts, then usage.

    Every attempt is counted when it ends: at once when it fails, and the last one when the
    SDK hands back the response (when a stream's body ends or is closed), so a response the
    SDK then refuses to parse is counted as that attempt's error.

    When the app traces, every attempt is also one ``chat {model}`` span, begun and ended with
    the attempt's observation of ``narra_forge_api_call_duration_seconds``: one span per
    observation, so an exemplar always names the span whose duration it is.
    """

    __slots__ = (
        "_clock",
        "agent_id",
        "api",
        "api_type",
        "attempts",
        "done",
        "first_token",
        "last_error",
        "metrics",
        "model",
        "pending_end",
        "pending_start",
        "response_model",
        "span",
        "usage",
    )

    def __init__(
        self, metrics: MetricsCollector, model: object, agent_id: object, api_type: str
    ) -> None:
        self.metrics = metrics
        self._clock = metrics._clock
        self.model = model
        self.agent_id = agent_id
        self.api_type = api_type
        # Resolved once per call; in strict mode a bad label raises here, before any request.
        self.api = metrics._api_series(model, agent_id)
        self.attempts = 0
        self.last_error = "other"
        self.pending_start: float | None = None
        self.pending_end: float | None = None
        self.first_token = False
        self.usage: object = None
        self.response_model: object = None
        #: The span of the attempt in flight (or returned, until the call finishes).
        self.span: Any = None
        self.done = False

    # -- attempts (called from the client's _send_request) -------------------------------

    def begin_attempt(self, request: Any) -> float:
        if self.attempts:
            # The SDK only sends again after a failed attempt: this is one of its retries.
            self.metrics.record_retry(self.agent_id, self.last_error)  # type: ignore[arg-type]
        self.attempts += 1
        source = self.metrics._trace
        if source is not None and OTEL_TRACE in _MODULES:
            self.span = source.start(*self._span_start(request), True, False)
        return self._clock()

    def _span_start(self, request: Any) -> tuple[str, dict[str, Any]]:
        name, shared = self.api.span
        attributes: dict[str, Any] = {**shared, "openai.api.type": self.api_type}
        if self.attempts > 1:  # OpenTelemetry's HTTP conventions: the n-th resend of a request
            attributes["http.request.resend_count"] = self.attempts - 1
        url = getattr(request, "url", None)
        if url is not None:
            attributes["server.address"] = url.host
            if url.port is not None:
                attributes["server.port"] = url.port
        return name, attributes

    def attempt_failed(self, start: float, error_type: str, error: Any = None) -> None:
        self._count(start, self._clock(), error_type, error)
        self.last_error = error_type

    def attempt_responded(self, start: float, status: int, streamed: bool) -> None:
        if status >= 400:
            self.attempt_failed(start, classify_status(status) or "other", str(status))
            return
        self.pending_start = start
        # A body read in full is already here; a stream's end comes with its last chunk.
        self.pending_end = None if streamed else self._clock()

    def _count(self, start: float, end: float, error_type: str | None, error: Any = None) -> None:
        """Observe one attempt; end its span (``error``: the exception, or the HTTP status of a
        failed response, as the span's ``error.type``)."""
        api = self.api
        elapsed = end - start
        span, self.span = self.span, None
        try:
            if span is None:
                api.duration.observe(elapsed if elapsed > 0 else 0.0)
            else:
                api.duration.observe(elapsed if elapsed > 0 else 0.0, exemplar_of(span[0]))
            api.calls.inc()
            if error_type is not None:
                api.errors[error_type].inc()
        finally:
            if span is not None:
                if isinstance(error, str):
                    self.metrics._trace.finish(span, None, error)  # type: ignore[union-attr]
                else:
                    self._end_span(span, error, error_type)

    def _end_span(self, span: Any, error: BaseException | None, error_type: str | None) -> None:
        """End the span of the attempt the SDK returned: response model and usage first."""
        try:
            handle = span[0]
            if self.response_model is not None:
                handle.set_attribute("gen_ai.response.model", str(self.response_model))
            counts = usage_counts(self.usage) if self.usage is not None else None
            if counts is not None:
                prompt, completion, cached, reasoning = counts
                handle.set_attribute("gen_ai.usage.input_tokens", prompt)
                handle.set_attribute("gen_ai.usage.output_tokens", completion)
                if cached:
                    handle.set_attribute("gen_ai.usage.cache_read.input_tokens", cached)
                if reasoning:
                    handle.set_attribute("gen_ai.usage.reasoning.output_tokens", reasoning)
        except Exception as failure:
            _internal_error(self.metrics, failure)
        self.metrics._trace.finish(span, error if error_type is not None else None)  # type: ignore[union-attr]

    # -- the end of the call ---------------------------------------------------------------

    def finish(self, error: BaseException | None) -> None:
        """Count the attempt the SDK returned (if any), then the usage, once."""
        if self.done:
            return
        self.done = True
        start, end = self.pending_start, self.pending_end
        if start is not None:
            self._count(start, self._clock() if end is None else end, _error_type(error), error)
        if error is None and self.usage is not None:
            self.metrics.record_openai_usage(self.model, self.agent_id, self.usage)  # type: ignore[arg-type]

    def missing_usage(self, where: str) -> None:
        self.metrics._guard.refuse(
            _TOKENS,
            where,
            self.model,
            "missing_usage",
            "call counted, its tokens and cost not (docs/instrumentation.md, OpenAI client)",
            strict=False,
        )

    # -- stream chunks ---------------------------------------------------------------------

    def chunk(self, item: object) -> None:
        """One item of the stream, as the SDK parsed it. Runs per chunk: guarded here rather
        than through a closure."""
        try:
            fields = item.__dict__  # the SDK's pydantic objects: see _fields
            if not self.first_token and _has_content(fields):
                self.first_token = True
                start = self.pending_start
                if start is not None:
                    elapsed = self._clock() - start
                    ttft = self.api.model.time_to_first_token
                    span = self.span
                    exemplar = None if span is None else exemplar_of(span[0])
                    ttft.observe(elapsed if elapsed > 0 else 0.0, exemplar)
            usage = _usage_of(fields)
            if usage is not None:
                self.usage = usage
                self.response_model = _model_of(fields)
        except Exception as error:
            _internal_error(self.metrics, error)


def _error_type(error: BaseException | None) -> str | None:
    if error is None or isinstance(error, GeneratorExit):
        return None  # GeneratorExit: the caller stopped reading; the request did not fail
    return classify_exception(error)


def _fields(item: object) -> dict[str, Any]:
    """The fields of an SDK object (pydantic keeps them in ``__dict__``). Read there because
    ``getattr`` of a field a model lacks goes through pydantic's ``__getattr__`` and an
    exception, several microseconds per chunk of a stream."""
    fields = getattr(item, "__dict__", None)
    return fields if isinstance(fields, dict) else {}


def _has_content(fields: dict[str, Any]) -> bool:
    """Whether a stream item carries generated output (not only a role or metadata)."""
    kind = fields.get("type")
    if isinstance(kind, str):  # a Responses API event: output arrives in *.delta events
        return kind.endswith(".delta")
    for choice in fields.get("choices") or ():  # a Chat Completions chunk
        delta = _fields(_fields(choice).get("delta"))
        if (
            delta.get("content")
            or delta.get("refusal")
            or delta.get("tool_calls")
            or delta.get("function_call")
        ):
            return True
    return False


def _model_of(fields: dict[str, Any]) -> object:
    """The model that answered, from a Chat Completions chunk or a Responses event."""
    model = fields.get("model")
    if model is None and "response" in fields:
        model = _fields(fields["response"]).get("model")
    return model


def _usage_of(fields: dict[str, Any]) -> object:
    """Usage carried by a stream item: a Chat Completions chunk's ``usage`` (the final chunk,
    with ``stream_options={"include_usage": True}``), or the ``response.usage`` of a Responses
    event (filled in ``response.completed``, ``response.incomplete``, ``response.failed``)."""
    usage = fields.get("usage")
    if usage is None and "response" in fields:
        usage = _fields(fields["response"]).get("usage")
    return usage


# -- guarding the instrumentation itself ------------------------------------------------------


def _internal_error(metrics: MetricsCollector, error: Exception) -> None:
    """Count and log (once) a failure of this module; never raise."""
    with contextlib.suppress(Exception):
        metrics._guard.refuse(
            _INTERNAL_METRIC, type(error).__name__, error, "internal_error", "ignored", strict=False
        )


def _guarded(metrics: MetricsCollector, action: Callable[..., None], *args: Any) -> None:
    """``action(*args)``; a failure is counted, never raised into the caller."""
    try:
        action(*args)
    except Exception as error:
        _internal_error(metrics, error)


# -- the seams ----------------------------------------------------------------------------------


def _start_call(metrics: MetricsCollector, kwargs: dict[str, Any], api_type: str) -> _Call | None:
    try:
        model = kwargs.get("model")
        if not isinstance(model, str):
            model = NO_MODEL
        agent = CURRENT_AGENT.get()
        call = _Call(metrics, model, UNATTRIBUTED if agent is None else agent, api_type)
        if kwargs.get("stream") is True:
            # The model's time-to-first-token series exist from its first stream's start, at
            # 0, so that rate() sees the first observation rather than a series appearing.
            _ = call.api.model.time_to_first_token
        return call
    except InstrumentationError:
        raise  # strict mode: a bad label is the caller's bug, reported before any request
    except Exception as error:
        _internal_error(metrics, error)
        return None


def _returned(call: _Call, result: Any, streaming: bool) -> Any:
    """Hand back the SDK's result; a stream is wrapped in place (same object), else the call
    ends here."""
    try:
        if streaming and hasattr(result, "_iterator"):
            if hasattr(result, "__anext__"):
                _wrap_async_stream(call, result)
            else:
                _wrap_stream(call, result)
            return result
        # A parsed response has a usage field; a raw one (with_raw_response) is parsed later by
        # the caller: its call is counted, its tokens are not.
        if not streaming and hasattr(result, "usage"):
            if result.usage is None:
                call.missing_usage("usage")
            call.usage = result.usage
            call.response_model = getattr(result, "model", None)
        call.finish(None)
    except Exception as error:
        _internal_error(call.metrics, error)
    return result


def _wrap_method(
    metrics: MetricsCollector, method: Callable[..., Any], api_type: str
) -> Callable[..., Any]:
    @functools.wraps(method)
    def instrumented(*args: Any, **kwargs: Any) -> Any:
        call = _start_call(metrics, kwargs, api_type)
        if call is None:
            return method(*args, **kwargs)
        token = _CALL.set(call)
        try:
            result = method(*args, **kwargs)
        except BaseException as error:
            _guarded(metrics, call.finish, error)
            raise
        finally:
            _CALL.reset(token)
        return _returned(call, result, kwargs.get("stream") is True)

    return instrumented


def _wrap_async_method(
    metrics: MetricsCollector, method: Callable[..., Awaitable[Any]], api_type: str
) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(method)
    async def instrumented(*args: Any, **kwargs: Any) -> Any:
        call = _start_call(metrics, kwargs, api_type)
        if call is None:
            return await method(*args, **kwargs)
        token = _CALL.set(call)
        try:
            result = await method(*args, **kwargs)
        except BaseException as error:
            _guarded(metrics, call.finish, error)
            raise
        finally:
            _CALL.reset(token)
        return _returned(call, result, kwargs.get("stream") is True)

    return instrumented


def _attempt_start(call: _Call, request: Any) -> float | None:
    try:
        return call.begin_attempt(request)
    except Exception as error:
        _internal_error(call.metrics, error)
        return None


def _wrap_send(metrics: MetricsCollector, send: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(send)
    def instrumented(request: Any, *, stream: bool, **kwargs: Any) -> Any:
        call = _CALL.get()
        start = None if call is None else _attempt_start(call, request)
        if call is None or start is None:
            return send(request, stream=stream, **kwargs)
        try:
            response = send(request, stream=stream, **kwargs)
        except BaseException as error:
            _guarded(metrics, call.attempt_failed, start, classify_exception(error), error)
            raise
        _guarded(metrics, call.attempt_responded, start, response.status_code, stream)
        return response

    return instrumented


def _wrap_async_send(
    metrics: MetricsCollector, send: Callable[..., Awaitable[Any]]
) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(send)
    async def instrumented(request: Any, *, stream: bool, **kwargs: Any) -> Any:
        call = _CALL.get()
        start = None if call is None else _attempt_start(call, request)
        if call is None or start is None:
            return await send(request, stream=stream, **kwargs)
        try:
            response = await send(request, stream=stream, **kwargs)
        except BaseException as error:
            _guarded(metrics, call.attempt_failed, start, classify_exception(error), error)
            raise
        _guarded(metrics, call.attempt_responded, start, response.status_code, stream)
        return response

    return instrumented


# -- streams ------------------------------------------------------------------------------------


def _end_of_stream(call: _Call, error: BaseException | None, complete: bool) -> None:
    """The stream's body ended (``complete``), failed (``error``) or was closed early."""
    if complete and call.usage is None and not call.done:
        call.missing_usage("stream usage (stream_options include_usage)")
    call.finish(error)


def _iterate(call: _Call, inner: Iterator[Any]) -> Iterator[Any]:
    try:
        for item in inner:
            call.chunk(item)
            yield item
    except BaseException as error:
        _guarded(call.metrics, _end_of_stream, call, error, False)
        raise
    _guarded(call.metrics, _end_of_stream, call, None, True)


async def _aiterate(call: _Call, inner: AsyncIterator[Any]) -> AsyncIterator[Any]:
    try:
        async for item in inner:
            call.chunk(item)
            yield item
    except BaseException as error:
        _guarded(call.metrics, _end_of_stream, call, error, False)
        raise
    _guarded(call.metrics, _end_of_stream, call, None, True)


def _wrap_stream(call: _Call, stream: Any) -> None:
    # The SDK's Stream reads every item through ``_iterator`` and closes through ``close``;
    # replacing both on the instance keeps the object (and isinstance checks) the caller's.
    stream._iterator = _iterate(call, stream._iterator)
    close = stream.close

    def instrumented_close() -> None:
        try:
            close()
        finally:
            _guarded(call.metrics, _end_of_stream, call, None, False)

    stream.close = instrumented_close


def _wrap_async_stream(call: _Call, stream: Any) -> None:
    stream._iterator = _aiterate(call, stream._iterator)
    close = stream.close

    async def instrumented_close() -> None:
        try:
            await close()
        finally:
            _guarded(call.metrics, _end_of_stream, call, None, False)

    stream.close = instrumented_close


# -- the public function ------------------------------------------------------------------------


def instrument_openai(client: ClientT, metrics: MetricsCollector | None = None) -> ClientT:
    """Record metrics for every request ``client`` makes; returns the same client.

    ``client`` is an ``openai.OpenAI``, ``openai.AsyncOpenAI``, ``openai.AzureOpenAI`` or
    ``openai.AsyncAzureOpenAI``; ``metrics`` a ``MetricsCollector`` (default: a collector on
    the default registry). Instrumenting a client twice changes nothing (the first collector
    stays). Covers ``chat.completions.create``/``parse`` and ``responses.create``/``parse``,
    streaming or not, and the SDK helpers built on them; what each records:
    docs/instrumentation.md, "OpenAI client".
    """
    try:
        import openai  # the optional dependency: only callers that have a client get here
    except ImportError:
        raise ImportError(
            "instrument_openai needs the openai package: "
            "pip install 'narra-forge-monitoring[openai]'"
        ) from None

    if not isinstance(client, (openai.OpenAI, openai.AsyncOpenAI)):
        raise TypeError(
            f"instrument_openai: expected an openai.OpenAI or openai.AsyncOpenAI client "
            f"(Azure included), got {type(client).__name__}"
        )
    if getattr(client, _MARK, None) is not None:
        return client
    collector = MetricsCollector() if metrics is None else metrics
    is_async = isinstance(client, openai.AsyncOpenAI)
    wrap_method = _wrap_async_method if is_async else _wrap_method
    wrap_send = _wrap_async_send if is_async else _wrap_send
    try:
        wrapped: list[tuple[Any, str, Callable[..., Any]]] = []
        for path, name in _METHODS:
            resource: Any = client
            for part in path.split("."):
                resource = getattr(resource, part)
            method = getattr(resource, name, None)
            if method is not None:
                api_type = "responses" if path == "responses" else "chat_completions"
                wrapped.append((resource, name, wrap_method(collector, method, api_type)))
        send: Any = client._send_request
        wrapped.append((client, "_send_request", wrap_send(collector, send)))
        copy = client.copy

        @functools.wraps(copy)
        def instrumented_copy(*args: Any, **kwargs: Any) -> Any:
            return instrument_openai(copy(*args, **kwargs), collector)

        wrapped += [
            (client, "copy", instrumented_copy),
            (client, "with_options", instrumented_copy),
        ]
    except Exception as error:  # an SDK whose shape changed: the app runs, uninstrumented
        _internal_error(collector, error)
        return client
    # Every seam was found: only now is anything replaced, so a client is never half-instrumented.
    for holder, name, replacement in wrapped:
        setattr(holder, name, replacement)
    setattr(client, _MARK, collector)
    return client


__all__ = ["NO_MODEL", "instrument_openai"]
