"""What account-svc asks webhook-svc over NATS request/reply (`WebhookLog`): an account's
delivery log and dead letters, the attempts that carried given events, a replay. webhook-svc
holds them; whoever asks has checked the caller's scope."""

from __future__ import annotations

from typing import Any

from parley_shared import subjects

from account_svc.adapters.nats_asks import ask

SERVICE = "webhook-svc"


class WebhookAsks:
    """Requests to webhook-svc's request/reply API (queue group: one replica answers)."""

    def __init__(self, nc: Any) -> None:
        self.nc = nc

    async def _items(self, subject: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        return list((await ask(self.nc, subject, body, SERVICE)).get("items", []))

    async def deliveries(self, account_id: str, limit: int) -> list[dict[str, Any]]:
        """Recent delivery attempts of the account, newest first."""
        body = {"account_id": account_id, "limit": limit}
        return await self._items(subjects.WEBHOOK_DELIVERIES_QUERY, body)

    async def attempts_of(self, account_id: str, event_ids: list[str]) -> list[dict[str, Any]]:
        """The attempts that carried one of these events, newest first."""
        body = {"account_id": account_id, "event_ids": event_ids, "limit": 200}
        return await self._items(subjects.WEBHOOK_DELIVERIES_QUERY, body)

    async def dead_letters(self, account_id: str) -> list[dict[str, Any]]:
        """The account's dead letters."""
        return await self._items(subjects.WEBHOOK_DEAD_LETTERS_QUERY, {"account_id": account_id})

    async def replay(self, account_id: str, dead_letter_id: str) -> None:
        """Deliver a dead letter again from attempt 1."""
        body = {"account_id": account_id, "dead_letter_id": dead_letter_id}
        await ask(self.nc, subjects.WEBHOOK_DEAD_LETTERS_REPLAY, body, SERVICE)
