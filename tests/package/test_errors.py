"""classify_exception: class names and status codes, without importing openai or httpx."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest

from narra_forge.monitoring import ERROR_TYPES, classify_exception


# Stand-ins named and shaped like openai 1.x's exception hierarchy (openai is not a dependency:
# the classification reads names and status codes, which is exactly what these carry).
class OpenAIError(Exception):
    pass


class APIError(OpenAIError):
    def __init__(self, message: str = "", code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class APIStatusError(APIError):
    def __init__(self, status_code: int, code: str | None = None) -> None:
        super().__init__(f"status {status_code}", code)
        self.status_code = status_code


class RateLimitError(APIStatusError):
    pass


class BadRequestError(APIStatusError):
    pass


class InternalServerError(APIStatusError):
    pass


class APIConnectionError(APIError):
    pass


class APITimeoutError(APIConnectionError):
    pass


class Response:
    def __init__(self, status_code: int) -> None:
        self.status_code = status_code


class HTTPStatusError(Exception):  # httpx keeps the status on .response
    def __init__(self, status_code: int) -> None:
        super().__init__("http error")
        self.response = Response(status_code)


class Hostile(Exception):
    """Every attribute access blows up: classification must still answer."""

    @property
    def status_code(self) -> int:
        raise RuntimeError("no")

    @property
    def code(self) -> str:
        raise RuntimeError("no")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (RateLimitError(429), "rate_limit"),
        (APITimeoutError(), "timeout"),  # a subclass of APIConnectionError in openai
        (APIConnectionError(), "connection"),
        (InternalServerError(503), "server_error"),
        (BadRequestError(400), "bad_request"),
        (BadRequestError(400, code="content_filter"), "content_filter"),
        (BadRequestError(400, code="content_policy_violation"), "content_filter"),
        (APIStatusError(401), "auth"),
        (APIStatusError(403), "auth"),
        (APIStatusError(404), "bad_request"),
        (APIStatusError(408), "timeout"),
        (APIStatusError(429), "rate_limit"),
        (APIStatusError(502), "server_error"),
        (APIError("stream interrupted"), "server_error"),
        (HTTPStatusError(429), "rate_limit"),
        (HTTPStatusError(500), "server_error"),
        (TimeoutError(), "timeout"),
        (asyncio.TimeoutError(), "timeout"),
        (ConnectionResetError(), "connection"),
        (asyncio.CancelledError(), "cancelled"),
        (json.JSONDecodeError("bad", "{", 0), "invalid_output"),
        (KeyError("x"), "other"),
        (ValueError("x"), "other"),
        (Hostile(), "other"),
    ],
)
def test_exceptions(error, expected):
    assert classify_exception(error) == expected


def test_a_wrapped_error_is_classified_by_its_cause():
    class AgentFailed(Exception):
        pass

    def wrapped() -> AgentFailed:
        try:
            try:
                raise RateLimitError(429)
            except RateLimitError as cause:
                raise AgentFailed("a06 gave up") from cause
        except AgentFailed as error:
            return error
        raise AssertionError("unreachable")

    assert classify_exception(wrapped()) == "rate_limit"


@pytest.mark.skipif(sys.version_info < (3, 11), reason="ExceptionGroup is new in 3.11")
def test_an_exception_group_is_classified_by_its_first_failure():
    group = ExceptionGroup("agents failed", [APITimeoutError(), KeyError("x")])  # noqa: F821
    assert classify_exception(group) == "timeout"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("RateLimitError", "rate_limit"),
        ("rate_limit", "rate_limit"),
        (" Timeout ", "timeout"),
        ("content_filter", "content_filter"),
        ("SomethingNew", "other"),
        ("", "other"),
        (None, "other"),
        (42, "other"),
        (TimeoutError, "timeout"),
        (APITimeoutError, "timeout"),
    ],
)
def test_names_types_and_junk(value, expected):
    assert classify_exception(value) == expected


def test_every_answer_is_a_catalogue_error_type():
    samples = [RateLimitError(429), Hostile(), object(), "x", None, asyncio.CancelledError()]
    assert {classify_exception(s) for s in samples} <= set(ERROR_TYPES)
