"""Sending batches: one queue per endpoint, a bounded number of attempts in flight on each.

An endpoint is one account's webhook (account id and kind): two accounts never share a
queue, even when their URLs name the same host, so a slow or failing receiver only ever
delays its own account's batches. Each endpoint runs at most `concurrency` attempts at a time
(its "lanes"); the rest wait in its own queue. When an endpoint is slow (its oldest attempt
in flight started more than `slow_s` ago) and already holds `max_pending` events, a new batch
is not queued in memory but handed to WEBHOOK_RETRY unattempted (deferred) and its messages
acknowledged, so one stuck endpoint cannot use up the process's in-flight budget while a
fast one may queue a burst. All endpoints share one HTTP connection pool.

Each attempt reads the webhook's *current* config (URL, secrets, key, retries), so a config
change applies to waiting retries too; a webhook removed meanwhile drops the batch, and one
whose account's newest config cannot be used dead-letters it with that reason.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import structlog
from opentelemetry.trace import SpanKind
from parley_runtime import tracing
from parley_shared.timefmt import now

from webhook_svc.domain.requests import build_request
from webhook_svc.domain.webhooks import Webhook
from webhook_svc.errors import CannotSend
from webhook_svc.ports import Accounts, DisabledHooks, Outcome, Sender
from webhook_svc.settle import DISABLED_ERROR, Job, Settler

log = structlog.get_logger("webhook_svc.dispatch")


@dataclass(slots=True)
class _Endpoint:
    queue: collections.deque[Job] = field(default_factory=collections.deque)
    lanes: int = 0
    pending: int = 0
    started: dict[int, float] = field(default_factory=dict)  # lane -> its attempt's start

    def slow(self, at: float, slow_s: float) -> bool:
        """Whether an attempt has been in flight for more than `slow_s`."""
        return bool(self.started) and at - min(self.started.values()) > slow_s


class Dispatcher:
    """Runs attempts per endpoint, bounded, without head-of-line blocking across endpoints."""

    def __init__(
        self,
        accounts: Accounts,
        disabled: DisabledHooks,
        sender: Sender,
        settler: Settler,
        *,
        concurrency: int,
        max_pending: int,
        slow_s: float = 2.0,
    ) -> None:
        """`concurrency` attempts per endpoint; `max_pending` events a slow one may queue."""
        self._accounts = accounts
        self._disabled = disabled
        self._sender = sender
        self._settler = settler
        self._concurrency = concurrency
        self._max_pending = max_pending
        self._slow_s = slow_s
        self._lane_ids = itertools.count()
        self._endpoints: dict[str, _Endpoint] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._on_free: Callable[[str, str], None] | None = None

    def when_free(self, callback: Callable[[str, str], None]) -> None:
        """Call `callback(account_id, kind)` each time an endpoint has nothing in flight or
        queued any more (the intake then sends what gathered meanwhile, without lingering)."""
        self._on_free = callback

    def idle(self, account_id: str, kind: str) -> bool:
        """Whether that endpoint has no request in flight and nothing queued."""
        return f"{account_id}/{kind}" not in self._endpoints

    @property
    def busy(self) -> int:
        """Attempts queued or in flight."""
        return sum(ep.pending for ep in self._endpoints.values())

    def _hook(self, job: Job) -> Webhook | None:
        entry = self._accounts.get(job.delivery.account_id)
        return entry.hooks.get(job.delivery.kind) if entry is not None else None

    def submit(self, job: Job) -> None:
        """Queue a batch on its endpoint (or defer it when that endpoint is full)."""
        d = job.delivery
        key = f"{d.account_id}/{d.kind}"
        endpoint = self._endpoints.get(key)
        if endpoint is None:
            endpoint = self._endpoints[key] = _Endpoint()
        size = len(d.event_ids)
        if endpoint.pending + size > self._max_pending and endpoint.slow(
            time.monotonic(), self._slow_s
        ):
            self._spawn(self._settler.defer(job))
            return
        endpoint.queue.append(job)
        endpoint.pending += size
        if endpoint.lanes < self._concurrency:
            endpoint.lanes += 1
            self._spawn(self._lane(key, endpoint))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _lane(self, key: str, endpoint: _Endpoint) -> None:
        lane = next(self._lane_ids)
        try:
            while endpoint.queue:
                job = endpoint.queue.popleft()
                endpoint.started[lane] = time.monotonic()
                try:
                    await self._guarded(job)
                finally:
                    endpoint.pending -= len(job.delivery.event_ids)
                    del endpoint.started[lane]
        finally:
            endpoint.lanes -= 1
            if endpoint.lanes == 0 and not endpoint.queue:
                self._endpoints.pop(key, None)
                if self._on_free is not None:
                    account_id, _, kind = key.partition("/")
                    self._on_free(account_id, kind)

    async def _guarded(self, job: Job) -> None:
        """One attempt; a bug in it gives the batch back instead of stopping the lane."""
        failure = None
        try:
            await self.attempt(job)
        except Exception as exc:  # noqa: BLE001 - a lane must survive any one batch
            failure = exc
        if failure is not None:
            log.error("attempt_crashed", error=type(failure).__name__, exc_info=failure)
            await job.source.fail(job.replies)

    async def attempt(self, job: Job) -> None:
        """One attempt of one batch with the webhook's current config, then settle it; with
        tracing on, in a client span whose parent is the first message behind the batch (the
        others linked), so a retry scheduled meanwhile continues from it."""
        if not tracing.enabled():
            await self._attempt(job)
            return
        d = job.delivery
        with tracing.span(
            "deliver webhook",
            kind=SpanKind.CLIENT,
            parent=tracing.context_of(d.traces[0]) if d.traces else None,
            links=d.traces[1:],
            attributes={
                "parley.account_id": d.account_id,
                "parley.webhook_kind": d.kind,
                "parley.webhook_id": d.batch_id,
                "parley.attempt": d.attempt,
                "parley.events": len(d.event_ids),
            },
        ):
            await self._attempt(job)

    async def _attempt(self, job: Job) -> None:
        d = job.delivery
        hook = self._hook(job)
        if hook is None:
            problem = self._accounts.problem(d.account_id)
            if problem is not None:  # its newest config cannot be used: keep the batch
                if await self._settler.dead_letter_unsent(job, problem, d.attempt - 1):
                    log.warning("batch_dead_lettered_unusable", account_id=d.account_id)
                return
            reason = "account_deleted" if self._accounts.is_deleted(d.account_id) else "no_webhook"
            await self._settler.drop(job, reason)
            return
        if self._disabled.is_disabled(d.account_id, d.kind, hook.version):
            outcome = Outcome(False, error=DISABLED_ERROR)
            await self._settler.settle(job, hook, outcome, disabled=True)
            return
        outcome = await self._send(hook, job)
        if outcome.status_code is not None:
            tracing.set_attributes({"http.response.status_code": outcome.status_code})
        tracing.set_attributes({"parley.delivered": outcome.ok})
        await self._settler.settle(job, hook, outcome)

    async def _send(self, hook: Webhook, job: Job) -> Outcome:
        if hook.target is None:
            return Outcome(False, error=hook.target_error or "invalid webhook URL")
        try:
            body, headers = build_request(hook, job.delivery, now())
        except CannotSend as exc:
            return Outcome(False, error=exc.detail)
        return await self._sender.send(hook.target, body, headers)

    async def close(self, grace_s: float) -> None:
        """Let attempts in flight finish for up to `grace_s`, then cancel the rest."""
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace_s)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
