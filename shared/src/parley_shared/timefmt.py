"""RFC 3339 UTC timestamps with milliseconds, ending in `Z` (CONTRACT conventions)."""

from __future__ import annotations

from datetime import UTC, datetime


def format_ts(value: datetime) -> str:
    """`2026-11-26T10:00:00.123Z` for an aware (or naive UTC) datetime."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def now_ts() -> str:
    """The current time formatted per the contract."""
    return format_ts(now())


def parse_ts(value: str) -> datetime:
    """Parse a contract timestamp (or any ISO 8601 one) into an aware UTC datetime."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
