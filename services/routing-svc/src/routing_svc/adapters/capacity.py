"""Each route's `capacity_per_s` held across every routing-svc replica together: leased shares
of one-second windows in JetStream KV (`ROUTING_CAPACITY`).

Time is cut into windows aligned to the epoch (one second; `1 / capacity` seconds for a route
slower than one message a second); a window allows `capacity x length` sends (at least one).
Key `<route>.<window>` counts the sends leased out of that window so far. A replica that needs
a send takes one from its own lease, and when that is empty leases a chunk (a tenth of the
window, at least one) with a compare-and-set on the key, so the leases of all replicas never
add up to more than the window allows; when the window is spent, the send waits for the next.
A lease unused when its window ends is lost (under-use, never over-use). The bucket's short TTL
drops old windows. Within a process, `domain.balancing` paces sends at the route's capacity, so
a single replica rarely needs more than a few leases a second.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

from routing_svc.domain.channels import Route

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[Any]]
LEASE_FRACTION = 0.1


@dataclass
class _Lease:
    window: int
    left: int


def window_of(route: Route, now: float) -> tuple[int, float, int]:
    """(window index, window length in seconds, sends it allows) of `route` at `now`."""
    length = 1.0 if route.capacity_per_s >= 1 else 1.0 / route.capacity_per_s
    allowed = max(1, math.floor(route.capacity_per_s * length + 1e-9))
    return int(now // length), length, allowed


class CapacityLeases:
    """`ports.Capacity` over a KV bucket (see the module docstring)."""

    def __init__(self, kv: Any, clock: Clock = time.time, sleep: Sleep = asyncio.sleep) -> None:
        self._kv, self._clock, self._sleep = kv, clock, sleep
        self._leases: dict[str, _Lease] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def take(self, route: Route) -> None:
        """Wait for one send's share of `route`'s capacity, and take it."""
        while True:
            now = self._clock()
            window, length, allowed = window_of(route, now)
            lease = self._leases.get(route.name)
            if lease is not None and lease.window == window and lease.left > 0:
                lease.left -= 1
                return
            lock = self._locks.setdefault(route.name, asyncio.Lock())
            async with lock:
                lease = self._leases.get(route.name)
                if lease is not None and lease.window == window and lease.left > 0:
                    lease.left -= 1
                    return
                granted = await self._lease(route.name, window, allowed)
                if granted > 0:
                    self._leases[route.name] = _Lease(window, granted - 1)
                    return
            await self._sleep(max(0.0, (window + 1) * length - self._clock()))

    async def _lease(self, route: str, window: int, allowed: int) -> int:
        """Lease up to a chunk of `window`'s sends; 0 when the window is spent."""
        key = f"{route}.{window}"
        chunk = max(1, math.ceil(allowed * LEASE_FRACTION))
        for _ in range(32):
            try:
                entry = await self._kv.get(key)
                taken, revision = int(orjson.loads(entry.value)), int(entry.revision)
            except KeyNotFoundError:
                taken, revision = 0, 0
            grant = min(chunk, allowed - taken)
            if grant <= 0:
                return 0
            value = orjson.dumps(taken + grant)
            try:
                if revision:
                    await self._kv.update(key, value, last=revision)
                else:
                    await self._kv.create(key, value)
            except KeyWrongLastSequenceError:
                continue
            return grant
        return 0  # heavy contention: wait for the next window rather than spin
