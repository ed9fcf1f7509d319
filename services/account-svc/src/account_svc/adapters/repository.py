"""PostgreSQL repository: every query account-svc makes. Driver errors become domain errors here.

A change to an account and the outbox row announcing it are written in one transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from account_svc.adapters.postgres import row_dict
from account_svc.domain.records import OutboxEvent
from account_svc.domain.scope import Org
from account_svc.errors import Conflict, TransientError, ValidationFailed


async def _outbox(conn: Any, event: OutboxEvent) -> None:
    await conn.execute(
        "INSERT INTO outbox (event_id, subject, payload) VALUES ($1, $2, $3)",
        event.event_id,
        event.subject,
        event.payload,
    )
    await conn.execute("SELECT pg_notify('account_svc_outbox', '')")


async def _check_subscribed(conn: Any, enterprise_id: str, apps: list[str]) -> None:
    """Refuse (422 naming `apps.<name>`) an app the enterprise does not subscribe to. The
    subscriptions found are read with a share lock, so a withdrawal (which deletes the row,
    then switches the app off in the enterprise's accounts) waits for this write and then sees
    it, instead of racing it."""
    if not apps:
        return
    rows = await conn.fetch(
        "SELECT app FROM app_subscriptions WHERE enterprise_id = $1 AND app = ANY($2::text[])"
        " FOR SHARE",
        enterprise_id,
        apps,
    )
    found = {r["app"] for r in rows}
    missing = [app for app in apps if app not in found]
    if missing:
        raise ValidationFailed(
            "the account's enterprise does not subscribe to every app it switches on",
            [
                {
                    "loc": ["apps", app],
                    "msg": "the enterprise does not subscribe to this app",
                    "type": "not_subscribed",
                }
                for app in missing
            ],
        )


def _in_scope(scope: Org | None, args: list[Any]) -> str:
    """The condition keeping rows whose organization `o` lies in a scope (None: every row).

    The scope's id is appended to `args`; the condition refers to it by position.
    """
    if scope is None:
        return ""
    args.append(scope.id)
    n = len(args)
    if scope.kind == "aggregator":
        return f" AND (o.id = ${n} OR o.aggregator_id = ${n})"
    return f" AND o.id = ${n}"


class Repository:
    """Queries over account-svc's schema."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def ping(self) -> bool:
        """Whether the database answers."""
        try:
            async with self.pool.acquire(timeout=2) as conn:
                return bool(await conn.fetchval("SELECT true"))
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False

    # ---------------------------------------------------------------- organizations
    async def get_org(self, org_id: str) -> dict[str, Any] | None:
        """One organization by id."""
        row = await self.pool.fetchrow("SELECT * FROM organizations WHERE id = $1", org_id)
        return row_dict(row) if row else None

    async def insert_org(self, org: dict[str, Any]) -> dict[str, Any]:
        """Insert an organization and return it."""
        row = await self.pool.fetchrow(
            "INSERT INTO organizations (id, name, kind, aggregator_id) VALUES ($1, $2, $3, $4)"
            " RETURNING *",
            org["id"],
            org["name"],
            org["kind"],
            org["aggregator_id"],
        )
        return row_dict(row)

    async def list_orgs(self, scope: Org | None) -> list[dict[str, Any]]:
        """Organizations within a scope (None: all)."""
        args: list[Any] = []
        sql = "SELECT o.* FROM organizations o WHERE TRUE"
        sql += _in_scope(scope, args)
        rows = await self.pool.fetch(sql + " ORDER BY o.id", *args)
        return [row_dict(r) for r in rows]

    # ---------------------------------------------------------------- users and sessions
    async def count_users(self) -> int:
        """How many users exist."""
        return int(await self.pool.fetchval("SELECT count(*) FROM users"))

    async def insert_user(self, user: dict[str, Any]) -> dict[str, Any]:
        """Insert a user; a taken username is a Conflict."""
        try:
            row = await self.pool.fetchrow(
                "INSERT INTO users (id, username, password_hash, role, organization_id)"
                " VALUES ($1, $2, $3, $4, $5) RETURNING *",
                user["id"],
                user["username"],
                user["password_hash"],
                user["role"],
                user["organization_id"],
            )
        except asyncpg.UniqueViolationError as exc:
            raise Conflict("username is taken", [_err(["username"], "is taken")]) from exc
        return row_dict(row)

    async def user_by_username(self, username: str) -> dict[str, Any] | None:
        """A user by username (case-insensitive)."""
        row = await self.pool.fetchrow(
            "SELECT * FROM users WHERE lower(username) = lower($1)", username
        )
        return row_dict(row) if row else None

    async def list_users(self, scope: Org | None) -> list[dict[str, Any]]:
        """Users within a scope (None: all)."""
        args: list[Any] = []
        sql = "SELECT u.* FROM users u LEFT JOIN organizations o ON o.id = u.organization_id"
        sql += " WHERE TRUE" + _in_scope(scope, args)
        rows = await self.pool.fetch(sql + " ORDER BY u.id", *args)
        return [row_dict(r) for r in rows]

    async def insert_session(self, token_hash: str, user_id: str, expires_at: datetime) -> None:
        """Store a session token's hash."""
        await self.pool.execute(
            "INSERT INTO sessions (token_hash, user_id, expires_at) VALUES ($1, $2, $3)",
            token_hash,
            user_id,
            expires_at,
        )

    async def session_user(self, token_hash: str) -> dict[str, Any] | None:
        """The user of an unexpired session, with its organization's kind and aggregator."""
        row = await self.pool.fetchrow(
            "SELECT u.id, u.username, u.role, u.organization_id,"
            " o.kind AS org_kind, o.aggregator_id AS org_aggregator_id"
            " FROM sessions s JOIN users u ON u.id = s.user_id"
            " LEFT JOIN organizations o ON o.id = u.organization_id"
            " WHERE s.token_hash = $1 AND s.expires_at > now()",
            token_hash,
        )
        return row_dict(row) if row else None

    async def delete_session(self, token_hash: str) -> None:
        """Log out: forget the token."""
        await self.pool.execute("DELETE FROM sessions WHERE token_hash = $1", token_hash)

    # ---------------------------------------------------------------- business groups
    async def insert_business_group(self, group: dict[str, Any]) -> dict[str, Any]:
        """Insert a business group; a taken name in the enterprise is a Conflict."""
        try:
            row = await self.pool.fetchrow(
                "INSERT INTO business_groups (id, name, enterprise_id) VALUES ($1, $2, $3)"
                " RETURNING *",
                group["id"],
                group["name"],
                group["enterprise_id"],
            )
        except asyncpg.UniqueViolationError as exc:
            raise Conflict(
                "a business group of that name exists in the enterprise",
                [_err(["name"], "is taken in this enterprise")],
            ) from exc
        return row_dict(row)

    async def get_business_group(self, group_id: str) -> dict[str, Any] | None:
        """One business group by id."""
        row = await self.pool.fetchrow("SELECT * FROM business_groups WHERE id = $1", group_id)
        return row_dict(row) if row else None

    async def list_business_groups(
        self, scope: Org | None, enterprise_id: str | None
    ) -> list[dict[str, Any]]:
        """Business groups within a scope, optionally of one enterprise."""
        sql = (
            "SELECT g.* FROM business_groups g JOIN organizations o ON o.id = g.enterprise_id"
            " WHERE ($1::text IS NULL OR g.enterprise_id = $1)"
        )
        args: list[Any] = [enterprise_id]
        sql += _in_scope(scope, args)
        rows = await self.pool.fetch(sql + " ORDER BY g.id", *args)
        return [row_dict(r) for r in rows]

    # ---------------------------------------------------------------- accounts
    async def insert_account(
        self, account: dict[str, Any], event: OutboxEvent, apps: list[str] | None = None
    ) -> None:
        """Insert an account and its config event in one transaction; `apps` (those it has
        on) must be subscribed by its enterprise (`_check_subscribed`)."""
        async with self.pool.acquire() as conn, conn.transaction():
            await _check_subscribed(conn, account["enterprise_id"], apps or [])
            await conn.execute(
                "INSERT INTO accounts (id, enterprise_id, business_group_id, version, status,"
                " config, secrets, created_at, updated_at)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                account["id"],
                account["enterprise_id"],
                account["business_group_id"],
                account["version"],
                account["status"],
                account["config"],
                account["secrets"],
                account["created_at"],
                account["updated_at"],
            )
            await _outbox(conn, event)

    async def get_account(self, account_id: str) -> dict[str, Any]:
        """One account row (any status), or {} when absent."""
        row = await self.pool.fetchrow("SELECT * FROM accounts WHERE id = $1", account_id)
        return row_dict(row) if row else {}

    async def update_account(
        self,
        account: dict[str, Any],
        expected_version: int,
        event: OutboxEvent,
        apps: list[str] | None = None,
    ) -> bool:
        """Write a new version if nobody changed it meanwhile; False on a lost race. `apps`
        (those it has on) must be subscribed by its enterprise (`_check_subscribed`)."""
        async with self.pool.acquire() as conn, conn.transaction():
            await _check_subscribed(conn, account["enterprise_id"], apps or [])
            status = await conn.execute(
                "UPDATE accounts SET business_group_id = $2, version = $3, status = $4,"
                " config = $5, secrets = $6, updated_at = $7"
                " WHERE id = $1 AND version = $8",
                account["id"],
                account["business_group_id"],
                account["version"],
                account["status"],
                account["config"],
                account["secrets"],
                account["updated_at"],
                expected_version,
            )
            if status != "UPDATE 1":
                return False
            await _outbox(conn, event)
            return True

    async def list_accounts(
        self, scope: Org | None, enterprise_id: str | None, after: str | None, limit: int
    ) -> list[dict[str, Any]]:
        """Active accounts in scope, ordered by id, after a cursor id."""
        sql = (
            "SELECT a.* FROM accounts a JOIN organizations o ON o.id = a.enterprise_id"
            " WHERE a.status = 'active' AND ($1::text IS NULL OR a.enterprise_id = $1)"
            " AND ($2::text IS NULL OR a.id > $2)"
        )
        args: list[Any] = [enterprise_id, after]
        sql += _in_scope(scope, args)
        rows = await self.pool.fetch(sql + f" ORDER BY a.id LIMIT {int(limit)}", *args)
        return [row_dict(r) for r in rows]

    # ---------------------------------------------------------------- templates
    async def insert_template(self, template: dict[str, Any], event: OutboxEvent) -> None:
        """Insert a template and its event in one transaction; a taken name is a Conflict."""
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "INSERT INTO templates (id, enterprise_id, channel, name, text,"
                    " regulatory_template_id, status, version, created_at, updated_at)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    *(template[k] for k in _TEMPLATE_COLUMNS),
                )
                await _outbox(conn, event)
        except asyncpg.UniqueViolationError as exc:
            raise Conflict(
                "a template of that name exists for the enterprise and channel",
                [_err(["name"], "is taken in this enterprise and channel")],
            ) from exc

    async def get_template(self, template_id: str) -> dict[str, Any] | None:
        """One template by id."""
        row = await self.pool.fetchrow("SELECT * FROM templates WHERE id = $1", template_id)
        return row_dict(row) if row else None

    async def list_templates(
        self, scope: Org | None, enterprise_id: str | None, status: str | None
    ) -> list[dict[str, Any]]:
        """Templates within a scope, optionally of one enterprise and one status."""
        sql = (
            "SELECT t.* FROM templates t JOIN organizations o ON o.id = t.enterprise_id"
            " WHERE ($1::text IS NULL OR t.enterprise_id = $1)"
            " AND ($2::text IS NULL OR t.status = $2)"
        )
        args: list[Any] = [enterprise_id, status]
        sql += _in_scope(scope, args)
        rows = await self.pool.fetch(sql + " ORDER BY t.id", *args)
        return [row_dict(r) for r in rows]

    async def update_template(
        self, template: dict[str, Any], expected_version: int, event: OutboxEvent
    ) -> None:
        """Write a template's new status and its event; a lost race is a Conflict."""
        async with self.pool.acquire() as conn, conn.transaction():
            status = await conn.execute(
                "UPDATE templates SET status = $2, version = $3, updated_at = $4"
                " WHERE id = $1 AND version = $5",
                template["id"],
                template["status"],
                template["version"],
                template["updated_at"],
                expected_version,
            )
            if status != "UPDATE 1":
                raise Conflict("the template changed meanwhile; read it again and retry")
            await _outbox(conn, event)

    async def delete_template(self, template: dict[str, Any], event: OutboxEvent) -> None:
        """Delete a template and write its tombstone event in one transaction."""
        async with self.pool.acquire() as conn, conn.transaction():
            status = await conn.execute(
                "DELETE FROM templates WHERE id = $1 AND version = $2",
                template["id"],
                template["version"],
            )
            if status != "DELETE 1":
                raise Conflict("the template changed meanwhile; read it again and retry")
            await _outbox(conn, event)

    # ---------------------------------------------------------------- outbox
    async def outbox_pending(self) -> int:
        """How many events wait to be published."""
        return int(
            await self.pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        )


_TEMPLATE_COLUMNS = (
    "id",
    "enterprise_id",
    "channel",
    "name",
    "text",
    "regulatory_template_id",
    "status",
    "version",
    "created_at",
    "updated_at",
)


def _err(loc: list[str | int], msg: str) -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": "conflict"}


def wrap_transient(exc: BaseException) -> TransientError:
    """A database outage as a 503."""
    return TransientError(f"database unavailable: {type(exc).__name__}")
