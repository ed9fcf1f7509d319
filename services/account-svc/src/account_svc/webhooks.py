"""The webhook delivery log and dead letters of an account, asked of webhook-svc over NATS.

account-svc owns access control (the account must be in the caller's scope); webhook-svc owns
the data and answers request/reply on the subjects of parley_shared.subjects.
"""

from __future__ import annotations

from typing import Any

import orjson
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from parley_runtime import tracing
from parley_shared import subjects

from account_svc.accounts import Accounts
from account_svc.domain.scope import Principal
from account_svc.errors import AccountSvcError, NotFound, TransientError

REQUEST_TIMEOUT_S = 5.0


class WebhookQueries:
    """Delivery log, dead letters and replay, through webhook-svc."""

    def __init__(self, accounts: Accounts, nc: Any) -> None:
        self.accounts = accounts
        self.nc = nc

    async def _ask(self, subject: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            msg = await self.nc.request(
                subject, orjson.dumps(body), timeout=REQUEST_TIMEOUT_S, headers=tracing.inject(None)
            )
        except (NoRespondersError, NatsTimeout) as exc:
            raise TransientError("webhook-svc is not answering; retry later") from exc
        try:
            answer = orjson.loads(msg.data)
        except orjson.JSONDecodeError as exc:
            raise AccountSvcError("webhook-svc answered something that is not JSON") from exc
        if not isinstance(answer, dict):
            raise AccountSvcError("webhook-svc answered something that is not an object")
        status = answer.get("status")
        if isinstance(status, int) and status == 404:
            raise NotFound(str(answer.get("detail") or "not found"))
        if isinstance(status, int) and status >= 400:
            raise TransientError(str(answer.get("detail") or "webhook-svc refused the request"))
        return answer

    async def deliveries(self, who: Principal, account_id: str, limit: int) -> dict[str, Any]:
        """Recent delivery attempts of the account, newest first."""
        await self.accounts.get(who, account_id)
        answer = await self._ask(
            subjects.WEBHOOK_DELIVERIES_QUERY, {"account_id": account_id, "limit": limit}
        )
        return {"items": list(answer.get("items", []))}

    async def attempts_of(self, account_id: str, event_ids: list[str]) -> list[dict[str, Any]]:
        """The attempts that carried one of these events, newest first (for a message trace,
        whose caller checked the scope)."""
        body = {"account_id": account_id, "event_ids": event_ids, "limit": 200}
        answer = await self._ask(subjects.WEBHOOK_DELIVERIES_QUERY, body)
        return list(answer.get("items", []))

    async def dead_letters(self, who: Principal, account_id: str) -> dict[str, Any]:
        """The account's dead letters."""
        await self.accounts.get(who, account_id)
        answer = await self._ask(subjects.WEBHOOK_DEAD_LETTERS_QUERY, {"account_id": account_id})
        return {"items": list(answer.get("items", []))}

    async def replay(self, who: Principal, account_id: str, dead_letter_id: str) -> None:
        """Deliver a dead letter again from attempt 1."""
        await self.accounts.get(who, account_id)
        await self._ask(
            subjects.WEBHOOK_DEAD_LETTERS_REPLAY,
            {"account_id": account_id, "dead_letter_id": dead_letter_id},
        )
