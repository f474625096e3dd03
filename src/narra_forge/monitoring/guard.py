"""Validate what the application hands to the metrics, so bad input never breaks it.

Policy (documented in docs/instrumentation.md, "Bad input"):

* A label value is normalised (surrounding space stripped; lower-cased; for identifier-like
  labels such as ``genre``, runs of spaces and dashes become ``_``). A value that is not a string,
  is empty, holds control characters, is longer than ``MAX_LABEL_LENGTH``, is not in a fixed
  label's set, or would exceed an open label's cap is *refused*: it never becomes a series. The
  observation is kept under the value ``other`` so totals (spend above all) stay right.
* A number that is not a real number, not finite, or negative is dropped. A quality score outside
  [0, 1] is clamped into it.
* Every refusal is counted in ``narra_forge_instrumentation_errors_total{metric, reason}`` and
  logged once per (metric, reason, value), for at most ``MAX_LOGGED`` distinct ones per process.
* In strict mode the same refusals raise ``InstrumentationError`` (a ``ValueError``) naming the
  metric, the label or argument, and the value.

One ``LabelGuard`` serves every collector of a registry, so the cap of an open label is shared.
"""

from __future__ import annotations

import decimal
import math
import numbers
import re
import threading
from collections.abc import Callable
from typing import Any

from narra_forge.monitoring.catalogue import OVERFLOW_VALUE, Label, Metric

#: Longer label values are refused: a label is a category, not a sentence.
MAX_LABEL_LENGTH = 100
#: Distinct (metric, reason, value) refusals logged per process; later ones are only counted.
MAX_LOGGED = 1000

#: Labels whose values keep their dashes and inner spaces (model names are ``gpt-4o-mini``).
_VERBATIM_LABELS = frozenset({"model", "version", "metric"})
#: Labels whose case is significant.
_CASE_SENSITIVE_LABELS = frozenset({"version", "metric"})
_SEPARATORS = re.compile(r"[\s\-]+")

#: Human explanation of each reason, for log lines and strict-mode errors.
EXPLANATIONS: dict[str, str] = {
    "negative": "is negative",
    "not_finite": "is not finite (NaN or infinity)",
    "out_of_range": "is out of range",
    "wrong_type": "has the wrong type",
    "empty_label": "is empty",
    "unknown_label_value": "is not one of the allowed values",
    "label_overflow": "would exceed the cap of distinct values",
    "unpriced_model": "is missing from the pricing table",
    "cached_exceeds_prompt": "exceeds prompt_tokens",
    "missing_usage": "came without usage (token counts)",
    "internal_error": "made the instrumentation itself fail",
}


class InstrumentationError(ValueError):
    """Raised in strict mode for input the default mode would count and drop or correct."""

    def __init__(self, metric: str, what: str, value: object, reason: str, detail: str) -> None:
        self.metric = metric
        self.what = what
        self.value = value
        self.reason = reason
        super().__init__(f"{metric}: {what}={safe_repr(value)} {detail} (reason: {reason})")


def safe_repr(value: object, limit: int = 80) -> str:
    """``repr`` that never raises and never floods a log line."""
    try:
        text = repr(value)
    except Exception:
        text = f"<unrepresentable {type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def normalise(label: str, value: str) -> str:
    """The form a label value is stored in (see the module docstring)."""
    value = value.strip()
    if label not in _CASE_SENSITIVE_LABELS:
        value = value.lower()
    if label not in _VERBATIM_LABELS:
        value = _SEPARATORS.sub("_", value)
    return value


class LabelGuard:
    """Resolves raw label values and numbers; counts, logs or raises what it refuses."""

    def __init__(
        self,
        count_error: Callable[[str, str], None],
        log_warning: Callable[..., None],
    ) -> None:
        self._count_error = count_error
        self._log_warning = log_warning
        self._admitted: dict[Label, set[str]] = {}
        self._lock = threading.Lock()
        self._logged: set[tuple[str, str, str]] = set()
        self._logging_capped = False

    # -- reporting ---------------------------------------------------------------------------

    def refuse(
        self,
        metric: str,
        what: str,
        value: object,
        reason: str,
        action: str,
        *,
        strict: bool,
        raise_in_strict: bool = True,
    ) -> None:
        """Count and log one refusal, or raise it in strict mode."""
        detail = EXPLANATIONS.get(reason, reason)
        if strict and raise_in_strict:
            raise InstrumentationError(metric, what, value, reason, detail)
        self._count_error(metric, reason)
        shown = safe_repr(value)
        key = (metric, reason, shown)
        if key in self._logged:
            return
        with self._lock:
            if len(self._logged) >= MAX_LOGGED:
                if self._logging_capped:
                    return
                self._logging_capped = True
                capped = True
            else:
                self._logged.add(key)
                capped = False
        if capped:
            self._log_warning(
                "monitoring_input_refusals_no_longer_logged",
                distinct_refusals_logged=MAX_LOGGED,
                hint="see narra_forge_instrumentation_errors_total for the counts",
            )
            return
        self._log_warning(
            "monitoring_input_refused",
            metric=metric,
            argument=what,
            value=shown,
            reason=reason,
            problem=detail,
            action=action,
        )

    # -- labels ------------------------------------------------------------------------------

    def label(self, metric: Metric, label: str, raw: object, *, strict: bool) -> tuple[str, bool]:
        """The stored value of one label, and whether it was accepted as given (``clean``)."""
        domain = metric.domains[label]
        what = f"label {label}"
        reason = None
        value = OVERFLOW_VALUE
        if raw is None:
            reason = "empty_label"
        elif not isinstance(raw, str):
            reason = "wrong_type"
        else:
            value = normalise(label, raw)
            if not value:
                reason = "empty_label"
            elif len(value) > MAX_LABEL_LENGTH:
                reason = "out_of_range"
            elif not value.isprintable():
                # Control characters and lone surrogates: the latter cannot even be encoded
                # into the exposition, which would break /metrics for every series.
                reason = "wrong_type"
            elif domain.values is not None:
                if value not in domain.values:
                    reason = "unknown_label_value"
            elif value != OVERFLOW_VALUE and not self._admit(domain, value):
                reason = "label_overflow"
        if reason is None:
            return value, True
        self.refuse(
            metric.name, what, raw, reason, f"reported as {OVERFLOW_VALUE!r}", strict=strict
        )
        return OVERFLOW_VALUE, False

    def _admit(self, domain: Label, value: str) -> bool:
        admitted = self._admitted.get(domain)
        if admitted is not None and value in admitted:
            return True
        with self._lock:
            admitted = self._admitted.setdefault(domain, set())
            if value in admitted:
                return True
            if domain.cap is not None and len(admitted) >= domain.cap:
                return False
            admitted.add(value)
            return True

    def admitted(self, label: Label) -> frozenset[str]:
        """Values of an open label admitted so far (for tests and diagnostics)."""
        return frozenset(self._admitted.get(label, ()))

    # -- numbers -----------------------------------------------------------------------------

    def amount(self, metric: str, what: str, raw: Any, *, strict: bool) -> float | None:
        """A finite, non-negative number, or ``None`` (refused, observation dropped)."""
        number = self._real(metric, what, raw, strict=strict)
        if number is None:
            return None
        if number < 0:
            self.refuse(metric, what, raw, "negative", "dropped", strict=strict)
            return None
        return number

    def score(self, metric: str, what: str, raw: Any, *, strict: bool) -> float | None:
        """A number in [0, 1]; out-of-range values clamped, non-numbers dropped."""
        number = self._real(metric, what, raw, strict=strict)
        if number is None:
            return None
        if 0.0 <= number <= 1.0:
            return number
        clamped = 0.0 if number < 0 else 1.0
        self.refuse(metric, what, raw, "out_of_range", f"clamped to {clamped:g}", strict=strict)
        return clamped

    def _real(self, metric: str, what: str, raw: Any, *, strict: bool) -> float | None:
        if isinstance(raw, bool) or not isinstance(raw, (numbers.Real, decimal.Decimal)):
            self.refuse(metric, what, raw, "wrong_type", "dropped", strict=strict)
            return None
        try:
            number = float(raw)
        except (ValueError, OverflowError, TypeError):
            self.refuse(metric, what, raw, "not_finite", "dropped", strict=strict)
            return None
        if not math.isfinite(number):
            self.refuse(metric, what, raw, "not_finite", "dropped", strict=strict)
            return None
        return number
