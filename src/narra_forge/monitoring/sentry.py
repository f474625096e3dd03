"""Optional Sentry error tracking (``pip install 'narra-forge-monitoring[sentry]'``).

Thin wrappers over sentry-sdk. Without sentry-sdk installed each of them warns once (a
``RuntimeWarning``, which ``configure_logging`` turns into a log line) and does nothing, so the
application code calling them needs no ``try: import``.

Defaults differ from sentry-sdk's in one respect: local variables are *not* attached to stack
frames (``include_local_variables=False``), for the same reason the JSON logs leave them out:
they may hold API keys and prompts. Pass ``include_local_variables=True`` to opt in.
"""

from __future__ import annotations

import importlib
import threading
import warnings
from types import ModuleType
from typing import Any

_warned = False
_warn_lock = threading.Lock()


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
    return True


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
    """Send an exception (default: the one being handled). Returns the event id, if sent."""
    sdk = _sdk()
    if sdk is None:
        return None
    return sdk.capture_exception(error)


__all__ = ["capture_exception", "init_sentry", "set_context", "set_tag"]
