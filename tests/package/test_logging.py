"""JSON lines parsed back: shape, bound context across asyncio tasks, stdlib loggers, tracebacks."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import secrets
import sys
import warnings
from datetime import datetime, timedelta

import pytest

from narra_forge.monitoring import bind_context, clear_context, configure_logging, get_logger


def json_lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_json_line_has_event_level_utc_timestamp_logger_and_context():
    out = io.StringIO()
    configure_logging(level="INFO", json_output=True, stream=out)
    get_logger("narra_forge.orchestrator", component="orchestrator").info("job_queued", queue=3)
    (line,) = json_lines(out)
    assert line["event"] == "job_queued"
    assert line["level"] == "info"
    assert line["logger"] == "narra_forge.orchestrator"
    assert line["component"] == "orchestrator"
    assert line["queue"] == 3
    stamp = datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00"))
    assert stamp.utcoffset() == timedelta(0)
    assert abs(datetime.now(stamp.tzinfo) - stamp) < timedelta(minutes=5)


def test_json_goes_to_a_real_file_through_its_binary_buffer(tmp_path):
    path = tmp_path / "app.log"
    with open(path, "w", encoding="utf-8") as out:
        configure_logging(json_output=True, stream=out)
        log = get_logger("writer")
        log.info("chapter_written", chapter=1, title="Zażółć gęślą jaźń")
        logging.getLogger("urllib3.connectionpool").warning("retrying %s", "api.openai.com")
        log.info("chapter_written", chapter=2)
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [(line["event"], line["logger"]) for line in lines] == [
        ("chapter_written", "writer"),
        ("retrying api.openai.com", "urllib3.connectionpool"),
        ("chapter_written", "writer"),
    ]
    assert lines[0]["title"] == "Zażółć gęślą jaźń"


def test_job_id_reaches_every_line_of_its_task_and_no_other():
    out = io.StringIO()
    configure_logging(json_output=True, stream=out)
    log = get_logger("pipeline")

    async def agent(name: str) -> None:
        log.info("agent_started", agent=name)
        await asyncio.sleep(0)  # interleave the two pipelines
        log.info("agent_finished", agent=name)

    async def pipeline(job_id: str) -> None:
        with bind_context(job_id=job_id, production_type="novel"):
            await asyncio.gather(
                asyncio.create_task(agent(f"{job_id}-a01")),
                asyncio.create_task(agent(f"{job_id}-a02")),
            )
        log.info("pipeline_left")

    async def main() -> None:
        await asyncio.gather(pipeline("job_1"), pipeline("job_2"))

    asyncio.run(main())
    lines = json_lines(out)
    agent_lines = [line for line in lines if line["event"].startswith("agent_")]
    assert len(agent_lines) == 8
    for line in agent_lines:
        assert line["agent"].startswith(line["job_id"] + "-")
        assert line["production_type"] == "novel"
    # The two pipelines really interleaved, and the context did not leak past the block.
    assert [line["job_id"] for line in agent_lines] != sorted(
        line["job_id"] for line in agent_lines
    )
    left = [line for line in lines if line["event"] == "pipeline_left"]
    assert len(left) == 2
    assert all("job_id" not in line for line in left)


def test_clear_context():
    out = io.StringIO()
    configure_logging(json_output=True, stream=out)
    with bind_context(job_id="job_9"):
        clear_context()
        get_logger("x").info("after_clear")
    assert "job_id" not in json_lines(out)[0]


def test_a_third_party_stdlib_logger_comes_out_in_the_same_shape():
    out = io.StringIO()
    configure_logging(json_output=True, stream=out)
    with bind_context(job_id="job_7"):
        get_logger("narra_forge.agents").warning("slow_response", seconds=12)
        logging.getLogger("httpx").warning("HTTP %s %s", "POST", "/v1/chat", extra={"attempt": 2})
    ours, theirs = json_lines(out)
    assert set(ours) - {"seconds"} == set(theirs) - {"attempt"}
    assert theirs == {
        "event": "HTTP POST /v1/chat",
        "level": "warning",
        "logger": "httpx",
        "attempt": 2,
        "job_id": "job_7",
        "timestamp": theirs["timestamp"],
    }


def test_tracebacks_are_structured_and_never_show_local_variables():
    out = io.StringIO()
    configure_logging(json_output=True, stream=out)
    log = get_logger("agents")

    def call_openai(api_key: str) -> None:
        prompt = "the secret plot twist"
        assert api_key
        assert prompt
        raise ConnectionError("api.openai.com unreachable")

    fake_key = "sk-proj-" + secrets.token_hex(16)  # made at run time, so not in any source line
    try:
        call_openai(fake_key)
    except ConnectionError:
        log.error("agent_execution_failed", exc_info=True)
        logging.getLogger("openai").exception("request failed")
    text = out.getvalue()
    assert fake_key[8:] not in text
    assert "secret plot twist" not in text
    for line in json_lines(out):
        (stack,) = line["exception"]
        assert stack["exc_type"] == "ConnectionError"
        assert stack["exc_value"] == "api.openai.com unreachable"
        assert [frame["name"] for frame in stack["frames"]][-1] == "call_openai"
        assert all("locals" not in frame for frame in stack["frames"])


def test_configuring_twice_leaves_one_handler_and_one_line_per_call():
    first, second = io.StringIO(), io.StringIO()
    configure_logging(json_output=True, stream=first)
    configure_logging(json_output=True, stream=second)
    ours = [h for h in logging.getLogger().handlers if getattr(h, "narra_forge_monitoring", False)]
    assert len(ours) == 1
    logging.getLogger("lib").warning("once")
    get_logger("app").warning("once too")
    assert first.getvalue() == ""
    assert [line["event"] for line in json_lines(second)] == ["once", "once too"]


def test_lines_below_the_level_are_dropped_for_both_kinds_of_logger():
    out = io.StringIO()
    configure_logging(level="WARNING", json_output=True, stream=out)
    get_logger("app").info("hidden")
    get_logger("app").debug("hidden")
    logging.getLogger("lib").info("hidden")
    get_logger("app").error("shown")
    assert [line["event"] for line in json_lines(out)] == ["shown"]


def test_a_logger_made_at_import_time_follows_the_later_configuration():
    early = get_logger("early.module", component="import_time")
    out = io.StringIO()
    configure_logging(json_output=True, stream=out)
    early.info("configured_later")
    (line,) = json_lines(out)
    assert (line["logger"], line["component"]) == ("early.module", "import_time")


def test_values_json_cannot_hold_do_not_break_the_call():
    out = io.StringIO()
    configure_logging(json_output=True, stream=out)
    get_logger("app").info("odd_values", when=datetime(2025, 1, 2), big=2**70, obj=object())
    (line,) = json_lines(out)
    assert line["when"] == "2025-01-02T00:00:00"
    assert line["big"] == 2**70
    assert line["obj"].startswith("<object object at")


def test_warnings_become_log_lines():
    out = io.StringIO()
    configure_logging(json_output=True, stream=out)
    warnings.warn("pricing table is 200 days old", UserWarning, stacklevel=1)
    (line,) = json_lines(out)
    assert line["logger"] == "py.warnings"
    assert "pricing table is 200 days old" in line["event"]


def test_console_output_is_readable_and_tracebacks_have_no_locals():
    out = io.StringIO()
    configure_logging(level="DEBUG", json_output=False, stream=out)
    log = get_logger("dev")

    def fail(token: str) -> None:
        assert token
        raise ValueError("bad outline")

    secret = secrets.token_hex(16)
    try:
        fail(secret)
    except ValueError:
        log.exception("outline_rejected", stage=2)
    text = out.getvalue()
    assert "outline_rejected" in text
    assert "stage=2" in text
    assert "ValueError: bad outline" in text
    assert secret not in text


@pytest.mark.parametrize("level", ["LOUD", "", None, True, 3.5])
def test_an_unknown_level_is_a_clear_error(level):
    with pytest.raises(ValueError, match="level"):
        configure_logging(level=level)


def test_default_stream_is_stdout(capfd):
    configure_logging(json_output=True)
    get_logger("app").info("to_stdout")
    sys.stdout.flush()
    captured = capfd.readouterr()
    assert json.loads(captured.out.strip().splitlines()[-1])["event"] == "to_stdout"
