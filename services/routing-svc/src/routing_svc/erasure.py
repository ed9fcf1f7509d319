"""A deleted account's data, purged from everything routing-svc keeps of it.

The shared durable consumer `routing-svc-purge` reads every ACCOUNTS config event once (any
replica); a tombstone purges, by subject, the account's events on STATUS and INBOUND, its
attempts still queued on SUBMIT, its message log records (all under the account's tag, see
`domain.message_ids`) and its short links; only then is the event acked, so a purge that fails
is tried again (with the consumer's growing delay) and one missed while routing-svc was down
runs when it starts. Every purge is idempotent.

Kept on purpose: consent records (they belong to the enterprise, not the account), the
last-sender map (account and message ids under a keyed hash of the number: no number, no
text; it expires with `ROUTING_LAST_SENDER_TTL_SECONDS`), handovers (ids only, TTL).
"""

from __future__ import annotations

import structlog
from parley_shared.accounts import parse_event

from routing_svc.domain.message_ids import account_tag
from routing_svc.errors import Undecodable
from routing_svc.ports import AccountData, AccountDirectory, InFlight

log = structlog.get_logger("routing_svc.erasure")


class Erasure:
    """Purges what routing-svc holds of deleted accounts."""

    def __init__(self, directory: AccountDirectory, data: AccountData) -> None:
        self._directory, self._data = directory, data

    async def on_config(self, nats_msg: InFlight) -> None:
        """One ACCOUNTS event: a tombstone purges the account's data, then it is acked."""
        try:
            event = parse_event(nats_msg.data)
        except (ValueError, KeyError, TypeError) as exc:
            raise Undecodable("not an account config event") from exc
        if event.status == "deleted":
            await self.purge(event.account_id)
        await nats_msg.ack()

    async def purge(self, account_id: str) -> dict[str, int]:
        """Purge one account's data; how many stored messages each store gave up."""
        tag = account_tag(account_id)
        shared = any(
            other != account_id and account_tag(other) == tag
            for other in self._directory.account_ids()
        )
        purged = await self._data.purge(account_id, tag_shared=shared)
        log.info("account_data_purged", account_id=account_id, tag_shared=shared, **purged)
        return purged
