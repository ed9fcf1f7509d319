"""RFC 3339 UTC timestamps with milliseconds, ending in `Z` (CONTRACT conventions).

Formatting goes through `strftime` once per second only: the second's prefix is cached and
reused, since services stamp thousands of events a second and `strftime` is a visible cost.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

_prefix_second = -1
_prefix = ""


def now_ms() -> int:
    """Milliseconds since the epoch."""
    return int(time.time() * 1000)


def ts_of_ms(epoch_ms: int) -> str:
    """The contract timestamp of an epoch time in milliseconds."""
    global _prefix_second, _prefix  # noqa: PLW0603 - a one-entry cache of the formatted second
    second, millis = divmod(epoch_ms, 1000)
    if second != _prefix_second:
        _prefix = datetime.fromtimestamp(second, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _prefix_second = second
    return f"{_prefix}.{millis:03d}Z"


def format_ts(value: datetime) -> str:
    """`2026-11-26T10:00:00.123Z` for an aware (or naive UTC) datetime."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    seconds = int(value.timestamp() // 1)
    return ts_of_ms(seconds * 1000 + value.microsecond // 1000)


def now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def now_ts() -> str:
    """The current time formatted per the contract."""
    return ts_of_ms(now_ms())


def parse_ts(value: str) -> datetime:
    """Parse a contract timestamp (or any ISO 8601 one) into an aware UTC datetime."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
