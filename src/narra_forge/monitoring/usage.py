"""Read the token counts out of an OpenAI usage object, whichever API and form it comes in.

Chat Completions report ``prompt_tokens``/``completion_tokens`` with ``prompt_tokens_details``
and ``completion_tokens_details``; the Responses API reports ``input_tokens``/``output_tokens``
with ``input_tokens_details`` and ``output_tokens_details``. Both come as the SDK's pydantic
objects (``CompletionUsage``, ``ResponseUsage``) or as plain dicts (a JSON body, a cached
response). Details are optional in practice: older responses and OpenAI-compatible providers
send ``null`` details or ``cached_tokens: null``, which mean "none" and count as 0.

Duck typing only: this module does not import ``openai``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple


class UsageCounts(NamedTuple):
    """Tokens of one response. ``cached`` is part of ``prompt``, ``reasoning`` of ``completion``."""

    prompt: object
    completion: object
    cached: object
    reasoning: object


def _field(holder: object, name: str) -> object:
    if holder is None:
        return None
    if isinstance(holder, Mapping):
        return holder.get(name)
    # The SDK's pydantic objects keep their fields in __dict__. A field they lack is looked up
    # on the class (a property) rather than with getattr on the instance, which would go
    # through pydantic's __getattr__ and an exception: slow, on every call.
    fields = getattr(holder, "__dict__", None)
    if isinstance(fields, dict):
        if name in fields:
            return fields[name]
        if not hasattr(type(holder), name):
            return None
    return getattr(holder, name, None)


def _detail(holder: object, details: str, name: str) -> object:
    """A count inside an optional details object; absent or ``None`` is 0."""
    value = _field(_field(holder, details), name)
    return 0 if value is None else value


def usage_counts(usage: object) -> UsageCounts | None:
    """The counts of a Chat Completions or Responses usage (object or dict), or ``None`` when
    ``usage`` is neither. The counts are returned as found: the collector validates them."""
    try:
        prompt = _field(usage, "prompt_tokens")
        if prompt is not None:
            return UsageCounts(
                prompt,
                _field(usage, "completion_tokens"),
                _detail(usage, "prompt_tokens_details", "cached_tokens"),
                _detail(usage, "completion_tokens_details", "reasoning_tokens"),
            )
        prompt = _field(usage, "input_tokens")
        if prompt is not None:
            return UsageCounts(
                prompt,
                _field(usage, "output_tokens"),
                _detail(usage, "input_tokens_details", "cached_tokens"),
                _detail(usage, "output_tokens_details", "reasoning_tokens"),
            )
    except Exception:  # a property that raises, a broken __getattr__: not a usage
        return None
    return None
