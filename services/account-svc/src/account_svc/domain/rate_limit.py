"""Login attempts per client address: a token bucket per address, in this process's memory.

Each address may make `burst` attempts at once and then `per_minute` a minute. An IPv6 client
is counted by its /64 (one host usually holds a whole /64, so counting single addresses would
let it rotate freely). The table is bounded: past `max_keys` addresses the one idle longest is
forgotten; its bucket had refilled the most, so forgetting it gives away the least.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from parley_runtime.addresses import Address

MAX_KEYS = 20_000  # ~3 MB of buckets at most


def rate_key(address: Address | None) -> str:
    """The key an address is counted under: itself for IPv4, its /64 for IPv6."""
    if address is None:
        return "unknown"
    if address.version == 6:
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class RateLimiter:
    """Token buckets by key; `take` spends one token or says how long until one is there."""

    def __init__(
        self,
        per_minute: float,
        burst: int,
        max_keys: int = MAX_KEYS,
        *,
        clock: Callable[[], float],
    ) -> None:
        """`clock` is monotonic seconds (`time.monotonic` in the service)."""
        if per_minute <= 0 or burst < 1 or max_keys < 1:
            raise ValueError("a rate limit needs per_minute > 0, burst >= 1 and max_keys >= 1")
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, when); LRU order

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str) -> float:
        """0.0 when `key` may go on (a token is spent), else the seconds until it may."""
        now = self.clock()
        tokens, then = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + max(0.0, now - then) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens, now)  # re-inserted last: most recently used
        while len(self._buckets) > self.max_keys:
            del self._buckets[next(iter(self._buckets))]
        return wait
