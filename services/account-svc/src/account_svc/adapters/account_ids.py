"""Which accounts lie in an admin's scope, for views that filter data kept elsewhere (traffic
counts, routing-svc's message log) by account id.

Deleted accounts are included: their traffic of the last hour and their messages in the log
were theirs when they happened.
"""

from __future__ import annotations

from typing import Any

from account_svc.adapters.repository import _in_scope
from account_svc.domain.scope import Org


class AccountIds:
    """Account ids and labels by scope, straight from the accounts table."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    async def in_scope(self, scope: Org | None, enterprise_id: str | None) -> set[str]:
        """Every account id (any status) in `scope` (None: the platform), of one enterprise
        when `enterprise_id` is given."""
        args: list[Any] = [enterprise_id]
        sql = (
            "SELECT a.id FROM accounts a JOIN organizations o ON o.id = a.enterprise_id"
            " WHERE ($1::text IS NULL OR a.enterprise_id = $1)"
        )
        sql += _in_scope(scope, args)
        return {row["id"] for row in await self._pool.fetch(sql, *args)}

    async def labels(self, account_ids: list[str]) -> dict[str, str]:
        """The label of each of these accounts that exists."""
        rows = await self._pool.fetch(
            "SELECT id, config->>'label' AS label FROM accounts WHERE id = ANY($1::text[])",
            account_ids,
        )
        return {row["id"]: row["label"] or "" for row in rows}
