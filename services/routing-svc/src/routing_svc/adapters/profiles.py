"""Strict profile checks through the route's provider's capability lookup, cached with a TTL.

Only a provider whose answers may be reused (`profiles_cacheable`) is cached: the sandbox's
lookup reads its recipients from memory, and a `PUT /v1/sandbox/recipients/{msisdn}` must
hold for the very next send (in every replica), so its answers are never kept. RBM's
capabilities call is cached for `ttl_s` (a user's phone gains or loses RCS rarely).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from routing_svc.domain.channels import Channel
from routing_svc.ports import Providers

MAX_ENTRIES = 100_000


class ProfileCache:
    """`has(to, channel, route)`: the route's provider's answer, remembered for `ttl_s` seconds
    (not at all when that provider's answers are not `profiles_cacheable`)."""

    def __init__(
        self, providers: Providers, ttl_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._providers = providers
        self._ttl = ttl_s
        self._clock = clock
        self._known: OrderedDict[tuple[str, str, str], tuple[bool, float]] = OrderedDict()

    async def has(self, to: str, channel: Channel, route: str) -> bool:
        """Whether `to` can receive on `channel` through `route`'s provider."""
        provider = self._providers.for_route(route)
        if not provider.profiles_cacheable or self._ttl <= 0:
            return await provider.has_capability(to, channel, route)
        key = (provider.kind + ":" + route, to, channel)
        now = self._clock()
        held = self._known.get(key)
        if held is not None and held[1] > now:
            return held[0]
        answer = await provider.has_capability(to, channel, route)
        self._known[key] = (answer, now + self._ttl)
        self._known.move_to_end(key)
        while len(self._known) > MAX_ENTRIES:
            self._known.popitem(last=False)
        return answer
