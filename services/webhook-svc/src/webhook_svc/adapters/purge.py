"""A deleted account's data, purged from everything webhook-svc keeps of it.

The shared durable consumer `webhook-svc-purge` reads each ACCOUNTS config event once (any
worker); a tombstone purges, by subject, the account's dead letters, delivery log, disabled
states, poison copies and waiting retries (`retry_due.<account>` and the schedules
`retry_at.<account>.*`); only then is the event acknowledged, so a purge that fails comes
back, and one missed while webhook-svc was down runs when it starts. Every purge is
idempotent. A schedule written before schedules carried their account (`retry_at.<batch>`)
is not reached by the purge: it fires within 6 days and is dropped, its account being gone.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import orjson
import structlog
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from parley_runtime.tasks import cancel_and_wait
from parley_shared import subjects
from parley_shared.accounts import parse_event

from webhook_svc import metrics

log = structlog.get_logger("webhook_svc.purge")

FETCH: Final = 64
FETCH_WAIT_S: Final = 5.0
RETRY_S: Final = 5.0
PURGE_TIMEOUT_S: Final = 10.0


def purge_targets(account_id: str) -> list[tuple[str, str]]:
    """(stream, filter subject) of everything webhook-svc keeps of an account."""
    return [
        (subjects.STREAM_WEBHOOK_DEAD_LETTERS, subjects.webhook_dead_letters_of(account_id)),
        (subjects.STREAM_WEBHOOK_DELIVERIES, subjects.webhook_attempt_log(account_id)),
        (subjects.STREAM_WEBHOOK_DISABLED, subjects.webhook_disabled_of(account_id)),
        (subjects.STREAM_WEBHOOK_POISON, subjects.webhook_poison_of(account_id)),
        *(
            (subjects.STREAM_WEBHOOK_RETRY, subjects.webhook_retry_due(account_id, lane))
            for lane in subjects.TRAFFIC_CLASSES
        ),
        (subjects.STREAM_WEBHOOK_RETRY, subjects.webhook_retries_of(account_id)),
    ]


class AccountPurge:
    """Follows ACCOUNTS durably and purges each deleted account's data."""

    def __init__(self, nc: Any, ack_wait_seconds: float = 60.0) -> None:
        """Use this connection."""
        self._nc = nc
        self._ack_wait_s = ack_wait_seconds
        self._task: asyncio.Task[None] | None = None

    async def purge(self, account_id: str) -> int:
        """Purge one account's data; how many stored messages went."""
        total = 0
        for stream, subject in purge_targets(account_id):
            answer = await self._nc.request(
                f"$JS.API.STREAM.PURGE.{stream}",
                orjson.dumps({"filter": subject}),
                timeout=PURGE_TIMEOUT_S,
            )
            body = orjson.loads(answer.data)
            if body.get("error"):
                raise RuntimeError(f"purge of {stream} refused: {body['error'].get('description')}")
            total += int(body.get("purged", 0))
        metrics.PURGED_ACCOUNTS.inc()
        log.info("account_data_purged", account_id=account_id, purged=total)
        return total

    async def start(self) -> None:
        """Create (or keep) the durable consumer and start following it."""
        js = self._nc.jetstream()
        config = ConsumerConfig(
            durable_name=subjects.DURABLE_WEBHOOK_PURGE,
            filter_subject=subjects.ACCOUNT_CONFIG_ALL,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self._ack_wait_s,
            max_ack_pending=FETCH,
        )
        await js.add_consumer(subjects.STREAM_ACCOUNTS, config=config)
        sub = await js.pull_subscribe_bind(subjects.DURABLE_WEBHOOK_PURGE, subjects.STREAM_ACCOUNTS)
        self._task = asyncio.get_running_loop().create_task(self._follow(sub), name="purge")

    async def stop(self) -> None:
        """Stop following (a purge under way is left to be redone: it is idempotent)."""
        await cancel_and_wait(self._task)
        self._task = None

    async def _follow(self, sub: Any) -> None:
        while True:
            try:
                msgs = await sub.fetch(FETCH, timeout=FETCH_WAIT_S)
            except TimeoutError:
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - NATS away: try again shortly
                log.warning("purge_fetch_failed", error=type(exc).__name__)
                await asyncio.sleep(RETRY_S)
                continue
            for msg in msgs:
                await self._handle(msg)

    async def _handle(self, msg: Any) -> None:
        try:
            event = parse_event(msg.data)
        except (ValueError, KeyError, TypeError):
            await msg.term()
            return
        if event.status == "deleted":
            try:
                await self.purge(event.account_id)
            except Exception as exc:  # noqa: BLE001 - it comes back after a delay
                log.warning(
                    "account_purge_failed", account_id=event.account_id, error=type(exc).__name__
                )
                await msg.nak(delay=RETRY_S)
                return
        await msg.ack()
