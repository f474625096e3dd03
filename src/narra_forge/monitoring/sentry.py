"""Optional Sentry error tracking (``pip install 'narra-forge-monitoring[sentry]'``).

Thin wrappers over sentry-sdk. Without sentry-sdk installed each of them warns once (a
``RuntimeWarning``, which ``configure_logging`` turns into a log line) and does nothing, so the
application code calling them needs no ``try: import``.

Defaults differ from sentry-sdk's in one respect: local variables are *not* attached to stack
frames (``include_local_variables=False``), for the same reason the JSON logs leave them out:
they may hold API keys and prompts. Pass ``include_local_variables=True`` to opt in.

Once Sentry is initialised, three things keep each event to its own job:

* ``track_pipeline`` and ``bind_context`` run their block in a fork of sentry-sdk's isolation
  scope (``sentry_sdk.isolation_scope()``): ``set_context``/``set_tag`` inside a job stay with
  that job, whether jobs run under ``asyncio.gather``, in threads or one after another on a
  pool thread, and are gone when the block ends. ``track_pipeline`` also tags the event with
  ``production_type`` and ``genre``.
* An event processor adds the keys bound with ``bind_context`` where the event is captured:
  all of them as the ``log_context`` context, and the scalar ones as tags (``job_id``), so an
  event is found by the ids its log lines carry.
* ``capture_exception`` marks the exception it sent; when the same exception is captured again
  (it was re-raised and sentry-sdk's excepthook or a framework integration saw it), that second
  event is dropped: one event per error.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import threading
import warnings
from types import ModuleType
from typing import Any

from structlog.contextvars import get_contextvars

_warned = False
_warn_lock = threading.Lock()
_processor_lock = threading.Lock()
_processor_installed = False
#: Set on an exception ``capture_exception`` sent (its event id).
_SENT = "__narra_forge_sentry_event_id__"
#: Sentry refuses longer tag values.
_MAX_TAG_LENGTH = 200


def _sdk() -> ModuleType | None:
    global _warned
    try:
        return importlib.import_module("sentry_sdk")
    except ImportError:
        with _warn_lock:
            if not _warned:
                _warned = True
                warnings.warn(
                    "sentry-sdk is not installed: Sentry calls do nothing. "
                    "Install it with: pip install 'narra-forge-monitoring[sentry]'",
                    RuntimeWarning,
                    stacklevel=3,
                )
        return None


def init_sentry(
    dsn: str | None,
    environment: str | None = None,
    traces_sample_rate: float = 0.0,
    **options: Any,
) -> bool:
    """Initialise Sentry. Returns ``True`` when sentry-sdk was initialised.

    ``dsn=None`` or ``""`` initialises a disabled client (nothing is sent), which is what you want
    in development. Other keyword arguments go to ``sentry_sdk.init`` unchanged.
    """
    if isinstance(traces_sample_rate, bool) or not isinstance(traces_sample_rate, (int, float)):
        raise ValueError(
            f"init_sentry: traces_sample_rate must be a number, got {traces_sample_rate!r}"
        )
    if not 0.0 <= traces_sample_rate <= 1.0:
        raise ValueError(
            f"init_sentry: traces_sample_rate must be in [0, 1], got {traces_sample_rate!r}"
        )
    sdk = _sdk()
    if sdk is None:
        return False
    options.setdefault("include_local_variables", False)
    sdk.init(
        dsn=dsn or None,
        environment=environment,
        traces_sample_rate=float(traces_sample_rate),
        **options,
    )
    _install_event_processor(sdk)
    return True


def _install_event_processor(sdk: ModuleType) -> None:
    global _processor_installed
    with _processor_lock:
        if not _processor_installed:
            importlib.import_module("sentry_sdk.scope").add_global_event_processor(_event_processor)
            _processor_installed = True


def _event_processor(event: dict[str, Any], hint: dict[str, Any] | None) -> dict[str, Any] | None:
    """Drop a second capture of an exception already sent; add the bound log context."""
    try:
        exc_info = hint.get("exc_info") if hint else None
        if exc_info and getattr(exc_info[1], _SENT, None) is not None:
            return None
        bound = get_contextvars()
        if bound:
            event.setdefault("contexts", {})["log_context"] = dict(bound)
            tags = event.setdefault("tags", {})
            for key, value in bound.items():
                if key not in tags and isinstance(value, (str, int, float)):
                    tags[key] = str(value)[:_MAX_TAG_LENGTH]
    except Exception:  # never lose an event because of the enrichment
        pass
    return event


def _active_sdk() -> ModuleType | None:
    """sentry-sdk when the application imported it and initialised an active client.

    Never imports it (the helpers that call this run on every pipeline and ``bind_context``)."""
    sdk = sys.modules.get("sentry_sdk")
    if sdk is None:
        return None
    try:
        return sdk if sdk.is_initialized() else None
    except Exception:
        return None


class isolated:  # lower case: used like a function, ``with isolated(): ...``
    """Run a block in a fork of sentry-sdk's isolation scope, when Sentry is initialised.

    A no-op otherwise (no import, nothing allocated beyond this object). Never raises: an exit
    in another context than the entry (a block entered in one thread and left in another) is
    ignored. ``tags`` are set on the forked scope.
    """

    __slots__ = ("_manager", "_tags")

    def __init__(self, tags: dict[str, str] | None = None) -> None:
        self._manager: Any = None
        self._tags = tags

    def __enter__(self) -> Any:
        sdk = _active_sdk()
        if sdk is None:
            return None
        try:
            manager = sdk.isolation_scope()
            scope = manager.__enter__()
        except Exception:
            return None
        self._manager = manager
        if self._tags:
            with contextlib.suppress(Exception):
                for key, value in self._tags.items():
                    scope.set_tag(key, value)
        return scope

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        manager, self._manager = self._manager, None
        if manager is not None:
            with contextlib.suppress(Exception):
                manager.__exit__(None, None, None)


def set_context(name: str, values: dict[str, Any]) -> None:
    """Attach a named block of context (e.g. ``"pipeline"``) to later events."""
    sdk = _sdk()
    if sdk is not None:
        sdk.set_context(name, values)


def set_tag(key: str, value: str) -> None:
    """Attach a searchable tag (e.g. ``production_type``) to later events."""
    sdk = _sdk()
    if sdk is not None:
        sdk.set_tag(key, value)


def capture_exception(error: BaseException | None = None) -> str | None:
    """Send an exception (default: the one being handled). Returns the event id, if sent.

    The exception is marked as sent: re-raise it, and the capture of the same exception by
    sentry-sdk's excepthook or a framework integration is dropped (one event per error).
    """
    sdk = _sdk()
    if sdk is None:
        return None
    event_id: str | None = sdk.capture_exception(error)
    target = error if error is not None else sys.exc_info()[1]
    if event_id is not None and target is not None:
        with contextlib.suppress(Exception):  # an exception class that refuses attributes
            setattr(target, _SENT, event_id)
    return event_id


__all__ = ["capture_exception", "init_sentry", "isolated", "set_context", "set_tag"]
