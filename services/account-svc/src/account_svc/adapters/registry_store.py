"""PostgreSQL rows of what an enterprise owns and subscribes to: registered senders and app
subscriptions, each change written with its outbox event in one transaction (the relay
publishes it, as for accounts and templates)."""

from __future__ import annotations

from typing import Any

import asyncpg

from account_svc.adapters.postgres import row_dict
from account_svc.adapters.repository import OutboxEvent, _err, _in_scope, _outbox
from account_svc.domain.scope import Org
from account_svc.errors import Conflict

_SENDER_COLUMNS = (
    "id",
    "enterprise_id",
    "channel",
    "value",
    "label",
    "header_registration",
    "version",
    "created_at",
    "updated_at",
)


class RegistryStore:
    """Registered senders and app subscriptions in schema account_svc."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    # ---------------------------------------------------------------- senders
    async def insert_sender(self, sender: dict[str, Any], event: OutboxEvent) -> None:
        """Insert a sender and its event; one already registered by the enterprise on that
        channel is a Conflict."""
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "INSERT INTO senders (id, enterprise_id, channel, value, label,"
                    " header_registration, version, created_at, updated_at)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    *(sender[k] for k in _SENDER_COLUMNS),
                )
                await _outbox(conn, event)
        except asyncpg.UniqueViolationError as exc:
            raise Conflict(
                "the enterprise has registered this sender on this channel already",
                [_err(["value"], "is registered already in this enterprise and channel")],
            ) from exc

    async def get_sender(self, sender_id: str) -> dict[str, Any] | None:
        """One sender by id."""
        row = await self.pool.fetchrow("SELECT * FROM senders WHERE id = $1", sender_id)
        return row_dict(row) if row else None

    async def list_senders(
        self, scope: Org | None, enterprise_id: str | None, channel: str | None
    ) -> list[dict[str, Any]]:
        """Senders within a scope, optionally of one enterprise and one channel."""
        sql = (
            "SELECT s.* FROM senders s JOIN organizations o ON o.id = s.enterprise_id"
            " WHERE ($1::text IS NULL OR s.enterprise_id = $1)"
            " AND ($2::text IS NULL OR s.channel = $2)"
        )
        args: list[Any] = [enterprise_id, channel]
        sql += _in_scope(scope, args)
        rows = await self.pool.fetch(sql + " ORDER BY s.id", *args)
        return [row_dict(r) for r in rows]

    async def delete_sender(self, sender: dict[str, Any], event: OutboxEvent) -> None:
        """Delete a sender and write its tombstone in one transaction."""
        async with self.pool.acquire() as conn, conn.transaction():
            status = await conn.execute(
                "DELETE FROM senders WHERE id = $1 AND version = $2",
                sender["id"],
                sender["version"],
            )
            if status != "DELETE 1":
                raise Conflict("the sender changed meanwhile; read it again and retry")
            await _outbox(conn, event)
