"""What long work prints: a bar on a terminal, a line every few seconds in a log."""

from __future__ import annotations

import io
import time

from tools.demo.progress import Progress, count, duration


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_log_gets_percent_rate_and_time_left_every_few_seconds_not_every_update():
    clock, out = FakeClock(), io.StringIO()
    progress = Progress("backfill", 1000, unit="samples", stream=out, every=5, clock=clock)
    for second in range(1, 21):  # 20 s at 50 units a second, an update each second
        clock.now += 1
        progress.update(second * 50, counted=second * 50_000)
    lines = out.getvalue().splitlines()
    assert len(lines) == 4  # at 1, 6, 11 and 16 s: one line per 5 s
    assert lines[1] == "backfill:  30%  300.0k samples (50.0k/s)  6s elapsed  14s left"
    assert "\r" not in out.getvalue()
    assert progress.finish() == 20
    assert out.getvalue().splitlines()[-1].startswith("backfill: 100%")


def test_a_terminal_gets_one_redrawn_line_with_a_bar():
    clock, out = FakeClock(), io.StringIO()
    progress = Progress("rules", 4, stream=out, tty=True, clock=clock)
    clock.now += 30
    progress.update(1)
    assert out.getvalue().startswith("\r\x1b[K")
    assert "[######..................]" in out.getvalue()
    assert "1m30s left" in out.getvalue()
    progress.finish()
    assert out.getvalue().endswith("\n")


def test_before_anything_is_done_the_time_left_is_unknown_not_infinite():
    out = io.StringIO()
    Progress("import", 10, stream=out, clock=FakeClock()).update(0)
    assert "time left unknown" in out.getvalue()


def test_the_heartbeat_prints_while_nothing_advances_and_stops_at_finish():
    out = io.StringIO()
    progress = Progress("import", 10, stream=out, every=0.05, heartbeat=True)
    deadline = time.monotonic() + 30  # polls: a busy machine delays the thread, never stops it
    while out.getvalue().count("\n") < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert out.getvalue().count("import:   0%") >= 3
    progress.finish()
    lines = out.getvalue().count("\n")
    time.sleep(0.3)
    assert out.getvalue().count("\n") == lines  # nothing after the last line
    assert out.getvalue().splitlines()[-1].startswith("import: 100%")


def test_units_read_as_people_write_them():
    assert [duration(s) for s in (5, 65, 3725)] == ["5s", "1m05s", "1h02m"]
    assert [count(n) for n in (950, 12_345, 4_700_000)] == ["950", "12.3k", "4.7M"]
