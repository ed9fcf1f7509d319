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

from typing import Any, Final

import orjson
import structlog
from parley_runtime.pull import Durable, Follower, PullSettings
from parley_shared import subjects
from parley_shared.accounts import parse_event

from webhook_svc import metrics

log = structlog.get_logger("webhook_svc.purge")

FETCH: Final = 64
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


class AccountPurge(Follower):
    """Follows ACCOUNTS durably and purges each deleted account's data
    (`parley_runtime.pull.Follower`: it stops after the events in hand and gives back those
    not done; a purge cut short is redone, it is idempotent)."""

    def __init__(self, nc: Any, ack_wait_seconds: float = 60.0) -> None:
        """Use this connection."""
        durable = Durable(
            subjects.STREAM_ACCOUNTS, subjects.DURABLE_WEBHOOK_PURGE, subjects.ACCOUNT_CONFIG_ALL
        )
        super().__init__(
            nc,
            durable,
            PullSettings(
                batch=FETCH,
                max_in_flight=FETCH,
                ack_wait_seconds=ack_wait_seconds,
                max_ack_pending=FETCH,
                redelivery_delay_seconds=RETRY_S,
                redelivery_delay_max_seconds=RETRY_S,
                update_existing=True,
            ),
        )
        self._nc = nc

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

    async def handle(self, msg: Any) -> None:
        """Purge for a tombstone, then ack; an unreadable event is termed, a failed purge
        comes back after RETRY_S."""
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
