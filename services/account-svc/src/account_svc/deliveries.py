"""Use cases of an account's webhook deliveries: the delivery log, the dead letters, a replay.

webhook-svc holds all three (`WebhookLog`); account-svc checks the caller's scope first, so an
account out of scope answers 404 and webhook-svc is never asked about it.
"""

from __future__ import annotations

from typing import Any

from account_svc.accounts import AccountAdmin
from account_svc.domain.scope import Principal
from account_svc.ports import WebhookLog


class Deliveries:
    """Delivery log, dead letters and replay of the accounts in the caller's scope."""

    def __init__(self, accounts: AccountAdmin, log: WebhookLog) -> None:
        self.accounts = accounts
        self.log = log

    async def deliveries(self, who: Principal, account_id: str, limit: int) -> list[dict[str, Any]]:
        """Recent delivery attempts of the account, newest first."""
        await self.accounts.get(who, account_id)
        return await self.log.deliveries(account_id, limit)

    async def dead_letters(self, who: Principal, account_id: str) -> list[dict[str, Any]]:
        """The account's dead letters."""
        await self.accounts.get(who, account_id)
        return await self.log.dead_letters(account_id)

    async def replay(self, who: Principal, account_id: str, dead_letter_id: str) -> None:
        """Deliver a dead letter again from attempt 1."""
        await self.accounts.get(who, account_id)
        await self.log.replay(account_id, dead_letter_id)
