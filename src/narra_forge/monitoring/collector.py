"""``MetricsCollector``: the application's one object for recording NARRA_FORGE metrics.

The hot path (an agent step: ``track_agent`` + ``track_api_call`` + ``record_tokens`` +
``record_cost``) is a dictionary lookup keyed by the raw arguments, returning the bound
prometheus-client children resolved the first time those arguments were seen. Validation, label
normalisation and the cardinality guard run only on a cache miss, which is why the helper is no
slower than calling ``.labels(...)`` by hand on every update. The trackers are ``__slots__``
classes rather than generator-based context managers for the same reason.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from prometheus_client import CollectorRegistry

from narra_forge.monitoring.catalogue import BY_NAME, ERROR_TYPES, LABELS, OVERFLOW_VALUE, Metric
from narra_forge.monitoring.errors import classify_exception
from narra_forge.monitoring.instruments import MAX_CACHED_KEYS, Instruments, instruments_for
from narra_forge.monitoring.pricing import ModelPrice, PricingTable, default_pricing
from narra_forge.monitoring.sentry import isolated
from narra_forge.monitoring.tracing import (
    OTEL_TRACE,
    PROVIDER,
    TraceSource,
    current_exemplar,
    exemplar_of,
)
from narra_forge.monitoring.usage import usage_counts

F = TypeVar("F", bound=Callable[..., Any])

STRICT_ENV = "NARRA_FORGE_MONITORING_STRICT"
_MODULES = sys.modules
_TRUE = frozenset({"1", "true", "yes", "on"})

_PIPELINE_DURATION = BY_NAME["narra_forge_pipeline_duration_seconds"]
_PIPELINE_TOTAL = BY_NAME["narra_forge_pipeline_total"]
_AGENT_DURATION = BY_NAME["narra_forge_agent_duration_seconds"]
_AGENT_ERRORS = BY_NAME["narra_forge_agent_errors_total"]
_API_CALLS = BY_NAME["narra_forge_api_calls_total"]
_API_DURATION = BY_NAME["narra_forge_api_call_duration_seconds"]
_API_ERRORS = BY_NAME["narra_forge_api_errors_total"]
_TOKENS = BY_NAME["narra_forge_tokens_used_total"]
_COST = BY_NAME["narra_forge_cost_usd_total"]
_QUALITY = BY_NAME["narra_forge_quality_score"]
_RETRIES = BY_NAME["narra_forge_retry_attempts_total"]
_CACHED = BY_NAME["narra_forge_cached_prompt_tokens_total"]
_UNPRICED = BY_NAME["narra_forge_unpriced_tokens_total"]
_REASONING = BY_NAME["narra_forge_reasoning_tokens_total"]
_TTFT = BY_NAME["narra_forge_api_time_to_first_token_seconds"]
_JOBS = BY_NAME["narra_forge_jobs_active"]
_PRICING_INFO = BY_NAME["narra_forge_pricing_info"]


#: The raw ``agent_id`` of the innermost ``track_agent`` block running in this context (thread,
#: asyncio task), or ``None`` outside any: how ``instrument_openai`` attributes a call.
CURRENT_AGENT: contextvars.ContextVar[object] = contextvars.ContextVar(
    "narra_forge_monitoring_agent", default=None
)


def strict_from_env() -> bool:
    """Whether ``NARRA_FORGE_MONITORING_STRICT`` asks for strict mode (1/true/yes/on)."""
    return os.environ.get(STRICT_ENV, "").strip().lower() in _TRUE


def _lookup(cache: dict[Any, Any], key: Any) -> Any:
    """The cached value for raw arguments, or ``None``: a miss, or an argument that cannot be a
    dictionary key (unhashable, or with an ``__eq__`` that raises). Misses are resolved by the
    caller outside this ``except``, so a strict-mode error carries no KeyError context."""
    try:
        return cache[key]
    except Exception:
        return None


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) < MAX_CACHED_KEYS:
        # A key that cannot be stored (an __eq__ that raises) is simply not cached.
        with contextlib.suppress(Exception):
            cache[key] = value


# -- resolved series bundles -----------------------------------------------------------------


class _PipelineSeries:
    __slots__ = ("duration", "failed", "span", "success", "tags")

    def __init__(self, duration: Any, success: Any, failed: Any, tags: dict[str, str]) -> None:
        self.duration = duration
        self.success = success
        self.failed = failed
        #: The Sentry tags of a run (the label values as recorded).
        self.tags = tags
        pt, genre = tags["production_type"], tags["genre"]
        #: Span name and attributes, built once: label values, so bounded like the series.
        self.span = (
            f"invoke_workflow {pt}",
            {
                "gen_ai.operation.name": "invoke_workflow",
                "gen_ai.workflow.name": pt,
                "narra_forge.production_type": pt,
                "narra_forge.genre": genre,
            },
        )


class _AgentSeries:
    __slots__ = ("agent_id", "duration", "errors", "span")

    def __init__(
        self, duration: Any, errors: dict[str, Any], agent_id: object, agent: str, model: str
    ) -> None:
        self.duration = duration
        self.errors = errors
        self.agent_id = agent_id  # as the caller gave it, for CURRENT_AGENT
        self.span = (
            f"invoke_agent {agent}",
            {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.provider.name": PROVIDER,
                "gen_ai.agent.name": agent,
                "gen_ai.agent.id": agent,
                "gen_ai.request.model": model,
            },
        )


class _ApiSeries:
    __slots__ = ("calls", "duration", "errors", "model", "span")

    def __init__(self, calls: Any, model: _ModelSeries, agent: str) -> None:
        self.calls = calls
        self.duration: Any = model.api_duration
        self.errors: dict[str, Any] = model.api_errors
        self.model = model
        self.span = (
            f"chat {model.label}",
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": PROVIDER,
                "gen_ai.request.model": model.label,
                "narra_forge.agent_id": agent,
            },
        )


class _ModelSeries:
    """Everything labelled by model alone."""

    __slots__ = (
        "_families",
        "_ttft",
        "api_duration",
        "api_errors",
        "cached",
        "completion",
        "label",
        "prompt",
        "reasoning",
        "unpriced",
    )

    def __init__(self, instruments: Instruments, label: str) -> None:
        families = self._families = instruments.families
        tokens = families[_TOKENS.name]
        self.label = label
        self._ttft: Any = None
        self.reasoning = families[_REASONING.name].labels(label)
        self.prompt = tokens.labels(label, "prompt")
        self.completion = tokens.labels(label, "completion")
        self.cached = families[_CACHED.name].labels(label)
        self.unpriced = families[_UNPRICED.name].labels(label)
        self.api_duration = families[_API_DURATION.name].labels(label)
        errors = families[_API_ERRORS.name]
        # Every error type exists from the first call on, at 0, so that rate() and increase()
        # see the first failure of a kind instead of a series appearing out of nowhere.
        self.api_errors = {kind: errors.labels(label, kind) for kind in ERROR_TYPES}

    @property
    def time_to_first_token(self) -> Any:
        """Created on first use: only models that are streamed get its 17 series."""
        if self._ttft is None:
            self._ttft = self._families[_TTFT.name].labels(self.label)
        return self._ttft


# -- trackers ---------------------------------------------------------------------------------


def _decorate(tracker_factory: Callable[[], Any], func: F) -> F:
    """Wrap ``func`` so each call runs inside a fresh tracker (sync or async)."""
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            async with tracker_factory():
                return await func(*args, **kwargs)

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with tracker_factory():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


class _Tracker:
    """What the three trackers share: a start time, ``async with`` and decorator use.

    Subclasses define ``__exit__`` (what one finished unit records) and may extend
    ``__enter__``. A tracker is a ``__slots__`` object rather than a generator-based context
    manager because it runs on every agent step.
    """

    __slots__ = ("_clock", "_series", "_source", "_span", "_start")

    #: Whether the span is a CLIENT span (a call out of the process) rather than INTERNAL.
    _CLIENT = False

    def __init__(self, series: Any, clock: Callable[[], float], source: TraceSource | None) -> None:
        self._series = series
        self._clock = clock
        self._source = source
        self._span: Any = None
        self._start = 0.0

    def __enter__(self) -> Any:
        if OTEL_TRACE in _MODULES and self._source is not None:  # the app traces: a span
            name, attributes = self._series.span
            self._span = self._source.start(name, attributes, self._CLIENT, True)
        try:  # noqa: SIM105 - contextlib.suppress costs an object per call on the hot path
            self._start = self._clock()
        except Exception:  # monitoring never breaks the pipeline (e.g. a broken custom clock)
            pass
        return self

    def _observe(self, histogram: Any, exc: BaseException | None) -> None:
        """Observe the block's duration with its trace as exemplar, and end the span.

        Called first thing in ``__exit__``, before anything that may raise, so a span is always
        ended and detached."""
        span = self._span
        self._span = None
        try:
            histogram.observe(self._elapsed(), exemplar_of(span[0]))
        finally:
            self._source.finish(span, exc)  # type: ignore[union-attr]

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Literal[False]:
        raise NotImplementedError

    def _elapsed(self) -> float:
        elapsed = self._clock() - self._start
        return elapsed if elapsed > 0 else 0.0

    def _fresh(self) -> _Tracker:
        """A new tracker for the same series, for one call of a decorated function."""
        return type(self)(self._series, self._clock, self._source)

    async def __aenter__(self) -> Any:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Literal[False]:
        return self.__exit__(exc_type, exc, tb)

    def __call__(self, func: F) -> F:
        return _decorate(self._fresh, func)


class _PipelineTracker(_Tracker):
    """``with``/``async with``/decorator: one pipeline run.

    With Sentry initialised, the run is also its own Sentry isolation scope (tagged with
    ``production_type`` and ``genre``): context set inside stays with this run.
    """

    __slots__ = ("_jobs", "_sentry")

    def __init__(
        self,
        series: _PipelineSeries,
        clock: Callable[[], float],
        source: TraceSource | None,
        jobs: Any,
    ) -> None:
        super().__init__(series, clock, source)
        self._jobs = jobs
        self._sentry: isolated | None = None

    def __enter__(self) -> _PipelineTracker:
        try:  # noqa: SIM105 - contextlib.suppress costs an object per call on the hot path
            self._jobs.inc()
        except Exception:
            pass
        if "sentry_sdk" in _MODULES:  # no Sentry imported: nothing to isolate, nothing spent
            self._sentry = isolated(self._series.tags)
            self._sentry.__enter__()
        super().__enter__()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Literal[False]:
        try:
            series = self._series
            if self._span is None:  # untraced: the observation alone, no method call
                series.duration.observe(self._elapsed())
            else:
                self._observe(series.duration, exc)
            if exc_type is None:
                series.success.inc()
            else:
                series.failed.inc()
        except Exception:
            pass
        finally:
            self._jobs.dec()
            sentry, self._sentry = self._sentry, None
            if sentry is not None:
                sentry.__exit__(exc_type, exc, tb)
        return False

    def _fresh(self) -> _PipelineTracker:
        return _PipelineTracker(self._series, self._clock, self._source, self._jobs)


class _AgentTracker(_Tracker):
    """``with``/``async with``/decorator: one agent execution.

    Inside the block, ``CURRENT_AGENT`` names the agent, so OpenAI calls made there (by a client
    given to ``instrument_openai``) are attributed to it; blocks nest, the innermost wins.
    """

    __slots__ = ("_token",)

    def __init__(
        self, series: _AgentSeries, clock: Callable[[], float], source: TraceSource | None
    ) -> None:
        super().__init__(series, clock, source)
        self._token: contextvars.Token[object] | None = None

    def __enter__(self) -> _AgentTracker:
        self._token = CURRENT_AGENT.set(self._series.agent_id)
        return super().__enter__()  # type: ignore[no-any-return]

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Literal[False]:
        try:
            series = self._series
            if self._span is None:  # untraced: the observation alone, no method call
                series.duration.observe(self._elapsed())
            else:
                self._observe(series.duration, exc)
            if exc_type is not None:
                series.errors[classify_exception(exc)].inc()
        except Exception:
            pass
        finally:
            self._leave()
        return False

    def _leave(self) -> None:
        token, self._token = self._token, None
        # ValueError: exited in another context than entered (a framework that moves a block
        # between tasks); that context never saw the set, so there is nothing to undo.
        if token is not None:
            with contextlib.suppress(ValueError):
                CURRENT_AGENT.reset(token)


class _ApiCallTracker(_Tracker):
    """``with``/``async with``/decorator: one OpenAI API call (each retry is a call)."""

    __slots__ = ()
    _CLIENT = True

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Literal[False]:
        try:
            series = self._series
            if self._span is None:  # untraced: the observation alone, no method call
                series.duration.observe(self._elapsed())
            else:
                self._observe(series.duration, exc)
            # Counted on exit, with the error if any, so calls and errors move together.
            series.calls.inc()
            if exc_type is not None:
                series.errors[classify_exception(exc)].inc()
        except Exception:
            pass
        return False


# -- the collector ----------------------------------------------------------------------------


class MetricsCollector:
    """Records NARRA_FORGE metrics into a Prometheus registry.

    ``registry=None`` uses prometheus-client's default registry (what ``start_metrics_server``
    serves). ``strict=None`` reads ``NARRA_FORGE_MONITORING_STRICT``; in strict mode bad input
    raises ``InstrumentationError`` (a ``ValueError``) instead of being counted and corrected.
    ``clock`` returns seconds from any fixed origin (monotonic by default); ``pricing`` is the
    table ``record_usage`` computes costs from. Once the application has imported OpenTelemetry,
    the trackers make spans through ``tracer_provider`` (``None``: the global one) and the
    duration histograms carry their trace id as exemplar; ``tracing=False`` turns that off for
    this collector (docs/instrumentation.md, "Tracing").
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        strict: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        pricing: PricingTable | None = None,
        tracing: bool = True,
        tracer_provider: object | None = None,
    ) -> None:
        if not callable(clock):
            raise ValueError(f"MetricsCollector: clock must be callable, got {clock!r}")
        if pricing is not None and not isinstance(pricing, PricingTable):
            raise ValueError(f"MetricsCollector: pricing must be a PricingTable, got {pricing!r}")
        self.strict = strict_from_env() if strict is None else bool(strict)
        self.pricing = default_pricing() if pricing is None else pricing
        self._clock = clock
        self._instruments = instruments = instruments_for(registry)
        self._families = instruments.families
        self._guard = instruments.guard
        self._jobs = self._families[_JOBS.name]
        # Bound once: the hot path reads them as attributes of self.
        self._pipeline_cache = instruments.pipelines
        self._agent_cache = instruments.agents
        self._api_cache = instruments.api_calls
        self._model_cache = instruments.models
        self._cost_cache = instruments.costs
        self._quality_cache = instruments.quality
        self._retry_cache = instruments.retries
        self._agent_error_cache = instruments.agent_errors
        #: Spans, exemplars: see tracing.py. ``None`` when this collector never traces.
        self._trace = TraceSource(tracer_provider, self._tracing_error) if tracing else None
        self._prices: dict[str, ModelPrice | None] = {}
        self._prices_lock = threading.Lock()
        version, _ = self._guard.label(_PRICING_INFO, "version", self.pricing.version, strict=False)
        self._families[_PRICING_INFO.name].labels(version).set(1)

    def _tracing_error(self, error: Exception) -> None:
        """Count and log (once) a failure of OpenTelemetry; the step runs on untraced."""
        with contextlib.suppress(Exception):
            self._guard.refuse(
                "tracing", type(error).__name__, error, "internal_error", "ignored", strict=False
            )

    # -- label resolution (cache misses only) ------------------------------------------------

    def _label(self, metric: Any, label: str, raw: object) -> tuple[str, bool]:
        return self._guard.label(metric, label, raw, strict=self.strict)

    def _child(self, cache: dict[Any, Any], metric: Metric, raw_values: tuple[Any, ...]) -> Any:
        """The bound child of ``metric`` for raw label values, validated on a cache miss."""
        child = _lookup(cache, raw_values)
        if child is not None:
            return child
        labelled = zip(metric.labels, raw_values, strict=True)
        checked = [self._label(metric, name, raw) for name, raw in labelled]
        child = self._families[metric.name].labels(*(value for value, _ in checked))
        if all(ok for _, ok in checked):
            _remember(cache, raw_values, child)
        return child

    def _resolve_pipeline(self, production_type: object, genre: object) -> _PipelineSeries:
        pt, pt_ok = self._label(_PIPELINE_TOTAL, "production_type", production_type)
        g, g_ok = self._label(_PIPELINE_TOTAL, "genre", genre)
        total = self._families[_PIPELINE_TOTAL.name]
        series = _PipelineSeries(
            self._families[_PIPELINE_DURATION.name].labels(pt, g),
            total.labels(pt, g, "success"),
            total.labels(pt, g, "failed"),  # exists at 0 from the first run on
            {"production_type": pt, "genre": g},
        )
        if pt_ok and g_ok:
            _remember(self._pipeline_cache, (production_type, genre), series)
        return series

    def _agent_errors_for(self, agent: str) -> dict[str, Any]:
        """Error children of a resolved agent id; every error type exists at 0 from the start."""
        children = self._instruments.agent_errors_by_label.get(agent)
        if children is None:
            errors = self._families[_AGENT_ERRORS.name]
            children = {kind: errors.labels(agent, kind) for kind in ERROR_TYPES}
            self._instruments.agent_errors_by_label[agent] = children
        return children

    def _resolve_agent(self, agent_id: object, model: object) -> _AgentSeries:
        agent, agent_ok = self._label(_AGENT_DURATION, "agent_id", agent_id)
        model_series, model_ok = self._model_series(model, _AGENT_DURATION)
        series = _AgentSeries(
            self._families[_AGENT_DURATION.name].labels(agent, model_series.label),
            self._agent_errors_for(agent),
            agent_id,
            agent,
            model_series.label,
        )
        if agent_ok and model_ok:
            _remember(self._agent_cache, (agent_id, model), series)
        return series

    def _model_series(self, model: object, metric: Metric) -> tuple[_ModelSeries, bool]:
        series = _lookup(self._model_cache, model)
        if series is not None:
            return series, True
        label, ok = self._label(metric, "model", model)
        by_label = self._instruments.models_by_label
        series = by_label.get(label)
        if series is None:
            series = by_label[label] = _ModelSeries(self._instruments, label)
        if ok:
            _remember(self._model_cache, model, series)
        return series, ok

    def _resolve_api(self, model: object, agent_id: object) -> _ApiSeries:
        model_series, model_ok = self._model_series(model, _API_CALLS)
        agent, agent_ok = self._label(_API_CALLS, "agent_id", agent_id)
        series = _ApiSeries(
            self._families[_API_CALLS.name].labels(model_series.label, agent), model_series, agent
        )
        if model_ok and agent_ok:
            _remember(self._api_cache, (model, agent_id), series)
        return series

    def _api_series(self, model: object, agent_id: object) -> _ApiSeries:
        """The series of one API call (``instrument_openai``), as ``track_api_call`` finds them."""
        series = _lookup(self._api_cache, (model, agent_id))
        return series if series is not None else self._resolve_api(model, agent_id)

    def _resolve_cost(self, model: object, agent_id: object) -> Any:
        model_series, model_ok = self._model_series(model, _COST)
        agent, agent_ok = self._label(_COST, "agent_id", agent_id)
        child = self._families[_COST.name].labels(model_series.label, agent)
        if model_ok and agent_ok:
            _remember(self._cost_cache, (model, agent_id), child)
        return child

    # -- trackers ----------------------------------------------------------------------------

    def track_pipeline(self, production_type: str, genre: str) -> _PipelineTracker:
        """Time one pipeline run; count it as success, or failed if the block raises.

        ``narra_forge_jobs_active`` is raised for the duration of the block and always brought
        back, whatever the block does (exceptions and task cancellation included).
        """
        try:  # inlined rather than a helper call: this runs on every call
            series = self._pipeline_cache[(production_type, genre)]
        except Exception:  # a miss, or arguments that cannot be a dictionary key
            series = None
        if series is None:
            series = self._resolve_pipeline(production_type, genre)
        return _PipelineTracker(series, self._clock, self._trace, self._jobs)

    def track_agent(self, agent_id: str, model: str) -> _AgentTracker:
        """Time one agent execution; on an exception count it by classified ``error_type``."""
        try:  # inlined rather than a helper call: this runs on every call
            series = self._agent_cache[(agent_id, model)]
        except Exception:  # a miss, or arguments that cannot be a dictionary key
            series = None
        if series is None:
            series = self._resolve_agent(agent_id, model)
        return _AgentTracker(series, self._clock, self._trace)

    def track_api_call(self, model: str, agent_id: str) -> _ApiCallTracker:
        """Time and count one OpenAI API call; on an exception count it as an API error."""
        try:  # inlined rather than a helper call: this runs on every call
            series = self._api_cache[(model, agent_id)]
        except Exception:  # a miss, or arguments that cannot be a dictionary key
            series = None
        if series is None:
            series = self._resolve_api(model, agent_id)
        return _ApiCallTracker(series, self._clock, self._trace)

    # -- tokens and cost ---------------------------------------------------------------------

    def _count(self, metric: str, what: str, value: Any) -> float | None:
        return self._guard.amount(metric, what, value, strict=self.strict)

    def _checked(self, metric: str, what: str, value: Any) -> float | None:
        if type(value) is int and 0 <= value <= _MAX_INT:
            return value
        return self._count(metric, what, value)

    def record_tokens(self, model: str, prompt_tokens: int = 0, completion_tokens: int = 0) -> None:
        """Add tokens billed for a model (prompt tokens include cached prompt tokens)."""
        try:  # inlined rather than a helper call: this runs on every call
            series = self._model_cache[model]
        except Exception:  # a miss, or arguments that cannot be a dictionary key
            series = None
        if series is None:
            series = self._model_series(model, _TOKENS)[0]
        if type(prompt_tokens) is not int or not 0 <= prompt_tokens <= _MAX_INT:
            prompt_tokens = self._count(_TOKENS.name, "prompt_tokens", prompt_tokens)  # type: ignore[assignment]
        if type(completion_tokens) is not int or not 0 <= completion_tokens <= _MAX_INT:
            completion_tokens = self._count(_TOKENS.name, "completion_tokens", completion_tokens)  # type: ignore[assignment]
        if prompt_tokens:
            series.prompt.inc(prompt_tokens)
        if completion_tokens:
            series.completion.inc(completion_tokens)

    def record_cost(self, model: str, agent_id: str, usd: float) -> None:
        """Add a cost in US dollars that the caller computed itself."""
        try:  # inlined rather than a helper call: this runs on every call
            child = self._cost_cache[(model, agent_id)]
        except Exception:  # a miss, or arguments that cannot be a dictionary key
            child = None
        if child is None:
            child = self._resolve_cost(model, agent_id)
        if type(usd) is not float or not 0.0 <= usd <= _MAX_USD:
            usd = self._count(_COST.name, "usd", usd)  # type: ignore[assignment]
            if usd is not None and usd > _MAX_USD:
                self._guard.refuse(
                    _COST.name, "usd", usd, "out_of_range", "dropped", strict=self.strict
                )
                usd = None  # type: ignore[assignment]
        if usd:
            child.inc(usd)

    def _price_of(self, model: object, label: str) -> ModelPrice | None:
        # str.strip returns a plain str even for str subclasses: a safe dictionary key.
        key = model.strip().lower() if isinstance(model, str) else label
        try:
            return self._prices[key]
        except KeyError:
            price = self.pricing.price_of(key)
            with self._prices_lock:
                _remember(self._prices, key, price)
            return price

    def record_usage(
        self,
        model: str,
        agent_id: str,
        prompt_tokens: int,
        completion_tokens: int,
        cached_tokens: int | None = 0,
    ) -> float | None:
        """Record the tokens of one call and its cost from the pricing table.

        ``cached_tokens`` is the part of ``prompt_tokens`` served from OpenAI's prompt cache
        (``usage.prompt_tokens_details.cached_tokens``): counted once in prompt tokens, priced
        at the cached rate. ``None`` (what the SDK holds when the server sent no cache details)
        means none were cached. Returns the cost in USD, or ``None`` when none could be computed:
        the model is missing from the pricing table (its tokens are then counted in
        ``narra_forge_unpriced_tokens_total``), or a token count was refused.
        """
        series, _ = self._model_series(model, _TOKENS)
        cost_child = self._resolve_cost_cached(model, agent_id)
        if cached_tokens is None:
            cached_tokens = 0
        # Plain non-negative ints (what the SDK returns) skip the validating path.
        prompt = self._checked(_TOKENS.name, "prompt_tokens", prompt_tokens)
        completion = self._checked(_TOKENS.name, "completion_tokens", completion_tokens)
        cached = self._checked(_CACHED.name, "cached_tokens", cached_tokens)
        if prompt is None or completion is None or cached is None:
            return None  # one refused count makes the cost unknowable: drop the whole usage
        if cached > prompt:
            self._guard.refuse(
                _CACHED.name,
                "cached_tokens",
                cached_tokens,
                "cached_exceeds_prompt",
                f"clamped to prompt_tokens={prompt:g}",
                strict=self.strict,
            )
            cached = prompt
        price = self._price_of(model, series.label)
        usd = None
        if price is not None:
            usd = (
                (prompt - cached) * price.input
                + cached * price.cached_rate()
                + completion * price.output
            ) / 1_000_000
            if not usd < _INF:  # absurd counts near the float limit: never an infinite counter
                self._guard.refuse(
                    _COST.name,
                    _COMPUTED_USD,
                    (prompt_tokens, completion_tokens, cached_tokens),
                    "not_finite",
                    "usage dropped",
                    strict=self.strict,
                )
                return None
        if prompt:
            series.prompt.inc(prompt)
        if completion:
            series.completion.inc(completion)
        if cached:
            series.cached.inc(cached)
        if price is None:
            series.unpriced.inc(prompt + completion)
            self._guard.refuse(
                _COST.name,
                "label model",
                model,
                "unpriced_model",
                f"not costed; tokens counted in narra_forge_unpriced_tokens_total "
                f"(pricing table {self.pricing.version})",
                strict=self.strict,
                raise_in_strict=False,
            )
            return None
        if usd:
            cost_child.inc(usd)
        return usd

    def record_openai_usage(self, model: str, agent_id: str, usage: object) -> float | None:
        """Record one response's usage as the OpenAI SDK returns it, for code that does not
        wrap its client with ``instrument_openai``.

        ``usage`` is ``response.usage`` of Chat Completions (``CompletionUsage``) or of the
        Responses API (``ResponseUsage``), or the dict form of either. Missing or ``None``
        details count as 0. Tokens and cost as ``record_usage`` (cached tokens priced at the
        cached rate); reasoning tokens, part of the completion tokens and billed with them,
        are also counted in ``narra_forge_reasoning_tokens_total``. Returns the cost in USD,
        or ``None`` as ``record_usage`` does; a ``usage`` of another shape is refused
        (``wrong_type``).
        """
        counts = usage_counts(usage)
        if counts is None:
            self._guard.refuse(
                _TOKENS.name, "usage", usage, "wrong_type", "dropped", strict=self.strict
            )
            return None
        prompt, completion, cached, reasoning = counts
        usd = self.record_usage(model, agent_id, prompt, completion, cached)  # type: ignore[arg-type]
        reasoning_tokens = self._checked(_REASONING.name, "reasoning_tokens", reasoning)
        if reasoning_tokens:
            self._model_series(model, _REASONING)[0].reasoning.inc(reasoning_tokens)
        return usd

    def record_time_to_first_token(self, model: str, seconds: float) -> None:
        """Observe how long a streamed response took to its first content chunk.

        ``instrument_openai`` observes it by itself; this is for code that streams through
        another client. A negative or non-numeric value is refused and counted, as everywhere.
        """
        if type(seconds) is float and 0.0 <= seconds < _INF:
            value: float | None = seconds
        else:
            value = self._count(_TTFT.name, "seconds", seconds)
        if value is not None:
            exemplar = None
            if OTEL_TRACE in _MODULES and self._trace is not None:  # the app traces
                exemplar = current_exemplar()
            self._model_series(model, _TTFT)[0].time_to_first_token.observe(value, exemplar)

    def _resolve_cost_cached(self, model: object, agent_id: object) -> Any:
        child = _lookup(self._cost_cache, (model, agent_id))
        return child if child is not None else self._resolve_cost(model, agent_id)

    # -- quality, retries, errors, jobs ------------------------------------------------------

    def record_quality_score(self, production_type: str, metric_type: str, score: float) -> None:
        """Observe a quality score in [0, 1] (out-of-range scores are clamped and counted)."""
        child = self._child(self._quality_cache, _QUALITY, (production_type, metric_type))
        if type(score) is not float or not 0.0 <= score <= 1.0:
            score = self._guard.score(_QUALITY.name, "score", score, strict=self.strict)  # type: ignore[assignment]
            if score is None:
                return
        child.observe(score)

    def record_retry(self, agent_id: str, reason: str | BaseException) -> None:
        """Count one retry of an agent step. ``reason`` may be an exception: it is classified."""
        if isinstance(reason, BaseException):
            reason = classify_exception(reason)
        self._child(self._retry_cache, _RETRIES, (agent_id, reason)).inc()

    def record_api_error(self, model: str, error: BaseException | str) -> None:
        """Count a failed API call you caught yourself (``track_api_call`` already counts the
        exceptions that leave its block: do not count those twice)."""
        series, _ = self._model_series(model, _API_ERRORS)
        series.api_errors[classify_exception(error)].inc()

    def record_agent_error(self, agent_id: str, error: BaseException | str) -> None:
        """Count a failed agent execution you caught yourself (``track_agent`` already counts
        the exceptions that leave its block)."""
        errors = _lookup(self._agent_error_cache, agent_id)
        if errors is None:
            agent, ok = self._label(_AGENT_ERRORS, "agent_id", agent_id)
            errors = self._agent_errors_for(agent)
            if ok:
                _remember(self._agent_error_cache, agent_id, errors)
        errors[classify_exception(error)].inc()

    def set_jobs_active(self, n: int) -> None:
        """Set the number of pipeline runs in progress (when you track them yourself)."""
        value = self._count(_JOBS.name, "n", n)
        if value is not None:
            self._jobs.set(value)

    # -- diagnostics -------------------------------------------------------------------------

    def admitted_values(self, label: str) -> frozenset[str]:
        """The values of an open label (``genre``, ``model``, ``reason``) admitted so far."""
        return self._guard.admitted(LABELS[label])


_INF = float("inf")
#: The largest cost one ``record_cost`` call may add. No call costs a billion dollars; a bound
#: keeps the counter finite, where two finite amounts near the float limit would add up to inf.
_MAX_USD = 1e9
#: What a refusal of the cost computed by ``record_usage`` names (its value: the three counts).
_COMPUTED_USD = "usd computed from (prompt_tokens, completion_tokens, cached_tokens)"
#: Larger integer counts take the validating path (floats lose integer precision above 2**53).
_MAX_INT = 2**53

__all__ = ["OVERFLOW_VALUE", "STRICT_ENV", "MetricsCollector", "strict_from_env"]
