"""What a model's tokens cost, so ``record_usage`` can turn usage into dollars.

Prices are USD per million tokens, as OpenAI publishes them. Cached prompt tokens are a subset of
the prompt tokens, billed at the cached-input rate instead of the input rate; they are never
counted twice. The table carries a ``version`` that the collector exposes as
``narra_forge_pricing_info{version="..."} 1``, so a dashboard can show which prices a cost was
computed from. How to update the table: docs/instrumentation.md, "Pricing".

Operators update prices without a release through a pricing file named by the environment
variable ``NARRA_FORGE_PRICING_FILE`` (JSON, or YAML when PyYAML is installed): its models are
laid over ``DEFAULT_PRICING`` and its version replaces the default one. The file is read and
validated when the first ``MetricsCollector`` is created, so a wrong price stops the application
at start with an error naming the file, the model and the field, rather than costing calls wrong.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

#: OpenAI snapshot names end in a date: ``gpt-4o-mini-2024-07-18`` is priced as ``gpt-4o-mini``
#: unless the table lists the snapshot itself (``gpt-4o-2024-05-13`` had its own, higher price).
_SNAPSHOT_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")


def _check_price(model: str, what: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"pricing: model {model!r}: {what} must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"pricing: model {model!r}: {what} must be finite and >= 0, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class ModelPrice:
    """USD per million tokens. ``cached_input=None`` means the model has no cache discount."""

    input: float
    output: float
    cached_input: float | None = None

    def cached_rate(self) -> float:
        return self.input if self.cached_input is None else self.cached_input


@dataclass(frozen=True)
class PricingTable:
    """Prices by lower-case model name, with the version string of the table."""

    version: str
    prices: Mapping[str, ModelPrice] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.version, str) or not self.version.strip():
            raise ValueError(f"pricing: version must be a non-empty string, got {self.version!r}")
        checked: dict[str, ModelPrice] = {}
        for model, price in self.prices.items():
            if not isinstance(model, str) or not model.strip():
                raise ValueError(f"pricing: model names must be non-empty strings, got {model!r}")
            if not isinstance(price, ModelPrice):
                raise ValueError(f"pricing: model {model!r}: expected a ModelPrice, got {price!r}")
            _check_price(model, "input", price.input)
            _check_price(model, "output", price.output)
            if price.cached_input is not None:
                _check_price(model, "cached_input", price.cached_input)
            checked[model.strip().lower()] = price
        object.__setattr__(self, "prices", MappingProxyType(checked))

    @classmethod
    def from_mapping(cls, version: str, prices: Mapping[str, Mapping[str, float]]) -> PricingTable:
        """Build a table from plain data, e.g. a JSON or YAML file of your own.

        ``{"gpt-4o": {"input": 2.5, "cached_input": 1.25, "output": 10}}``
        """
        table: dict[str, ModelPrice] = {}
        for model, entry in prices.items():
            if not isinstance(entry, Mapping):
                raise ValueError(f"pricing: model {model!r}: expected a mapping, got {entry!r}")
            unknown = set(entry) - {"input", "output", "cached_input"}
            missing = {"input", "output"} - set(entry)
            if unknown or missing:
                raise ValueError(
                    f"pricing: model {model!r}: keys are input, output and optional "
                    f"cached_input; missing {sorted(missing)}, unknown {sorted(unknown)}"
                )
            table[model] = ModelPrice(
                input=entry["input"], output=entry["output"], cached_input=entry.get("cached_input")
            )
        return cls(version=version, prices=table)

    def price_of(self, model: str) -> ModelPrice | None:
        """The price of a model, a dated snapshot falling back to its base name."""
        name = model.strip().lower()
        price = self.prices.get(name)
        if price is None:
            base = _SNAPSHOT_SUFFIX.sub("", name)
            if base != name:
                price = self.prices.get(base)
        return price

    def cost(
        self, model: str, prompt_tokens: float, completion_tokens: float, cached_tokens: float = 0
    ) -> float | None:
        """USD for one call, or ``None`` when the model is not in the table.

        ``cached_tokens`` is the part of ``prompt_tokens`` served from the prompt cache; the
        caller (``MetricsCollector.record_usage``) has already checked it does not exceed them.
        """
        price = self.price_of(model)
        if price is None:
            return None
        uncached = prompt_tokens - cached_tokens
        # One division at the end: sums of whole micro-dollar products stay exact longer.
        micro = (
            uncached * price.input
            + cached_tokens * price.cached_rate()
            + completion_tokens * price.output
        )
        return micro / 1_000_000


def _p(input: float, cached_input: float | None, output: float) -> ModelPrice:
    return ModelPrice(input=input, output=output, cached_input=cached_input)


#: OpenAI's list prices (standard tier, USD per million tokens) as published on
#: https://openai.com/api/pricing/ in November 2025. Update them there; bump the version.
DEFAULT_PRICING = PricingTable(
    version="openai-2025-11",
    prices={
        "gpt-5": _p(1.25, 0.125, 10.00),
        "gpt-5-mini": _p(0.25, 0.025, 2.00),
        "gpt-5-nano": _p(0.05, 0.005, 0.40),
        "gpt-5-chat-latest": _p(1.25, 0.125, 10.00),
        "gpt-5-pro": _p(15.00, None, 120.00),
        "gpt-5.1": _p(1.25, 0.125, 10.00),
        "gpt-4o": _p(2.50, 1.25, 10.00),
        "gpt-4o-2024-05-13": _p(5.00, None, 15.00),
        "gpt-4o-mini": _p(0.15, 0.075, 0.60),
        "gpt-4.1": _p(2.00, 0.50, 8.00),
        "gpt-4.1-mini": _p(0.40, 0.10, 1.60),
        "gpt-4.1-nano": _p(0.10, 0.025, 0.40),
        "o1": _p(15.00, 7.50, 60.00),
        "o1-mini": _p(1.10, 0.55, 4.40),
        "o3": _p(2.00, 0.50, 8.00),
        "o3-mini": _p(1.10, 0.55, 4.40),
        "o3-pro": _p(20.00, None, 80.00),
        "o1-pro": _p(150.00, None, 600.00),
        "o4-mini": _p(1.10, 0.275, 4.40),
        "gpt-4-turbo": _p(10.00, None, 30.00),
        "gpt-4": _p(30.00, None, 60.00),
        "gpt-3.5-turbo": _p(0.50, None, 1.50),
    },
)


#: The environment variable naming a pricing file laid over ``DEFAULT_PRICING``.
PRICING_FILE_ENV = "NARRA_FORGE_PRICING_FILE"

_loaded: dict[tuple[str, int, int], PricingTable] = {}
_loaded_lock = threading.Lock()


def load_pricing_file(
    path: str | os.PathLike[str], base: PricingTable = DEFAULT_PRICING
) -> PricingTable:
    """A table from a pricing file, its models laid over ``base``.

    The file (``.json``, or ``.yaml``/``.yml`` with PyYAML installed) holds::

        {"version": "acme-2026-01",
         "models": {"gpt-5": {"input": 1.25, "cached_input": 0.125, "output": 10}}}

    Any problem raises ``ValueError`` naming the file and, for a price, the model and field.
    """
    where = Path(path)
    try:
        text = where.read_text(encoding="utf-8")
    except OSError as error:
        raise ValueError(f"{where}: cannot read the pricing file: {error}") from None
    try:
        if where.suffix.lower() in (".yaml", ".yml"):
            try:  # PyYAML: optional, only for YAML pricing files (and untyped: no stubs needed)
                yaml: Any = importlib.import_module("yaml")
            except ImportError:
                raise ValueError(
                    f"{where}: a YAML pricing file needs PyYAML (pip install PyYAML), "
                    "or write the file as JSON"
                ) from None
            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except ValueError as error:
        raise ValueError(f"{where}: not valid {where.suffix or 'JSON'}: {error}") from None
    except Exception as error:  # yaml.YAMLError is not a ValueError
        raise ValueError(f"{where}: not valid {where.suffix}: {error}") from None
    if not isinstance(data, Mapping) or set(data) != {"version", "models"}:
        raise ValueError(
            f"{where}: expected a mapping with exactly the keys version and models, got "
            f"{sorted(data) if isinstance(data, Mapping) else type(data).__name__}"
        )
    models = data["models"]
    if not isinstance(models, Mapping):
        raise ValueError(f"{where}: models must be a mapping of model name to prices")
    try:
        table = PricingTable.from_mapping(data["version"], models)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
    return PricingTable(table.version, {**base.prices, **table.prices})


def default_pricing() -> PricingTable:
    """``DEFAULT_PRICING``, or with ``NARRA_FORGE_PRICING_FILE`` set, that file over it.

    The file is read once per path and modification: collectors created later share the
    table, and an edited file is read again by the next collector created.
    """
    path = os.environ.get(PRICING_FILE_ENV, "").strip()
    if not path:
        return DEFAULT_PRICING
    try:
        stat = os.stat(path)
        key = (path, stat.st_mtime_ns, stat.st_size)
    except OSError as error:
        raise ValueError(
            f"{PRICING_FILE_ENV}={path}: cannot read the pricing file: {error}"
        ) from None
    with _loaded_lock:
        table = _loaded.get(key)
        if table is None:
            table = _loaded[key] = load_pricing_file(path)
    return table
