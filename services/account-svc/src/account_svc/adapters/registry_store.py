"""PostgreSQL rows of what an enterprise owns and subscribes to: registered senders and app
subscriptions, each change written with its outbox event in one transaction (the relay
publishes it, as for accounts and templates)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg

from account_svc.adapters.postgres import row_dict
from account_svc.adapters.repository import _err, _in_scope, _outbox
from account_svc.domain.records import OutboxEvent
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

    # ---------------------------------------------------------------- app subscriptions
    async def subscriptions(self, enterprise_id: str) -> list[dict[str, Any]]:
        """The apps an enterprise subscribes to, by name."""
        rows = await self.pool.fetch(
            "SELECT app, created_at FROM app_subscriptions WHERE enterprise_id = $1 ORDER BY app",
            enterprise_id,
        )
        return [row_dict(r) for r in rows]

    async def subscribe(self, enterprise_id: str, app: str) -> bool:
        """Subscribe (idempotent); whether it is new."""
        status = await self.pool.execute(
            "INSERT INTO app_subscriptions (enterprise_id, app) VALUES ($1, $2)"
            " ON CONFLICT DO NOTHING",
            enterprise_id,
            app,
        )
        return bool(status == "INSERT 0 1")

    async def withdraw(
        self,
        enterprise_id: str,
        app: str,
        switch_off: Callable[[dict[str, Any]], tuple[dict[str, Any], OutboxEvent]],
    ) -> list[str] | None:
        """Withdraw a subscription and, in the same transaction, switch the app off in every
        active account of the enterprise that has it on (`switch_off` makes each account's
        next version and its config event); the accounts changed, or None when the enterprise
        did not subscribe. The subscription's row lock orders this against an account write
        that needs the subscription (`apps_subscribed`)."""
        async with self.pool.acquire() as conn, conn.transaction():
            gone = await conn.execute(
                "DELETE FROM app_subscriptions WHERE enterprise_id = $1 AND app = $2",
                enterprise_id,
                app,
            )
            if gone != "DELETE 1":
                return None
            rows = await conn.fetch(
                "SELECT * FROM accounts WHERE enterprise_id = $1 AND status = 'active'"
                " AND (config -> 'apps' ->> $2) = 'true' ORDER BY id FOR UPDATE",
                enterprise_id,
                app,
            )
            changed = []
            for found in rows:
                row, event = switch_off(row_dict(found))
                await conn.execute(
                    "UPDATE accounts SET version = $2, config = $3, updated_at = $4 WHERE id = $1",
                    row["id"],
                    row["version"],
                    row["config"],
                    row["updated_at"],
                )
                await _outbox(conn, event)
                changed.append(str(row["id"]))
            return changed
