"""When a failed delivery is tried again, and when it becomes a dead letter (CONTRACT 7, 8).

- `WEBHOOK_RETRY_SCHEDULE` lists the seconds before retry 1, 2, 3, ...; a webhook's `retries`
  beyond the list reuse its last entry. Each delay gets ±20% jitter.
- A 429's `Retry-After` (seconds, or an HTTP-date) is honoured, clamped to 1..2x the scheduled
  delay *before* jitter, and then used as it is (no jitter: it is the receiver's own figure).
- Every delay is capped at `MAX_DELAY_S` (6 days) *after* jitter and the `Retry-After` clamp:
  WEBHOOK_RETRY keeps a message 7 days (`max_age` in `parley_shared/streams.json`), so a
  waiting retry always fires at least a day before the stream could age it out (its source
  was acknowledged when it was scheduled: aged out would be lost). Schedule entries above the
  cap are refused at start.
- Attempts are numbered from 1; a webhook with `retries: 3` gets 4 tries, then a dead letter.
  HTTP 410 disables the webhook at once: no retry, straight to the dead letters.
"""

from __future__ import annotations

import enum
import random

JITTER = 0.2
RETRY_STREAM_MAX_AGE_S = 7 * 24 * 3600.0  # WEBHOOK_RETRY's max_age (parley_shared/streams.json)
RETENTION_MARGIN_S = 24 * 3600.0
MAX_DELAY_S = RETRY_STREAM_MAX_AGE_S - RETENTION_MARGIN_S


class Step(enum.Enum):
    """What happens after an attempt."""

    DELIVERED = "delivered"
    RETRY = "retry"
    DEAD = "dead"
    DISABLE = "disable"


def parse_schedule(text: str) -> tuple[float, ...]:
    """`"5,300,1800"` -> (5.0, 300.0, 1800.0); ValueError (naming the variable) unless 1+
    numbers, each > 0 and <= `MAX_DELAY_S`."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise ValueError("WEBHOOK_RETRY_SCHEDULE must list at least one delay in seconds")
    delays: list[float] = []
    for part in parts:
        try:
            delay = float(part)
        except ValueError:
            raise ValueError(
                f"WEBHOOK_RETRY_SCHEDULE: {part[:20]!r} is not a number of seconds"
            ) from None
        if not 0 < delay <= MAX_DELAY_S:
            raise ValueError(
                f"WEBHOOK_RETRY_SCHEDULE: every delay must be > 0 and <= {MAX_DELAY_S:.0f} "
                f"seconds (6 days: WEBHOOK_RETRY keeps a waiting retry 7 days), not {part[:20]}"
            )
        delays.append(delay)
    return tuple(delays)


def scheduled_delay(schedule: tuple[float, ...], retry: int) -> float:
    """The delay before retry number `retry` (1-based) before jitter."""
    return schedule[min(max(retry, 1), len(schedule)) - 1]


def capped(delay: float) -> float:
    """`delay`, at most `MAX_DELAY_S`: what WEBHOOK_RETRY is sure to keep until it fires."""
    return min(delay, MAX_DELAY_S)


def jittered(delay: float, rng: random.Random | None = None) -> float:
    """`delay` scaled by a uniform factor in [0.8, 1.2], then capped at `MAX_DELAY_S`."""
    source = rng if rng is not None else random
    return capped(delay * source.uniform(1 - JITTER, 1 + JITTER))


def retry_delay(
    schedule: tuple[float, ...],
    retry: int,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before retry number `retry`: jittered, or the clamped `Retry-After`;
    never more than `MAX_DELAY_S`."""
    base = scheduled_delay(schedule, retry)
    if retry_after is not None:
        return capped(min(max(retry_after, base), 2 * base))
    return jittered(base, rng)


def next_step(attempt: int, retries: int, *, ok: bool, status_code: int | None) -> Step:
    """What follows attempt number `attempt` of a webhook allowing `retries` retries."""
    if ok:
        return Step.DELIVERED
    if status_code == 410:
        return Step.DISABLE
    if attempt <= retries:
        return Step.RETRY
    return Step.DEAD
