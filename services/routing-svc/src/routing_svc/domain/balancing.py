"""Route choice (CONTRACT section 8, "Routing"): round robin, and capacity-based balancing.

- `RoundRobin` cycles through its routes in order, exactly: 1st, 2nd, 3rd, 1st, ... It serves
  `round_robin`, RCS over the account's agent providers, and channels with a single route. It
  never waits and does not look at capacity.
- `CapacityBased` splits traffic in proportion to each route's capacity and never sends a
  route past it: when every route is busy the caller waits for the earliest free slot.
- `Balancer` keeps one selector per (account, channel, strategy, routes), so a round robin is
  exact per account and channel across messages, and shares one `RouteSlots` among all its
  capacity-based selectors, because a route's capacity is physical: it is shared by every
  account that sends on it.

How the capacity is kept: each route has a next free time; a send takes the slot at
`max(next_free, now)` and moves `next_free` on by `1 / capacity`. Sends on one route are
therefore at least `1 / capacity` apart, which is at most `capacity` of them in any one-second
window. `acquire` reserves its slot at once (a waiting caller cannot be overtaken, and many
concurrent callers cost one sleep each), then sleeps until it. A caller cancelled while it
waits wastes its slot (the route is under-used by one send, never over-used). The cap holds on
the schedule; the event loop may wake a caller a little late, which can only delay a send.
Among routes free at the same time the one with the least "pass" wins (stride scheduling:
each pick adds `1 / capacity` to the route's pass), ties by order, so light traffic is split
in proportion to capacity too; under saturation the earliest slot wins, which is the same
proportion.

Several replicas: each process tracks only its own sends. With N routing-svc replicas set
`ROUTING_REPLICAS_HINT=N` (`replicas_hint`, default 1): each replica then uses
`capacity / N` of every route, so together they stay within the capacity (and under-use it
when the load is uneven between replicas).

Pure: no I/O but `asyncio` timing; the clock and sleep are injectable for tests.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, Literal, Protocol, TypeVar, cast

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[Any]]
Strategy = Literal["round_robin", "capacity_based"]
_Key = tuple[str, str, str, tuple[str, ...]]  # account, channel, strategy, route names

# Each slot is this much longer than 1/capacity, so that float rounding of the running
# next-free time can never squeeze one send too many into a second.
_SLOT_MARGIN_S = 1e-9
# A route's pass may lag the chosen route's by at most this (virtual seconds): a route that
# other accounts kept busy catches up with a bounded preference, not a long burst.
_MAX_PASS_LAG = 1.0
_PASS_RENORMALIZE_AT = 1e6


class RouteLike(Protocol):
    """What balancing needs of a route (`providers.base.Route` is one)."""

    @property
    def name(self) -> str:
        """Unique route name."""
        ...

    @property
    def capacity_per_s(self) -> float:
        """Messages per second the route takes."""
        ...


R = TypeVar("R", bound=RouteLike)
R_co = TypeVar("R_co", bound=RouteLike, covariant=True)


class NoRoutes(ValueError):
    """Raised when a selector is asked for over no routes.

    A channel without a configured route cannot carry a message; saying so where the selector
    is built keeps that from turning into an IndexError deep inside a send.
    """


class Selector(Protocol[R_co]):
    """Chooses the route of the next send."""

    @property
    def routes(self) -> tuple[R_co, ...]:
        """The routes chosen among, in order."""
        ...

    def try_acquire(self) -> R_co | None:
        """The route to send on now, or None when every route is at capacity."""
        ...

    async def acquire(self) -> R_co:
        """The route to send on, waiting for a free slot when every route is at capacity."""
        ...


def _checked(routes: Sequence[R]) -> tuple[R, ...]:
    if not routes:
        raise NoRoutes("no routes to choose among")
    return tuple(routes)


class RoundRobin(Generic[R]):
    """Cycles through the routes in order, exactly; never waits."""

    def __init__(self, routes: Sequence[R]) -> None:
        self._routes = _checked(routes)
        self._next = 0

    @property
    def routes(self) -> tuple[R, ...]:
        """The routes, in cycling order."""
        return self._routes

    def choose(self) -> R:
        """The next route in the cycle."""
        route = self._routes[self._next]
        self._next = (self._next + 1) % len(self._routes)
        return route

    def try_acquire(self) -> R:
        """Same as `choose` (round robin never refuses)."""
        return self.choose()

    async def acquire(self) -> R:
        """Same as `choose` (round robin never waits)."""
        return self.choose()


class RouteSlots:
    """The next free send time of every route, for the capacity-based selectors of a process."""

    def __init__(self, clock: Clock = time.monotonic, replicas_hint: int = 1) -> None:
        if replicas_hint < 1:
            raise ValueError("replicas_hint must be 1 or more")
        self.clock = clock
        self.replicas_hint = replicas_hint
        self._next_free: dict[str, float] = {}

    def interval(self, route: RouteLike) -> float:
        """Seconds between two sends on `route` in this process (capacity / replicas_hint)."""
        if not route.capacity_per_s > 0:
            raise ValueError(f"route {route.name!r} has no positive capacity")
        return self.replicas_hint / route.capacity_per_s + _SLOT_MARGIN_S

    def free_at(self, route: RouteLike, now: float) -> float:
        """When `route` can take its next send: `now` or later."""
        return max(self._next_free.get(route.name, now), now)

    def take(self, route: RouteLike, at: float) -> None:
        """Take the slot of `route` at `at` (a time `free_at` answered)."""
        self._next_free[route.name] = at + self.interval(route)


class CapacityBased(Generic[R]):
    """Splits traffic in proportion to capacity, never past it; callers wait when all are busy.

    `slots` is the per-route tracker shared with other selectors (a `Balancer` passes its own);
    without it the selector makes a private one from `clock` and `replicas_hint`.
    """

    def __init__(
        self,
        routes: Sequence[R],
        clock: Clock = time.monotonic,
        *,
        slots: RouteSlots | None = None,
        replicas_hint: int = 1,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._routes = _checked(routes)
        self._slots = slots if slots is not None else RouteSlots(clock, replicas_hint)
        self._sleep = sleep
        for route in self._routes:
            self._slots.interval(route)  # refuses a route without a positive capacity now
        self._stride = [1.0 / route.capacity_per_s for route in self._routes]
        self._pass = [0.0] * len(self._routes)

    @property
    def routes(self) -> tuple[R, ...]:
        """The routes chosen among, in order."""
        return self._routes

    def _pick(self, now: float, only_free: bool) -> tuple[R, float] | None:
        best: tuple[float, float, int] | None = None
        for index, route in enumerate(self._routes):
            at = self._slots.free_at(route, now)
            if only_free and at > now:
                continue
            key = (at, self._pass[index], index)
            if best is None or key < best:
                best = key
        if best is None:
            return None
        at, chosen_pass, index = best
        route = self._routes[index]
        self._slots.take(route, at)
        self._advance(index, chosen_pass)
        return route, at

    def _advance(self, index: int, chosen_pass: float) -> None:
        self._pass[index] = chosen_pass + self._stride[index]
        floor = chosen_pass - _MAX_PASS_LAG
        for other, value in enumerate(self._pass):
            if value < floor:
                self._pass[other] = floor
        if chosen_pass > _PASS_RENORMALIZE_AT:
            base = min(self._pass)
            self._pass = [value - base for value in self._pass]

    def try_acquire(self) -> R | None:
        """A route with a free slot now (taking it), or None when every route is at capacity."""
        picked = self._pick(self._slots.clock(), only_free=True)
        return picked[0] if picked is not None else None

    async def acquire(self) -> R:
        """A route, reserving its earliest free slot and waiting until then if that is later."""
        now = self._slots.clock()
        picked = self._pick(now, only_free=False)
        assert picked is not None  # routes is non-empty, and any slot is acceptable here
        route, at = picked
        if at > now:
            await self._sleep(at - now)
        return route


class Balancer:
    """One selector per (account, channel, strategy, routes); capacity shared per route.

    Keeps at most `max_selectors` selectors, dropping the least recently used (a dropped round
    robin restarts at its first route). Routes are identified by name: a process serves a fixed
    set of routes, so one name is one capacity.
    """

    def __init__(
        self,
        *,
        replicas_hint: int = 1,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        max_selectors: int = 100_000,
    ) -> None:
        if max_selectors < 1:
            raise ValueError("max_selectors must be 1 or more")
        self.slots = RouteSlots(clock, replicas_hint)
        self._sleep = sleep
        self._max = max_selectors
        self._selectors: OrderedDict[_Key, Selector[Any]] = OrderedDict()

    def selector_for(
        self, account_id: str, channel: str, strategy: Strategy | None, routes: Sequence[R]
    ) -> Selector[R]:
        """The selector of this account's traffic on `channel` over `routes` (in their order).

        `strategy` None means round robin (RCS, single-route channels, no traffic management).
        Raises `NoRoutes` when `routes` is empty.
        """
        chosen: Strategy = strategy or "round_robin"
        key: _Key = (account_id, channel, chosen, tuple(route.name for route in routes))
        found = self._selectors.get(key)
        if found is not None:
            self._selectors.move_to_end(key)
            return cast(Selector[R], found)
        selector: Selector[R]
        if chosen == "capacity_based":
            selector = CapacityBased(routes, slots=self.slots, sleep=self._sleep)
        else:
            selector = RoundRobin(routes)
        self._selectors[key] = selector
        if len(self._selectors) > self._max:
            self._selectors.popitem(last=False)
        return selector

    def forget(self, account_id: str) -> int:
        """Drop an account's selectors (it was deleted or reconfigured); returns how many."""
        keys = [key for key in self._selectors if key[0] == account_id]
        for key in keys:
            del self._selectors[key]
        return len(keys)

    def __len__(self) -> int:
        """How many selectors are kept."""
        return len(self._selectors)
