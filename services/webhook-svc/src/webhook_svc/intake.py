"""From a JetStream message to a batch: look up the account, filter, render, batch, cut.

- An event for an account the view does not hold yet waits in memory, unacknowledged (kept
  alive with in-progress acks by its consumer), and goes on as soon as the config arrives.
  Beyond `park_limit` waiting events, more are nacked with a short delay instead, so waiting
  events cannot take the whole in-flight budget.
- An event of a deleted account, of a kind without a webhook, not subscribed, not
  expressible in the format, or unreadable is acknowledged at once and counted as skipped.
- Otherwise it joins the open batch of its (account, kind, config version, format group); a
  batch is cut when full or when the linger since its first event has passed, rendered once
  into its body, and handed to the dispatcher.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

import orjson
import structlog
from parley_shared.ids import new_id
from parley_shared.subjects import account_id_of

from webhook_svc import metrics
from webhook_svc.dispatch import Dispatcher
from webhook_svc.domain.batching import Batch, Batcher, BatchKey
from webhook_svc.domain.filters import wanted
from webhook_svc.domain.formats import assemble, render
from webhook_svc.domain.records import Delivery
from webhook_svc.domain.webhooks import Webhook
from webhook_svc.ports import Accounts, Source
from webhook_svc.settle import Job

log = structlog.get_logger("webhook_svc.intake")

PARK_NAK_DELAY_S = 1.0


@dataclass(slots=True, frozen=True)
class _Parked:
    kind: str
    source: Source
    subject: str
    data: bytes
    reply: str


class Intake:
    """Turns events into batches (one instance per worker process)."""

    def __init__(
        self,
        accounts: Accounts,
        dispatcher: Dispatcher,
        sources: Mapping[str, Source],
        *,
        linger_s: float,
        park_limit: int,
    ) -> None:
        """`sources` maps a webhook kind to the consumer its events come from."""
        self._accounts = accounts
        self._dispatcher = dispatcher
        self._sources = dict(sources)
        self._linger_s = linger_s
        self._park_limit = park_limit
        self._batcher: Batcher[str] = Batcher()
        self._hooks: dict[BatchKey, Webhook] = {}
        self._parked: dict[str, list[_Parked]] = {}
        self._waiting = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._received = {kind: metrics.EVENTS_RECEIVED.labels(kind) for kind in self._sources}

    def source_of(self, kind: str) -> Source:
        """The consumer events of `kind` come from."""
        return self._sources[kind]

    @property
    def waiting(self) -> int:
        """Events held until their account's config arrives."""
        return self._waiting

    async def on_event(
        self, kind: str, source: Source, subject: str, data: bytes, reply: str
    ) -> None:
        """Handle one STATUS (`kind` status) or INBOUND (`kind` user_initiated) message."""
        self._received[kind].inc()
        await self._handle(kind, source, subject, data, reply)

    async def _handle(
        self, kind: str, source: Source, subject: str, data: bytes, reply: str
    ) -> None:
        account_id = account_id_of(subject)
        entry = self._accounts.get(account_id)
        if entry is None:
            if self._accounts.is_deleted(account_id):
                await self._skip(kind, source, reply, "account_deleted")
            else:
                await self._park(_Parked(kind, source, subject, data, reply), account_id)
            return
        hook = entry.hooks.get(kind)
        if hook is None:
            await self._skip(kind, source, reply, "no_webhook")
            return
        try:
            event = orjson.loads(data)
            event_id, event_type = event["id"], event["type"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            log.warning("event_unreadable", account_id=account_id, kind=kind)
            await self._skip(kind, source, reply, "malformed")
            return
        if not wanted(hook, event_type):
            await self._skip(kind, source, reply, "not_subscribed")
            return
        item = render(hook.payload_format, event, hook.pairs, data)
        if item is None:
            await self._skip(kind, source, reply, "not_expressible")
            return
        key = BatchKey(account_id, kind, hook.version, item.group)
        opened, full = self._batcher.add(key, hook.max_events, item.body, str(event_id), reply)
        if full is not None:
            self._cut(full, hook)
        elif opened is not None:
            self._hooks[key] = hook
            asyncio.get_running_loop().call_later(self._linger_s, self._linger_end, opened)

    async def _skip(self, kind: str, source: Source, reply: str, reason: str) -> None:
        await source.ack([reply])
        metrics.child(metrics.EVENTS_SKIPPED, kind, reason).inc()

    async def _park(self, parked: _Parked, account_id: str) -> None:
        if self._waiting >= self._park_limit:
            await parked.source.nak([parked.reply], delay_s=PARK_NAK_DELAY_S)
            return
        self._parked.setdefault(account_id, []).append(parked)
        self._waiting += 1
        metrics.WAITING.set(self._waiting)
        if self._waiting == 1 or self._waiting % 1000 == 0:
            log.info("events_waiting_for_account", account_id=account_id, waiting=self._waiting)

    def resume(self, account_id: str) -> None:
        """The view now holds `account_id` (or knows it deleted): release its waiting events."""
        parked = self._parked.pop(account_id, None)
        if not parked:
            return
        self._waiting -= len(parked)
        metrics.WAITING.set(self._waiting)
        task = asyncio.get_running_loop().create_task(self._release(parked))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _release(self, parked: list[_Parked]) -> None:
        for p in parked:
            await self._handle(p.kind, p.source, p.subject, p.data, p.reply)

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
        )
        metrics.BATCH_EVENTS.observe(len(batch.event_ids))
        self._dispatcher.submit(Job(delivery, self._sources[key.kind], batch.tokens))

    async def on_retry(self, source: Source, delivery: Delivery | None, reply: str) -> None:
        """Handle one due WEBHOOK_RETRY batch (a retry, a deferred batch or a replay); None is
        a record that could not be read, acknowledged so it does not come back forever."""
        if delivery is None:
            log.error("retry_record_unreadable")
            await source.ack([reply])
            return
        self._dispatcher.submit(Job(delivery, source, [reply]))

    def open_batches(self) -> list[Batch[str]]:
        """Close and answer every open batch (at shutdown, so its messages can be nacked)."""
        self._hooks.clear()
        return self._batcher.drain()

    def parked(self) -> list[tuple[Source, str]]:
        """Forget every waiting event and answer its (source, reply) (at shutdown)."""
        out = [(p.source, p.reply) for items in self._parked.values() for p in items]
        self._parked.clear()
        self._waiting = 0
        return out
