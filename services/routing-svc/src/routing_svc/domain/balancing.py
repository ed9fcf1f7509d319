"""Route choice (CONTRACT section 8, "Routing"): round robin, and capacity-based balancing.

- `RoundRobin` cycles through its routes in order, exactly: 1st, 2nd, 3rd, 1st, ... It serves
  `round_robin`, RCS over the account's agent providers, and channels with a single route. It
  never skips a route, but it never overruns one either: its send waits for the chosen route's
  next free slot.
- `CapacityBased` splits traffic in proportion to each route's capacity and never sends a
  route past it: when every route is busy the caller waits for the earliest free slot.
- `Balancer` keeps one selector per (account, channel, strategy, routes), so a round robin is
  exact per account and channel across messages, and shares one `RouteSlots` among all its
  capacity-based selectors, because a route's capacity is physical: it is shared by every
  account that sends on it.

How the capacity is kept: each route has a next free time; a send takes the slot at
`max(next_free, now)` and moves `next_free` on by `1 / capacity`. Sends on one route are
therefore at least `1 / capacity` apart, which is at most `capacity` of them in any one-second
window. `reserve(now)` takes the slot at once and answers when it starts; the caller waits
until then (a waiting caller cannot be overtaken, and many concurrent callers cost one sleep
each). A caller that gives up its wait wastes its slot (the route is under-used by one send,
never over-used). The cap holds on the schedule; waking late can only delay a send.
Among routes free at the same time the one with the least "pass" wins (stride scheduling:
each pick adds `1 / capacity` to the route's pass), ties by order, so light traffic is split
in proportion to capacity too; under saturation the earliest slot wins, which is the same
proportion.

Several replicas: this paces one process's sends; the cap across every replica together is
held by the capacity leases (`adapters/capacity.py`), which each send takes after its slot.

Pure: no I/O, no clock (every call is given `now`), no waiting (the caller sleeps).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Generic, Literal, Protocol, TypeVar, cast

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

    def try_reserve(self, now: float) -> R_co | None:
        """The route to send on at `now` (its slot taken), or None when every route is busy."""
        ...

    def reserve(self, now: float) -> tuple[R_co, float]:
        """The route to send on and when its slot starts (`now` or later); the slot is taken."""
        ...


def _checked(routes: Sequence[R]) -> tuple[R, ...]:
    if not routes:
        raise NoRoutes("no routes to choose among")
    return tuple(routes)


class RoundRobin(Generic[R]):
    """Cycles through the routes in order, exactly; each send waits for its route's slot."""

    def __init__(self, routes: Sequence[R], slots: RouteSlots | None = None) -> None:
        self._routes = _checked(routes)
        self._slots = slots if slots is not None else RouteSlots()
        for route in self._routes:
            self._slots.interval(route)  # refuses a route without a positive capacity now
        self._next = 0

    @property
    def routes(self) -> tuple[R, ...]:
        """The routes, in cycling order."""
        return self._routes

    def choose(self) -> R:
        """The next route in the cycle (no slot taken)."""
        route = self._routes[self._next]
        self._next = (self._next + 1) % len(self._routes)
        return route

    def try_reserve(self, now: float) -> R | None:
        """The next route when its slot is free at `now` (taken), else None (the cycle waits)."""
        route = self._routes[self._next]
        if self._slots.free_at(route, now) > now:
            return None
        self._slots.take(route, now)
        return self.choose()

    def reserve(self, now: float) -> tuple[R, float]:
        """The next route in the cycle and its earliest free slot (taken)."""
        route = self.choose()
        at = self._slots.free_at(route, now)
        self._slots.take(route, at)
        return route, at


class RouteSlots:
    """The next free send time of every route, shared by all the selectors of a process."""

    def __init__(self) -> None:
        self._next_free: dict[str, float] = {}

    def interval(self, route: RouteLike) -> float:
        """Seconds between two sends on `route`."""
        if not route.capacity_per_s > 0:
            raise ValueError(f"route {route.name!r} has no positive capacity")
        return 1.0 / route.capacity_per_s + _SLOT_MARGIN_S

    def free_at(self, route: RouteLike, now: float) -> float:
        """When `route` can take its next send: `now` or later."""
        return max(self._next_free.get(route.name, now), now)

    def take(self, route: RouteLike, at: float) -> None:
        """Take the slot of `route` at `at` (a time `free_at` answered)."""
        self._next_free[route.name] = at + self.interval(route)


class CapacityBased(Generic[R]):
    """Splits traffic in proportion to capacity, never past it; callers wait when all are busy.

    `slots` is the per-route tracker shared with other selectors (a `Balancer` passes its own);
    without it the selector makes a private one.
    """

    def __init__(self, routes: Sequence[R], slots: RouteSlots | None = None) -> None:
        self._routes = _checked(routes)
        self._slots = slots if slots is not None else RouteSlots()
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

    def try_reserve(self, now: float) -> R | None:
        """A route with a free slot at `now` (taking it), or None when every route is busy."""
        picked = self._pick(now, only_free=True)
        return picked[0] if picked is not None else None

    def reserve(self, now: float) -> tuple[R, float]:
        """A route and its earliest free slot (taken); the caller waits until then."""
        picked = self._pick(now, only_free=False)
        assert picked is not None  # routes is non-empty, and any slot is acceptable here
        return picked


class Balancer:
    """One selector per (account, channel, strategy, routes); capacity shared per route.

    Keeps at most `max_selectors` selectors, dropping the least recently used (a dropped round
    robin restarts at its first route). Routes are identified by name: a process serves a fixed
    set of routes, so one name is one capacity.
    """

    def __init__(self, *, max_selectors: int = 100_000) -> None:
        if max_selectors < 1:
            raise ValueError("max_selectors must be 1 or more")
        self.slots = RouteSlots()
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
            selector = CapacityBased(routes, slots=self.slots)
        else:
            selector = RoundRobin(routes, slots=self.slots)
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
