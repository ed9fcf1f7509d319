"""Retry schedule, jitter, Retry-After clamp and the step after each attempt (CONTRACT 7, 8)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from parley_runtime.retry_after import parse_retry_after
from parley_shared.streams import load_definitions
from webhook_svc.domain.retry import (
    MAX_DELAY_S,
    Step,
    jittered,
    next_step,
    parse_schedule,
    retry_delay,
    scheduled_delay,
)

NOW = datetime(2026, 11, 26, 10, 0, 0, tzinfo=UTC)
DAY = 24 * 3600.0


def _retry_stream_max_age() -> float:
    [stream] = [d for d in load_definitions(1) if d["name"] == "WEBHOOK_RETRY"]
    return float(stream["max_age"])


def test_schedule_parses_and_rejects_nonsense() -> None:
    """The default schedule parses; empty, negative or non-numeric schedules are refused."""
    assert parse_schedule("5,300,1800") == (5.0, 300.0, 1800.0)
    assert parse_schedule(" 0.2, 0.4 ,0.6") == (0.2, 0.4, 0.6)
    for bad in ("", ",", "5,-1", "a,b", "0", "5,nan", "inf", "5,604800"):
        with pytest.raises(ValueError, match="WEBHOOK_RETRY_SCHEDULE"):
            parse_schedule(bad)


def test_no_retry_is_due_after_the_retry_stream_would_age_it_out() -> None:
    """The longest schedule entry allowed, with +20% jitter or a 2x Retry-After clamp, a huge
    deferral too, still fires at least half a day before WEBHOOK_RETRY's max_age."""
    keep_until = _retry_stream_max_age() - DAY / 2
    longest = max(delay for delay in (6 * DAY, 6.5 * DAY, 7 * DAY) if _parses(str(delay)))
    rng = random.Random(11)
    delays = [retry_delay((longest,), 1, None, rng) for _ in range(200)]
    delays += [retry_delay((longest,), 3, 10 * longest), jittered(30 * DAY, rng)]
    assert max(delays) <= keep_until
    assert keep_until >= MAX_DELAY_S
    assert retry_delay((longest,), 1, 3 * longest) == MAX_DELAY_S  # capped, not refused
    assert retry_delay((60.0,), 1, 600.0) == 120.0  # the cap leaves ordinary clamps alone


def _parses(text: str) -> bool:
    try:
        parse_schedule(text)
    except ValueError:
        return False
    return True


def test_retries_beyond_the_schedule_reuse_its_last_delay() -> None:
    """Retry n waits entry n; past the end of the list, the last entry."""
    schedule = (5.0, 300.0)
    assert [scheduled_delay(schedule, n) for n in (1, 2, 3)] == [5.0, 300.0, 300.0]


def test_jitter_stays_within_twenty_percent_and_varies() -> None:
    """Jittered delays fall in [0.8, 1.2] x the scheduled delay and are not all equal."""
    rng = random.Random(7)
    delays = [retry_delay((300.0,), 1, None, rng) for _ in range(500)]
    assert min(delays) >= 240.0
    assert max(delays) <= 360.0
    assert max(delays) - min(delays) > 60.0


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [(1.0, 5.0), (7.0, 7.0), (60.0, 10.0)],
)
def test_retry_after_is_clamped_to_one_to_two_times_the_schedule(
    retry_after: float, expected: float
) -> None:
    """Retry-After below the schedule waits the schedule; above twice it waits twice it."""
    assert retry_delay((5.0,), 1, retry_after) == expected


def test_retry_after_reads_seconds_and_http_dates() -> None:
    """Delta seconds and HTTP-dates both parse; garbage is ignored."""
    assert parse_retry_after("120", NOW) == 120.0
    when = format_datetime(NOW + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(when, NOW) == pytest.approx(90.0)
    past = format_datetime(NOW - timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(past, NOW) == 0.0
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None


def test_steps_follow_attempts_retries_and_410() -> None:
    """Success delivers, 410 disables, failures retry while attempts <= retries, then die."""
    assert next_step(1, 3, ok=True, status_code=200) is Step.DELIVERED
    assert next_step(1, 3, ok=False, status_code=410) is Step.DISABLE
    assert [next_step(n, 3, ok=False, status_code=500) for n in (1, 2, 3, 4)] == [
        Step.RETRY,
        Step.RETRY,
        Step.RETRY,
        Step.DEAD,
    ]
    assert next_step(1, 0, ok=False, status_code=None) is Step.DEAD
