"""Fast contract timestamps (RFC 3339 UTC, milliseconds, `Z`) and epoch milliseconds.

`parley_shared.timefmt.format_ts` goes through `strftime`, a visible cost at thousands of
messages a second; here the second's prefix is formatted once and reused.
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


def now_ts() -> str:
    """The current time as a contract timestamp."""
    return ts_of_ms(now_ms())


def ts_of(value: datetime) -> str:
    """The contract timestamp of an aware datetime."""
    return ts_of_ms(int(value.timestamp() * 1000))
