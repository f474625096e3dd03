"""Map an exception to the bounded ``error_type`` label of the catalogue.

The classification reads class names (the whole MRO, most specific first) and HTTP status codes,
so neither ``openai`` nor ``httpx`` is a dependency: ``openai.RateLimitError`` is recognised by its
name. It never raises, whatever it is given. The table is documented in docs/instrumentation.md.
"""

from __future__ import annotations

from collections.abc import Mapping

from narra_forge.monitoring.catalogue import ERROR_TYPES

_VALID = frozenset(ERROR_TYPES)

#: Exception class names (openai, httpx, requests, aiohttp, pydantic, stdlib) -> error_type.
#: Matched against every class of the MRO, most specific first, so ``APITimeoutError`` (a
#: subclass of ``APIConnectionError`` in openai) is a timeout, not a connection error.
CLASS_NAMES: Mapping[str, str] = {
    # Cancellation: asyncio, concurrent.futures, trio, anyio.
    "CancelledError": "cancelled",
    "Cancelled": "cancelled",
    # Rate limiting and quota.
    "RateLimitError": "rate_limit",
    "TooManyRequests": "rate_limit",
    # Timeouts.
    "APITimeoutError": "timeout",
    "TimeoutError": "timeout",
    "TimeoutException": "timeout",
    "ReadTimeout": "timeout",
    "WriteTimeout": "timeout",
    "ConnectTimeout": "timeout",
    "PoolTimeout": "timeout",
    "ServerTimeoutError": "timeout",
    "Timeout": "timeout",
    # Connections.
    "APIConnectionError": "connection",
    "ConnectionError": "connection",
    "ConnectError": "connection",
    "NetworkError": "connection",
    "RemoteProtocolError": "connection",
    "ClientConnectionError": "connection",
    "ServerDisconnectedError": "connection",
    # anyio's end of a stream the peer closed (the openai SDK retries it as a connection error).
    "EndOfStream": "connection",
    "BrokenResourceError": "connection",
    # Server side.
    "InternalServerError": "server_error",
    "ServiceUnavailableError": "server_error",
    "APIError": "server_error",
    # The request was wrong.
    "BadRequestError": "bad_request",
    "NotFoundError": "bad_request",
    "ConflictError": "bad_request",
    "UnprocessableEntityError": "bad_request",
    "InvalidRequestError": "bad_request",
    # Credentials.
    "AuthenticationError": "auth",
    "PermissionDeniedError": "auth",
    # The model refused or was cut off by moderation.
    "ContentFilterFinishReasonError": "content_filter",
    "ContentPolicyViolationError": "content_filter",
    # The model answered, but not with what the agent can use.
    "LengthFinishReasonError": "invalid_output",
    "APIResponseValidationError": "invalid_output",
    "JSONDecodeError": "invalid_output",
    "ValidationError": "invalid_output",
    "InvalidOutputError": "invalid_output",
    "OutputParserException": "invalid_output",
}

#: ``code`` values in an OpenAI error body that mean moderation refused the request.
CONTENT_FILTER_CODES = frozenset({"content_filter", "content_policy_violation"})

#: How deep to follow ``raise ... from`` chains and exception groups.
_MAX_DEPTH = 4


def classify_status(status: int) -> str | None:
    """The error type an HTTP status code implies, or ``None`` when it implies none."""
    if status == 429:
        return "rate_limit"
    if status in (408, 504):
        return "timeout"
    if status in (401, 403):
        return "auth"
    if 400 <= status < 500:
        return "bad_request"
    if 500 <= status < 600:
        return "server_error"
    return None


def _status_of(exc: BaseException) -> int | None:
    # openai's APIStatusError has .status_code; httpx.HTTPStatusError and requests' HTTPError
    # keep it on .response. Arbitrary objects may raise from a property: never let that escape.
    for holder in (exc, getattr(exc, "response", None)):
        try:
            status = getattr(holder, "status_code", None)
            if status is None:
                status = getattr(holder, "status", None)
        except Exception:
            continue
        if isinstance(status, int) and not isinstance(status, bool):
            return status
    return None


def _is_content_filter(exc: BaseException) -> bool:
    try:
        code = getattr(exc, "code", None)
        if code is None and isinstance(getattr(exc, "body", None), dict):
            code = exc.body.get("code")  # type: ignore[attr-defined]
    except Exception:
        return False
    return isinstance(code, str) and code in CONTENT_FILTER_CODES


def _classify(exc: BaseException, depth: int) -> str:
    if _is_content_filter(exc):
        return "content_filter"
    names = [cls.__name__ for cls in type(exc).__mro__]
    # A generic base such as openai's APIError must not win over a status code, so the status is
    # consulted before the names of base classes, but after the exception's own class name.
    own = CLASS_NAMES.get(names[0])
    if own is not None:
        return own
    status = _status_of(exc)
    by_status = classify_status(status) if status is not None else None
    if by_status is not None:
        return by_status
    for name in names[1:]:
        found = CLASS_NAMES.get(name)
        if found is not None:
            return found
    if depth < _MAX_DEPTH:
        inner = getattr(exc, "exceptions", None)  # ExceptionGroup: its first failure
        if isinstance(inner, tuple) and inner and isinstance(inner[0], BaseException):
            return _classify(inner[0], depth + 1)
        cause = exc.__cause__  # `raise AgentFailed(...) from RateLimitError(...)`
        if cause is not None:
            return _classify(cause, depth + 1)
    return "other"


def classify_exception(error: BaseException | str | None) -> str:
    """The ``error_type`` label value for an exception, an exception class name, or a type.

    >>> classify_exception(TimeoutError())
    'timeout'
    >>> classify_exception("RateLimitError")
    'rate_limit'
    >>> classify_exception("rate_limit")
    'rate_limit'
    """
    try:
        if isinstance(error, BaseException):
            return _classify(error, 0)
        if isinstance(error, type) and issubclass(error, BaseException):
            return _classify_name_chain([cls.__name__ for cls in error.__mro__])
        if isinstance(error, str):
            name = error.strip()
            if name.lower() in _VALID:
                return name.lower()
            return CLASS_NAMES.get(name, "other")
    except Exception:
        pass
    return "other"


def _classify_name_chain(names: list[str]) -> str:
    for name in names:
        found = CLASS_NAMES.get(name)
        if found is not None:
            return found
    return "other"
