"""The routing worker: takes attempts off SUBMIT and hands them to the route's provider.

For attempt n of a message (hop n of its plan): the validity must not have passed
(`expired_in_queue`), a strict hop's recipient must have the channel (`profile_not_found`),
then the balancer picks the route (round robin or capacity based, each paced at the route's
capacity in this process; a send that is not OTP first waits for its channel's turn, see
`pacing`, so OTP never queues behind promotional traffic) and the route's capacity lease is
taken (the cap across replicas). A real network's send is claimed first (`Handovers.claim`),
so an attempt that went out is not sent again when its SUBMIT message comes back after a
crash. A provider that puts a send off (throttling, HTTP 429/5xx, no live connection) gets it
again on the same route later, while the validity allows; that is never a failure. The
attempt's state, its `sent` event, the provider's ids and its DR TTL timer are stored before
the SUBMIT message is acked; while a send waits, the consumer keeps the message's ack deadline
alive (`in_progress`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import cast

import structlog
from parley_shared.timefmt import now_ts

from routing_svc.domain.balancing import Balancer, Selector, Strategy
from routing_svc.domain.channels import Channel, DeliveryReport, Outbound, Route, SendResult
from routing_svc.domain.lifecycle import (
    LIVE,
    PENDING,
    Message,
    Step,
    dispatched,
    failed_before_send,
    redelivered,
)
from routing_svc.domain.routes import routes_for
from routing_svc.domain.traffic import OTP, RANK
from routing_svc.domain.vault import Vault
from routing_svc.errors import Undecodable
from routing_svc.metrics import ATTEMPTS, REPORTS, SEND_ANSWERS, SUBMITS, inc
from routing_svc.outcomes import ImmediateReports, report_move
from routing_svc.pacing import PriorityGate
from routing_svc.ports import (
    Capacity,
    Handovers,
    InFlight,
    LastSenders,
    Profiles,
    Provider,
    Providers,
)
from routing_svc.transitions import Transitions, decode, retry_missing

log = structlog.get_logger("routing_svc.router")

MAX_RETRY_WAIT_S = 30.0


@dataclass(frozen=True)
class Handed:
    """What became of an attempt: sent on `route` (under the provider's ids), or failed with
    `reason` before it left."""

    reason: str | None = None
    route: str | None = None
    provider_ids: tuple[str, ...] = field(default=())
    network: bool = False  # a real network (claimed): its sent state is written at once
    reports: tuple[DeliveryReport, ...] = ()  # made by the provider during the send

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


def _attempt_number(value: object) -> int:
    """An attempt number of a stream message (`Undecodable` when it is not one)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise Undecodable("attempt is not a positive integer")
    return value


def _settles(step: Step | None) -> bool:
    """Whether a report's step ended its attempt: a final event, or the next attempt queued."""
    return step is not None and (
        step.enqueue is not None or any(spec.final for spec in step.events)
    )


def _ms(clock: Callable[[], float]) -> int:
    return int(clock() * 1000)


class Router:
    """Dispatches attempts from SUBMIT."""

    def __init__(
        self,
        *,
        transitions: Transitions,
        vault: Vault,
        providers: Providers,
        balancer: Balancer,
        capacity: Capacity,
        handovers: Handovers,
        profiles: Profiles,
        last_senders: LastSenders,
        linger_s: float = 0.05,
        immediate: ImmediateReports | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._transitions, self._vault = transitions, vault
        self._providers, self._balancer = providers, balancer
        self._capacity, self._handovers = capacity, handovers
        self._profiles, self._last, self._clock = profiles, last_senders, clock
        self._monotonic = monotonic
        self._linger_s = linger_s
        self._immediate = immediate
        self._routes = {route.name: route for route in providers.routes()}
        self._gate = PriorityGate()

    async def handle(self, nats_msg: InFlight) -> None:
        """One SUBMIT message (`{"m": message_id, "a": attempt}`): route it, then ack it.

        After a send the message stays unacked until the attempt's outcome is in, or its DR
        TTL timer is durable (see `Transitions`). A message whose record cannot be read is
        retried shortly, a bounded number of times (`retry_missing`).
        """
        body = decode(nats_msg, "m", "a")
        message_id, n = str(body["m"]), _attempt_number(body["a"])
        store = self._transitions.store
        deadline_ms = None
        async with store.lock(message_id):
            loaded = await store.load(message_id)
            if loaded is not None:
                deadline_ms = await self._attempt(loaded[0], n)
        if loaded is None:  # not readable yet (a lagging replica), or gone: bounded retries
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
            dispatched,
            n=n,
            route=handed.route,
            sender=hop.sender,
            now_ms=_ms(self._clock),
            at=at,
            parts=len(handed.provider_ids) or 1,
        )
        # The sandbox's state may wait a moment to be written with its report (it reports at
        # once); a real network's is written now: its reports come seconds later, and GET must
        # show what the `sent` event said.
        lazy = not handed.network
        await self._transitions.apply_locked(msg.id, move, lazy=lazy, defer_timer=True)
        await self._remember_sender(msg, hop.channel)
        settled = False
        for report in handed.reports:  # the outcome came with the send: one write for both
            step = await self._transitions.apply_locked(msg.id, report_move(report))
            inc(REPORTS, "applied")
            settled = settled or _settles(step)
        if settled:
            return None  # no timer to wait for (and a final record has left the cache)
        loaded = await self._transitions.store.load(msg.id)
        now = loaded[0].attempt(n) if loaded is not None else None
        if now is None or now.status != LIVE:
            return None
        self._transitions.watch(msg.id, n)
        return now.deadline_ms

    async def dispatch(self, msg: Message, n: int) -> Handed:
        """Check, pick a route and hand attempt n to its provider."""
        hop = msg.hops[n - 1]
        channel: Channel = hop.channel  # type: ignore[assignment]
        providers = hop.agent_providers if channel == "rcs" else None
        candidates = routes_for(list(self._routes.values()), channel, providers)
        if not candidates:
            log.error("no_route_for_channel", message_id=msg.id, channel=channel)
            return Handed("delivery_failed")
        refusal = await self._precheck(msg, n, channel, candidates[0].name)
        if refusal is not None:
            return Handed(refusal)
        strategy = cast(Strategy | None, hop.strategy)
        selector = self._balancer.selector_for(msg.account_id, channel, strategy, candidates)
        if msg.traffic_class == OTP:
            route = await self._slot(selector)
        else:
            async with self._gate.turn(channel, RANK.get(msg.traffic_class, RANK[OTP] + 1)):
                route = await self._slot(selector)
        return await self._send(msg, n, route)

    async def _slot(self, selector: Selector[Route]) -> Route:
        """Take the selector's next slot and wait until it starts."""
        route, at = selector.reserve(self._monotonic())
        wait = at - self._monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        return route

    async def _send(self, msg: Message, n: int, route: Route) -> Handed:
        """Hand attempt n to `route`'s provider; offered again there while it is put off."""
        hop = msg.hops[n - 1]
        provider = self._providers.for_route(route.name)
        attempt = msg.attempt(n)
        to, content = self._vault.number(msg), self._vault.content(msg)
        assert to is not None  # checked by _precheck
        assert content is not None
        while True:
            await self._capacity.take(route)
            if self._expired(msg, n):
                return Handed("expired_in_queue")
            if provider.needs_handover:
                claim = await self._handovers.claim(msg.id, n, route.name)
                if claim.route != route.name and claim.route in self._routes:
                    route = self._routes[claim.route]  # a resend stays on the first route
                    provider = self._providers.for_route(route.name)
                if not claim.send:
                    log.warning("handover_not_resent", message_id=msg.id, attempt=n)
                    return Handed(None, route.name, claim.provider_ids, network=True)
            outbound = Outbound(
                msg.id,
                n,
                hop.channel,  # type: ignore[arg-type]
                route.name,
                hop.sender,
                to,
                content,
                dict(msg.metadata or {}),
                account_id=msg.account_id,
                valid_until_ms=attempt.valid_until_ms if attempt is not None else None,
            )
            inc(SUBMITS, route.name)
            result, reports = await self._offer(provider, outbound)
            inc(SEND_ANSWERS, route.name, result.status)
            if result.accepted:
                handed = await self._handed(msg, n, route, provider.needs_handover, result)
                return replace(handed, reports=tuple(reports))
            if reports and self._immediate is not None:
                await self._immediate.forward(reports)
            if provider.needs_handover and not result.unknown:
                await self._handovers.release(msg.id, n)
            if result.status == "failed":
                return Handed(result.reason or "delivery_failed", route.name)
            await self._wait_retry(msg, n, route, result)

    async def _offer(
        self, provider: Provider, outbound: Outbound
    ) -> tuple[SendResult, list[DeliveryReport]]:
        """The provider's answer, and the reports it made of this attempt meanwhile."""
        immediate = self._immediate
        if immediate is None:
            return await provider.send(outbound), []
        immediate.expect(outbound.message_id, outbound.attempt)
        try:
            result = await provider.send(outbound)
        finally:
            reports = immediate.take(outbound.message_id, outbound.attempt)
        return result, reports

    async def _handed(
        self, msg: Message, n: int, route: Route, claimed: bool, result: SendResult
    ) -> Handed:
        """Record the provider's ids (for its reports) before the attempt counts as sent."""
        ids = result.provider_ids
        if claimed or ids:
            acks = await self._handovers.handed(msg.id, n, route.name, ids)
            await asyncio.gather(*acks)
        return Handed(None, route.name, ids, network=claimed)

    async def _wait_retry(self, msg: Message, n: int, route: Route, result: SendResult) -> None:
        """Wait before offering a put-off send again (never past the attempt's validity)."""
        delay = min(max(result.retry_after_s, 0.05), MAX_RETRY_WAIT_S)
        attempt = msg.attempt(n)
        until = attempt.valid_until_ms if attempt is not None else None
        if until is not None:
            delay = min(delay, max(0.0, until / 1000 - self._clock()) + 0.001)
        log.info(
            "send_put_off",
            message_id=msg.id,
            attempt=n,
            route=route.name,
            retry_in_s=round(delay, 3),
            detail=result.detail,
        )
        await asyncio.sleep(delay)

    async def _precheck(self, msg: Message, n: int, channel: Channel, route: str) -> str | None:
        """The reason attempt n fails before any route is picked, or None."""
        if self._expired(msg, n):
            return "expired_in_queue"
        to, content = self._vault.number(msg), self._vault.content(msg)
        if to is None or content is None:
            log.error("message_content_gone", message_id=msg.id, attempt=n)
            return "delivery_failed"
        strict = msg.hops[n - 1].verify_profile == "strict"
        if strict and not await self._profiles.has(to, channel, route):
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
