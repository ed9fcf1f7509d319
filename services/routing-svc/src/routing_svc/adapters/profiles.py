"""Strict profile checks through the provider's capability lookup, cached with a TTL.

Only a provider whose answers may be reused (`profiles_cacheable`) is cached: the sandbox's
lookup reads its recipients from memory, and a `PUT /v1/sandbox/recipients/{msisdn}` must
hold for the very next send (in every replica), so its answers are never kept.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from routing_svc.providers.base import Channel, Provider

MAX_ENTRIES = 100_000


class ProfileCache:
    """`has(to, channel)`: the provider's answer, remembered for `ttl_s` seconds (not at all
    when the provider's answers are not `profiles_cacheable`)."""

    def __init__(
        self, provider: Provider, ttl_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._provider = provider
        self._ttl = ttl_s if provider.profiles_cacheable else 0.0
        self._clock = clock
        self._known: OrderedDict[tuple[str, str], tuple[bool, float]] = OrderedDict()

    async def has(self, to: str, channel: Channel) -> bool:
        """Whether `to` can receive on `channel`."""
        key = (to, channel)
        now = self._clock()
        held = self._known.get(key)
        if held is not None and held[1] > now:
            return held[0]
        answer = await self._provider.has_capability(to, channel)
        if self._ttl > 0:
            self._known[key] = (answer, now + self._ttl)
            self._known.move_to_end(key)
            while len(self._known) > MAX_ENTRIES:
                self._known.popitem(last=False)
        return answer
