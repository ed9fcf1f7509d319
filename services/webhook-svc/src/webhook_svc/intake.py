"""From a JetStream message to a batch: check it, look up the account, filter, render, batch.

- A message that cannot be decoded or fails validation (`domain.validation`) is terminated
  at once, logged once and counted: delivering it again could never change that.
- An event for an account the view does not hold yet waits in memory, unacknowledged (kept
  alive with in-progress acks by its consumer), and goes on as soon as the config arrives.
  The wait is capped (`domain.parking`): per account (the next event is dead-lettered), per
  process (the next event is given back for later) and in time (dead-lettered when it ends).
- An event of an account whose latest config cannot be used (secrets the master key cannot
  open) is dead-lettered at once with that reason; it is never held as "not seen yet".
- An event of a deleted account, of a kind without a webhook, not subscribed, or (a status
  event) not expressible in the format is acknowledged at once and counted as skipped.
- An inbound event the `user_initiated` webhook's format cannot express (a format account-svc
  no longer allows there, kept by an account stored before that rule, or a CleverTap SMS
  reply that answers no message) is never skipped: it is dead-lettered unsent at once, with
  what to change in `last_error` (`formats.unexpressible`), logged and counted
  (`parley_webhook_inbound_not_expressible_total`); replayed after the fix, it is rendered
  with the new config.
- Otherwise it joins the open batch of its (account, kind, config version, format group); a
  batch is cut when full or when the linger since its first event has passed, rendered once
  into its body, and handed to the dispatcher.

Dead-lettered events keep their bytes as published (`Delivery.raw`); a replay of one comes
back here through WEBHOOK_RETRY and is rendered with the account's config of that moment.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

import orjson
import structlog
from parley_shared.ids import new_id
from parley_shared.subjects import account_id_of

from webhook_svc import metrics
from webhook_svc.dispatch import Dispatcher
from webhook_svc.domain.batching import Batch, Batcher, BatchKey
from webhook_svc.domain.filters import wanted
from webhook_svc.domain.formats import Item, assemble, render, unexpressible
from webhook_svc.domain.parking import Parking, Verdict
from webhook_svc.domain.records import Delivery
from webhook_svc.domain.redaction import carries_content
from webhook_svc.domain.validation import delivery_problem, event_problem
from webhook_svc.domain.webhooks import USER_INITIATED, Webhook
from webhook_svc.ports import Accounts, Source
from webhook_svc.settle import Job, Settler

PROMOTIONAL: Final = "promotional"

log = structlog.get_logger("webhook_svc.intake")

NOT_A_DELIVERY: Final = "not a delivery record"
NOT_RENDERABLE: Final = "cannot be rendered in the webhook's format"
SWEEP_MAX_S: Final = 5.0


@dataclass(slots=True, frozen=True)
class _Event:
    """A STATUS / INBOUND message that passed validation, with its decoded event."""

    kind: str
    source: Source
    account_id: str
    data: bytes
    event: dict[str, Any]
    reply: str
    trace: str | None = None  # its traceparent header (tracing on)


class Intake:
    """Turns events into batches (one instance per worker process)."""

    def __init__(
        self,
        accounts: Accounts,
        dispatcher: Dispatcher,
        settler: Settler,
        sources: Mapping[str, Source],
        *,
        linger_s: float,
        park_limit: int,
        eager: bool = True,
        park_per_account: int = 1_000,
        park_max_seconds: float = 300.0,
        backlog: int = 0,
    ) -> None:
        """`sources` maps a webhook kind to the consumer its events come from."""
        self._accounts = accounts
        self._dispatcher = dispatcher
        self._settler = settler
        self._sources = dict(sources)
        self._linger_s = linger_s
        self._backlog = backlog
        self._eager = eager
        self._parking: Parking[_Event] = Parking(
            per_account=park_per_account, total=park_limit, max_s=park_max_seconds
        )
        self._batcher: Batcher[str] = Batcher()
        self._hooks: dict[BatchKey, Webhook] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._unsent: dict[tuple[str, str], int] = {}  # (account, reason) -> dead-lettered
        self._traces: dict[str, str] = {}  # reply -> traceparent of an event being batched
        self._received = {kind: metrics.EVENTS_RECEIVED.labels(kind) for kind in self._sources}
        if eager:
            dispatcher.when_free(self._free)

    def source_of(self, kind: str) -> Source:
        """The consumer events of `kind` come from."""
        return self._sources[kind]

    @property
    def waiting(self) -> int:
        """Events held until their account's config arrives."""
        return len(self._parking)

    def start(self) -> None:
        """Start ending waits that last longer than `park_max_seconds`."""
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_loop())

    async def on_event(
        self,
        kind: str,
        source: Source,
        subject: str,
        data: bytes,
        reply: str,
        *,
        trace: str | None = None,
    ) -> None:
        """Handle one STATUS (`kind` status) or INBOUND (`kind` user_initiated) message
        (`trace`: its traceparent, when tracing is on)."""
        self._received[kind].inc()
        account_id = account_id_of(subject)
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            problem: str | None = "not JSON"
        else:
            problem = event_problem(event, account_id)
        if problem is not None:
            await source.term(reply, problem, account_id)
            return
        await self._route(_Event(kind, source, account_id, data, event, reply, trace))

    async def _route(self, e: _Event) -> None:
        entry = self._accounts.get(e.account_id)
        if entry is None:
            if self._accounts.is_deleted(e.account_id):
                await self._skip(e.kind, e.source, e.reply, "account_deleted")
                return
            problem = self._accounts.problem(e.account_id)
            if problem is not None:
                self._dead_letter([e], problem, "account_unusable")
            else:
                await self._park(e)
            return
        hook = entry.hooks.get(e.kind)
        if hook is None:
            await self._skip(e.kind, e.source, e.reply, "no_webhook")
            return
        if not wanted(hook, str(e.event["type"])):
            await self._skip(e.kind, e.source, e.reply, "not_subscribed")
            return
        if hook.protection == "do_not_store" and carries_content(e.event):
            e.source.erase_on_ack(e.reply)  # handled: its text or URL leaves the stream
        try:
            item = render(hook.payload_format, e.event, hook.pairs, e.data)
        except (KeyError, TypeError, ValueError, AttributeError):
            await e.source.term(e.reply, NOT_RENDERABLE, e.account_id)
            return
        await self._place(e, hook, item)

    async def _place(self, e: _Event, hook: Webhook, item: Item | None) -> None:
        """Batch a rendered event; one its format cannot express is skipped (a status event)
        or dead-lettered with what to change (an inbound event: never dropped)."""
        if item is not None:
            self._add(e, hook, item)
        elif e.kind == USER_INITIATED:
            reason = unexpressible(hook.payload_format, e.event)
            counter = metrics.child(metrics.INBOUND_NOT_EXPRESSIBLE, hook.payload_format)
            self._dead_letter([e], reason, "inbound_not_expressible", counter)
        else:
            await self._skip(e.kind, e.source, e.reply, "not_expressible")

    def _add(self, e: _Event, hook: Webhook, item: Item) -> None:
        """Batch one event. `eager` (WEBHOOK_BATCH_EAGER): an endpoint with no request in flight
        gets it at once (low load, low latency), at the end of the event loop's turn, so the
        events handed over in the same turn (a message's `sent` and `delivered`, pulled in one
        read) go in the same request; while one is in flight, events gather until it ends
        (`_free`), their batch fills, or the linger passes (high load, full batches). Without it
        every batch waits for `max_events` or the linger."""
        key = BatchKey(e.account_id, e.kind, hook.version, item.group)
        event_id = str(e.event["id"])
        if e.trace is not None:
            self._traces[e.reply] = e.trace
        opened, full = self._batcher.add(key, hook.max_events, item.body, event_id, e.reply)
        if full is not None:
            self._cut(full, hook)
        elif opened is not None:
            self._hooks[key] = hook
            if self._eager and self._dispatcher.idle(e.account_id, e.kind):
                asyncio.get_running_loop().call_soon(self._linger_end, opened)
            else:
                asyncio.get_running_loop().call_later(self._linger_s, self._linger_end, opened)

    def _free(self, account_id: str, kind: str) -> None:
        """An endpoint's requests ended: send what gathered for it meanwhile."""
        for batch in self._batcher.open_for(account_id, kind):
            self._linger_end(batch)

    async def _skip(self, kind: str, source: Source, reply: str, reason: str) -> None:
        await source.ack([reply])
        metrics.child(metrics.EVENTS_SKIPPED, kind, reason).inc()

    async def _park(self, e: _Event) -> None:
        verdict = self._parking.park(e.account_id, e, asyncio.get_running_loop().time())
        if verdict is Verdict.ALL_FULL:
            await e.source.fail([e.reply])
            return
        if verdict is Verdict.ACCOUNT_FULL:
            cap = self._parking.per_account
            self._dead_letter(
                [e], f"more than {cap} events waiting for the account's config", "account_full"
            )
            return
        waiting = len(self._parking)
        metrics.WAITING.set(waiting)
        if self._parking.waiting(e.account_id) == 1 or waiting % 1000 == 0:
            log.info("events_waiting_for_account", account_id=e.account_id, waiting=waiting)

    def _dead_letter(
        self, events: list[_Event], error: str, reason: str, counter: Any = None
    ) -> None:
        """Dead-letter events as they came (in the background: one write each), counted by
        `counter` (default: the parked dead letters of `reason`)."""
        if counter is None:
            counter = metrics.child(metrics.PARKED_DEAD_LETTERED, reason)
        self._spawn(self._store_unsent(events, error, reason, counter))

    async def _store_unsent(
        self, events: list[_Event], error: str, reason: str, counter: Any
    ) -> None:
        stored = 0
        for e in events:
            event_id = str(e.event["id"])
            entry = self._accounts.get(e.account_id)
            protection = entry.protection if entry is not None else "unknown"
            lane = entry.traffic_class if entry is not None else "transactional"
            delivery = Delivery(
                event_id,
                e.account_id,
                e.kind,
                [event_id],
                e.data,
                raw=True,
                protection=protection,
                traffic_class=lane,
            )
            job = Job(delivery, e.source, [e.reply])
            stored += await self._settler.dead_letter_unsent(job, error)
        counter.inc(stored)
        key = (events[0].account_id, reason)
        before = self._unsent.get(key, 0)
        self._unsent[key] = total = before + stored
        if stored and len(str(total)) > len(str(before)):  # the 1st, 10th, 100th, ...: no flood
            log.warning(
                "events_dead_lettered_unsent",
                account_id=events[0].account_id,
                reason=reason,
                error=error,
                total=total,
            )

    def resume(self, account_id: str) -> None:
        """The view now holds `account_id` (or knows it deleted or unusable): release its
        waiting events."""
        parked = self._parking.release(account_id)
        if parked:
            metrics.WAITING.set(len(self._parking))
            self._spawn(self._release(parked))

    async def _release(self, parked: list[_Event]) -> None:
        for e in parked:
            await self._route(e)

    async def sweep(self, at: float | None = None) -> None:
        """Dead-letter the events that waited `park_max_seconds` for their account's config."""
        now = asyncio.get_running_loop().time() if at is None else at
        expired = self._parking.expired(now)
        if not expired:
            return
        metrics.WAITING.set(len(self._parking))
        error = f"account config not received within {self._parking.max_s:g} s"
        for events in expired.values():
            self._dead_letter(events, error, "expired")

    async def _sweep_loop(self) -> None:
        period = min(self._parking.max_s / 4, SWEEP_MAX_S)
        while True:
            await asyncio.sleep(period)
            await self.sweep()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _linger_end(self, batch: Batch[str]) -> None:
        closed = self._batcher.take(batch)
        if closed is not None:
            self._cut(closed, self._hooks.get(closed.key))

    def _cut(self, batch: Batch[str], hook: Webhook | None) -> None:
        self._hooks.pop(batch.key, None)
        if hook is None:  # cannot happen: a lingering batch always has its hook
            raise RuntimeError("batch without its webhook")
        key = batch.key
        body = assemble(hook.payload_format, key.group, batch.items, hook.batching)
        batch_id = new_id("bat") if hook.batching else batch.event_ids[0]
        delivery = Delivery(
            batch_id=batch_id,
            account_id=key.account_id,
            kind=key.kind,
            event_ids=batch.event_ids,
            body=body,
            headers=hook.meta_headers,
            protection=hook.protection,
            traffic_class=hook.traffic_class,
            traces=self._take_traces(batch.tokens) if self._traces else (),
        )
        metrics.BATCH_EVENTS.observe(len(batch.event_ids))
        source = self._sources[key.kind]
        job = Job(delivery, source, batch.tokens)
        if hook.traffic_class == PROMOTIONAL and self._behind(source, batch.tokens):
            metrics.child(metrics.YIELDED, key.kind).inc()
            self._spawn(self._settler.defer(job, 0.0))  # to its lane: the backlog goes first
            return
        self._dispatcher.submit(job)

    def _take_traces(self, replies: list[str]) -> tuple[str, ...]:
        """The traceparents of a batch's events, each once, in the batch's order."""
        found = (self._traces.pop(reply, None) for reply in replies)
        return tuple(dict.fromkeys(trace for trace in found if trace is not None))

    def _behind(self, source: Source, replies: list[str]) -> bool:
        """Whether more than `backlog` messages wait in the stream behind this batch."""
        return self._backlog > 0 and source.backlog(replies[-1]) > self._backlog

    async def on_retry(
        self, source: Source, subject: str, delivery: Delivery | None, reply: str
    ) -> None:
        """Handle one due WEBHOOK_RETRY batch (a retry, a deferred batch or a replay); None is
        a record that could not be decoded (terminated, like one failing validation)."""
        account_id = account_id_of(subject)
        problem = NOT_A_DELIVERY if delivery is None else delivery_problem(delivery, account_id)
        if problem is not None or delivery is None:
            await source.term(reply, problem or NOT_A_DELIVERY, account_id)
            return
        job = Job(delivery, source, [reply])
        if delivery.raw:
            await self._replay_unsent(job)
            return
        self._dispatcher.submit(job)

    async def _replay_unsent(self, job: Job) -> None:
        """A replayed dead letter that was never rendered: render it with today's config."""
        d = job.delivery
        entry = self._accounts.get(d.account_id)
        if entry is None:
            if self._accounts.is_deleted(d.account_id):
                await self._settler.drop(job, "account_deleted")
                return
            error = self._accounts.problem(d.account_id) or "account config not received"
            if await self._settler.dead_letter_unsent(job, error):
                log.warning("replay_dead_lettered_again", account_id=d.account_id, error=error)
            return
        hook = entry.hooks.get(d.kind)
        rendered = _render_unsent(hook, d)
        if isinstance(rendered, Delivery):
            self._dispatcher.submit(Job(rendered, job.source, job.replies))
        elif isinstance(rendered, _Refused) and hook is not None:
            if await self._settler.dead_letter_unsent(job, rendered.reason):
                metrics.child(metrics.INBOUND_NOT_EXPRESSIBLE, hook.payload_format).inc()
                log.warning(
                    "replay_dead_lettered_again", account_id=d.account_id, error=rendered.reason
                )
        elif isinstance(rendered, str) and rendered in _SKIPS:
            await self._settler.drop(job, rendered)
        else:
            await job.source.term(job.replies[0], str(rendered), d.account_id)

    def open_batches(self) -> list[Batch[str]]:
        """Close and answer every open batch (at shutdown, so its messages can be nacked)."""
        self._hooks.clear()
        self._traces.clear()
        return self._batcher.drain()

    def parked(self) -> list[tuple[Source, str]]:
        """Forget every waiting event and answer its (source, reply) (at shutdown)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        out = [(e.source, e.reply) for e in self._parking.drain()]
        metrics.WAITING.set(0)
        return out

    async def close(self) -> None:
        """Let dead-letter writes in flight finish (briefly) at shutdown."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5.0)


_SKIPS: Final = frozenset({"no_webhook", "not_subscribed", "not_expressible"})


@dataclass(slots=True, frozen=True)
class _Refused:
    """An inbound event the webhook's format cannot express: dead-lettered again, never
    dropped (`reason` says what to change)."""

    reason: str


def _render_unsent(hook: Webhook | None, d: Delivery) -> Delivery | _Refused | str:
    """An unsent event's delivery rendered for `hook`; else a skip reason (one of `_SKIPS`),
    an inbound event the format refuses, or why it can never be rendered."""
    if hook is None:
        return "no_webhook"
    event: Any = None
    with contextlib.suppress(orjson.JSONDecodeError):
        event = orjson.loads(d.body)
    if event_problem(event, d.account_id) is not None:
        return "the dead letter's event is invalid"
    if not wanted(hook, str(event["type"])):
        return "not_subscribed"
    try:
        item = render(hook.payload_format, event, hook.pairs, d.body)
    except (KeyError, TypeError, ValueError, AttributeError):
        return NOT_RENDERABLE
    if item is None:
        inbound = d.kind == USER_INITIATED
        return _Refused(unexpressible(hook.payload_format, event)) if inbound else "not_expressible"
    body = assemble(hook.payload_format, item.group, [item.body], hook.batching)
    return replace(
        d,
        body=body,
        headers=hook.meta_headers,
        raw=False,
        protection=hook.protection,
        traffic_class=hook.traffic_class,
    )
