"""The routing worker: takes attempts off SUBMIT and hands them to the provider.

For attempt n of a message (hop n of its plan): the validity must not have passed
(`expired_in_queue`), a strict hop's recipient must have the channel (`profile_not_found`),
then the balancer picks the route (round robin, or capacity based: waiting for a free slot)
and the provider takes the send. The attempt's state, its `sent` event and its DR TTL timer
are stored before the SUBMIT message is acked; an attempt seen again is not sent again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson
import structlog

from routing_svc.adapters.last_sender import LastSenders
from routing_svc.adapters.profiles import ProfileCache
from routing_svc.adapters.pull import retry_missing
from routing_svc.adapters.vault import Vault
from routing_svc.clock import now_ts
from routing_svc.domain.balancing import Balancer
from routing_svc.domain.lifecycle import (
    LIVE,
    PENDING,
    Message,
    dispatched,
    failed_before_send,
    redelivered,
)
from routing_svc.metrics import ATTEMPTS, inc
from routing_svc.providers.base import Channel, Outbound, Provider, Route
from routing_svc.providers.routes import routes_for
from routing_svc.transitions import Transitions

log = structlog.get_logger("routing_svc.router")


@dataclass(frozen=True)
class Handed:
    """What became of an attempt: sent on `route`, or failed with `reason` before it left."""

    reason: str | None = None
    route: str | None = None

    @property
    def sent(self) -> bool:
        """Whether the provider took it."""
        return self.reason is None


async def _within(event: asyncio.Event, seconds: float) -> bool:
    """Whether `event` is set within `seconds`."""
    if event.is_set():
        return True
    if seconds <= 0:
        return False
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True


def _ms(clock: Callable[[], float]) -> int:
    return int(clock() * 1000)


class Router:
    """Dispatches attempts from SUBMIT."""

    def __init__(
        self,
        *,
        transitions: Transitions,
        vault: Vault,
        provider: Provider,
        balancer: Balancer,
        routes: Sequence[Route],
        profiles: ProfileCache,
        last_senders: LastSenders,
        linger_s: float = 0.05,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._transitions, self._vault = transitions, vault
        self._provider, self._balancer, self._routes = provider, balancer, list(routes)
        self._profiles, self._last, self._clock = profiles, last_senders, clock
        self._linger_s = linger_s

    async def handle(self, nats_msg: Any) -> None:
        """One SUBMIT message (`{"m": message_id, "a": attempt}`): route it, then ack it.

        After a send the message stays unacked until the attempt's outcome is in, or its DR
        TTL timer is durable (see `Transitions`). A message whose record cannot be read is
        retried shortly, a bounded number of times (`retry_missing`).
        """
        body = orjson.loads(nats_msg.data)
        message_id, n = str(body["m"]), int(body["a"])
        store = self._transitions.store
        deadline_ms = None
        async with store.lock(message_id):
            loaded = await store.load(message_id)
            if loaded is not None:
                deadline_ms = await self._attempt(loaded[0], n)
        if loaded is None:  # not readable yet (a lagging replica), or gone: retried, bounded
            await retry_missing(nats_msg, "submitted_message_missing", message_id, n)
            return
        if deadline_ms is not None:
            await self._await_outcome(message_id, n, deadline_ms)
        await self._transitions.flush(message_id)  # nothing is acked before it is stored
        await nats_msg.ack()

    async def _await_outcome(self, message_id: str, n: int, deadline_ms: int) -> None:
        """Wait for the outcome: the attempt's held state is written when none came within the
        linger, its DR TTL timer armed when none came within the grace (or the DR TTL)."""
        transitions = self._transitions
        settled = transitions.watch(message_id, n)
        ttl_s = max(0.0, deadline_ms / 1000 - self._clock())
        linger_s = min(self._linger_s, transitions.grace_s, ttl_s)
        try:
            came = await _within(settled, linger_s)
            await transitions.flush(message_id)
            if not came and not await _within(settled, min(transitions.grace_s, ttl_s) - linger_s):
                await transitions.arm(message_id, n)
        finally:
            transitions.unwatch(message_id, n)

    async def _attempt(self, msg: Message, n: int) -> int | None:
        """Dispatch attempt n; the DR TTL deadline when it went out and its timer waits."""
        attempt = msg.attempt(n)
        if attempt is None or attempt.status != PENDING:
            fresh = await self._transitions.store.load(msg.id, fresh=True)
            if fresh is None:
                return None
            msg = fresh[0]
            attempt = msg.attempt(n)
        if attempt is None or attempt.status != PENDING:
            await self._transitions.apply_locked(msg.id, partial(redelivered, n=n))
            return None
        handed = await self.dispatch(msg, n)
        hop = msg.hops[n - 1]
        inc(ATTEMPTS, hop.channel, handed.reason or "sent")
        at = now_ts()
        if not handed.sent or handed.route is None:
            move = partial(
                failed_before_send,
                n=n,
                reason=handed.reason or "delivery_failed",
                at=at,
                route=handed.route,
                sender=hop.sender,
            )
            await self._transitions.apply_locked(msg.id, move)
            return None
        move = partial(
            dispatched, n=n, route=handed.route, sender=hop.sender, now_ms=_ms(self._clock), at=at
        )
        await self._transitions.apply_locked(msg.id, move, lazy=True, defer_timer=True)
        await self._remember_sender(msg, hop.channel)
        loaded = await self._transitions.store.load(msg.id)
        now = loaded[0].attempt(n) if loaded is not None else None
        if now is None or now.status != LIVE:
            return None
        self._transitions.watch(msg.id, n)
        return now.deadline_ms

    async def dispatch(self, msg: Message, n: int) -> Handed:
        """Check, pick a route and hand attempt n to the provider."""
        hop = msg.hops[n - 1]
        channel: Channel = hop.channel  # type: ignore[assignment]
        refusal = await self._precheck(msg, n, channel)
        if refusal is not None:
            return Handed(refusal)
        to, content = self._vault.number(msg), self._vault.content(msg)
        assert to is not None  # checked by _precheck
        assert content is not None
        providers = hop.agent_providers if channel == "rcs" else None
        candidates = routes_for(self._routes, channel, providers)
        if not candidates:
            log.error("no_route_for_channel", message_id=msg.id, channel=channel)
            return Handed("delivery_failed")
        strategy: Any = hop.strategy
        selector = self._balancer.selector_for(msg.account_id, channel, strategy, candidates)
        route = await selector.acquire()
        if self._expired(msg, n):
            return Handed("expired_in_queue")
        outbound = Outbound(
            msg.id, n, channel, route.name, hop.sender, to, content, dict(msg.metadata or {})
        )
        result = await self._provider.send(outbound)
        if not result.accepted:
            return Handed(result.reason or "delivery_failed", route.name)
        return Handed(None, route.name)

    async def _precheck(self, msg: Message, n: int, channel: Channel) -> str | None:
        """The reason attempt n fails before any route is picked, or None."""
        if self._expired(msg, n):
            return "expired_in_queue"
        to, content = self._vault.number(msg), self._vault.content(msg)
        if to is None or content is None:
            log.error("message_content_gone", message_id=msg.id, attempt=n)
            return "delivery_failed"
        strict = msg.hops[n - 1].verify_profile == "strict"
        if strict and not await self._profiles.has(to, channel):
            return "profile_not_found"
        return None

    def _expired(self, msg: Message, n: int) -> bool:
        attempt = msg.attempt(n)
        until = attempt.valid_until_ms if attempt is not None else None
        return until is not None and _ms(self._clock) > until

    async def _remember_sender(self, msg: Message, channel: str) -> None:
        if not msg.conversational:
            return
        number = self._vault.number(msg)
        if number is not None:
            await self._last.remember(channel, number, msg.account_id, msg.id)
