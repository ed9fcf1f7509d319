"""Settling an attempt: log it, then make its batch durable elsewhere, then acknowledge.

After each attempt exactly one of these happens before the JetStream messages behind the
batch are acknowledged: the receiver took it (a replayed dead letter is then removed); the
next attempt is scheduled on WEBHOOK_RETRY; or the batch is stored as a dead letter (after the
last try, or at once on HTTP 410, which also disables the webhook). When JetStream does not
confirm that write (NATS away, or the stream full), nothing is acknowledged: the messages are
given back (`Source.fail`) and come back after a delay that grows with each delivery.

Events that never got as far as an attempt (their account's config is unusable, or did not
arrive in time) are dead-lettered as they came (`dead_letter_unsent`), in the same order:
stored first, then acknowledged.

A dead letter of a `do_not_store` account keeps its body without texts or URLs
(`domain.redaction`); the stores seal what a protected account's records keep.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass

import structlog
from parley_runtime.retry_after import parse_retry_after
from parley_shared.ids import new_id
from parley_shared.timefmt import now, now_ts

from webhook_svc import metrics
from webhook_svc.domain.records import DeadLetter, Delivery, attempt_entry
from webhook_svc.domain.redaction import without_content
from webhook_svc.domain.retry import Step, jittered, next_step, retry_delay
from webhook_svc.domain.targets import redact
from webhook_svc.domain.webhooks import Webhook
from webhook_svc.errors import StoreUnavailable
from webhook_svc.ports import AttemptLog, DeadLetters, DisabledHooks, Outcome, RetryQueue, Source

log = structlog.get_logger("webhook_svc.settle")

GONE_ERROR = "HTTP 410 Gone: webhook disabled until its config changes"
DISABLED_ERROR = "webhook disabled by an earlier HTTP 410 until its config changes"
_LABEL = {Step.DELIVERED: "delivered", Step.RETRY: "failed"}


@dataclass(slots=True)
class Job:
    """A batch in this process, and the JetStream messages it acknowledges when settled."""

    delivery: Delivery
    source: Source
    replies: list[str]


class Settler:
    """Decides and records what follows each attempt."""

    def __init__(
        self,
        *,
        retries: RetryQueue,
        dead_letters: DeadLetters,
        attempt_log: AttemptLog,
        disabled: DisabledHooks,
        schedule: tuple[float, ...],
        defer_seconds: float,
        rng: random.Random | None = None,
    ) -> None:
        """Wire the stores; `schedule` is WEBHOOK_RETRY_SCHEDULE in seconds."""
        self._retries = retries
        self._dead_letters = dead_letters
        self._log = attempt_log
        self._disabled = disabled
        self._schedule = schedule
        self._defer_s = defer_seconds
        self._rng = rng

    async def settle(
        self, job: Job, hook: Webhook, outcome: Outcome, *, disabled: bool = False
    ) -> None:
        """Record one attempt of `job` to `hook` and do what follows it."""
        d = job.delivery
        step = next_step(d.attempt, hook.retries, ok=outcome.ok, status_code=outcome.status_code)
        if disabled:
            step = Step.DEAD
        error = GONE_ERROR if step is Step.DISABLE else outcome.error
        try:
            delay = await self._follow_up(step, job, hook, outcome, error, tried=not disabled)
        except StoreUnavailable as exc:
            await self._give_back(job, exc)
            return
        label = _LABEL.get(step, "dead")
        url = hook.shown_url or redact(hook.url)
        entry = attempt_entry(
            new_id("dlv"),
            d,
            url=url,
            outcome=label,
            status_code=outcome.status_code,
            error=error,
            duration_ms=outcome.duration_ms,
            at=now_ts(),
        )
        await self._log.append(d.account_id, entry)
        await job.source.ack(job.replies)
        metrics.child(metrics.ATTEMPTS, d.kind, label).inc()
        if step is Step.RETRY:
            self._report_retry(d, outcome, error, delay)

    async def _follow_up(
        self,
        step: Step,
        job: Job,
        hook: Webhook,
        outcome: Outcome,
        error: str | None,
        *,
        tried: bool,
    ) -> float | None:
        """The durable write an attempt's result calls for; answers the retry delay if any."""
        d = job.delivery
        if step is Step.DELIVERED:
            if d.replay_of:
                await self._dead_letters.remove(d.account_id, d.replay_of)
            metrics.child(metrics.EVENTS_DELIVERED, d.kind).inc(len(d.event_ids))
            return None
        if step is Step.RETRY:
            retry_after = None
            if outcome.status_code == 429:
                retry_after = parse_retry_after(outcome.retry_after, now())
            delay = retry_delay(self._schedule, d.attempt, retry_after, self._rng)
            await self._retries.schedule(dataclasses.replace(d, attempt=d.attempt + 1), delay)
            metrics.RETRIES_SCHEDULED.labels(d.kind).inc()
            return delay
        if step is Step.DISABLE:
            await self._disabled.disable(d.account_id, d.kind, hook.version)
            metrics.DISABLED.labels(d.kind).inc()
            log.warning(
                "webhook_disabled",
                account_id=d.account_id,
                kind=d.kind,
                version=hook.version,
                detail="HTTP 410: disabled until the account's config changes "
                "(a newer config version enables it again)",
            )
        attempts = d.attempt if tried else d.attempt - 1
        await self._dead_letter(d, attempts, error or "failed")
        return None

    async def _dead_letter(
        self, d: Delivery, attempts: int, error: str, *, quiet: bool = False
    ) -> None:
        kept = dataclasses.replace(d, attempt=1, replay_of=None)
        if d.protection == "do_not_store":
            kept.body = without_content(d.body)  # no text or URL survives a do_not_store delivery
        letter = DeadLetter(
            id=new_id("dl"),
            delivery=kept,
            attempts=attempts,
            last_error=error,
            failed_at=now_ts(),
        )
        await self._dead_letters.add(letter)
        if d.replay_of:
            await self._dead_letters.remove(d.account_id, d.replay_of)
        metrics.DEAD_LETTERS.labels(d.kind).inc()
        if quiet:
            return
        log.warning(
            "webhook_dead_lettered",
            account_id=d.account_id,
            kind=d.kind,
            webhook_id=d.batch_id,
            dead_letter_id=letter.id,
            attempts=attempts,
            outcome="dead",
            error=error,
            replay_of=d.replay_of,
        )

    async def _give_back(self, job: Job, exc: Exception) -> None:
        log.error(
            "settle_failed",
            account_id=job.delivery.account_id,
            kind=job.delivery.kind,
            error=str(exc),
        )
        await job.source.fail(job.replies)

    async def dead_letter_unsent(self, job: Job, error: str, attempts: int = 0) -> bool:
        """Store a batch that cannot be attempted (now) as a dead letter with `error` as its
        `last_error` and the tries it had, then acknowledge it; answers whether it was stored
        (when not, its messages were given back). The caller logs: this may run for many
        events at once."""
        try:
            await self._dead_letter(job.delivery, attempts, error, quiet=True)
        except StoreUnavailable as exc:
            await self._give_back(job, exc)
            return False
        await job.source.ack(job.replies)
        return True

    @staticmethod
    def _report_retry(
        d: Delivery, outcome: Outcome, error: str | None, delay: float | None
    ) -> None:
        log.info(
            "webhook_attempt_failed",
            account_id=d.account_id,
            kind=d.kind,
            webhook_id=d.batch_id,
            attempt=d.attempt,
            outcome="failed",
            status_code=outcome.status_code,
            error=error,
            retry_in_s=round(delay or 0.0, 3),
        )

    async def drop(self, job: Job, reason: str) -> None:
        """Acknowledge a batch that has nowhere to go any more (webhook or account removed)."""
        d = job.delivery
        await job.source.ack(job.replies)
        metrics.EVENTS_SKIPPED.labels(d.kind, reason).inc(len(d.event_ids))
        log.info("webhook_batch_dropped", account_id=d.account_id, kind=d.kind, reason=reason)

    async def defer(self, job: Job, delay_s: float | None = None) -> None:
        """Hand a batch to WEBHOOK_RETRY unattempted: its endpoint's queue is full (due after
        about `WEBHOOK_DEFER_SECONDS`), or it is promotional and a backlog waits (`delay_s` 0:
        due at once, in the promotional lane)."""
        delay = jittered(self._defer_s, self._rng) if delay_s is None else delay_s
        try:
            await self._retries.schedule(job.delivery, delay)
        except StoreUnavailable as exc:
            await self._give_back(job, exc)
            return
        await job.source.ack(job.replies)
        metrics.DEFERRED.labels(job.delivery.kind).inc()
