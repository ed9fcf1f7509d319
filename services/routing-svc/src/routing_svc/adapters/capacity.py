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
from functools import partial
from typing import Any

import orjson
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from parley_runtime.tasks import SingleFlight

from routing_svc.domain.channels import Route

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[Any]]
LEASE_FRACTION = 0.1
PREFETCH_FRACTION = 0.1


def window_of(route: Route, now: float) -> tuple[int, float, int]:
    """(window index, window length in seconds, sends it allows) of `route` at `now`."""
    length = 1.0 if route.capacity_per_s >= 1 else 1.0 / route.capacity_per_s
    allowed = max(1, math.floor(route.capacity_per_s * length + 1e-9))
    return int(now // length), length, allowed


class CapacityLeases:
    """`ports.Capacity` over a KV bucket (see the module docstring).

    One lease at a time per route and window (`parley_runtime.tasks.SingleFlight`): every send
    that finds the lease empty awaits the same lease, and all of them wake in one turn of the
    loop when it lands. (A lock here made them wake one per turn: on a busy loop, hundreds of
    sends spread over hundreds of turns at each window's start.) In the last
    `PREFETCH_FRACTION` of a window the next window's first chunk is leased in the background,
    so a busy route does not stop at each window's start for the lease's round trip.
    """

    def __init__(self, kv: Any, clock: Clock = time.time, sleep: Sleep = asyncio.sleep) -> None:
        self._kv, self._clock, self._sleep = kv, clock, sleep
        self._left: dict[str, dict[int, int]] = {}  # route -> window -> sends leased, unused
        self._leasing: SingleFlight[tuple[str, int], bool] = SingleFlight()

    async def take(self, route: Route) -> None:
        """Wait for one send's share of `route`'s capacity, and take it."""
        while True:
            now = self._clock()
            window, length, allowed = window_of(route, now)
            if self._take_leased(route.name, window):
                if (window + 1) * length - now < length * PREFETCH_FRACTION:
                    self._prefetch(route.name, window + 1, allowed)
                return
            if await self._leased(route.name, window, allowed):
                continue  # taken by the loop above, unless others emptied it first
            await self._sleep(max(0.0, (window + 1) * length - self._clock()))

    def _take_leased(self, route: str, window: int) -> bool:
        left = self._left.get(route)
        if not left or left.get(window, 0) <= 0:
            return False
        left[window] -= 1
        return True

    def _leased(self, route: str, window: int, allowed: int) -> asyncio.Future[bool]:
        """The lease of `window` under way, or a new one: True once sends were added to it,
        False when the window is spent."""
        return self._leasing.run((route, window), partial(self._lease_into, route, window, allowed))

    async def _lease_into(self, route: str, window: int, allowed: int) -> bool:
        granted = await self._lease(route, window, allowed)
        left = self._left.setdefault(route, {})
        if granted <= 0:
            left.setdefault(window, 0)  # spent: known, so no prefetch asks again
            return False
        for old in [w for w in left if w < window - 1]:
            del left[old]  # windows past: their unused sends are lost (under-use only)
        left[window] = left.get(window, 0) + granted
        return True

    def _prefetch(self, route: str, window: int, allowed: int) -> None:
        """Lease `window`'s first chunk ahead of time (once; a failure is left to `take`)."""
        if self._leasing.running((route, window)) or window in self._left.get(route, {}):
            return
        self._leased(route, window, allowed).add_done_callback(_ignore_failure)

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


def _ignore_failure(future: asyncio.Future[bool]) -> None:
    """A prefetch that failed is not an error: the next `take` leases (and raises) itself."""
    if not future.cancelled():
        future.exception()
