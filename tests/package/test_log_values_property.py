"""Whatever a log call is given, it returns normally and writes one valid JSON line, the same with
and without orjson, through structlog loggers and through the standard library alike.

"Valid" is strict JSON (RFC 8259): ``NaN``/``Infinity`` are refused by the parser used here.
What each value type becomes is documented in docs/instrumentation.md ("What a value becomes");
``test_documented_renderings`` pins the table.
"""

from __future__ import annotations

import contextlib
import enum
import io
import json
import logging
import math
import uuid
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import narra_forge.monitoring.logs as logs
from narra_forge.monitoring import configure_logging, get_logger

ORJSON = getattr(logs, "orjson", None)
needs_orjson = pytest.mark.skipif(ORJSON is None, reason="orjson not installed")


class Colour(enum.Enum):
    RED = "red"
    NAN = float("nan")


class Tag(str):
    """A str subclass, as enums and pydantic types are."""


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("repr exploded")

    def __str__(self) -> str:
        raise RuntimeError("str exploded")


class Structlogged:
    def __structlog__(self) -> dict[str, int]:
        return {"rendered": 1}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"not JSON: {name}")


def parse(line: str) -> dict[str, Any]:
    """Strict JSON: NaN, Infinity and -Infinity are not JSON."""
    value = json.loads(line, parse_constant=_reject_constant)
    assert isinstance(value, dict)
    return value


@contextlib.contextmanager
def orjson_as(module: Any) -> Iterator[None]:
    saved = getattr(logs, "orjson", None)
    setattr(logs, "orjson", module)  # noqa: B010 - mypy: logs does not export orjson
    try:
        yield
    finally:
        setattr(logs, "orjson", saved)  # noqa: B010


def log_both_ways(value: Any, *, binary: bool) -> list[str]:
    """One structlog call and one stdlib call carrying ``value``; the lines written."""
    raw = io.BytesIO()
    stream: Any = io.TextIOWrapper(raw, encoding="utf-8", write_through=True) if binary else None
    text = io.StringIO()
    configure_logging(level="INFO", json_output=True, stream=stream if binary else text)
    get_logger("app").info("structlog_call", data=value)
    logging.getLogger("third.party").warning("stdlib_call", extra={"data": value})
    if binary:
        stream.flush()
        written = raw.getvalue().decode("utf-8")
    else:
        written = text.getvalue()
    assert written.endswith("\n"), written
    # Lines end at "\n" only (str.splitlines would also split at U+0085, U+2028 ... inside
    # strings, which JSON writes raw).
    return written[:-1].split("\n")


def data_of(lines: list[str]) -> list[Any]:
    assert len(lines) == 2, lines  # exactly one line per call
    parsed = [parse(line) for line in lines]
    assert [p["event"] for p in parsed] == ["structlog_call", "stdlib_call"]
    return [p["data"] for p in parsed]


# -- strategies -------------------------------------------------------------------------------

any_text = st.text(st.characters(exclude_categories=()), max_size=8)  # lone surrogates too
timezones = st.one_of(
    st.none(),
    st.just(timezone.utc),
    st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23)).map(timezone),
    st.timezones(),
)
hashables = st.one_of(
    any_text,
    st.integers(),
    st.floats(),
    st.none(),
    st.booleans(),
    st.uuids(),
    st.dates(),
    st.builds(Tag, any_text),
    st.tuples(st.integers(), any_text),
    st.frozensets(st.integers(), max_size=3),
)
leaves = st.one_of(
    hashables,
    st.integers(min_value=-(2**80), max_value=2**80),  # beyond orjson's 64 bits too
    st.floats(allow_nan=True, allow_infinity=True),
    st.binary(max_size=8),
    st.builds(bytearray, st.binary(max_size=4)),
    st.datetimes(timezones=timezones),
    st.times(timezones=timezones),
    st.timedeltas(),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.sampled_from(list(Colour)),
    st.builds(BadRepr),
    st.builds(Structlogged),
    st.builds(ValueError, any_text),
    st.just(object),
)
values = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(hashables, children, max_size=4),
        st.sets(hashables, max_size=3),
    ),
    max_leaves=20,
)


def with_cycle(inner: Any, kind: str) -> Any:
    """A structure that contains itself (a job's state pointing back at the job ...)."""
    if kind == "dict":
        loop: Any = {"inner": inner}
        loop["self"] = loop
        return loop
    loop = [inner]
    loop.append(loop)
    return {"nested": [loop, loop]}  # the same list twice, not a cycle by itself


def deep(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = [value]
    return value


cycles = st.builds(with_cycle, values, st.sampled_from(["dict", "list"]))

PROPERTY = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# -- the properties ---------------------------------------------------------------------------


@PROPERTY
@given(value=st.one_of(values, cycles), binary=st.booleans())
def test_any_value_gives_one_valid_json_line_the_same_without_orjson(
    value: Any, binary: bool
) -> None:
    without = data_of(log_both_ways_with(None, value, binary=binary))
    # Both loggers agree with each other...
    assert without[0] == without[1]
    if ORJSON is not None:
        # ... and with orjson installed, the line holds the same JSON value.
        assert data_of(log_both_ways_with(ORJSON, value, binary=binary)) == without


def log_both_ways_with(module: Any, value: Any, *, binary: bool) -> list[str]:
    with orjson_as(module):
        return log_both_ways(value, binary=binary)


@PROPERTY
@given(key=hashables, value=values)
def test_keys_of_any_type_become_strings(key: Any, value: Any) -> None:
    for module in {None, ORJSON}:
        (structlog_data, stdlib_data) = data_of(
            log_both_ways_with(module, {key: value}, binary=False)
        )
        assert structlog_data == stdlib_data
        assert len(structlog_data) == 1
        assert all(isinstance(k, str) for k in structlog_data)


@pytest.mark.parametrize("module", [None, ORJSON], ids=["json", "orjson"])
def test_documented_renderings(module: Any) -> None:
    if module is None and ORJSON is None:
        pytest.skip("orjson not installed")
    loop: dict[str, Any] = {"name": "job"}
    loop["self"] = loop
    cases: dict[str, tuple[Any, Any]] = {
        "nan": (math.nan, None),
        "inf": (math.inf, None),
        "minus_inf": (-math.inf, None),
        "decimal": (Decimal("0.10"), "0.10"),
        "decimal_nan": (Decimal("NaN"), "NaN"),
        "bytes": (b"\x00ok", "b'\\x00ok'"),
        "uuid": (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        "utc": (datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc), "2025-01-02T03:04:05Z"),
        "offset": (
            datetime(1900, 1, 1, tzinfo=timezone(timedelta(minutes=19, seconds=32))),
            "1900-01-01T00:00:00+00:19:32",
        ),
        "naive": (datetime(2025, 1, 2), "2025-01-02T00:00:00"),
        "date": (date(2025, 1, 2), "2025-01-02"),
        "time_tz": (time(1, 2, tzinfo=timezone.utc), "01:02:00Z"),
        "timedelta": (timedelta(seconds=90), "0:01:30"),
        "enum": (Colour.RED, "red"),
        "enum_nan": (Colour.NAN, None),
        "tuple_key": ({(1, 2): "v"}, {"[1,2]": "v"}),
        "none_key": ({None: 1, True: 2, 1.5: 3}, {"null": 1, "true": 2, "1.5": 3}),
        "set": ({3}, [3]),
        "cycle": (loop, {"name": "job", "self": "<cycle>"}),
        "bad_repr": (BadRepr(), "<unrepresentable BadRepr>"),
        "structlog": (Structlogged(), {"rendered": 1}),
        "surrogate": ("a\ud800b", "a?b"),
        "big": (2**70, 2**70),
        "deep": (deep(1000), None),  # checked below
    }
    with orjson_as(module):
        out = io.StringIO()
        configure_logging(json_output=True, stream=out)
        get_logger("app").info("renderings", **{name: value for name, (value, _) in cases.items()})
    (line,) = out.getvalue()[:-1].split("\n")
    got = parse(line)
    for name, (_, expected) in cases.items():
        if name != "deep":
            assert got[name] == expected, name
    depth, node = 0, got["deep"]
    while isinstance(node, list):
        depth, node = depth + 1, node[0]
    assert node == "<too deep>"
    assert depth == logs.MAX_DEPTH


@pytest.mark.parametrize("extra", [-2, -1, 0, 1, 2, 50])
def test_a_structure_deeper_than_the_limit_is_cut_the_same_way_with_and_without_orjson(
    extra: int,
) -> None:
    value = deep(logs.MAX_DEPTH + extra)
    without = data_of(log_both_ways_with(None, value, binary=True))
    assert (_TOO_DEEP_TEXT in json.dumps(without)) == (extra > 0)
    if ORJSON is not None:
        assert data_of(log_both_ways_with(ORJSON, value, binary=True)) == without


_TOO_DEEP_TEXT = '"<too deep>"'


def test_a_cycle_through_a_dict_subclass_is_found_with_and_without_orjson() -> None:
    class State(dict):  # type: ignore[type-arg]
        pass

    job: dict[str, Any] = {"id": "job_1"}
    state = State(job=job)
    job["state"] = state
    expected = {"id": "job_1", "state": {"job": "<cycle>"}}
    for module in {None, ORJSON}:
        assert data_of(log_both_ways_with(module, job, binary=False)) == [expected, expected]


def test_a_stdlib_call_with_bad_format_arguments_still_writes_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = io.StringIO()
    configure_logging(json_output=True, stream=out)
    root = logging.getLogger()
    # pytest's own capturing handler would raise on this record: leave ours alone (the conftest
    # fixture puts the root's handlers back).
    root.handlers[:] = [h for h in root.handlers if getattr(h, "narra_forge_monitoring", False)]
    logging.getLogger("third.party").warning("%d items", "not a number")
    (line,) = out.getvalue().splitlines()
    parsed = parse(line)
    assert parsed["event"].startswith("%d items")
    assert parsed["logger"] == "third.party"
    assert "--- Logging error ---" not in capsys.readouterr().err
