"""Moving a message on: read it, apply one input (domain), write it back, publish the effects.

The write is a compare-and-set on the message log; a lost race reads again and re-applies, so
one state wins and only its events go out. The effects of a step (status events, the next
attempt on SUBMIT, the DR TTL timer) are published pipelined and awaited together, after the
write: an input redelivered after a crash finds itself applied and publishes the same events
again (same ids). A dispatch, whose events no other input can contradict, holds its change
and its `sent` event in memory for a moment (`lazy`): the attempt's report usually comes
within it, and then one write records both and the `sent` event goes out with the report's
events, in one pipelined batch after that write; else `flush` writes the change and publishes
the event. A process that dies before that write leaves the attempt pending and SUBMIT
unacked, so the attempt is dispatched again; one that dies after the write and before the
publish leaves SUBMIT unacked too, and its redelivery replays the attempt's events
(`lifecycle.redelivered`). When the step that writes a held change is another input's (a
report through ROUTING_REPORTS) and its publish fails, the held events go back to the dispatch,
whose `flush` publishes them: that input's redelivery replays only its own events.

DR TTL timers: the routing worker holds an attempt's SUBMIT message unacked for up to
`grace_s` after the send, waiting for the outcome (`settled`); only when none came does it
`arm` the durable timer (a JetStream message schedule) and ack. A crash before that
redelivers the SUBMIT message, whose replay arms the timer. So a report that comes quickly
(most do) costs no timer at all, and an outcome purges a timer only when one may exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import orjson
import structlog
from parley_shared.timefmt import now_ts

from routing_svc.domain.events import status_event
from routing_svc.domain.lifecycle import LIVE, Message, Step, expired
from routing_svc.domain.vault import Vault
from routing_svc.errors import StaleState, TransientError, Undecodable
from routing_svc.metrics import EVENTS, inc
from routing_svc.ports import Bus, InFlight, Messages

MISSING_RETRY_S = 0.5
"""How long a message whose message record cannot be read waits before it comes again."""
MISSING_MAX_DELIVERIES = 5
"""Deliveries of such a message before it is given up (terminated)."""


def decode(nats_msg: InFlight, *fields: str) -> dict[str, Any]:
    """A stream message's JSON object with `fields` present; `Undecodable` otherwise (its
    consumer terminates it: no delivery would make it readable)."""
    try:
        body = orjson.loads(nats_msg.data)
    except orjson.JSONDecodeError as exc:
        raise Undecodable("not JSON") from exc
    if not isinstance(body, dict):
        raise Undecodable("not a JSON object")
    missing = [name for name in fields if name not in body]
    if missing:
        raise Undecodable(f"lacks {', '.join(missing)}")
    return body


async def retry_missing(msg: InFlight, event: str, message_id: str, attempt: int) -> bool:
    """Nak a message (SUBMIT, report, timer) whose message record could not be read, to come
    again after `MISSING_RETRY_S`: a replica of a replicated bucket answers direct gets and may
    not have the record's write yet. At its `MISSING_MAX_DELIVERIES`th delivery the record is
    taken to be gone (never written, or expired): the message is terminated and an error
    logged (ids only). True when it was terminated."""
    tries = int(msg.metadata.num_delivered)
    if tries >= MISSING_MAX_DELIVERIES:
        log.error(f"{event}_dropped", message_id=message_id, attempt=attempt, deliveries=tries)
        await msg.term()
        return True
    log.warning(event, message_id=message_id, attempt=attempt, delivery=tries)
    await msg.nak(delay=MISSING_RETRY_S)
    return False


MAX_RACES = 8
STEP_TIMEOUT_S = 10.0
GRACE_MARGIN_MS = 100
Move = Callable[[Message], Step]
log = structlog.get_logger("routing_svc.transitions")


def _now_ms() -> int:
    return int(time.time() * 1000)


class _Event(NamedTuple):
    """A status event made and not yet published."""

    account_id: str
    event: dict[str, Any]
    ttl: int | None


def _only_events(step: Step) -> bool:
    """Whether a step's effects are status events alone (no timer, attempt or purge)."""
    return step.timer_ms is None and step.enqueue is None and step.cancel_timer is None


async def _stored(acks: list[asyncio.Future[Any]]) -> None:
    """Wait for every publish's ack."""
    if len(acks) == 1:
        await acks[0]
    elif acks:
        await asyncio.gather(*acks)


class Transitions:
    """Applies inputs to messages and publishes what they cause."""

    def __init__(self, store: Messages, bus: Bus, vault: Vault, grace_s: float = 1.0) -> None:
        self.store, self.bus, self.vault = store, bus, vault
        self.grace_s = grace_s
        self._waiters: dict[tuple[str, int], asyncio.Event] = {}
        self._deferred: dict[str, list[_Event]] = {}  # events of held changes, by message

    async def apply(self, message_id: str, move: Move) -> Step | None:
        """Apply `move` under the message's lock; None when no such message is stored."""
        async with self.store.lock(message_id):
            return await self.apply_locked(message_id, move)

    async def apply_locked(
        self, message_id: str, move: Move, *, lazy: bool = False, defer_timer: bool = False
    ) -> Step | None:
        """Apply `move` (the caller holds the lock), retrying on a lost race.

        A change is checked by the compare-and-set; a step that changes nothing is re-decided
        on a fresh read, as the cached copy may be older than another replica's write.
        `lazy`: publish the effects but only hold the change (the caller `flush`es it, unless
        the next input, the attempt's report, writes both at once).
        `defer_timer`: leave the DR TTL timer of the step to the caller (`arm`).
        """
        fresh = False
        for _ in range(MAX_RACES):
            loaded = await self.store.load(message_id, fresh=fresh)
            if loaded is None:
                return None
            msg, revision = loaded
            try:
                step = move(msg)
            except BaseException:
                self.store.forget(message_id)
                raise
            if defer_timer:
                step.timer_ms = None
            if not step.changed and not fresh:
                fresh = True  # a decision to change nothing must not rest on a stale copy
                continue
            try:
                async with asyncio.timeout(STEP_TIMEOUT_S):
                    await self._commit(msg, revision, step, lazy)
            except StaleState:
                fresh = True
                continue
            self._settle(msg)
            if msg.final is not None:
                self.store.forget(message_id)  # done: keep only messages in flight in memory
            return step
        raise TransientError(f"{message_id} kept changing; retry")

    async def _commit(self, msg: Message, revision: int, step: Step, lazy: bool) -> None:
        if step.changed and lazy:
            self.store.hold(msg, revision)
            if _only_events(step):  # they go out with the change, once it is written
                self._deferred.setdefault(msg.id, []).extend(self._events(msg, step))
                return
            await self.effects(msg, step)
            return
        earlier: list[_Event] = []
        if step.changed:
            await self.store.save(msg, revision)  # a held change is written with this one
            earlier = self._deferred.pop(msg.id, [])
        try:
            await self.effects(msg, step, earlier)
        except BaseException:
            if earlier:  # kept for the dispatch's `flush`: this input's replay will not hold them
                self._deferred[msg.id] = earlier + self._deferred.get(msg.id, [])
            raise

    async def flush(self, message_id: str) -> None:
        """Write a held change (a lost race means another writer's state rules instead), then
        publish the events held with it."""
        async with self.store.lock(message_id):
            held = self.store.held(message_id)
            try:
                if held is not None:
                    with contextlib.suppress(StaleState):
                        async with asyncio.timeout(STEP_TIMEOUT_S):
                            await self.store.save(*held)
            finally:
                deferred = self._deferred.pop(message_id, [])
            if deferred:
                async with asyncio.timeout(STEP_TIMEOUT_S):
                    await _stored([await self._publish(e) for e in deferred])

    def _events(self, msg: Message, step: Step) -> list[_Event]:
        """A step's status events as they read now (counted as made)."""
        recipient = self.vault.recipient(msg)
        ttl = self.vault.event_ttl(msg.protection, full_number=True, content=False)
        events = []
        for spec in step.events:
            events.append(_Event(msg.account_id, status_event(msg, spec, recipient), ttl))
            flag = "late" if spec.late else "final" if spec.final else "none"
            inc(EVENTS, spec.kind, flag)
        return events

    async def _publish(self, e: _Event) -> asyncio.Future[Any]:
        return await self.bus.status(e.account_id, e.event, e.ttl)

    async def effects(self, msg: Message, step: Step, earlier: Sequence[_Event] = ()) -> None:
        """Publish a step's events (after `earlier` ones, held with a change this step's write
        recorded), next attempt and timer change; return once all are stored."""
        acks: list[asyncio.Future[Any]] = [await self._publish(e) for e in earlier]
        if step.cancel_timer is not None and self._timer_may_exist(msg, step.cancel_timer):
            purge = self.bus.cancel_timer(msg.id)
            if step.enqueue is not None:
                await purge  # the next attempt's timer must not be purged by this one
            else:
                acks.append(purge)
        if step.events:
            acks += [await self._publish(e) for e in self._events(msg, step)]
        if step.timer_ms is not None:
            live = msg.attempts[-1].n
            acks.append(await self.bus.schedule_timer(msg.id, live, step.timer_ms))
        if step.enqueue is not None:
            lane = msg.traffic_class
            acks.append(await self.bus.submit(msg.account_id, msg.id, step.enqueue, lane))
        await _stored(acks)

    def _timer_may_exist(self, msg: Message, n: int) -> bool:
        """Whether attempt n may have a durable timer: its grace had passed (or is unknown)."""
        attempt = msg.attempt(n)
        sent = attempt.sent_ms if attempt is not None else None
        return sent is None or _now_ms() - sent >= self.grace_s * 1000 - GRACE_MARGIN_MS

    # ------------------------------------------------------------------ DR TTL timers
    def watch(self, message_id: str, n: int) -> asyncio.Event:
        """An event set once attempt n of the message is no longer waiting for its report."""
        return self._waiters.setdefault((message_id, n), asyncio.Event())

    def unwatch(self, message_id: str, n: int) -> None:
        """Stop watching attempt n."""
        self._waiters.pop((message_id, n), None)

    def _settle(self, msg: Message) -> None:
        if not self._waiters:
            return
        for attempt in msg.attempts:
            if attempt.status != LIVE:
                event = self._waiters.get((msg.id, attempt.n))
                if event is not None:
                    event.set()

    async def arm(self, message_id: str, n: int) -> None:
        """Make attempt n's DR TTL durable: schedule its timer, or expire it if it is due."""
        async with self.store.lock(message_id):
            loaded = await self.store.load(message_id)
            if loaded is None:
                return
            attempt = loaded[0].attempt(n)
            if attempt is None or attempt.status != LIVE or attempt.deadline_ms is None:
                return
            if attempt.deadline_ms <= _now_ms():
                await self.apply_locked(message_id, lambda msg: expired(msg, n, now_ts()))
                return
            async with asyncio.timeout(STEP_TIMEOUT_S):
                await (await self.bus.schedule_timer(message_id, n, attempt.deadline_ms))
